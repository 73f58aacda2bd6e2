/** Recounting a customer's month from the raw events and comparing it with the counters: the billing-accuracy check. */
import type { UsageEvent } from './model.ts';

export interface Tally {
  readonly billable: number;
  readonly voided: number;
}

export interface RecountSources {
  /** Every raw event of the customer in the month (`YYYY-MM`). */
  events(customerId: string, month: string): Promise<Pick<UsageEvent, 'hour' | 'voided'>[]>;
  /** The counters: the month's, and each hour's. */
  counters(customerId: string, month: string): Promise<{ month: Tally; hours: Record<string, Tally> }>;
}

export interface RecountResult {
  readonly customerId: string;
  readonly month: string;
  readonly recounted: Tally;
  readonly counted: Tally;
  /** Hours (and `month`) whose counter differs from the recount. */
  readonly differences: ReadonlyArray<{ readonly period: string; readonly counted: Tally; readonly recounted: Tally }>;
}

const ZERO: Tally = { billable: 0, voided: 0 };
const same = (a: Tally, b: Tally) => a.billable === b.billable && a.voided === b.voided;

export async function recountMonth(customerId: string, month: string, sources: RecountSources): Promise<RecountResult> {
  const [events, counters] = await Promise.all([sources.events(customerId, month), sources.counters(customerId, month)]);
  const hours = new Map<string, { billable: number; voided: number }>();
  for (const event of events) {
    const tally = hours.get(event.hour) ?? { billable: 0, voided: 0 };
    if (event.voided) tally.voided += 1;
    else tally.billable += 1;
    hours.set(event.hour, tally);
  }
  const recounted = [...hours.values()].reduce((sum, t) => ({ billable: sum.billable + t.billable, voided: sum.voided + t.voided }), ZERO);
  const differences: Array<{ period: string; counted: Tally; recounted: Tally }> = [];
  if (!same(recounted, counters.month)) differences.push({ period: 'month', counted: counters.month, recounted });
  for (const hour of [...new Set([...hours.keys(), ...Object.keys(counters.hours)])].sort()) {
    const counted = counters.hours[hour] ?? ZERO;
    const expected = hours.get(hour) ?? ZERO;
    if (!same(counted, expected)) differences.push({ period: hour, counted, recounted: expected });
  }
  return { customerId, month, recounted, counted: counters.month, differences };
}
