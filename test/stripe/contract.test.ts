/**
 * The Stripe adapter's contract, run against the local Stripe always and against Stripe's test
 * mode when STRIPE_SECRET_KEY (sk_test_…) is set; without it the test-mode block is reported skipped.
 */
import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { StripeBillingProvider, stripeClient } from '../../lambdas/adapters/stripe-billing.ts';
import { stripeCatalog } from '../../lambdas/core/catalog.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import { unpaidInvoices } from '../../lambdas/core/customer-billing.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { priceIdsOfTier, stripeSetup } from '../../lambdas/core/subscriptions.ts';
import { startLocalStripe, type LocalStripe } from '../../local/stripe/server.ts';

const testModeKey = process.env.STRIPE_SECRET_KEY?.startsWith('sk_test_') ? process.env.STRIPE_SECRET_KEY : undefined;

const targets: Array<[string, boolean, () => Promise<{ stripe: Stripe; stop: () => Promise<void> }>]> = [
  [
    'the local Stripe',
    true,
    async () => {
      const local: LocalStripe = await startLocalStripe();
      return { stripe: local.client(), stop: () => local.stop() };
    },
  ],
  [
    `Stripe test mode${testModeKey ? '' : ' (skipped: set STRIPE_SECRET_KEY=sk_test_… to run it)'}`,
    Boolean(testModeKey),
    async () => ({ stripe: stripeClient({ secretKey: testModeKey!, timeoutMs: 30_000 }), stop: async () => undefined }),
  ],
];

describe.each(targets)('Stripe adapter contract against %s', (_name, enabled, connect) => {
  (enabled ? describe : describe.skip)('', () => {
    let stripe: Stripe;
    let stop: () => Promise<void>;
    let provider: StripeBillingProvider;
    beforeAll(async () => {
      ({ stripe, stop } = await connect());
      provider = new StripeBillingProvider(stripe);
    });
    afterAll(async () => stop());

    it('sets up the catalog idempotently', async () => {
      const first = await provider.ensureCatalog(stripeCatalog(billingConfig));
      expect(await provider.ensureCatalog(stripeCatalog(billingConfig))).toEqual(first);
    });

    it('subscribes a customer for the calendar month, recognises a repeated meter event identifier, and previews the fee', async () => {
      const ids = await provider.ensureCatalog(stripeCatalog(billingConfig));
      const setup = stripeSetup(provider, ids, billingConfig);
      const now = Date.now();
      const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1) / 1000;
      const { stripeCustomerId, subscriptionId } = await provider.createSubscriber({
        customerId: `contract-${randomUUID()}`,
        name: 'Contract test',
        priceIds: priceIdsOfTier(setup, 'pro'),
        periodStartSec: monthStart,
        billingCycleAnchorSec: Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() + 1, 1) / 1000,
      });
      const subscription = await stripe.subscriptions.retrieve(subscriptionId);
      expect(subscription.items.data[0]?.current_period_start).toBe(monthStart);

      const event = { identifier: `contract-${randomUUID()}`, stripeCustomerId, value: 3, timestampSec: Math.floor(now / 1000) - 60 };
      expect(await provider.pushMeterEvent(event)).toBe('accepted');
      expect(await provider.pushMeterEvent(event)).toBe('duplicate');

      const preview = await stripe.invoices.createPreview({ subscription: subscriptionId });
      // Meter events reach a real preview after a delay; the fee is there at once.
      expect(preview.total).toBeGreaterThanOrEqual(estimateBill('pro', 0).totalCents);
      await stripe.subscriptions.cancel(subscriptionId);
    });

    it('sets a subscription to cancel at the end of its period (an opt-out), reports when, lifts it, and lists no unpaid invoice of a new customer', async () => {
      const ids = await provider.ensureCatalog(stripeCatalog(billingConfig));
      const now = Date.now();
      const d = new Date(now);
      const nextMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000;
      const { stripeCustomerId, subscriptionId } = await provider.createSubscriber({
        customerId: `contract-${randomUUID()}`,
        name: 'Contract test',
        priceIds: priceIdsOfTier(stripeSetup(provider, ids, billingConfig), 'pro'),
        periodStartSec: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000,
        billingCycleAnchorSec: nextMonth,
      });
      expect(await provider.setCancelAtPeriodEnd(subscriptionId, true)).toEqual({ cancelAtSec: nextMonth });
      expect(await provider.setCancelAtPeriodEnd(subscriptionId, true)).toEqual({ cancelAtSec: nextMonth }); // repeated: harmless
      expect((await stripe.subscriptions.retrieve(subscriptionId)).status).toBe('active');
      expect(await provider.setCancelAtPeriodEnd(subscriptionId, false)).toEqual({ cancelAtSec: null });
      expect(unpaidInvoices(await provider.listInvoices(stripeCustomerId, 100))).toEqual([]);
      await stripe.subscriptions.cancel(subscriptionId);
    });

    it("cancels a meter event it just sent, refuses an unknown one, and reads a period's invoice in reconciliation's shape", async () => {
      const ids = await provider.ensureCatalog(stripeCatalog(billingConfig));
      const now = Date.now();
      const d = new Date(now);
      const monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
      const { stripeCustomerId, subscriptionId } = await provider.createSubscriber({
        customerId: `contract-${randomUUID()}`,
        name: 'Contract test',
        priceIds: priceIdsOfTier(stripeSetup(provider, ids, billingConfig), 'pro'),
        periodStartSec: monthStart,
        billingCycleAnchorSec: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000,
      });
      const identifier = `contract-${randomUUID()}`;
      await provider.pushMeterEvent({ identifier, stripeCustomerId, value: 2, timestampSec: Math.floor(now / 1000) - 60 });

      await expect(provider.cancelMeterEvent(identifier)).resolves.toBeUndefined();
      await expect(provider.cancelMeterEvent(`contract-never-sent-${randomUUID()}`)).rejects.toMatchObject({ retryable: false });

      expect(await provider.periodInvoice(stripeCustomerId, Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1) / 1000)).toBeUndefined();
      // Test mode may already hold the subscription's first invoice (the local Stripe drafts none
      // before the period ends): each one reads back in the port's shape.
      const subscriptionInvoices = (await stripe.invoices.list({ customer: stripeCustomerId })).data.filter((i) => i.parent?.type === 'subscription_details');
      for (const invoice of subscriptionInvoices) {
        expect(await provider.periodInvoice(stripeCustomerId, invoice.period_start)).toMatchObject({
          invoiceId: invoice.id,
          periodStartSec: invoice.period_start,
          totalCents: invoice.total,
          creditedCents: 0,
          lines: expect.arrayContaining([expect.objectContaining({ kind: expect.stringMatching(/^(subscription|invoice-item)$/) })]),
        });
      }
      await stripe.subscriptions.cancel(subscriptionId);
    });
  });
});
