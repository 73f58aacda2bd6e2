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
