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

describe('pricing: the bill a customer sees, line by line', () => {
  it('shows a Free month as its calls against the quota, at no charge', () => {
    expect(estimateBill('free', 835)).toEqual({
      tier: 'free',
      billableCalls: 835,
      totalCents: 0,
      lines: [{ description: 'Free tier: 835 of 1000 calls', quantity: 835, amountCents: 0 }],
    });
  });

  it('shows Pro as the fee, the included calls used and the overage', () => {
    expect(estimateBill('pro', 4_000).lines).toEqual([
      { description: 'Monthly fee', quantity: 1, amountCents: 4_900 },
      { description: 'Included calls (10000)', quantity: 4_000, amountCents: 0 },
      { description: 'Overage calls', quantity: 0, amountCents: 0 },
    ]);
    expect(estimateBill('pro', 25_000).lines).toEqual([
      { description: 'Monthly fee', quantity: 1, amountCents: 4_900 },
      { description: 'Included calls (10000)', quantity: 10_000, amountCents: 0 },
      { description: 'Overage calls', quantity: 15_000, amountCents: 3_000 },
    ]);
  });

  it.each([
    [100_000, 'Calls at the up to 100000 volume band', 15_000],
    [100_001, 'Calls at the up to 1000000 volume band', 10_000],
    [1_000_000, 'Calls at the up to 1000000 volume band', 100_000],
    [1_000_001, 'Calls at the top volume band', 50_000],
  ])('names the Enterprise band %i calls land in', (calls, description, cents) => {
    expect(estimateBill('enterprise', calls).lines).toEqual([
      { description: 'Monthly fee', quantity: 1, amountCents: 49_900 },
      { description, quantity: calls, amountCents: cents },
    ]);
  });

  it('says which count it refused', () => {
    expect(() => estimateBill('pro', -1)).toThrow('billable calls must be a non-negative integer, not -1');
  });
});

describe('pricing: the most calls billable under a cap', () => {
  // Enterprise at the default $1,000 cap: $499 fee plus, in the top band, 0.05 cent a call.
  it.each([
    // 1,002,009 calls are 50,100.45 cents; one more is 50,100.5, rounded up past the cap.
    [5_000_000, 100_000, 1_002_009],
    // Past the cap inside the middle band, whose end is cheaper than its start: the middle band is searched.
    [600_000, 100_000, 501_004],
    // The middle band starts at $599: under a $600 cap a few calls of it fit.
    [900_000, 60_000, 101_004],
    // The middle band's first call is past a $590 cap: the first band's largest count (60,669 calls are 9,100.35 cents).
    [900_000, 59_000, 60_669],
    // The fee alone is past the cap: nothing is billable.
    [900_000, 40_000, 0],
    // Exactly at the cap: every call.
    [1_000_001, 99_900, 1_000_001],
  ])('Enterprise with %i calls and a cap of %i cents bills %i', (calls, cap, expected) => {
    expect(callsBillableUnderCap('enterprise', calls, cap)).toBe(expected);
  });

  it('bills every Pro call when the bill is exactly the cap, and one fewer past it', () => {
    expect(estimateBill('pro', 485_502).totalCents).toBe(100_000);
    expect(callsBillableUnderCap('pro', 485_502, 100_000)).toBe(485_502);
    expect(callsBillableUnderCap('pro', 485_503, 99_999)).toBe(485_497);
    expect(callsBillableUnderCap('free', 5_000, 0)).toBe(5_000);
  });

  // Bands small enough to check every count: the answer is the largest n <= calls whose bill is within the cap.
  const small = {
    tiers: {
      ...billingConfig.tiers,
      enterprise: {
        pricing: 'volume' as const,
        monthlyFeeCents: 3,
        bands: [
          { upTo: 10, unitMillicents: 1_500 },
          { upTo: 40, unitMillicents: 1_000 },
          { upTo: null, unitMillicents: 500 },
        ],
      },
      pro: { pricing: 'included-plus-overage' as const, monthlyFeeCents: 5, includedCalls: 7, overageUnitMillicents: 700 },
    },
  };
  it('equals the largest count within the cap, found by trying every count (volume bands are not monotone)', () => {
    fc.assert(
      fc.property(fc.constantFrom<'pro' | 'enterprise'>('pro', 'enterprise'), fc.nat({ max: 120 }), fc.nat({ max: 80 }), (tier, calls, cap) => {
        let best = 0;
        for (let n = 0; n <= calls; n++) if (estimateBill(tier, n, small).totalCents <= cap) best = n;
        expect(callsBillableUnderCap(tier, calls, cap, small)).toBe(best);
      }),
      { numRuns: 300 },
    );
  });
});
