/**
 * Exactly once to Stripe, end to end: the sync (scheduled runs, and the invoice.created flush racing
 * them) through the product's Stripe adapter against the local Stripe, with time-outs and 5xx
 * injected by the local Stripe (`failNext`) and crashes between send and mark, as inputs.
 *
 * The oracle is the test's own: the tiers' prices are written out here, the billable calls under a
 * cap are found by search, and the outbox protocol the README describes (reserve the settled
 * billable total, send once, clear; a pending entry is sent again and nothing else) is replayed by a
 * model that tells, per customer and month, the total Stripe must end with. When a flush races the
 * scheduled run, either may reserve first: the model follows every order, and Stripe must end on
 * one of their totals.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { stripeCatalog } from '../../lambdas/core/catalog.ts';
import { billingConfig, type BillingConfig, type TierName } from '../../lambdas/core/config.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import type { BillingProvider, MeterEventPush } from '../../lambdas/core/ports.ts';
import { changeTier, stripeSetup } from '../../lambdas/core/subscriptions.ts';
import { runSync, syncCustomerMonth, type SyncDeps, type SyncStateStore } from '../../lambdas/core/sync.ts';
import { utcHour, utcMonth } from '../../lambdas/core/time.ts';
import { handleBillingEvent, type WebhookDeps } from '../../lambdas/core/webhooks.ts';
import { reconcileCustomerMonth } from '../../lambdas/core/reconciliation.ts';
import { billingServices } from '../../lambdas/adapters/billing-services.ts';
import { LocalGatewayKeyRegistry } from '../../lambdas/adapters/gateway-keys-local.ts';
import { type StripeBillingProvider, stripeClient } from '../../lambdas/adapters/stripe-billing.ts';
import { CounterUsageReader, DynamoSyncStateStore } from '../../lambdas/adapters/sync-store.ts';
import { startLocalStripe, type LocalStripe } from '../../local/stripe/server.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';
import { propertyBudget } from '../harness/property.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const METER_EVENTS = /^\/v1\/billing\/meter_events$/;

/** The prices, written out: small figures so that caps are reached by small histories. */
const PRO = { feeCents: 4_900, includedCalls: 100, overageMillicents: 200 };
const ENTERPRISE = {
  feeCents: 49_900,
  bands: [
    { upTo: 100_000, millicents: 150 },
    { upTo: 1_000_000, millicents: 100 },
    { upTo: Infinity, millicents: 50 },
  ],
};
const DEFAULT_CAP_CENTS = 100_000;
const config: BillingConfig = {
  ...billingConfig,
  tiers: {
    free: { pricing: 'free', monthlyQuota: 1_000 },
    pro: { pricing: 'included-plus-overage', monthlyFeeCents: PRO.feeCents, includedCalls: PRO.includedCalls, overageUnitMillicents: PRO.overageMillicents },
    enterprise: {
      pricing: 'volume',
      monthlyFeeCents: ENTERPRISE.feeCents,
      bands: ENTERPRISE.bands.map((b) => ({ upTo: b.upTo === Infinity ? null : b.upTo, unitMillicents: b.millicents })),
    },
  },
  billingCapCents: DEFAULT_CAP_CENTS,
  settleWindowMinutes: 15,
};

/** Cents for a month of `calls`: Stripe rounds each line to the cent, halves up. */
function billCents(tier: TierName, calls: number): number {
  const cents = (millicents: number) => Math.floor(millicents / 1000 + 0.5);
  if (tier === 'free') return 0;
  if (tier === 'pro') return PRO.feeCents + cents(Math.max(0, calls - PRO.includedCalls) * PRO.overageMillicents);
  const band = ENTERPRISE.bands.find((b) => calls <= b.upTo)!;
  return ENTERPRISE.feeCents + cents(calls * band.millicents);
}

/** The most of `calls` that can be billed without the bill passing the cap: by search, not by formula. */
function billableUnderCap(tier: TierName, calls: number, capCents: number): number {
  for (let n = calls; n > 0; n--) if (billCents(tier, n) <= capCents) return n;
  return 0;
}

