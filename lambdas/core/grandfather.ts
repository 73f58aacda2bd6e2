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

/** The share of the monthly fee for the free days in a billing period, in cents (rounded to the nearest cent). */
export function feeCreditCents(
  customer: Pick<Customer, 'tier' | 'grandfatheredFrom' | 'grandfatheredUntil'>,
  periodStart: number,
  periodEnd: number,
  config: Pick<BillingConfig, 'tiers'>,
): number {
  const window = grandfatherWindow(customer);
  if (!window) return 0;
  const overlap = Math.max(0, Math.min(periodEnd, window.until) - Math.max(periodStart, window.from));
  const fee = estimateBill(customer.tier, 0, config).totalCents;
  return Math.round((fee * overlap) / (periodEnd - periodStart));
}
