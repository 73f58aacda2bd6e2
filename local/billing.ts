/**
 * Stripe for the local stack: the local Stripe (or Stripe test mode when STRIPE_SECRET_KEY is
 * set), the catalog set up, the webhook route and the billing routes (upgrade, opt-out) on the local gateway, and
 * timers that do what the stack's schedule and Stripe's clock do: the sync every few seconds,
 * billing periods closed as they end.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { billingServices, type BillingServices } from '../lambdas/adapters/billing-services.ts';
import type { TableNames } from '../lambdas/adapters/env.ts';
import type { LocalGatewayKeyRegistry } from '../lambdas/adapters/gateway-keys-local.ts';
import { stripeClient } from '../lambdas/adapters/stripe-billing.ts';
import { ROUTES } from '../lambdas/core/routes.ts';
import { createBillingApi } from '../lambdas/billing-api/billing-api.ts';
import { createDowngradeApi } from '../lambdas/billing-api/downgrade-api.ts';
import { createBillingPortalApi } from '../lambdas/billing-api/billing-portal-api.ts';
import { stripeCatalog } from '../lambdas/core/catalog.ts';
import type { BillingConfig } from '../lambdas/core/config.ts';
import type { AlertSink } from '../lambdas/core/alerts.ts';
import type { TicketStore } from '../lambdas/core/tickets.ts';
import { createWebhookHandler } from '../lambdas/stripe-webhook/webhook.ts';
import type { LocalRoute } from './gateway.ts';
import { startLocalStripe, type LocalStripe } from './stripe/server.ts';

export interface LocalBillingOptions {
  readonly doc: DynamoDBDocumentClient;
  /** The webhook's event claims go through Powertools' idempotency utility, which takes the plain client. */
  readonly client: DynamoDBClient;
  readonly tables: TableNames;
  readonly gatewayKeys: LocalGatewayKeyRegistry;
  readonly config: BillingConfig;
  readonly now: () => number;
  /** Stripe test mode's secret key; absent means the local Stripe. */
  readonly testModeSecretKey?: string;
  /** @default 10000 - the deployed schedule runs every 5 minutes */
  readonly syncIntervalMs?: number;
  /**
   * Hold the scheduled runs until `resume()`: `npm start` seeds a month of usage first, and a daily
   * reconciliation run while the aggregator is still counting it would page about calls not yet pushed.
   * @default false
   */
  readonly held?: boolean;
  readonly alerts: AlertSink;
  readonly tickets: TicketStore;
}

export interface LocalBilling {
  readonly services: BillingServices;
  readonly localStripe?: LocalStripe;
  readonly stripeApiBase?: string;
  /** Routes to serve on the gateway: the Stripe webhook, the upgrade, the opt-out and the customer portal. */
  readonly routes: LocalRoute[];
  /** Registers the gateway's webhook URL with the local Stripe (Stripe test mode cannot reach localhost). */
  attachWebhook(gatewayUrl: string): Promise<void>;
  /** Starts the scheduled runs of a billing started `held`. */
  resume(): void;
  stop(): Promise<void>;
}

export async function startLocalBilling(options: LocalBillingOptions): Promise<LocalBilling> {
  const localStripe = options.testModeSecretKey ? undefined : await startLocalStripe({ now: options.now });
  const stripe = localStripe ? localStripe.client() : stripeClient({ secretKey: options.testModeSecretKey! });
  const services = billingServices({ doc: options.doc, tables: options.tables, stripe, config: options.config, now: options.now });
  await services.state.putCatalogIds(await services.provider.ensureCatalog(stripeCatalog(options.config)));
  const logger = new Logger({ serviceName: 'api-billing-local', logLevel: 'WARN' });

  let webhookSecret = '';
  let gatewayUrl = '';
  const routes: LocalRoute[] = [
    {
      route: ROUTES.stripeWebhook,
      handler: (event) =>
        createWebhookHandler({
          stripe,
          webhookSecret,
          services,
          gatewayKeys: options.gatewayKeys,
          alerts: options.alerts,
          claims: { client: options.client, tableName: options.tables.idempotency },
          logger,
        })(event),
    },
    {
      route: ROUTES.billingUpgrade,
      handler: (event) =>
        createBillingApi({
          registry: services.customers,
          stripe: async () => (await services.ready()).stripe,
          dashboardUrl: `${gatewayUrl}/dashboard`,
          // The store the webhook drops completed and expired sessions from.
          checkouts: services.checkouts,
          config: options.config,
          now: options.now,
        })(event),
    },
    ...[ROUTES.billingDowngrade, ROUTES.billingDowngradeUndo].map((route) => ({
      route,
      handler: createDowngradeApi({
        registry: services.customers,
        billing: services.provider,
        audit: (entry) => services.state.audit(entry),
        now: options.now,
      }),
    })),
    {
      route: ROUTES.billingPortal,
      handler: (event) =>
        createBillingPortalApi({
          registry: services.customers,
          stripe: async () => (await services.ready()).stripe,
          dashboardUrl: `${gatewayUrl}/dashboard`,
        })(event),
    },
  ];

  let running = false;
  let held = options.held ?? false;
  const reported = new Set<string>();
  let reconciledDay = '';
  const tick = async () => {
    if (running || held) return;
    running = true;
    try {
      // The local Stripe's clock closes periods and drafts invoices, as Stripe does on its own.
      await localStripe?.advanceBillingPeriods();
      // The same run as the deployed sync Lambda.
      const run = await services.scheduledRun({ alerts: options.alerts, tickets: options.tickets, gatewayKeys: options.gatewayKeys });
      for (const grace of run.graces) if (grace.change === 'failed') console.error(`payment grace of ${grace.customerId} not enforced yet:`, grace.error);
      for (const { entry, error } of run.gatewayKeys.failed) console.error(`gateway key of ${entry.customerId} not deleted yet:`, error);
      // Each problem once, as the deployed alarm would raise it once.
      for (const problem of run.sync.problems.map((p) => JSON.stringify(p)).filter((p) => !reported.has(p))) {
        reported.add(problem);
        console.error('stripe sync problem:', problem);
      }
      // The daily reconciliation, as its own schedule runs it in AWS: on the first run of each UTC day.
      const day = new Date(options.now()).toISOString().slice(0, 10);
      if (day !== reconciledDay) {
        const reconciliation = await services.reconcile({ alerts: options.alerts, trigger: 'daily' });
        reconciledDay = day;
        if (reconciliation.rate.discrepancies) console.error(`reconciliation: ${reconciliation.rate.discrepancies} customer-month(s) with a discrepancy`);
      }
    } catch (error) {
      console.error('stripe sync:', error instanceof Error ? error.message : error);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), options.syncIntervalMs ?? 10_000);

  return {
    services,
    localStripe,
    stripeApiBase: localStripe?.url,
    routes,
    resume() {
      held = false;
    },
    async attachWebhook(url) {
      gatewayUrl = url;
      if (!localStripe) return;
      const endpoint = await stripe.webhookEndpoints.create({ url: `${url}/webhooks/stripe`, enabled_events: ['*'] });
      webhookSecret = endpoint.secret!;
    },
    async stop() {
      clearInterval(timer);
      await localStripe?.webhooksDelivered();
      await localStripe?.stop();
    },
  };
}