type Fault = 'none' | 'server-error' | 'time-out';
const faultArb = fc.constantFrom<Fault>('none', 'none', 'none', 'server-error', 'time-out');
const stepArb = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('tier' as const), customer: fc.nat({ max: 2 }), tier: fc.constantFrom<TierName>('free', 'pro', 'enterprise') }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('usage' as const),
      customer: fc.nat({ max: 2 }),
      hoursAgo: fc.nat({ max: 4 }),
      calls: fc.integer({ min: 1, max: 400 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      minutes: fc.oneof(fc.integer({ min: 1, max: 180 }), fc.constant(21 * 60), fc.constant(25 * 60)),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('sync' as const),
      paused: fc.boolean(),
      /** The invoice.created flush of the month that ended runs at the same time as the scheduled run. */
      race: fc.boolean(),
      /** Per customer and month (previous, current): the fault on its meter event request, a crash after it. */
      faults: fc.array(fc.record({ fault: faultArb, crash: fc.nat({ max: 4 }).map((n) => n === 0) }), { minLength: 6, maxLength: 6 }),
    }),
  },
);
const customerArb = fc.record({
  tier: fc.constantFrom<TierName>('free', 'pro', 'enterprise'),
  capCents: fc.constantFrom(undefined, 4_950, 50_050),
  capBehaviour: fc.constantFrom<Customer['capBehaviour']>('absorb', 'block'),
});
/** Any month of five years, and any moment of it, often its last minutes or hours. */
const startArb = fc
  .record({
    month: fc.nat({ max: 59 }),
    offset: fc.oneof(fc.integer({ min: 1, max: 15 }), fc.integer({ min: 16, max: 6 * 60 }), fc.integer({ min: 0, max: 27 * 24 * 60 })),
  })
  .map(({ month, offset }) => Date.UTC(2026, month + 1, 1) - offset * MINUTE);

// ---- the model: what Stripe must hold, per customer and month --------------------------------

interface Pending {
  readonly createdAt: number;
  /** Whether Stripe holds the pending event already (a time-out after it was applied). */
  readonly stored: boolean;
}
interface MonthModel {
  readonly level: number;
  readonly pending?: Pending;
}
interface Attempt {
  readonly flush: boolean;
  readonly paused: boolean;
  readonly fault: Fault;
  readonly crash: boolean;
}

const monthStart = (month: string) => Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 1, 1);
const monthEnd = (month: string) => Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 1);
const previousMonth = (month: string) => utcMonth(monthStart(month) - 1);

/**
 * One sync of one customer-month as the README describes it: a pending entry is sent again (or,
 * older than 20 hours, checked against Stripe's total first) and nothing else happens; otherwise the
 * billable total of the settled hours (all hours when flushing) is reserved and sent, unless paused
 * or the month's invoice is final (an hour after its end).
 */
function attempt(m: MonthModel, month: string, now: number, billableBefore: (cutoff: number) => number, a: Attempt): MonthModel {
  let crash = a.crash;
  const send = (pending: Pending, level: number): MonthModel => {
    if (a.fault === 'server-error') return { level, pending };
    if (a.fault === 'time-out') return { level, pending: { ...pending, stored: true } };
    return markSent({ level, pending: { ...pending, stored: true } });
  };
  const markSent = (state: MonthModel): MonthModel => {
    if (crash) {
      crash = false;
      return state;
    }
    return { level: state.level };
  };
  if (m.pending) {
    if (a.paused) return m;
    if (now - m.pending.createdAt < 20 * HOUR) return send(m.pending, m.level);
    if (m.pending.stored) return markSent(m);
    return send({ createdAt: now, stored: false }, m.level);
  }
  const end = monthEnd(month);
  const settled = Math.floor((now - config.settleWindowMinutes * MINUTE) / HOUR) * HOUR;
  const cutoff = a.flush ? end : Math.min(end, settled);
  if (cutoff <= monthStart(month)) return m;
  const billable = billableBefore(cutoff);
  if (billable <= m.level || a.paused) return m;
  if (!a.flush && now >= end + HOUR) return m;
  return send({ createdAt: now, stored: false }, billable);
}

