import { billingConfig } from '../../lambdas/core/config.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { upgradePrompt } from '../../lambdas/core/upgrade.ts';

describe('upgrade prompts', () => {
  it.each([
    [799, null],
    [800, 'approaching-quota'],
    [999, 'approaching-quota'],
    [1_000, 'quota-reached'],
  ])('on Free with %i calls: %s', (calls, level) => {
    expect(upgradePrompt('free', calls, billingConfig)?.level ?? null).toBe(level);
  });

  it('offers Enterprise to Pro exactly when Enterprise would bill less for the same month', () => {
    for (const calls of [10_000, 100_000, 1_000_000, 3_000_000, 10_000_000]) {
      const cheaper = estimateBill('enterprise', calls).totalCents < estimateBill('pro', calls).totalCents;
      expect(upgradePrompt('pro', calls, billingConfig)?.level ?? null).toBe(cheaper ? 'enterprise-cheaper' : null);
    }
    expect(upgradePrompt('pro', 10_000_000, billingConfig)).toMatchObject({ targetTier: 'enterprise' });
    expect(upgradePrompt('enterprise', 10_000_000, billingConfig)).toBeNull();
  });
});

describe('upgrade prompts: the words and the edges', () => {
  it('tells a Free customer how much of the quota is gone, and when it is all gone', () => {
    expect(upgradePrompt('free', 835, billingConfig)).toEqual({
      level: 'approaching-quota',
      targetTier: 'pro',
      message: "You have used 83% of this month's 1000 free calls. Upgrade to Pro before you run out.",
    });
    expect(upgradePrompt('free', 1_200, billingConfig)).toEqual({
      level: 'quota-reached',
      targetTier: 'pro',
      message: 'You have used all 1000 free calls this month. Upgrade to Pro to keep calling.',
    });
  });

  it('does not offer Enterprise at the volume where both bills are equal, and does with the two amounts once it is cheaper', () => {
    // 470,000 calls: Pro $49 + 460,000 x 0.2 cent = $969.00; Enterprise $499 + 470,000 x 0.1 cent = $969.00.
    expect(estimateBill('pro', 470_000).totalCents).toBe(96_900);
    expect(estimateBill('enterprise', 470_000).totalCents).toBe(96_900);
    expect(upgradePrompt('pro', 470_000, billingConfig)).toBeNull();
    expect(upgradePrompt('pro', 470_010, billingConfig)).toEqual({
      level: 'enterprise-cheaper',
      targetTier: 'enterprise',
      message: "At this month's volume Enterprise would cost $969.01 instead of $969.02.",
    });
  });
});
