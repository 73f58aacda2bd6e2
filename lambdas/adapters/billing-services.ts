/**
 * The billing core wired to DynamoDB and Stripe: shared by the sync and webhook Lambdas, the CLI
 * and the local stack, so each runs the same code against its own tables and Stripe.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type Stripe from 'stripe';
import { billingConfig, type BillingConfig } from '#core/config.ts';
import type { CatalogIds, GatewayKeyRegistry } from '#core/ports.ts';
import { deleteDueGatewayKeys } from '#core/gateway-keys.ts';
import { runScheduledBilling, type ScheduledBillingReport } from '#core/scheduled-billing.ts';
import { escalateOverdueTickets, type TicketStore } from '#core/tickets.ts';
import { enforcePaymentGrace } from '#core/webhooks.ts';
import type { AlertSink } from '#core/alerts.ts';
import { checkGuardrails, type GuardrailEvent } from '#core/guardrails.ts';
import type { Customer } from '#core/model.ts';
import { stripeSetup, type StripeSetup } from '#core/subscriptions.ts';
import type { SyncDeps } from '#core/sync.ts';
import { DynamoBillingStateStore } from './billing-state.ts';
import { DynamoCustomerStore } from './customer-store.ts';
import { DynamoGatewayKeyRetirementStore } from './gateway-key-retirements.ts';
import type { TableNames } from './env.ts';
import { StripeBillingProvider } from './stripe-billing.ts';
import { CounterUsageReader, DynamoSyncStateStore } from './sync-store.ts';

export interface BillingServices {
  readonly customers: DynamoCustomerStore;
  /** Gateway keys replaced by tier changes, deleted by the scheduled run once no authorizer can still use them. */
  readonly retirements: DynamoGatewayKeyRetirementStore;
  readonly state: DynamoBillingStateStore;
  readonly provider: StripeBillingProvider;
  readonly config: BillingConfig;
  readonly now: () => number;
  /** The guardrail check of one customer, alerting through `alerts`. */
  guardrails(alerts: AlertSink): (customer: Customer) => Promise<GuardrailEvent[]>;
  /** The Stripe catalog ids and sync wiring; fails with a clear message until the setup command has run. */
  ready(): Promise<{ catalogIds: CatalogIds; stripe: StripeSetup; sync: SyncDeps }>;
  /** The scheduled billing run (#core/scheduled-billing.ts), as the sync Lambda and the local timer run it. */
  scheduledRun(with_: { alerts: AlertSink; tickets: TicketStore; gatewayKeys: GatewayKeyRegistry }): Promise<ScheduledBillingReport>;
}

export function billingServices(options: {
  doc: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'customers' | 'apiKeys' | 'counters' | 'billing'>;
  stripe: Stripe;
  config?: BillingConfig;
  now?: () => number;
}): BillingServices {
  const config = options.config ?? billingConfig;
  const now = options.now ?? Date.now;
  const customers = new DynamoCustomerStore(options.doc, options.tables);
  const state = new DynamoBillingStateStore(options.doc, options.tables.billing);
  const provider = new StripeBillingProvider(options.stripe);
  let cached: CatalogIds | undefined;
  const counters = new CounterUsageReader(options.doc, options.tables.counters);
  const retirements = new DynamoGatewayKeyRetirementStore(options.doc, options.tables);
  const services: BillingServices = {
    customers,
    retirements,
    state,
    provider,
    config,
    now,
    guardrails: (alerts) => (customer) =>
      checkGuardrails(customer, {
        alerts,
        markOnce: (id, key, at) => state.markOnce(id, key, at),
        // The month's count as the sync bills it (its hour counters), not the month item the hot path reads.
        callsInMonth: (id, month) => counters.billableCalls(id, month),
        setCappedMonth: async (id, month) => void (await customers.updateCustomer(id, { cappedMonth: month })),
        config,
        now: now(),
      }),
    async ready() {
      cached ??= await state.getCatalogIds();
      if (!cached) throw new Error('Stripe is not set up: run `npm run cli -- stripe setup` (it creates the meter, products and prices)');
      return {
        catalogIds: cached,
        stripe: stripeSetup(provider, cached, config),
        sync: {
          stripe: provider,
          state: new DynamoSyncStateStore(options.doc, options.tables.billing),
          usage: counters,
          meterId: cached.meterId,
          config,
          now,
        },
      };
    },
    async scheduledRun({ alerts, tickets, gatewayKeys }) {
      const { sync } = await services.ready();
      return runScheduledBilling({
        listCustomers: () => customers.listCustomers(),
        paused: async () => (await state.getPause())?.paused ?? false,
        sync,
        guard: services.guardrails(alerts),
        enforceGrace: (all) => enforcePaymentGrace(all, { registry: customers, gatewayKeys, retirements, config, now }),
        escalateTickets: () => escalateOverdueTickets({ store: tickets, alerts, now: now() }),
        retireGatewayKeys: () => deleteDueGatewayKeys({ gatewayKeys, retirements, registry: customers, now }),
      });
    },
  };
  return services;
}
