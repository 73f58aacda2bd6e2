/**
 * The experiment the product was asked for (api-billing-001, the seed's plan): its metrics from the
 * product's own data, each with its sample size and 95% interval, and a verdict per success and
 * failure criterion and overall. Pure: the data comes through `ExperimentData` (adapters read
 * DynamoDB), so the same report is computed by the daily Lambda, the CLI and the tests.
 */
import { billingConfig, type BillingConfig, type TierName } from './config.ts';
import type { Customer } from './model.ts';
import { estimateBill } from './pricing.ts';
import type { ErrorRate } from './reconciliation.ts';
import type { Ticket } from './tickets.ts';
import { utcMonth } from './time.ts';

const DAY_MS = 86_400_000;
/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/** The seed's plan, as figures: its criteria, sample sizes, duration and beta cohort. */
export const EXPERIMENT_PLAN = {
  id: 'api-billing-001',
  hypothesis: 'With usage-based billing and clear tiers, API revenue reaches $1K/month within 30 days.',
  durationDays: 30,
  betaCohortSize: 10,
  sampleSize: { minimum: 100, target: 500 },
  /** Survey answers below which the NPS is inconclusive. */
  npsMinimumAnswers: 30,
  supportSlaHours: 4,
  success: { revenueCents: 100_000, callsPerDay: 100, upgradeRate: 0.15, billingErrorRate: 0.01, nps: 50 },
  failure: { revenueCents: 50_000, upgradeRate: 0.05, billingErrorRate: 0.05, churn: 0.1 },
} as const;

export interface Interval {
  readonly estimate: number;
  readonly low: number;
  readonly high: number;
}

