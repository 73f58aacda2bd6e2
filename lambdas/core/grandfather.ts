/**
 * The grandfathering lever: free for a number of days from a date. Calls in that window are
 * counted but never charged, the monthly fee for those days is credited, and billing resumes
 * normally after it, with no charge for the free days.
 */
import type { BillingConfig } from './config.ts';
import type { Customer } from './model.ts';
import { estimateBill } from './pricing.ts';

const HOUR_MS = 3_600_000;

export interface GrandfatherWindow {
  /** Epoch ms, inclusive. */
  readonly from: number;
  /** Epoch ms, exclusive. */
  readonly until: number;
}

export function grandfatherWindow(customer: Pick<Customer, 'grandfatheredFrom' | 'grandfatheredUntil'>): GrandfatherWindow | undefined {
  return customer.grandfatheredFrom !== undefined && customer.grandfatheredUntil !== undefined
    ? { from: customer.grandfatheredFrom, until: customer.grandfatheredUntil }
    : undefined;
}

/** Hour boundaries of the free calls: hours that start in [from, until) rounded out to whole hours. */
export function freeHours(window: GrandfatherWindow): { fromHourStart: number; untilHourStart: number } {
  return { fromHourStart: Math.floor(window.from / HOUR_MS) * HOUR_MS, untilHourStart: Math.ceil(window.until / HOUR_MS) * HOUR_MS };
}

/**
 * The windows in which a customer's calls are counted but not charged: its grandfathering, and any
 * other (the experiment's shadow billing of a customer outside the beta cohort), merged where they overlap.
 */
export function freeWindows(
  customer: Pick<Customer, 'grandfatheredFrom' | 'grandfatheredUntil'>,
  ...others: Array<GrandfatherWindow | undefined>
): GrandfatherWindow[] {
  const windows = [grandfatherWindow(customer), ...others]
    .filter((w): w is GrandfatherWindow => w !== undefined && w.until > w.from)
    .sort((a, b) => a.from - b.from);
  const merged: GrandfatherWindow[] = [];
  for (const w of windows) {
    const last = merged.at(-1);
    if (last && w.from <= last.until) merged[merged.length - 1] = { from: last.from, until: Math.max(last.until, w.until) };
    else merged.push(w);
  }
  return merged;
}

/** The share of the monthly fee for the free days in a billing period, in cents (rounded to the nearest cent). */
export function feeCreditCents(
  customer: Pick<Customer, 'tier' | 'grandfatheredFrom' | 'grandfatheredUntil'>,
  periodStart: number,
  periodEnd: number,
  config: Pick<BillingConfig, 'tiers'>,
  ...others: Array<GrandfatherWindow | undefined>
): number {
  const windows = freeWindows(customer, ...others);
  if (windows.length === 0) return 0;
  const overlap = windows.reduce((sum, w) => sum + Math.max(0, Math.min(periodEnd, w.until) - Math.max(periodStart, w.from)), 0);
  const fee = estimateBill(customer.tier, 0, config).totalCents;
  return Math.round((fee * overlap) / (periodEnd - periodStart));
}
