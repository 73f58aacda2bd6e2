import fc from 'fast-check';
import { stripeCatalog } from '../../lambdas/core/catalog.ts';
import { billingConfig, type TierName } from '../../lambdas/core/config.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { changeTier } from '../../lambdas/core/subscriptions.ts';
import { runSync, syncCustomerMonth } from '../../lambdas/core/sync.ts';
import { utcHour } from '../../lambdas/core/time.ts';
import { addHourCounts } from '../harness/counters.ts';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';

const NOV_25 = Date.UTC(2026, 10, 25, 12, 0);

describe('Stripe billing against the local Stripe (official SDK) and DynamoDB Local', () => {
  let f: BillingFixture;
  beforeEach(async () => {
    f = await billingFixture(NOV_25);
  });
  afterEach(async () => f.stop());

  const stripeClient = () => f.stripe.client();
  const meterTotal = async (customerId: string) => {
    const customer = (await f.services.customers.getCustomer(customerId))!;
    const { catalogIds } = await f.services.ready();
    return f.services.provider.meteredTotal(catalogIds.meterId, customer.stripeCustomerId!, Date.UTC(2026, 10, 1) / 1000, Date.UTC(2026, 11, 1) / 1000);
  };

  it('sets up the catalog idempotently: a second run creates nothing and returns the same ids', async () => {
    const before = f.stripe.requests.filter((r) => r.method === 'POST').length;
    const again = await f.services.provider.ensureCatalog(stripeCatalog(billingConfig));
    expect(again).toEqual(await f.services.state.getCatalogIds());
    expect(f.stripe.requests.filter((r) => r.method === 'POST').length).toBe(before);
    expect(Object.keys(again.priceIds)).toHaveLength(stripeCatalog(billingConfig).prices.length);
  });

  it('sets up one customer portal configuration: a second run finds it, and puts back a feature changed in Stripe', async () => {
    const { portalConfigurationId } = (await f.services.state.getCatalogIds())!;
    const configurations = async () => (await stripeClient().billingPortal.configurations.list({ limit: 100 })).data;
    expect((await configurations()).map((c) => c.id)).toEqual([portalConfigurationId]);
    expect((await configurations())[0]!.features).toMatchObject({
      payment_method_update: { enabled: true },
      invoice_history: { enabled: true },
      subscription_cancel: { enabled: true, mode: 'at_period_end', proration_behavior: 'none' },
      subscription_update: { enabled: false },
    });

    // Someone switches cancelling to "immediately" in Stripe's dashboard; the setup command puts it back.
    await stripeClient().billingPortal.configurations.update(portalConfigurationId!, { features: { subscription_cancel: { mode: 'immediately' } } });
    expect((await f.services.provider.ensureCatalog(stripeCatalog(billingConfig))).portalConfigurationId).toBe(portalConfigurationId);
    expect((await configurations()).map((c) => [c.id, c.features.subscription_cancel.mode])).toEqual([[portalConfigurationId, 'at_period_end']]);
  });

  it('subscribes a new customer to its tier from the 1st of the month, and a tier change moves subscription and usage plan', async () => {
    const customer = await f.addCustomer('free');
    const subscription = await stripeClient().subscriptions.retrieve(customer.subscriptionId!);
    expect(subscription.items.data[0]).toMatchObject({ current_period_start: Date.UTC(2026, 10, 1) / 1000, current_period_end: Date.UTC(2026, 11, 1) / 1000 });
    expect(subscription.items.data.map((i) => i.price.metadata.tier)).toEqual(['free']);

    const { stripe } = await f.services.ready();
    const result = await changeTier(customer.customerId, 'pro', {
      registry: f.services.customers,
      gatewayKeys: f.gatewayKeys,
      retirements: f.services.retirements,
      config: billingConfig,
      now: () => f.clock.now,
      stripe,
    });
    expect(result).toEqual({ ok: true, from: 'free', to: 'pro', changed: true });
    const updated = await stripeClient().subscriptions.retrieve(customer.subscriptionId!);
    expect(updated.items.data.map((i) => `${i.price.metadata.tier}/${i.price.metadata.role}`).sort()).toEqual(['pro/fee', 'pro/usage']);
    // A new gateway key in the Pro plan; the old one stays in Free's until the authorizers' cache lets go of it.
    const after = (await f.services.customers.getCustomer(customer.customerId))!;
    expect(after.tier).toBe('pro');
    expect(f.gatewayKeys.findByValue(after.gatewayKeyValue)?.tier).toBe('pro');
    expect(f.gatewayKeys.findByValue(customer.gatewayKeyValue)?.tier).toBe('free');
  });

  it('pushes settled usage exactly once through a 500, an accepted call whose reply was lost and a crash between send and mark', async () => {
    const customer = await f.addCustomer('pro');
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [
      { hour: '2026-11-25T09', billable: 700 },
      { hour: '2026-11-25T10', billable: 300 },
    ]);
    const { sync } = await f.services.ready();
    f.stripe.failNext(/meter_events/, { status: 500 });
    expect((await syncCustomerMonth(customer, '2026-11', sync)).kind).toBe('failed');
    f.stripe.failNext(/meter_events/, { acceptThenDrop: true, count: 2 });
    expect((await syncCustomerMonth(customer, '2026-11', sync)).kind).toBe('failed');
    expect(await meterTotal(customer.customerId)).toBe(1_000); // accepted, unacknowledged
    // A crash between send and mark: Stripe has the event, our outbox still says pending.
    const crashing = {
      ...sync,
      state: {
        ...sync.state,
        get: sync.state.get.bind(sync.state),
        reserve: sync.state.reserve.bind(sync.state),
        replacePending: sync.state.replacePending.bind(sync.state),
        markSent: async () => {
          throw new Error('crash');
        },
      },
    };
    expect((await syncCustomerMonth(customer, '2026-11', crashing)).kind).toBe('failed');
    for (let i = 0; i < 2; i++) await syncCustomerMonth(customer, '2026-11', sync);
    expect(await meterTotal(customer.customerId)).toBe(1_000);
    // One entry, sent once under one identifier (the crash left it pending; the re-send cleared it).
    expect(await sync.state.get(customer.customerId, '2026-11')).toEqual({
      pushedCalls: 1_000,
      seq: 1,
      attempts: [{ identifier: `${customer.customerId}:2026-11:1`, value: 1_000, at: expect.any(Number) }],
    });
  });

  it('holds pushes while paused, then pushes the backlog as one event per customer and month', async () => {
    const customers = [await f.addCustomer('pro'), await f.addCustomer('enterprise')];
    const { sync } = await f.services.ready();
    for (let day = 0; day < 3; day++) {
      setTime(f, NOV_25 + day * 86_400_000);
      for (const c of customers)
        await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: utcHour(f.clock.now - 2 * 3_600_000), billable: 100 + day }]); // an hour that has settled by now
      const report = await runSync(customers, sync, { paused: true });
      expect(report.outcomes.filter((o) => o.kind === 'pushed')).toEqual([]);
    }
    const requestsBefore = f.stripe.requests.filter((r) => r.path.endsWith('meter_events')).length;
    const resumed = await runSync(customers, sync, { paused: false });
    expect(resumed.outcomes.filter((o) => o.kind === 'pushed')).toHaveLength(2);
    expect(f.stripe.requests.filter((r) => r.path.endsWith('meter_events')).length - requestsBefore).toBe(2);
    for (const c of customers) expect(await meterTotal(c.customerId)).toBe(303);
  });

  it('reports usage past its invoice or too old for Stripe loudly instead of pushing it nowhere', async () => {
    const customer = await f.addCustomer('pro');
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour: '2026-11-02T10', billable: 50 }]);
    const { sync } = await f.services.ready();
    setTime(f, Date.UTC(2026, 11, 3, 12)); // November's invoice is final
    expect(await syncCustomerMonth(customer, '2026-11', sync)).toMatchObject({ kind: 'period-closed', backlog: 50 });
    setTime(f, Date.UTC(2027, 0, 6, 12)); // and past Stripe's 35 days even for a flush
    expect(await syncCustomerMonth(customer, '2026-11', sync, { flush: true })).toMatchObject({ kind: 'too-old', backlog: 50 });
    expect(await meterTotal(customer.customerId)).toBe(0);
  });

  it('refunds with a credit note on the latest finalized invoice, never more than is left on it', async () => {
    const customer = await f.addCustomer('pro');
    expect(await f.services.provider.creditLatestInvoice({ stripeCustomerId: customer.stripeCustomerId!, amountCents: 100, memo: 'x' })).toBeUndefined();
    setTime(f, Date.UTC(2026, 11, 1, 0, 5));
    await f.stripe.advanceBillingPeriods();
    setTime(f, Date.UTC(2026, 11, 1, 1, 10));
    await f.stripe.advanceBillingPeriods(); // November's $49 invoice is final and paid
    const note = await f.services.provider.creditLatestInvoice({
      stripeCustomerId: customer.stripeCustomerId!,
      amountCents: 4_000,
      memo: 'billing error on Nov 3',
    });
    expect(note).toEqual({ creditNoteId: expect.stringMatching(/^cn_/), invoiceId: expect.stringMatching(/^in_/) });
    await expect(f.services.provider.creditLatestInvoice({ stripeCustomerId: customer.stripeCustomerId!, amountCents: 1_000, memo: 'again' })).rejects.toThrow(
      /exceeds what is left to credit/,
    );
  });

  it('invoice preview equals the pricing function for any month of usage', async () => {
    const customers: Record<Exclude<TierName, 'free'>, { customerId: string; subscriptionId: string; stripeCustomerId: string }> = {
      pro: (await f.addCustomer('pro')) as never,
      enterprise: (await f.addCustomer('enterprise')) as never,
    };
    const client = stripeClient();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<'pro' | 'enterprise'>('pro', 'enterprise'),
        fc.oneof(fc.nat({ max: 30_000 }), fc.integer({ min: 90_000, max: 1_200_000 })),
        async (tier, calls) => {
          const c = customers[tier];
          // Top the meter up to `calls` for this month (meter events only add).
          const { catalogIds } = await f.services.ready();
          const held = await f.services.provider.meteredTotal(
            catalogIds.meterId,
            c.stripeCustomerId,
            Date.UTC(2026, 10, 1) / 1000,
            Date.UTC(2026, 11, 1) / 1000,
          );
          const total = Math.max(calls, held);
          if (total > held)
            await f.services.provider.pushMeterEvent({
              identifier: `p${n++}`,
              stripeCustomerId: c.stripeCustomerId,
              value: total - held,
              timestampSec: NOV_25 / 1000 - 60,
            });
          const preview = await client.invoices.createPreview({ subscription: c.subscriptionId });
          expect(preview.total).toBe(estimateBill(tier, total).totalCents);
        },
      ),
      { numRuns: 60 },
    );
  });
});
