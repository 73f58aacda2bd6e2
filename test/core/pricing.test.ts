import fc from 'fast-check';
import { billingConfig, TIER_NAMES } from '../../lambdas/core/config.ts';
import { callsBillableUnderCap, estimateBill, lineAmountCents } from '../../lambdas/core/pricing.ts';

describe('pricing', () => {
  it.each([
    ['free', 0, 0],
    ['free', 1_000, 0],
    ['pro', 0, 4_900],
    ['pro', 10_000, 4_900],
    ['pro', 10_001, 4_900], // 0.2 cent rounds to 0
    ['pro', 10_003, 4_901], // 0.6 cent rounds to 1
    ['pro', 20_000, 4_900 + 2_000],
    ['enterprise', 100_000, 49_900 + 15_000],
    ['enterprise', 100_001, 49_900 + 10_000], // the next band prices every call lower
    ['enterprise', 2_000_000, 49_900 + 100_000],
  ] as const)('bills %s with %i calls %i cents', (tier, calls, cents) => {
    expect(estimateBill(tier, calls).totalCents).toBe(cents);
  });

  it('rounds a fractional-cent line to the nearest cent, halves up', () => {
    expect(lineAmountCents(2, 250)).toBe(1); // 0.5 cent
    expect(lineAmountCents(1, 499)).toBe(0);
    expect(lineAmountCents(3, 500)).toBe(2); // 1.5 cents
  });

  it('rejects a negative or fractional count', () => {
    expect(() => estimateBill('pro', -1)).toThrow(RangeError);
    expect(() => estimateBill('pro', 1.5)).toThrow(RangeError);
  });

  it('lines add up to the total and no line is negative', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TIER_NAMES), fc.nat({ max: 50_000_000 }), (tier, calls) => {
        const bill = estimateBill(tier, calls);
        expect(bill.lines.reduce((s, l) => s + l.amountCents, 0)).toBe(bill.totalCents);
        expect(bill.lines.every((l) => l.amountCents >= 0)).toBe(true);
      }),
    );
  });

  it('caps calls at the largest count whose bill stays within the cap', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TIER_NAMES), fc.nat({ max: 30_000_000 }), fc.integer({ min: 0, max: 200_000 }), (tier, calls, cap) => {
        const capped = callsBillableUnderCap(tier, calls, cap);
        expect(capped).toBeLessThanOrEqual(calls);
        if (capped > 0 || estimateBill(tier, 0).totalCents <= cap) expect(estimateBill(tier, capped).totalCents).toBeLessThanOrEqual(cap);
        // Maximal: one more call (when there is one) would pass the cap.
        if (capped < calls) expect(estimateBill(tier, capped + 1).totalCents).toBeGreaterThan(cap);
      }),
    );
  });

  it('caps Pro at the default $1,000 after 485,502 calls', () => {
    // $49 fee + round((n - 10,000) x 0.2 cent) <= 100,000 cents: 475,502 overage calls are 95,100.4 cents, rounded to 95,100.
    expect(callsBillableUnderCap('pro', 10_000_000, billingConfig.billingCapCents)).toBe(485_502);
  });
});
