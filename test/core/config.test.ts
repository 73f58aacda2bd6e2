import { BillingConfigSchema, billingConfig, monthlyQuotaOf } from '../../lambdas/core/config.ts';

describe('billing configuration', () => {
  it('ships the figures of the experiment plan', () => {
    expect(monthlyQuotaOf(billingConfig.tiers.free)).toBe(1_000);
    expect(billingConfig.tiers.pro).toMatchObject({ pricing: 'included-plus-overage', includedCalls: 10_000 });
    expect(monthlyQuotaOf(billingConfig.tiers.pro)).toBeUndefined();
    expect(monthlyQuotaOf(billingConfig.tiers.enterprise)).toBeUndefined();
    expect(billingConfig.rateLimit.requestsPerMinute).toBe(1_000);
    expect(billingConfig.billingCapCents).toBe(100_000);
    expect(billingConfig.anomalyFactor).toBe(2);
    // Stripe takes meter events up to 35 days old: raw events must outlive that window.
    expect(billingConfig.usageEventRetentionDays).toBeGreaterThan(35);
    // Revocation must take effect within a minute.
    expect(billingConfig.keyCacheTtlSeconds).toBeLessThanOrEqual(60);
  });

  it.each([
    ['a key cache TTL over 60 s', { keyCacheTtlSeconds: 120 }, 'keyCacheTtlSeconds'],
    ['retention inside the 35-day Stripe window', { usageEventRetentionDays: 30 }, 'usageEventRetentionDays'],
    ['a non-free Free tier', { tiers: { ...billingConfig.tiers, free: billingConfig.tiers.pro } }, 'tiers.free'],
    [
      'a closed last volume band',
      { tiers: { ...billingConfig.tiers, enterprise: { pricing: 'volume', monthlyFeeCents: 0, bands: [{ upTo: 10, unitMillicents: 1 }] } } },
      'tiers.enterprise.bands',
    ],
  ])('rejects %s and names the setting', (_name, override, path) => {
    const parsed = BillingConfigSchema.safeParse({ ...billingConfig, ...override });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain(path);
  });
});