const key = (m: MonthModel) => JSON.stringify(m);
const distinct = (models: MonthModel[]) => [...new Map(models.map((m) => [key(m), m])).values()];

// ---- the environment: Stripe requests with faults, a state store that can crash ----------------

/** Serializes meter event requests so a fault armed for one customer-month hits that request. */
class FaultyStripe {
  private queue: Promise<unknown> = Promise.resolve();
  /** `${stripeCustomerId}|${month}` -> the fault its next meter event request meets. */
  readonly faults = new Map<string, Fault>();
  /** Meter event requests: which run sent them, for whom and for which month. */
  readonly sent: Array<{ run: string; stripeCustomerId: string; month: string }> = [];

  constructor(
    private readonly stripe: LocalStripe,
    private readonly provider: StripeBillingProvider,
  ) {}

  /** The adapter as one run (a scheduled run, a flush) sees it. */
  forRun(run: string): BillingProvider {
    const p = this.provider;
    return {
      ensureCatalog: (c) => p.ensureCatalog(c),
      createSubscriber: (i) => p.createSubscriber(i),
      replacePrices: (s, ids) => p.replacePrices(s, ids),
      createCheckoutSession: (i) => p.createCheckoutSession(i),
      cancelSubscription: (s) => p.cancelSubscription(s),
      setCancelAtPeriodEnd: (s, cancel) => p.setCancelAtPeriodEnd(s, cancel),
      creditDraftInvoice: (i) => p.creditDraftInvoice(i),
      creditInvoice: (i) => p.creditInvoice(i),
      cancelMeterEvent: (identifier) => p.cancelMeterEvent(identifier),
      periodInvoice: (c, from) => p.periodInvoice(c, from),
      creditLatestInvoice: (i) => p.creditLatestInvoice(i),
      meteredTotal: (m, c, from, to) => p.meteredTotal(m, c, from, to),
      listInvoices: (c, limit) => p.listInvoices(c, limit),
      createPortalSession: (i) => p.createPortalSession(i),
      pushMeterEvent: (event) => this.push(run, event),
    };
  }

