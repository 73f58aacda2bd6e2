/**
 * The one pricing function: a tier and a month's billable calls to an amount in cents, with its
 * breakdown. The dashboard, the alerts, the cap and the Stripe setup all use it (the Stripe prices
 * are built from the same configuration), so the estimate equals Stripe's invoice to the cent.
 */
import { billingConfig, type BillingConfig, type TierConfig, type TierName } from './config.ts';

export interface BillLine {
  readonly description: string;
  readonly quantity: number;
  readonly amountCents: number;
}

export interface EstimatedBill {
  readonly tier: TierName;
  readonly billableCalls: number;
  readonly lines: readonly BillLine[];
  readonly totalCents: number;
}

/**
 * Cents for `quantity` units at `unitMillicents` each, rounded to the nearest cent, halves up:
 * how Stripe rounds a line priced with a decimal unit amount.
 */
export function lineAmountCents(quantity: number, unitMillicents: number): number {
  return Math.round((quantity * unitMillicents) / 1000);
}

/** The bill for a calendar month of `billableCalls` on `tier`. */
export function estimateBill(tier: TierName, billableCalls: number, config: Pick<BillingConfig, 'tiers'> = billingConfig): EstimatedBill {
  if (!Number.isSafeInteger(billableCalls) || billableCalls < 0) throw new RangeError(`billable calls must be a non-negative integer, not ${billableCalls}`);
  const lines = billLines(config.tiers[tier], billableCalls);
  return { tier, billableCalls, lines, totalCents: lines.reduce((sum, line) => sum + line.amountCents, 0) };
}

function billLines(tier: TierConfig, calls: number): BillLine[] {
  switch (tier.pricing) {
    case 'free':
      return [{ description: `Free tier: ${calls} of ${tier.monthlyQuota} calls`, quantity: calls, amountCents: 0 }];
    case 'included-plus-overage': {
      const overage = Math.max(0, calls - tier.includedCalls);
      return [
        { description: 'Monthly fee', quantity: 1, amountCents: tier.monthlyFeeCents },
        { description: `Included calls (${tier.includedCalls})`, quantity: Math.min(calls, tier.includedCalls), amountCents: 0 },
        { description: 'Overage calls', quantity: overage, amountCents: lineAmountCents(overage, tier.overageUnitMillicents) },
      ];
    }
    case 'volume': {
      // Volume pricing: the month's total picks one band, whose price applies to every call.
      const band = tier.bands.find((b) => b.upTo === null || calls <= b.upTo) ?? tier.bands[tier.bands.length - 1]!;
      return [
        { description: 'Monthly fee', quantity: 1, amountCents: tier.monthlyFeeCents },
        {
          description: `Calls at the ${band.upTo === null ? 'top' : `up to ${band.upTo}`} volume band`,
          quantity: calls,
          amountCents: lineAmountCents(calls, band.unitMillicents),
        },
      ];
    }
  }
}

/**
 * The most of a month's `calls` that can be billed on `tier` without the bill passing `capCents`:
 * the largest n <= calls with estimateBill(n) <= capCents. Volume pricing is not monotone (the
 * next band is cheaper per call), but it is within a band, so each band is searched on its own.
 */
export function callsBillableUnderCap(tier: TierName, calls: number, capCents: number, config: Pick<BillingConfig, 'tiers'> = billingConfig): number {
  const bill = (n: number) => estimateBill(tier, n, config).totalCents;
  if (bill(calls) <= capCents) return calls;
  const tierConfig = config.tiers[tier];
  const segmentStarts = tierConfig.pricing === 'volume' ? [0, ...tierConfig.bands.flatMap((b) => (b.upTo === null ? [] : [b.upTo + 1]))] : [0];
  let end = calls;
  for (const start of [...segmentStarts].reverse()) {
    if (start > end) continue;
    if (bill(start) <= capCents) {
      // Monotone on [start, end]: the last n with bill(n) <= cap.
      let low = start;
      let high = end;
      while (low < high) {
        const mid = Math.ceil((low + high) / 2);
        if (bill(mid) <= capCents) low = mid;
        else high = mid - 1;
      }
      return low;
    }
    end = start - 1;
  }
  return 0;
}