/** Wilson score interval for a proportion: well-behaved at 0, 1 and small n, unlike the normal approximation. */
export function wilsonInterval(successes: number, n: number, z = Z95): Interval | null {
  if (n <= 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { estimate: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export interface NpsResult extends Interval {
  readonly n: number;
  readonly promoters: number;
  readonly passives: number;
  readonly detractors: number;
  /** Answers per score 0..10. */
  readonly distribution: readonly number[];
}

/**
 * Net Promoter Score (% promoters 9–10 minus % detractors 0–6, from −100 to 100) with its 95% interval
 * from the standard variance formula: Var = (p_P + p_D − (p_P − p_D)²) / n.
 */
export function npsInterval(answers: readonly number[], z = Z95): NpsResult | null {
  // Only answers the survey can give count: an integer from 0 to 10.
  const scores = answers.filter((s) => Number.isInteger(s) && s >= 0 && s <= 10);
  const n = scores.length;
  if (n === 0) return null;
  const distribution = Array.from({ length: 11 }, (_, s) => scores.filter((x) => x === s).length);
  const promoters = scores.filter((s) => s >= 9).length;
  const detractors = scores.filter((s) => s <= 6).length;
  const pP = promoters / n;
  const pD = detractors / n;
  const nps = (pP - pD) * 100;
  const half = z * Math.sqrt(Math.max(0, pP + pD - (pP - pD) ** 2) / n) * 100;
  return {
    estimate: nps,
    low: Math.max(-100, nps - half),
    high: Math.min(100, nps + half),
    n,
    promoters,
    passives: n - promoters - detractors,
    detractors,
    distribution,
  };
}

/** The margin of error of a proportion at 95% confidence for `n` answers, at its widest (p = 0.5). */
export function marginOfError(n: number, z = Z95): number | null {
  return n > 0 ? z * Math.sqrt(0.25 / n) : null;
}

export type ExperimentPhase = 'planned' | 'beta' | 'launched' | 'concluded';

/** The rollout: planned → beta (a named cohort billed, everyone else shadow billed) → launched → concluded. */
export interface ExperimentState {
  readonly id: string;
  readonly phase: ExperimentPhase;
  /** Customers billed in Stripe during the beta. */
  readonly cohort: readonly string[];
  /** Epoch ms of each step. */
  readonly betaStartedAt?: number;
  readonly launchedAt?: number;
  readonly concludedAt?: number;
}

/** Whether Stripe bills this customer's calls at `at` (epoch ms): during the beta only the cohort's. */
export function billedInStripe(customerId: string, at: number, experiment: ExperimentState | undefined): boolean {
  if (!experiment?.betaStartedAt || at < experiment.betaStartedAt) return true;
  if (experiment.cohort.includes(customerId)) return true;
  return experiment.launchedAt !== undefined && at >= experiment.launchedAt;
}

/**
 * The window in which a customer outside the cohort is shadow billed: metered, shown what it would
 * have paid, nothing pushed; from the beta's start until the launch (never back-billed).
 */
export function shadowWindow(customerId: string, experiment: ExperimentState | undefined): { from: number; until: number } | undefined {
  if (!experiment?.betaStartedAt || experiment.cohort.includes(customerId)) return undefined;
  return { from: experiment.betaStartedAt, until: experiment.launchedAt ?? Number.MAX_SAFE_INTEGER };
}

export type PhaseChange = { ok: true; state: ExperimentState } | { ok: false; reason: string };

/** Starts the beta with `cohort` (named customers, chosen by the caller). */
export function startBeta(current: ExperimentState | undefined, cohort: readonly string[], now: number): PhaseChange {
  if (current && current.phase !== 'planned') return { ok: false, reason: `the experiment is already ${current.phase}` };
  if (cohort.length === 0) return { ok: false, reason: 'the beta cohort is empty: name customers, or create some first' };
  return { ok: true, state: { id: EXPERIMENT_PLAN.id, phase: 'beta', cohort: [...new Set(cohort)], betaStartedAt: now } };
}

/** Turns billing on for everyone from `now` (the beta's usage of customers outside the cohort stays unbilled). */
export function launch(current: ExperimentState | undefined, now: number): PhaseChange {
  if (current?.phase !== 'beta') return { ok: false, reason: `launch follows the beta; the experiment is ${current?.phase ?? 'planned'}` };
  return { ok: true, state: { ...current, phase: 'launched', launchedAt: now } };
}

export function conclude(current: ExperimentState | undefined, now: number): PhaseChange {
  if (current?.phase !== 'beta' && current?.phase !== 'launched')
    return { ok: false, reason: `only a running experiment concludes; it is ${current?.phase ?? 'planned'}` };
  return { ok: true, state: { ...current, phase: 'concluded', concludedAt: now } };
}

/** A random pick of `size` customers, by a caller-supplied random source (so a test can fix it). */
export function pickCohort(candidates: readonly string[], size: number, random: () => number = Math.random): string[] {
  const pool = [...candidates];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, size);
}

/** One customer's day: its billable calls and the answers the gateway gave it. */
export interface CustomerDay {
  readonly customerId: string;
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string;
  readonly billable: number;
  readonly s2xx: number;
  readonly s4xx: number;
  readonly s5xx: number;
}

/** Where the experiment's figures come from. */
export interface ExperimentData {
  customers(): Promise<Customer[]>;
  /** Every customer's days in [fromMs, toMs) with any call. */
  days(fromMs: number, toMs: number): Promise<CustomerDay[]>;
  /** Invoices paid (the `invoice.paid` webhook) in [fromMs, toMs). */
  paidInvoices(fromMs: number, toMs: number): Promise<Array<{ readonly customerId: string; readonly paidCents: number; readonly at: number }>>;
  tickets(): Promise<Ticket[]>;
  /** NPS survey answers in [fromMs, toMs). */
  feedback(fromMs: number, toMs: number): Promise<Array<{ readonly customerId: string; readonly score: number; readonly at: number }>>;
  /** The reconciliation's billing error rate over the months from `fromMonth`. */
  billingErrorRate(fromMonth: string): Promise<ErrorRate>;
}

export type Verdict = 'met' | 'not-met' | 'inconclusive';

export interface Criterion {
  readonly id: string;
  /** In words, as the seed says it. */
  readonly description: string;
  /** A success criterion is met when the experiment succeeded on it; a failure criterion is met when it tripped. */
  readonly kind: 'success' | 'failure';
  readonly value: number | null;
  readonly threshold: number;
  readonly interval?: { readonly low: number; readonly high: number } | null;
  readonly n?: number;
  readonly verdict: Verdict;
  /** The figures that decided it. */
  readonly reason: string;
}

export interface ExperimentReport {
  readonly experiment: { readonly id: string; readonly hypothesis: string; readonly phase: ExperimentPhase; readonly cohort: readonly string[] };
  readonly window: { readonly from: string; readonly to: string; readonly days: number };
  readonly revenue: {
    readonly paidCents: number;
    /** This month so far, by the pricing function over the billable counts of customers billed in Stripe. */
    readonly monthEstimateCents: number;
    /** What customers outside the beta cohort would have paid this month (shadow billing). */
    readonly shadowEstimateCents: number;
    readonly perDay: ReadonlyArray<{ readonly day: string; readonly paidCents: number }>;
  };
  readonly callsPerDay: {
    readonly average: number;
    readonly days: ReadonlyArray<{
      readonly day: string;
      readonly served: number;
      readonly billable: number;
      readonly refused: number;
      readonly errors: number;
    }>;
  };
  readonly upgradeRate: { readonly startedOnFree: number; readonly upgraded: number; readonly interval: Interval | null };
  readonly errorRate: { readonly served: number; readonly serverErrors: number; readonly refused: number; readonly rate: number | null };
  readonly nps: NpsResult | null;
  readonly billingTickets: { readonly count: number; readonly slaBreaches: number; readonly medianAcknowledgeMinutes: number | null; readonly open: number };
  readonly billingErrorRate: { readonly calls: number; readonly cents: number; readonly customerMonths: number; readonly discrepancies: number } | null;
  readonly churn: { readonly paidAtStart: number; readonly churned: number; readonly interval: Interval | null };
  readonly sampleSize: { readonly activeUsers: number; readonly minimum: number; readonly target: number; readonly marginOfError: number | null };
  readonly criteria: readonly Criterion[];
  readonly verdict: { readonly overall: 'success' | 'failure' | 'inconclusive'; readonly reason: string };
}

const paid = (tier: TierName) => tier !== 'free';
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const usd = (cents: number) => `$${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Verdict of "value > threshold" (or `<`), inconclusive when n is short or the interval straddles the bar. */
function judge(
  value: number | null,
  comparator: '>' | '<',
  threshold: number,
  options: { interval?: { low: number; high: number } | null; enoughData: boolean },
): Verdict {
  if (value === null || !options.enoughData) return 'inconclusive';
  const holds = (x: number) => (comparator === '>' ? x > threshold : x < threshold);
  if (options.interval) {
    if (holds(options.interval.low) && holds(options.interval.high)) return 'met';
    if (!holds(options.interval.low) && !holds(options.interval.high)) return 'not-met';
    return 'inconclusive';
  }
  return holds(value) ? 'met' : 'not-met';
}

/**
 * The report over [from, to): the experiment's figures and verdicts. `from` defaults to the beta's
 * start (or 30 days before `to`), `to` to now.
 */
export async function experimentReport(
  data: ExperimentData,
  experiment: ExperimentState | undefined,
  options: { now: number; from?: number; config?: Pick<BillingConfig, 'tiers'> },
): Promise<ExperimentReport> {
  const config = options.config ?? billingConfig;
  const to = Math.min(options.now, experiment?.concludedAt ?? options.now);
  const from = options.from ?? experiment?.betaStartedAt ?? to - EXPERIMENT_PLAN.durationDays * DAY_MS;
  const fromDay = Math.floor(from / DAY_MS) * DAY_MS;
  const windowDays = Math.max(1, Math.ceil((to - fromDay) / DAY_MS));
  const [customers, days, invoices, tickets, answers, billingErrors] = await Promise.all([
    data.customers(),
    data.days(fromDay, to),
    data.paidInvoices(from, to),
    data.tickets(),
    data.feedback(from, to),
    data.billingErrorRate(utcMonth(from)),
  ]);

  // Calls per day: every day of the window, served = answered 2xx/4xx/5xx after an Allow (outcome counts).
  const byDay = new Map<string, { served: number; billable: number; refused: number; errors: number }>();
  for (let t = fromDay; t < to; t += DAY_MS) byDay.set(new Date(t).toISOString().slice(0, 10), { served: 0, billable: 0, refused: 0, errors: 0 });
  // The outcome counts are every answer after the authorizer's Allow; the billable count is what was not
  // voided. So served (answered by the backend) = billable + 5xx, and the gateway's refusals (throttle,
  // quota) are the 2xx/4xx answers that were voided. A backend's own 4xx is served and billed.
  for (const d of days) {
    const day = byDay.get(d.day);
    if (!day) continue;
    day.billable += d.billable;
    day.served += d.billable + d.s5xx;
    day.refused += Math.max(0, d.s2xx + d.s4xx - d.billable);
    day.errors += d.s5xx;
  }
  const dayRows = [...byDay].map(([day, v]) => ({ day, ...v }));
  const fullDays = dayRows.filter((d) => Date.parse(`${d.day}T00:00:00Z`) + DAY_MS <= to);
  const average = (fullDays.length ? fullDays : dayRows).reduce((s, d) => s + d.billable, 0) / Math.max(1, (fullDays.length ? fullDays : dayRows).length);

  // Revenue: paid invoices, and this month's running estimate from the billable counts.
  const month = utcMonth(to);
  const monthCalls = new Map<string, number>();
  for (const d of days) if (d.day.startsWith(month)) monthCalls.set(d.customerId, (monthCalls.get(d.customerId) ?? 0) + d.billable);
  let monthEstimateCents = 0;
  let shadowEstimateCents = 0;
  for (const c of customers) {
    const cents = estimateBill(c.tier, monthCalls.get(c.customerId) ?? 0, config).totalCents;
    if (billedInStripe(c.customerId, to, experiment)) monthEstimateCents += cents;
    else shadowEstimateCents += cents;
  }
  const paidCents = invoices.reduce((s, i) => s + i.paidCents, 0);
  const paidByDay = new Map<string, number>();
  for (const i of invoices)
    paidByDay.set(new Date(i.at).toISOString().slice(0, 10), (paidByDay.get(new Date(i.at).toISOString().slice(0, 10)) ?? 0) + i.paidCents);

  // Upgrades: customers who started on Free in the window and are on a paid tier (or moved to one) since.
  const startedOnFree = customers.filter((c) => (c.initialTier ?? c.tier) === 'free' && Date.parse(c.createdAt) >= from && Date.parse(c.createdAt) < to);
  const upgraded = startedOnFree.filter((c) => (c.upgradedAt !== undefined ? c.upgradedAt < to : paid(c.tier)));
  // Churn: customers paying at the window's start who cancelled or went back to Free since.
  const paidAtStart = customers.filter(
    (c) => Date.parse(c.createdAt) < from && (c.paidSince !== undefined ? c.paidSince < from : paid(c.initialTier ?? c.tier)),
  );
  const churned = paidAtStart.filter((c) => c.downgradedAt !== undefined && c.downgradedAt >= from && c.downgradedAt < to);

  const served = dayRows.reduce((s, d) => s + d.served, 0);
  const serverErrors = dayRows.reduce((s, d) => s + d.errors, 0);
  const nps = npsInterval(answers.map((a) => a.score));
  const windowTickets = tickets.filter((t) => t.createdAt >= from && t.createdAt < to);
  const slaMs = EXPERIMENT_PLAN.supportSlaHours * 3_600_000;
  const ackMinutes = windowTickets.filter((t) => t.acknowledgedAt !== undefined).map((t) => (t.acknowledgedAt! - t.createdAt) / 60_000);
  const breaches = windowTickets.filter((t) => (t.acknowledgedAt ?? to) - t.createdAt > slaMs).length;
  const active = new Set(days.filter((d) => d.billable + d.s2xx + d.s4xx + d.s5xx > 0).map((d) => d.customerId)).size;
  const upgradeInterval = wilsonInterval(upgraded.length, startedOnFree.length);
  const churnInterval = wilsonInterval(churned.length, paidAtStart.length);
  const enough = active >= EXPERIMENT_PLAN.sampleSize.minimum;
  const elapsedFull = to - from >= EXPERIMENT_PLAN.durationDays * DAY_MS;
  const billingErrorRate =
    billingErrors.customerMonths > 0
      ? {
          calls: billingErrors.rate.calls,
          cents: billingErrors.rate.cents,
          customerMonths: billingErrors.customerMonths,
          discrepancies: billingErrors.discrepancies,
        }
      : null;
  const errorShare = billingErrorRate && Math.max(billingErrorRate.calls, billingErrorRate.cents);
  const revenue = Math.max(paidCents, monthEstimateCents);
  const { success, failure } = EXPERIMENT_PLAN;

  const criteria: Criterion[] = [
    {
      id: 'revenue',
      description: 'API revenue > $1K/month within 30 days',
      kind: 'success',
      value: revenue,
      threshold: success.revenueCents,
      verdict: revenue > success.revenueCents ? 'met' : elapsedFull ? 'not-met' : 'inconclusive',
      reason: `${usd(paidCents)} paid in the window; ${usd(monthEstimateCents)} billable this month so far${elapsedFull ? '' : ` (day ${windowDays} of ${EXPERIMENT_PLAN.durationDays})`}`,
    },
    {
      id: 'callsPerDay',
      description: 'API calls/day > 100',
      kind: 'success',
      value: average,
      threshold: success.callsPerDay,
      verdict: judge(average, '>', success.callsPerDay, { enoughData: dayRows.length > 0 }),
      reason: `${average.toFixed(1)} billable calls a day on average over ${(fullDays.length ? fullDays : dayRows).length} day(s)`,
    },
    {
      id: 'upgradeRate',
      description: 'Upgrade rate > 15%',
      kind: 'success',
      value: upgradeInterval?.estimate ?? null,
      threshold: success.upgradeRate,
      interval: upgradeInterval,
      n: startedOnFree.length,
      verdict: judge(upgradeInterval?.estimate ?? null, '>', success.upgradeRate, { interval: upgradeInterval, enoughData: enough }),
      reason: upgradeInterval
        ? `${upgraded.length} of ${startedOnFree.length} customers who started on Free upgraded: ${pct(upgradeInterval.estimate)} (95% CI ${pct(upgradeInterval.low)}–${pct(upgradeInterval.high)})${enough ? '' : `; ${active} active users, under the minimum ${EXPERIMENT_PLAN.sampleSize.minimum}`}`
        : 'no customer started on Free in the window',
    },
    {
      id: 'billingErrorRate',
      description: 'Billing error rate < 1%',
      kind: 'success',
      value: errorShare,
      threshold: success.billingErrorRate,
      verdict: judge(errorShare, '<', success.billingErrorRate, { enoughData: billingErrorRate !== null }),
      reason: billingErrorRate
        ? `${pct(billingErrorRate.calls)} of calls, ${pct(billingErrorRate.cents)} of cents over ${billingErrorRate.customerMonths} reconciled customer-months`
        : 'no reconciliation has run yet',
    },
    {
      id: 'nps',
      description: 'Customer satisfaction (NPS) > 50',
      kind: 'success',
      value: nps?.estimate ?? null,
      threshold: success.nps,
      interval: nps && { low: nps.low, high: nps.high },
      n: nps?.n ?? 0,
      verdict: judge(nps?.estimate ?? null, '>', success.nps, { interval: nps, enoughData: (nps?.n ?? 0) >= EXPERIMENT_PLAN.npsMinimumAnswers }),
      reason: nps
        ? `NPS ${nps.estimate.toFixed(1)} (95% CI ${nps.low.toFixed(1)} to ${nps.high.toFixed(1)}) from ${nps.n} answers${nps.n >= EXPERIMENT_PLAN.npsMinimumAnswers ? '' : `, under the ${EXPERIMENT_PLAN.npsMinimumAnswers} needed`}`
        : 'no survey answers yet',
    },
    {
      id: 'revenueFloor',
      description: 'API revenue < $500/month after 30 days',
      kind: 'failure',
      value: revenue,
      threshold: failure.revenueCents,
      verdict: revenue < failure.revenueCents ? (elapsedFull ? 'met' : 'inconclusive') : 'not-met',
      reason: `${usd(revenue)} a month${elapsedFull ? '' : `, day ${windowDays} of ${EXPERIMENT_PLAN.durationDays}`}`,
    },
    {
      id: 'upgradeRateFloor',
      description: 'Upgrade rate < 5%',
      kind: 'failure',
      value: upgradeInterval?.estimate ?? null,
      threshold: failure.upgradeRate,
      interval: upgradeInterval,
      n: startedOnFree.length,
      verdict: judge(upgradeInterval?.estimate ?? null, '<', failure.upgradeRate, { interval: upgradeInterval, enoughData: enough }),
      reason: upgradeInterval
        ? `${pct(upgradeInterval.estimate)} (95% CI ${pct(upgradeInterval.low)}–${pct(upgradeInterval.high)})`
        : 'no customer started on Free',
    },
    {
      id: 'billingErrorRateCeiling',
      description: 'Billing error rate > 5%',
      kind: 'failure',
      value: errorShare,
      threshold: failure.billingErrorRate,
      verdict: judge(errorShare, '>', failure.billingErrorRate, { enoughData: billingErrorRate !== null }),
      reason: billingErrorRate ? `${pct(errorShare!)} at its worst (calls or cents)` : 'no reconciliation has run yet',
    },
    {
      id: 'churn',
      description: 'Customer churn > 10%',
      kind: 'failure',
      value: churnInterval?.estimate ?? null,
      threshold: failure.churn,
      interval: churnInterval,
      n: paidAtStart.length,
      verdict: judge(churnInterval?.estimate ?? null, '>', failure.churn, { interval: churnInterval, enoughData: paidAtStart.length > 0 }),
      reason: churnInterval
        ? `${churned.length} of ${paidAtStart.length} paying customers cancelled or went to Free: ${pct(churnInterval.estimate)} (95% CI ${pct(churnInterval.low)}–${pct(churnInterval.high)})`
        : 'no paying customer at the start',
    },
  ];
  const tripped = criteria.filter((c) => c.kind === 'failure' && c.verdict === 'met');
  const unmet = criteria.filter((c) => c.kind === 'success' && c.verdict !== 'met');
  const started = experiment?.betaStartedAt !== undefined;
  // Before the beta there is no experiment to judge: the figures are a baseline.
  const overall = !started ? 'inconclusive' : tripped.length ? 'failure' : unmet.length === 0 ? 'success' : 'inconclusive';
  const reason = !started
    ? 'the experiment has not started (npm run cli -- experiment start): these figures are a baseline'
    : tripped.length
      ? `failure criteria met: ${tripped.map((c) => c.description).join('; ')}`
      : unmet.length === 0
        ? 'every success criterion is met and no failure criterion'
        : `not yet met: ${unmet.map((c) => `${c.description} (${c.verdict})`).join('; ')}`;

  return {
    experiment: { id: EXPERIMENT_PLAN.id, hypothesis: EXPERIMENT_PLAN.hypothesis, phase: experiment?.phase ?? 'planned', cohort: experiment?.cohort ?? [] },
    window: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), days: windowDays },
    revenue: { paidCents, monthEstimateCents, shadowEstimateCents, perDay: [...byDay.keys()].map((day) => ({ day, paidCents: paidByDay.get(day) ?? 0 })) },
    callsPerDay: { average, days: dayRows },
    upgradeRate: { startedOnFree: startedOnFree.length, upgraded: upgraded.length, interval: upgradeInterval },
    errorRate: { served, serverErrors, refused: dayRows.reduce((s, d) => s + d.refused, 0), rate: served ? serverErrors / served : null },
    nps,
    billingTickets: {
      count: windowTickets.length,
      slaBreaches: breaches,
      medianAcknowledgeMinutes: median(ackMinutes),
      open: windowTickets.filter((t) => t.status === 'open').length,
    },
    billingErrorRate,
    churn: { paidAtStart: paidAtStart.length, churned: churned.length, interval: churnInterval },
    sampleSize: {
      activeUsers: active,
      minimum: EXPERIMENT_PLAN.sampleSize.minimum,
      target: EXPERIMENT_PLAN.sampleSize.target,
      marginOfError: marginOfError(active),
    },
    criteria,
    verdict: { overall, reason },
  };
}
