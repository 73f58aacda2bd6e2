/**
 * Pushing counted usage to Stripe exactly once.
 *
 * Per customer and billing month, an outbox entry with a stable identifier is reserved (and the
 * pushed total raised) before the meter event is sent, and cleared after. A time-out, a 5xx or a
 * crash between send and clear leaves the entry pending; the next run sends it again under the
 * same identifier, which Stripe recognises as a repeat for about 24 hours. Past that window the
 * identifier proves nothing, so an old pending entry is checked against Stripe's own meter total
 * before anything is sent again. A run sends at most one meter event per customer and month.
 */
import type { BillingConfig } from './config.ts';
import type { Customer } from './model.ts';
import { callsBillableUnderCap } from './pricing.ts';
import type { BillingProvider } from './ports.ts';
import { utcHour, utcMonth } from './time.ts';
import { freeHours, freeWindows } from './grandfather.ts';
import { shadowWindow, type ExperimentState } from './experiment.ts';
import { tierBilledIn } from './downgrade.ts';

const HOUR_MS = 3_600_000;
/** Stripe accepts meter events up to 35 days old; keep a margin for the run's own duration. */
const STRIPE_MAX_EVENT_AGE_MS = 35 * 24 * HOUR_MS - HOUR_MS;
/** Stripe finalizes a period's invoice about an hour after drafting it at the period's end. */
const PERIOD_CLOSE_MS = HOUR_MS;
/** Stripe recognises a repeated identifier for at least 24 hours; trust it well inside that. */
const IDENTIFIER_TRUST_MS = 20 * HOUR_MS;

export interface PendingPush {
  readonly identifier: string;
  readonly value: number;
  readonly timestampSec: number;
  /** Epoch ms at which the entry was reserved. */
  readonly createdAt: number;
}

/** A meter event sent (or possibly sent) to Stripe: kept so that one sent twice can be cancelled by its identifier. */
export interface PushAttempt {
  readonly identifier: string;
  readonly value: number;
  /** Epoch ms at which it was first sent: Stripe can cancel it for 24 hours from its receipt. */
  readonly at: number;
}

/** What has been pushed for one customer and month. `pushedCalls` includes a pending entry. */
export interface SyncState {
  readonly pushedCalls: number;
  readonly seq: number;
  readonly pending?: PendingPush;
  /** Every identifier the outbox sent under, oldest first (reserved entries, re-sends, reconciliation's corrections). */
  readonly attempts?: readonly PushAttempt[];
}

export interface SyncStateStore {
  get(customerId: string, month: string): Promise<SyncState | undefined>;
  /** Atomically raises pushedCalls by the entry's value and makes it pending, only if `seq` still holds and nothing is pending. */
  reserve(customerId: string, month: string, expectedSeq: number, entry: PendingPush): Promise<boolean>;
  /** Clears the pending entry if it is still the one with this identifier. */
  markSent(customerId: string, month: string, identifier: string): Promise<void>;
  /** Swaps a pending entry for a new one (a re-send under a fresh identifier once Stripe has shown it lacks the old). */
  replacePending(customerId: string, month: string, oldIdentifier: string, entry: PendingPush): Promise<boolean>;
  /** Notes a meter event sent outside the outbox's own entries (a reconciliation's correction), without changing `pushedCalls`. */
  recordAttempt(customerId: string, month: string, attempt: PushAttempt): Promise<void>;
}

export interface UsageReader {
  /** Billable calls of the customer in `month`, over the hours that start before `beforeHour` (`YYYY-MM-DDTHH`), all hours when absent. */
  billableCalls(customerId: string, month: string, beforeHour?: string): Promise<number>;
}

export interface SyncDeps {
  readonly stripe: BillingProvider;
  readonly state: SyncStateStore;
  readonly usage: UsageReader;
  readonly meterId: string;
  readonly config: Pick<BillingConfig, 'tiers' | 'billingCapCents' | 'settleWindowMinutes'>;
  readonly now: () => number;
  /** The experiment's rollout: during the beta, customers outside the cohort are shadow billed (nothing pushed). */
  readonly experiment?: () => Promise<ExperimentState | undefined>;
}

