import { billingConfig } from '../../lambdas/core/config.ts';
import { millicentsToDecimalCents, pricesOfTier, productId, stripeCatalog } from '../../lambdas/core/catalog.ts';

describe('the Stripe catalog the configuration implies', () => {
  const catalog = stripeCatalog(billingConfig);

  it('has one product per tier', () => {
    expect(catalog.products).toEqual([
      { id: 'api_billing_free', tier: 'free', name: 'API Free' },
      { id: 'api_billing_pro', tier: 'pro', name: 'API Pro' },
      { id: 'api_billing_enterprise', tier: 'enterprise', name: 'API Enterprise' },
    ]);
    expect(productId('pro')).toBe('api_billing_pro');
  });

  it('prices each tier as configured, under lookup keys that deployed Stripe accounts already hold', () => {
    // A lookup key is how the setup finds an existing price: if these changed for the same figures,
    // every deployment would create a second set of prices.
    expect(catalog.prices).toEqual([
      { lookupKey: 'api_billing_free_fee_5feceb66', tier: 'free', role: 'fee', unitAmountCents: 0 },
      { lookupKey: 'api_billing_pro_fee_0ec89b31', tier: 'pro', role: 'fee', unitAmountCents: 4_900 },
      {
        lookupKey: 'api_billing_pro_usage_6e8172b1',
        tier: 'pro',
        role: 'usage',
        tiersMode: 'graduated',
        tiers: [
          { upTo: 10_000, unitMillicents: 0 },
          { upTo: null, unitMillicents: 200 },
        ],
      },
      { lookupKey: 'api_billing_enterprise_fee_3cfb982e', tier: 'enterprise', role: 'fee', unitAmountCents: 49_900 },
      {
        lookupKey: 'api_billing_enterprise_usage_67c83bbf',
        tier: 'enterprise',
        role: 'usage',
        tiersMode: 'volume',
        tiers: [
          { upTo: 100_000, unitMillicents: 150 },
          { upTo: 1_000_000, unitMillicents: 100 },
          { upTo: null, unitMillicents: 50 },
        ],
      },
    ]);
  });

  it('gives a changed figure a new price (Stripe prices are immutable) and leaves the others alone', () => {
    const changed = stripeCatalog({
      tiers: { ...billingConfig.tiers, pro: { ...billingConfig.tiers.pro, overageUnitMillicents: 250 } } as typeof billingConfig.tiers,
    });
    const keys = (c: typeof catalog) => c.prices.map((p) => p.lookupKey);
    expect(keys(changed).filter((k) => !keys(catalog).includes(k))).toEqual([expect.stringMatching(/^api_billing_pro_usage_[0-9a-f]{8}$/)]);
  });

  it('lists the prices of one tier', () => {
    expect(pricesOfTier(catalog, 'pro').map((p) => p.role)).toEqual(['fee', 'usage']);
    expect(pricesOfTier(catalog, 'free').map((p) => p.lookupKey)).toEqual(['api_billing_free_fee_5feceb66']);
  });

  it.each([
    [200, '0.2'],
    [150, '0.15'],
    [50, '0.05'],
    [1, '0.001'],
    [0, '0'],
    [1_000, '1'],
    [12_345, '12.345'],
    [100_000, '100'],
  ])('writes %i millicents as %s cents for Stripe', (millicents, decimal) => {
    expect(millicentsToDecimalCents(millicents)).toBe(decimal);
  });
});
