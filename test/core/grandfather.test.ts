import fc from 'fast-check';
import { billingConfig } from '../../lambdas/core/config.ts';
import { feeCreditCents, freeHours, grandfatherWindow } from '../../lambdas/core/grandfather.ts';

const DAY = 86_400_000;
const NOV = Date.UTC(2026, 10, 1); // a 30-day billing period
const DEC = Date.UTC(2026, 11, 1);

describe('grandfathering', () => {
  it('has a window only with both ends', () => {
    expect(grandfatherWindow({ grandfatheredFrom: 1, grandfatheredUntil: 2 })).toEqual({ from: 1, until: 2 });
    expect(grandfatherWindow({ grandfatheredFrom: 1 })).toBeUndefined();
    expect(grandfatherWindow({ grandfatheredUntil: 2 })).toBeUndefined();
    expect(grandfatherWindow({})).toBeUndefined();
  });

  it('frees whole hours: from the start of the first one to the end of the last one', () => {
    const from = Date.UTC(2026, 10, 10, 9, 15);
    const until = Date.UTC(2026, 11, 10, 9, 15);
    expect(freeHours({ from, until })).toEqual({ fromHourStart: Date.UTC(2026, 10, 10, 9), untilHourStart: Date.UTC(2026, 11, 10, 10) });
    const exact = Date.UTC(2026, 10, 10, 9);
    expect(freeHours({ from: exact, until: exact + DAY })).toEqual({ fromHourStart: exact, untilHourStart: exact + DAY });
  });

  it.each([
    // 10 of Pro's 30 November days: $49 x 10/30 = 1,633.33 cents.
    ['pro', NOV + 5 * DAY, NOV + 15 * DAY, 1_633],
    // 15 days: 2,450 cents exactly.
    ['pro', NOV + 15 * DAY, NOV + 30 * DAY, 2_450],
    // Started in October: only November's share of the window counts (10 days).
    ['pro', NOV - 20 * DAY, NOV + 10 * DAY, 1_633],
    // Runs into December: November's last 5 days ($49 x 5/30 = 816.67).
    ['pro', NOV + 25 * DAY, NOV + 55 * DAY, 817],
    // The whole period: the whole fee.
    ['enterprise', NOV - DAY, DEC + DAY, 49_900],
    // Enterprise for 1 day: 49,900/30 = 1,663.33.
    ['enterprise', NOV, NOV + DAY, 1_663],
    // A window entirely in another period, and a tier with no fee.
    ['pro', DEC, DEC + 30 * DAY, 0],
    ['pro', NOV - 30 * DAY, NOV, 0],
    ['free', NOV, DEC, 0],
  ] as const)('credits %s for [%i, %i) in November %i cents', (tier, from, until, cents) => {
    expect(feeCreditCents({ tier, grandfatheredFrom: from, grandfatheredUntil: until }, NOV, DEC, billingConfig)).toBe(cents);
  });

  it('credits nothing without a window', () => {
    expect(feeCreditCents({ tier: 'pro' }, NOV, DEC, billingConfig)).toBe(0);
  });

  it('credits 30 days across two periods as the whole fee, give or take a cent of rounding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 * 24 }), (startHour) => {
        const from = NOV + startHour * 3_600_000;
        const customer = { tier: 'pro' as const, grandfatheredFrom: from, grandfatheredUntil: from + 30 * DAY };
        const nov = feeCreditCents(customer, NOV, DEC, billingConfig);
        const dec = feeCreditCents(customer, DEC, Date.UTC(2027, 0, 1), billingConfig);
        expect(nov).toBeGreaterThanOrEqual(0);
        expect(nov).toBeLessThanOrEqual(4_900);
        // December has 31 days, so its share is a little less than 30 days' worth of November.
        expect(Math.abs(nov + dec - 4_900)).toBeLessThanOrEqual(Math.ceil(4_900 / 31) + 1);
      }),
    );
  });
});
