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
import {
  monthsToReconcile,
  reconcileAll,
  type ErrorRate,
  type ReconcileOptions,
  reconcileCustomerMonth,
  type ReconciliationDeps,
  type ReconciliationRecord,
  type ReconciliationRun,
} from '#core/reconciliation.ts';
import type { ExperimentReport, ExperimentState } from '#core/experiment.ts';
import { experimentReporting } from './experiment-reporting.ts';
import { DynamoReconciliationRecords } from './reconciliation-records.ts';
import { DynamoRecountSources } from './recount-sources.ts';
import { DynamoBillingStateStore } from './billing-state.ts';
import { DynamoCheckoutSessionStore } from './checkout-sessions.ts';
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
  /** The upgrade route's kept Checkout sessions (the webhook drops one once Stripe completes or expires it). */
  readonly checkouts: DynamoCheckoutSessionStore;
  readonly provider: StripeBillingProvider;
  readonly config: BillingConfig;
  readonly now: () => number;
  /** The guardrail check of one customer, alerting through `alerts`. */
  guardrails(alerts: AlertSink): (customer: Customer) => Promise<GuardrailEvent[]>;
  /** The Stripe catalog ids and sync wiring; fails with a clear message until the setup command has run. */
  ready(): Promise<{ catalogIds: CatalogIds; stripe: StripeSetup; sync: SyncDeps }>;
  readonly reconciliationRecords: DynamoReconciliationRecords;
  /** Reconciliation's wiring (#core/reconciliation.ts), alerting through `alerts`. */
  reconciliation(alerts: AlertSink): Promise<ReconciliationDeps>;
  /**
   * Reconciles every customer (or one) for the given months (default: the previous month and this
   * one): the daily run, the CLI's `reconcile` and the benchmark's month all come through here.
   */
  reconcile(input: { alerts: AlertSink; customerId?: string; months?: readonly string[] } & ReconcileOptions): Promise<ReconciliationRun>;
  /**
   * The billing error rate over every customer-month's latest record from `fromMonth` to this month
   * (default: from the month the first customer was created): the experiment's figure so far.
   */
  errorRateSince(fromMonth?: string): Promise<ErrorRate & { readonly fromMonth: string }>;
  /** The experiment's rollout state (#core/experiment.ts); `undefined` while planned. */
  experiment(): Promise<ExperimentState | undefined>;
  /** The experiment's report: figures, intervals and verdicts over [from, now) (default: since the beta started). */
  experimentReport(options?: { from?: number }): Promise<ExperimentReport>;
  /** Reconciles again the customer-months whose last run asked for it (`recheckAfter`), at most 50 a call. */
  recheckReconciliations(alerts: AlertSink): Promise<ReconciliationRecord[]>;
  /** The scheduled billing run (#core/scheduled-billing.ts), as the sync Lambda and the local timer run it. */
  scheduledRun(with_: { alerts: AlertSink; tickets: TicketStore; gatewayKeys: GatewayKeyRegistry }): Promise<ScheduledBillingReport>;
}

export function billingServices(options: {
  doc: DynamoDBDocumentClient;
  /** The raw events' table only where reconciliation runs: it reads them when figures disagree. */
  tables: Pick<TableNames, 'customers' | 'apiKeys' | 'counters' | 'billing'> & Partial<Pick<TableNames, 'usageEvents'>>;
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
  const reconciliationRecords = new DynamoReconciliationRecords(options.doc, options.tables.billing);
  const usageEvents = options.tables.usageEvents;
  const rawEvents = usageEvents && new DynamoRecountSources(options.doc, { usageEvents, counters: options.tables.counters });
  const reporting = experimentReporting({ doc: options.doc, tables: options.tables, config, now });
  const services: BillingServices = {
    customers,
    retirements,
    state,
    checkouts: new DynamoCheckoutSessionStore(options.doc, options.tables.billing),
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
          // Read once per run by runSync and reconcileAll, which memoize it for the run.
          experiment: () => state.getExperiment(),
        },
      };
    },
    reconciliationRecords,
    async reconciliation(alerts) {
      const { sync, stripe } = await services.ready();
      return {
        sync,
        stripe: provider,
        usagePriceIds: new Set(stripe.catalog.prices.filter((p) => p.role === 'usage').map((p) => stripe.catalogIds.priceIds[p.lookupKey] ?? '')),
        monthItem: (customerId, month) => counters.callsThisMonth(customerId, month),
        servedCalls: async (customerId, month, beforeHour) => {
          if (!rawEvents) throw new Error('reconciliation needs the usage events table');
          return (await rawEvents.events(customerId, month)).filter((e) => !e.voided && (!beforeHour || e.hour < beforeHour)).length;
        },
        records: reconciliationRecords,
        audit: (entry) => state.audit(entry),
        alerts,
        config,
      };
    },
    async reconcile({ alerts, customerId, months, ...options }) {
      const deps = await services.reconciliation(alerts);
      const all = customerId ? [await customers.getCustomer(customerId)].filter((c): c is Customer => c !== undefined) : await customers.listCustomers();
      const paused = options.paused ?? (await state.getPause())?.paused ?? false;
      return reconcileAll(all, months ?? monthsToReconcile(now()), deps, { ...options, paused });
    },
    errorRateSince: (fromMonth) => reporting.errorRateSince(fromMonth),
    experiment: () => reporting.experiment(),
    experimentReport: (report) => reporting.experimentReport(report),
    async recheckReconciliations(alerts) {
      const due = await reconciliationRecords.dueRechecks(now());
      if (due.length === 0) return [];
      const deps = await services.reconciliation(alerts);
      const paused = (await state.getPause())?.paused ?? false;
      const records: ReconciliationRecord[] = [];
      for (const { customerId, month } of due.slice(0, 50)) {
        const customer = await customers.getCustomer(customerId);
        if (customer) records.push(await reconcileCustomerMonth(customer, month, deps, { trigger: 'recheck', paused }));
      }
      return records;
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
        recheckReconciliations: () => services.recheckReconciliations(alerts),
      });
    },
  };
  return services;
}