export type SyncOutcome =
  | { kind: 'pushed'; customerId: string; month: string; value: number; identifier: string }
  | { kind: 'resent'; customerId: string; month: string; value: number; identifier: string; result: 'accepted' | 'duplicate' }
  | { kind: 'confirmed'; customerId: string; month: string; identifier: string }
  | { kind: 'up-to-date'; customerId: string; month: string }
  | { kind: 'paused'; customerId: string; month: string; backlog: number }
  /** Voids arrived after a push: Stripe holds more calls than are billable; the invoice needs a credit. */
  | { kind: 'over-pushed'; customerId: string; month: string; excess: number; billable: number }
  /** Usage too old for Stripe (over 35 days): never dropped silently. */
  | { kind: 'too-old'; customerId: string; month: string; backlog: number }
  /** The month's invoice is final: a meter event now would be accepted and billed nowhere. Reported, not pushed. */
  | { kind: 'period-closed'; customerId: string; month: string; backlog: number }
  | { kind: 'failed'; customerId: string; month: string; error: string; retryable: boolean };

export interface SyncOptions {
  /** Flush everything counted for the month, settled or not: the period's invoice is being drafted. */
  readonly flush?: boolean;
  readonly paused?: boolean;
}

/** Start (epoch ms) of the hour before which usage counts as settled at `now`. */
export function settledBefore(now: number, settleWindowMinutes: number): number {
  return Math.floor((now - settleWindowMinutes * 60_000) / HOUR_MS) * HOUR_MS;
}

export function monthBounds(month: string): { start: number; end: number } {
  const [year, m] = month.split('-').map(Number) as [number, number];
  return { start: Date.UTC(year, m - 1, 1), end: Date.UTC(year, m, 1) };
}

/** Where a run counts the month up to: its end when flushing, else the last settled hour. */
export function syncCutoff(month: string, now: number, config: Pick<BillingConfig, 'settleWindowMinutes'>, options: Pick<SyncOptions, 'flush'> = {}): number {
  const { end } = monthBounds(month);
  return options.flush ? end : Math.min(end, settledBefore(now, config.settleWindowMinutes));
}

/** A month's count before `cutoff` (epoch ms, an hour boundary), what of it is free, and what of the rest is billable. */
export interface BillableCount {
  /** Billable calls the counters hold for the hours before the cutoff. */
  readonly counted: number;
  /** Of those, calls in grandfathered or shadow-billed hours: counted but never charged. */
  readonly grandfathered: number;
  /** What Stripe must hold: the charged calls, up to the billing cap. */
  readonly billable: number;
}

/** The one definition of what a customer's month bills, shared by the sync and the reconciliation. */
export async function billableBefore(
  customer: Customer,
  month: string,
  cutoff: number,
  deps: Pick<SyncDeps, 'usage' | 'config' | 'experiment'>,
): Promise<BillableCount> {
  const bounds = monthBounds(month);
  const beforeHour = (t: number) => (t >= bounds.end ? undefined : utcHour(t));
  const counted = cutoff <= bounds.start ? 0 : await deps.usage.billableCalls(customer.customerId, month, beforeHour(cutoff));
  let grandfathered = 0;
  // Grandfathered calls, and a shadow-billed customer's calls during the beta, are counted but never charged.
  const experiment = await deps.experiment?.();
  // Counters are per hour: each window is rounded out to whole hours, then overlaps are merged, so no hour is taken off twice.
  const hourWindows = freeWindows(
    {},
    ...freeWindows(customer, shadowWindow(customer.customerId, experiment)).map((w) => {
      const { fromHourStart, untilHourStart } = freeHours(w);
      return { from: fromHourStart, until: untilHourStart };
    }),
  );
  for (const { from: fromHourStart, until: untilHourStart } of hourWindows) {
    const freeEnd = Math.min(cutoff, untilHourStart);
    const freeStart = Math.max(bounds.start, fromHourStart);
    if (freeEnd > freeStart) {
      const upToEnd = await deps.usage.billableCalls(customer.customerId, month, beforeHour(freeEnd));
      const beforeStart = freeStart > bounds.start ? await deps.usage.billableCalls(customer.customerId, month, utcHour(freeStart)) : 0;
      grandfathered += upToEnd - beforeStart;
    }
  }
  const billable = callsBillableUnderCap(tierBilledIn(customer, month), counted - grandfathered, customer.capCents ?? deps.config.billingCapCents, deps.config);
  return { counted, grandfathered, billable };
}