  private push(run: string, event: MeterEventPush): Promise<'accepted' | 'duplicate'> {
    const result = this.queue.then(() => {
      const month = utcMonth(event.timestampSec * 1000);
      const target = `${event.stripeCustomerId}|${month}`;
      const fault = this.faults.get(target) ?? 'none';
      this.faults.delete(target);
      this.sent.push({ run, stripeCustomerId: event.stripeCustomerId, month });
      if (fault === 'server-error') this.stripe.failNext(METER_EVENTS, { status: 500 });
      // Stripe applies it and the reply is lost, twice: stripe-node re-sends once on a closed connection.
      if (fault === 'time-out') this.stripe.failNext(METER_EVENTS, { acceptThenDrop: true, count: 2 });
      return this.provider.pushMeterEvent(event);
    });
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** markSent dies for the armed customer-months, as a Lambda killed between the send and the write. */
function crashing(store: SyncStateStore, armed: Set<string>): SyncStateStore {
  return {
    get: (c, m) => store.get(c, m),
    reserve: (c, m, s, e) => store.reserve(c, m, s, e),
    replacePending: (c, m, o, e) => store.replacePending(c, m, o, e),
    recordAttempt: (c, m, a) => store.recordAttempt(c, m, a),
    async markSent(customerId, month, identifier) {
      if (armed.delete(`${customerId}|${month}`)) throw new Error('crashed between send and mark');
      return store.markSent(customerId, month, identifier);
    },
  };
}

// ---- the property --------------------------------------------------------------------------------

const budget = propertyBudget(25, 120_000);

describe('Stripe sync property (local Stripe through the adapter, state in DynamoDB Local)', () => {
  let t: TestTables;
  const gatewayKeys = new LocalGatewayKeyRegistry(join(mkdtempSync(join(tmpdir(), 'gw-sync-')), 'keys.json'));
  beforeAll(async () => {
    t = await freshTables();
  });

  it(
    'leaves Stripe holding exactly the billable calls under the cap, one meter event per customer and month per run at most, whatever the faults, races and tier changes',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          startArb,
          fc.array(customerArb, { minLength: 1, maxLength: 3 }),
          fc.array(stepArb, { minLength: 1, maxLength: 22 }),
          async (start, specs, steps) => {
            let now = start;
            const clock = () => now;
            const stripe = await startLocalStripe({ now: clock });
            try {
              const services = billingServices({
                doc: t.doc,
                tables: t.tables,
                stripe: stripeClient({ secretKey: 'sk_test_local', baseUrl: stripe.url, timeoutMs: 10_000 }),
                config,
                now: clock,
              });
              const { provider, customers: registry, state: billingState, retirements, checkouts } = services;
              const guardrails = services.guardrails({ publish: async () => undefined });
              const faulty = new FaultyStripe(stripe, provider);
              const catalogIds = await provider.ensureCatalog(stripeCatalog(config));
              const setup = stripeSetup(provider, catalogIds, config);
              const armedCrashes = new Set<string>();
              const state = crashing(new DynamoSyncStateStore(t.doc, t.tables.billing), armedCrashes);
              const usage = new CounterUsageReader(t.doc, t.tables.counters);
              const depsFor = (run: string): SyncDeps => ({ stripe: faulty.forRun(run), state, usage, meterId: catalogIds.meterId, config, now: clock });
              const usagePriceIds = new Set(
                stripeCatalog(config)
                  .prices.filter((p) => p.role === 'usage')
                  .map((p) => catalogIds.priceIds[p.lookupKey]!),
              );
              // A drafted invoice's webhook reconciles the month as the deployed one does, through this run's faults.
              const reconcileFor =
                (run: string): WebhookDeps['reconcile'] =>
                (customer, month, { paused }) =>
                  reconcileCustomerMonth(
                    customer,
                    month,
                    {
                      sync: depsFor(run),
                      stripe: faulty.forRun(run),
                      usagePriceIds,
                      monthItem: (c, m) => usage.callsThisMonth(c, m),
                      // This property writes counters, not raw events: every counted call here was served.
                      servedCalls: (c, m, beforeHour) => usage.billableCalls(c, m, beforeHour),
                      records: services.reconciliationRecords,
                      audit: (entry) => billingState.audit(entry),
                      alerts: { publish: async () => undefined },
                      config,
                    },
                    { trigger: 'invoice', paused },
                  );

              const customers: Customer[] = [];
              for (const spec of specs) {
                const { customer } = await createCustomer(
                  { name: 'c', tier: spec.tier, capBehaviour: spec.capBehaviour },
                  { registry, gatewayKeys, now: clock, stripe: setup },
                );
                if (spec.capCents !== undefined) await registry.updateCustomer(customer.customerId, { capCents: spec.capCents });
                customers.push({ ...customer, ...(spec.capCents !== undefined && { capCents: spec.capCents }) });
              }
              const current = async () => Promise.all(customers.map(async (c) => (await registry.getCustomer(c.customerId))!));

              // What the test knows: calls counted per customer and hour, tiers, blocks, and the model per customer-month.
              const counted = customers.map(() => new Map<number, number>()); // hour start -> calls
              const tiers = specs.map((s) => s.tier);
              const caps = specs.map((s) => s.capCents ?? DEFAULT_CAP_CENTS);
              const blocked = customers.map(() => new Map<string, number>()); // month -> blocked since
              const models = customers.map(() => new Map<string, MonthModel[]>());
              const touched = new Set<string>([utcMonth(start)]);
              const callsIn = (i: number, month: string, before = monthEnd(month)) =>
                [...counted[i]!].filter(([hour]) => hour >= monthStart(month) && hour < before).reduce((s, [, n]) => s + n, 0);
              const billableBefore = (i: number, month: string) => (cutoff: number) => billableUnderCap(tiers[i]!, callsIn(i, month, cutoff), caps[i]!);
              const modelsOf = (i: number, month: string) => models[i]!.get(month) ?? [{ level: 0 }];
              let drafted = false;
              let runs = 0;

              for (const step of steps) {
                if (step.kind === 'advance') {
                  now += step.minutes * MINUTE;
                  stripe.setNow(now);
                  touched.add(utcMonth(now));
                }
                if (step.kind === 'tier') {
                  const i = step.customer % customers.length;
                  await changeTier(customers[i]!.customerId, step.tier, { registry, gatewayKeys, retirements, config, now: clock, stripe: setup });
                  tiers[i] = step.tier;
                }
                if (step.kind === 'usage') {
                  const i = step.customer % customers.length;
                  const at = Math.max(now - step.hoursAgo * HOUR, start);
                  const since = blocked[i]!.get(utcMonth(at));
                  if (since !== undefined && at >= since) continue; // refused at the door: 403, never metered
                  const hour = Math.floor(at / HOUR) * HOUR;
                  await t.doc.send(
                    new UpdateCommand({
                      TableName: t.tables.counters,
                      Key: { pk: `CUSTOMER#${customers[i]!.customerId}`, sk: `HOUR#${utcHour(at)}` },
                      UpdateExpression: 'ADD billable :n',
                      ExpressionAttributeValues: { ':n': step.calls },
                    }),
                  );
                  await t.doc.send(
                    new UpdateCommand({
                      TableName: t.tables.counters,
                      Key: { pk: `CUSTOMER#${customers[i]!.customerId}`, sk: `MONTH#${utcMonth(at)}` },
                      UpdateExpression: 'ADD billable :n',
                      ExpressionAttributeValues: { ':n': step.calls },
                    }),
                  );
                  counted[i]!.set(hour, (counted[i]!.get(hour) ?? 0) + step.calls);
                }
                if (step.kind !== 'sync') continue;

                const [prev, cur] = [previousMonth(utcMonth(now)), utcMonth(now)] as const;
                const race = step.race && touched.has(prev);
                const sentBefore = faulty.sent.length;
                const scheduled = `run${++runs}`;
                const flushRun = `run${++runs}`;
                if (!race) {
                  for (const [i, c] of customers.entries()) {
                    for (const [m, month] of [prev, cur].entries()) {
                      const f = step.faults[i * 2 + m]!;
                      if (f.fault !== 'none') faulty.faults.set(`${c.stripeCustomerId}|${month}`, f.fault);
                      if (f.crash) armedCrashes.add(`${c.customerId}|${month}`);
                    }
                  }
                }
                const scheduledRun = (async () => {
                  await runSync(await current(), depsFor(scheduled), { paused: step.paused });
                  // The guardrails run on the same schedule, after the sync (as the sync Lambda does).
                  for (const customer of await current()) await guardrails(customer);
                })();
                const flush = async () => {
                  if (!race) return;
                  if (!drafted) {
                    // Stripe drafts the period's invoice; its invoice.created webhook flushes the month.
                    drafted = true;
                    const before = new Set(stripe.state.invoices.keys());
                    await stripe.advanceBillingPeriods();
                    const drafts = [...stripe.state.invoices.values()].filter((inv) => !before.has(inv.id) && inv.object === 'invoice');
                    await Promise.all(
                      drafts.map((invoice) =>
                        handleBillingEvent(
                          { id: `evt_${invoice.id}`, type: 'invoice.created', created: Math.floor(now / 1000), object: invoice },
                          {
                            registry,
                            gatewayKeys,
                            retirements,
                            config,
                            state: billingState,
                            reconcile: reconcileFor(flushRun),
                            billing: faulty.forRun(flushRun),
                            checkouts,
                            now: clock,
                          },
                        ),
                      ),
                    );
                  } else {
                    for (const customer of await current()) await syncCustomerMonth(customer, prev, depsFor(flushRun), { flush: true });
                  }
                };
                await Promise.all([scheduledRun, flush()]);
                faulty.faults.clear();
                armedCrashes.clear();

                // At most one meter event request per customer and month in each run.
                const requests = new Map<string, number>();
                for (const s of faulty.sent.slice(sentBefore))
                  requests.set(`${s.run}|${s.stripeCustomerId}|${s.month}`, (requests.get(`${s.run}|${s.stripeCustomerId}|${s.month}`) ?? 0) + 1);
                expect([...requests].filter(([, n]) => n > 1)).toEqual([]);

                // The model takes the same step.
                customers.forEach((_, i) => {
                  [prev, cur].forEach((month, m) => {
                    const f = race ? { fault: 'none' as Fault, crash: false } : step.faults[i * 2 + m]!;
                    const scheduledAttempt = (model: MonthModel) =>
                      attempt(model, month, now, billableBefore(i, month), { flush: false, paused: step.paused, ...f });
                    let next = modelsOf(i, month).map(scheduledAttempt);
                    if (race && month === prev) {
                      // Either run may reserve first, or read before the other wrote and find itself beaten.
                      const flushAttempt = (model: MonthModel) =>
                        attempt(model, month, now, billableBefore(i, month), { flush: true, paused: false, fault: 'none', crash: false });
                      next = modelsOf(i, month).flatMap((model) => [
                        scheduledAttempt(model),
                        flushAttempt(model),
                        flushAttempt(scheduledAttempt(model)),
                        scheduledAttempt(flushAttempt(model)),
                      ]);
                    }
                    models[i]!.set(month, distinct(next));
                  });
                  // The block at the cap: the month's calls, priced on the current tier, reach the cap.
                  const month = utcMonth(now);
                  if (specs[i]!.capBehaviour === 'block' && !blocked[i]!.has(month) && billCents(tiers[i]!, callsIn(i, month)) >= caps[i]!)
                    blocked[i]!.set(month, now);
                });
                // The block at the cap, as the guardrail must have set it.
                const records = await current();
                expect(records.map((c) => c.cappedMonth === utcMonth(now))).toEqual(blocked.map((b) => b.has(utcMonth(now))));
              }

              // The faults over, the unpushed rest goes out: Stripe must then hold what the model says the
              // history reserved, or all the billable calls if more.
              const months = [...touched].sort();
              now += 2 * HOUR;
              stripe.setNow(now);
              const final = await current();
              for (let round = 0; round < 2; round++)
                for (const customer of final) for (const month of months) await syncCustomerMonth(customer, month, depsFor('catch-up'), { flush: true });
              // At the end of the last month Stripe drafts the periods' invoices (invoice.created flushes and credits), then finalizes them an hour later.
              now = Math.max(now, monthEnd(months.at(-1)!) + MINUTE);
              stripe.setNow(now);
              const before = new Set(stripe.state.invoices.keys());
              await stripe.advanceBillingPeriods();
              for (const invoice of [...stripe.state.invoices.values()].filter((inv) => !before.has(inv.id) && inv.object === 'invoice')) {
                await handleBillingEvent(
                  { id: `evt_${invoice.id}`, type: 'invoice.created', created: Math.floor(now / 1000), object: invoice },
                  {
                    registry,
                    gatewayKeys,
                    retirements,
                    config,
                    state: billingState,
                    reconcile: reconcileFor('invoice'),
                    billing: provider,
                    checkouts,
                    now: clock,
                  },
                );
              }
              now += HOUR + MINUTE;
              stripe.setNow(now);
              await stripe.advanceBillingPeriods();

              for (const [i, customer] of customers.entries()) {
                for (const month of months) {
                  const billable = billableUnderCap(tiers[i]!, callsIn(i, month), caps[i]!);
                  const expected = [...new Set(modelsOf(i, month).map((m) => Math.max(m.level, billable)))].sort((a, b) => a - b);
                  const inStripe = await provider.meteredTotal(
                    catalogIds.meterId,
                    customer.stripeCustomerId!,
                    monthStart(month) / 1000,
                    monthEnd(month) / 1000,
                  );
                  const invoice = [...stripe.state.invoices.values()].find(
                    (inv) => inv.object === 'invoice' && inv.customer === customer.stripeCustomerId && inv.period_start === monthStart(month) / 1000,
                  );
                  const metered = (
                    invoice?.lines as { data: Array<{ quantity: number; pricing?: { price_details: { price: string } } }> } | undefined
                  )?.data.find(
                    (line) =>
                      line.pricing &&
                      Object.entries(catalogIds.priceIds).some(([lookup, id]) => id === line.pricing!.price_details.price && lookup.includes('_usage_')),
                  );
                  const where = { customer: i, tier: tiers[i], month };
                  expect({ ...where, inStripe: expected.includes(inStripe) ? 'one of the expected' : inStripe, expected }).toEqual({
                    ...where,
                    inStripe: 'one of the expected',
                    expected,
                  });
                  // The invoice for the month's period bills what the meter holds for it: every event landed in its period.
                  // (Free has no metered price: nothing to invoice.)
                  expect({ ...where, status: invoice?.status, invoiced: metered?.quantity ?? (tiers[i] === 'free' ? 'no metered line' : undefined) }).toEqual({
                    ...where,
                    status: 'paid',
                    invoiced: tiers[i] === 'free' ? 'no metered line' : inStripe,
                  });
                  // Past the cap nothing is billed: what Stripe holds over the billable calls is credited on the draft.
                  if (!before.has(invoice!.id as string)) {
                    expect({ ...where, total: invoice!.total }).toEqual({ ...where, total: billCents(tiers[i]!, billable) });
                  }
                }
              }
            } finally {
              await stripe.stop();
            }
          },
        ),
        {
          ...budget.parameters,
          examples: [
            // A crash after the send leaves the entry pending; 25 hours on, Stripe has forgotten its identifier.
            [
              Date.UTC(2026, 1, 1, 0, 39),
              [{ tier: 'free', capCents: undefined, capBehaviour: 'absorb' }],
              [
                { kind: 'advance', minutes: 21 * 60 },
                { kind: 'usage', customer: 0, hoursAgo: 1, calls: 1 },
                { kind: 'sync', paused: false, race: false, faults: Array.from({ length: 6 }, () => ({ fault: 'none' as Fault, crash: true })) },
                { kind: 'advance', minutes: 25 * 60 },
              ],
            ],
            // The last minutes of November: a time-out and a 5xx, a block at the cap and a call refused by it, the
            // pending entries sent again once later hours have settled, a tier change, then the invoice.created
            // flush racing the scheduled run.
            [
              Date.UTC(2026, 10, 30, 22, 10),
              [
                { tier: 'pro', capCents: 4_950, capBehaviour: 'block' },
                { tier: 'enterprise', capCents: 50_050, capBehaviour: 'absorb' },
              ],
              [
                { kind: 'advance', minutes: 100 },
                { kind: 'usage', customer: 0, hoursAgo: 1, calls: 400 },
                { kind: 'usage', customer: 1, hoursAgo: 1, calls: 80 },
                {
                  kind: 'sync',
                  paused: false,
                  race: false,
                  faults: [
                    { fault: 'none', crash: false },
                    { fault: 'time-out', crash: false },
                    { fault: 'none', crash: false },
                    { fault: 'server-error', crash: false },
                    { fault: 'none', crash: false },
                    { fault: 'none', crash: false },
                  ],
                },
                { kind: 'usage', customer: 0, hoursAgo: 0, calls: 50 },
                { kind: 'usage', customer: 1, hoursAgo: 0, calls: 30 },
                { kind: 'advance', minutes: 30 },
                { kind: 'sync', paused: false, race: false, faults: Array.from({ length: 6 }, () => ({ fault: 'none' as Fault, crash: false })) },
                { kind: 'tier', customer: 1, tier: 'pro' },
                { kind: 'usage', customer: 1, hoursAgo: 1, calls: 20 },
                { kind: 'sync', paused: false, race: true, faults: Array.from({ length: 6 }, () => ({ fault: 'none' as Fault, crash: false })) },
                { kind: 'advance', minutes: 60 },
                { kind: 'sync', paused: false, race: false, faults: Array.from({ length: 6 }, () => ({ fault: 'none' as Fault, crash: false })) },
              ],
            ],
          ],
        },
      );
    },
    budget.timeoutMs,
  );
});