/** The deps with the experiment's state read once for the whole run (every customer-month's count reads it). */
export function withRunExperiment(deps: SyncDeps): SyncDeps {
  if (!deps.experiment) return deps;
  let read: Promise<ExperimentState | undefined> | undefined;
  const experiment = deps.experiment;
  return { ...deps, experiment: () => (read ??= experiment()) };
}

/** The billing months a run looks at: this one and the previous one, whose last hours may be unpushed. */
export function monthsToSync(now: number): string[] {
  const current = utcMonth(now);
  const { start } = monthBounds(current);
  return [utcMonth(start - 1), current];
}

/** Brings Stripe's meter total for one customer and month up to the billable count, one meter event at most. */
export async function syncCustomerMonth(customer: Customer, month: string, deps: SyncDeps, options: SyncOptions = {}): Promise<SyncOutcome> {
  const { customerId } = customer;
  const stripeCustomerId = customer.stripeCustomerId;
  if (!stripeCustomerId) return { kind: 'up-to-date', customerId, month };
  const now = deps.now();
  try {
    const state = (await deps.state.get(customerId, month)) ?? { pushedCalls: 0, seq: 0 };
    if (state.pending) return await resolvePending(customer, stripeCustomerId, month, state, state.pending, deps, options);

    const bounds = monthBounds(month);
    const cutoff = syncCutoff(month, now, deps.config, options);
    if (cutoff <= bounds.start) return { kind: 'up-to-date', customerId, month };
    const { billable } = await billableBefore(customer, month, cutoff, deps);
    const delta = billable - state.pushedCalls;
    if (delta < 0) return { kind: 'over-pushed', customerId, month, excess: -delta, billable };
    if (delta === 0) return { kind: 'up-to-date', customerId, month };
    if (options.paused) return { kind: 'paused', customerId, month, backlog: delta };
    if (!options.flush && now >= bounds.end + PERIOD_CLOSE_MS) return { kind: 'period-closed', customerId, month, backlog: delta };

    // The last second of the last hour counted: inside the month, so Stripe bills the right period.
    const timestampMs = Math.min(cutoff, now) - 1000;
    if (now - timestampMs > STRIPE_MAX_EVENT_AGE_MS) return { kind: 'too-old', customerId, month, backlog: delta };
    const entry: PendingPush = {
      identifier: `${customerId}:${month}:${state.seq + 1}`,
      value: delta,
      timestampSec: Math.floor(timestampMs / 1000),
      createdAt: now,
    };
    // Another run got there first: it owns this push; this run leaves the month alone.
    if (!(await deps.state.reserve(customerId, month, state.seq, entry))) return { kind: 'up-to-date', customerId, month };
    await deps.stripe.pushMeterEvent({ identifier: entry.identifier, stripeCustomerId, value: entry.value, timestampSec: entry.timestampSec });
    await deps.state.markSent(customerId, month, entry.identifier);
    return { kind: 'pushed', customerId, month, value: entry.value, identifier: entry.identifier };
  } catch (error) {
    const retryable = typeof error === 'object' && error !== null && 'retryable' in error ? Boolean((error as { retryable: unknown }).retryable) : false;
    return { kind: 'failed', customerId, month, error: error instanceof Error ? error.message : String(error), retryable };
  }
}

async function resolvePending(
  customer: Customer,
  stripeCustomerId: string,
  month: string,
  state: SyncState,
  pending: PendingPush,
  deps: SyncDeps,
  options: SyncOptions,
): Promise<SyncOutcome> {
  const { customerId } = customer;
  const now = deps.now();
  if (options.paused) return { kind: 'paused', customerId, month, backlog: pending.value };
  if (now - pending.createdAt < IDENTIFIER_TRUST_MS) {
    const result = await deps.stripe.pushMeterEvent({
      identifier: pending.identifier,
      stripeCustomerId,
      value: pending.value,
      timestampSec: pending.timestampSec,
    });
    await deps.state.markSent(customerId, month, pending.identifier);
    return { kind: 'resent', customerId, month, value: pending.value, identifier: pending.identifier, result };
  }
  // Stripe may have forgotten the identifier: its meter total says whether the event arrived.
  const { start, end } = monthBounds(month);
  const inStripe = await deps.stripe.meteredTotal(deps.meterId, stripeCustomerId, start / 1000, end / 1000);
  if (inStripe >= state.pushedCalls) {
    await deps.state.markSent(customerId, month, pending.identifier);
    return { kind: 'confirmed', customerId, month, identifier: pending.identifier };
  }
  if (now - pending.timestampSec * 1000 > STRIPE_MAX_EVENT_AGE_MS) return { kind: 'too-old', customerId, month, backlog: pending.value };
  const entry: PendingPush = { ...pending, identifier: `${pending.identifier}:r${Math.floor(now / 1000)}`, createdAt: now };
  if (!(await deps.state.replacePending(customerId, month, pending.identifier, entry))) return { kind: 'up-to-date', customerId, month };
  const result = await deps.stripe.pushMeterEvent({ identifier: entry.identifier, stripeCustomerId, value: entry.value, timestampSec: entry.timestampSec });
  await deps.state.markSent(customerId, month, entry.identifier);
  return { kind: 'resent', customerId, month, value: entry.value, identifier: entry.identifier, result };
}

/** The log message of each problem a sync run reports: the stack's alarm counts these lines. */
export const SYNC_PROBLEM_MESSAGE = 'stripe sync problem';

/** Whether an operator must hear about an outcome: a failure, usage too old for Stripe or past its invoice, an over-pushed month. */
export function isProblem(outcome: SyncOutcome): boolean {
  return outcome.kind === 'failed' || outcome.kind === 'too-old' || outcome.kind === 'over-pushed' || outcome.kind === 'period-closed';
}

export interface SyncReport {
  readonly outcomes: readonly SyncOutcome[];
  /** Outcomes an operator must hear about: failures, usage too old for Stripe or past its invoice, over-pushed months. */
  readonly problems: readonly SyncOutcome[];
}

/**
 * One run: every subscribed customer, this month and the previous one. With `flush` (an
 * operator's `billing sync --flush`) unsettled hours go too, for each month whose invoice is
 * not final yet: the previous month's in the first hour of the new one, say.
 */
export async function runSync(
  customers: readonly Customer[],
  syncDeps: SyncDeps,
  options: { paused: boolean; flush?: boolean; concurrency?: number },
): Promise<SyncReport> {
  const deps = withRunExperiment(syncDeps);
  const now = deps.now();
  const months = monthsToSync(now).map((month) => ({ month, flush: Boolean(options.flush) && now < monthBounds(month).end + PERIOD_CLOSE_MS }));
  const subscribed = customers.filter((c) => c.stripeCustomerId);
  const outcomes: SyncOutcome[] = [];
  let next = 0;
  // Stripe takes one concurrent meter-event call per customer and meter: a customer's months run in sequence.
  const worker = async () => {
    while (next < subscribed.length) {
      const customer = subscribed[next++]!;
      for (const { month, flush } of months) outcomes.push(await syncCustomerMonth(customer, month, deps, { paused: options.paused, flush }));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  return { outcomes, problems: outcomes.filter(isProblem) };
}
