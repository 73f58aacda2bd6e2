/**
 * Checkout session reuse (#core/checkout-reuse.ts) and the webhook's end to a kept session
 * (#core/webhooks.ts), on an in-memory store that holds the same conditions as the DynamoDB one.
 */
import { checkoutOffer, reusingOpenCheckouts, type CheckoutSessionStore, type KeptCheckout } from '../../lambdas/core/checkout-reuse.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import type { BillingProvider } from '../../lambdas/core/ports.ts';
import { handleBillingEvent, type WebhookDeps } from '../../lambdas/core/webhooks.ts';

type Item = { claimedUntil?: number; session?: KeptCheckout };

function memoryStore() {
  const items = new Map<string, Item>();
  const k = (customerId: string, offer: string) => `${customerId}|${offer}`;
  const store: CheckoutSessionStore = {
    async get(customerId, offer) {
      return items.get(k(customerId, offer))?.session;
    },
    async claim(customerId, offer, now, claimUntil) {
      const item = items.get(k(customerId, offer));
      if (item && ((item.session?.reuseUntil ?? 0) > now || (item.claimedUntil ?? 0) > now)) return false;
      items.set(k(customerId, offer), { claimedUntil: claimUntil });
      return true;
    },
    async keep(customerId, offer, session) {
      items.set(k(customerId, offer), { session });
    },
    async forget(customerId, sessionId) {
      let dropped = 0;
      for (const [key, item] of items)
        if (key.startsWith(`${customerId}|`) && item.session?.sessionId === sessionId) {
          items.delete(key);
          dropped++;
        }
      return dropped;
    },
  };
  return { store, items };
}

const NOW = Date.UTC(2026, 10, 27, 12);
const input = (returnUrl: string, priceIds = ['price_pro_fee', 'price_pro_usage']) => ({
  customerId: 'cust_1',
  stripeCustomerId: 'cus_1',
  priceIds,
  successUrl: `${returnUrl}?upgraded=pro`,
  cancelUrl: returnUrl,
  billingCycleAnchorSec: 0,
});

function setup() {
  const { store, items } = memoryStore();
  const created: Array<Parameters<BillingProvider['createCheckoutSession']>[0]> = [];
  const provider = reusingOpenCheckouts(
    {
      createCheckoutSession: async (i: Parameters<BillingProvider['createCheckoutSession']>[0]) => {
        created.push(i);
        return { url: `https://checkout.example/${created.length}`, sessionId: `cs_${created.length}` };
      },
    } as unknown as BillingProvider,
    { store, config: billingConfig, now: () => NOW, sleep: async () => undefined },
  );
  return { store, items, created, provider };
}

describe('Checkout session reuse', () => {
  it('keys an offer by its prices and both return URLs, shortly whatever the URLs', () => {
    const base = checkoutOffer(input('https://a.example/prod/dashboard'));
    expect(base).toMatch(/^price_pro_fee\+price_pro_usage@[A-Za-z0-9_-]{16}$/);
    expect(checkoutOffer(input('https://a.example/prod/dashboard'))).toBe(base);
    expect(checkoutOffer(input('https://b.example/prod/dashboard'))).not.toBe(base);
    expect(checkoutOffer({ ...input('https://a.example/prod/dashboard'), successUrl: 'https://a.example/other' })).not.toBe(base);
    expect(checkoutOffer({ ...input('https://a.example/prod/dashboard'), cancelUrl: 'https://a.example/other' })).not.toBe(base);
    expect(checkoutOffer(input('https://a.example/prod/dashboard', ['price_ent_fee']))).not.toBe(base);
    expect(checkoutOffer(input(`https://a.example/${'x'.repeat(5_000)}`)).length).toBeLessThan(60);
  });

  it('does not hand a kept session to a call that returns elsewhere: that call gets a session returning where it asked', async () => {
    const { provider, created } = setup();
    const a = await provider.createCheckoutSession(input('https://a.example/dashboard'));
    expect(await provider.createCheckoutSession(input('https://a.example/dashboard'))).toMatchObject({ sessionId: a.sessionId });
    const b = await provider.createCheckoutSession(input('https://b.example/dashboard'));
    expect(b.sessionId).not.toBe(a.sessionId);
    expect(created.map((c) => c.successUrl)).toEqual(['https://a.example/dashboard?upgraded=pro', 'https://b.example/dashboard?upgraded=pro']);
    // Each keeps its own: alternating return URLs creates nothing more.
    expect(await provider.createCheckoutSession(input('https://a.example/dashboard'))).toMatchObject({ sessionId: a.sessionId });
    expect(await provider.createCheckoutSession(input('https://b.example/dashboard'))).toMatchObject({ sessionId: b.sessionId });
    expect(created).toHaveLength(2);
  });

  it('creates a new session once the kept one is forgotten, and forgetting it again (or an unknown id) drops nothing', async () => {
    const { provider, store, created } = setup();
    const a = await provider.createCheckoutSession(input('https://a.example/dashboard'));
    const ent = await provider.createCheckoutSession(input('https://a.example/dashboard', ['price_ent_fee']));
    expect(await store.forget('cust_1', a.sessionId)).toBe(1);
    const b = await provider.createCheckoutSession(input('https://a.example/dashboard'));
    expect(b.sessionId).not.toBe(a.sessionId);
    expect(await store.forget('cust_1', a.sessionId)).toBe(0);
    expect(await store.forget('cust_2', b.sessionId)).toBe(0);
    // The newer session and the other offer's are still handed out.
    expect(await provider.createCheckoutSession(input('https://a.example/dashboard'))).toMatchObject({ sessionId: b.sessionId });
    expect(await provider.createCheckoutSession(input('https://a.example/dashboard', ['price_ent_fee']))).toMatchObject({ sessionId: ent.sessionId });
    expect(created).toHaveLength(3);
  });
});

describe('webhook: a completed or expired Checkout session', () => {
  const customer = { customerId: 'cust_1', stripeCustomerId: 'cus_1', tier: 'free' } as Customer;
  function deps(forgotten: Array<[string, string]>, result = 1) {
    return {
      registry: { findByStripeCustomerId: async (id: string) => (id === 'cus_1' ? customer : undefined) },
      checkouts: {
        forget: async (customerId: string, sessionId: string) => {
          forgotten.push([customerId, sessionId]);
          return result;
        },
      },
      now: () => NOW,
    } as unknown as WebhookDeps;
  }
  const event = (type: string, object: unknown) => ({ id: 'evt_1', type, created: NOW / 1000, object });

  it.each(['checkout.session.completed', 'checkout.session.expired'])('%s forgets that session of its customer', async (type) => {
    const forgotten: Array<[string, string]> = [];
    const outcome = await handleBillingEvent(event(type, { id: 'cs_a', object: 'checkout.session', customer: 'cus_1', status: 'complete' }), deps(forgotten));
    expect(outcome).toEqual({ kind: 'checkout-closed', customerId: 'cust_1', sessionId: 'cs_a', forgotten: 1 });
    expect(forgotten).toEqual([['cust_1', 'cs_a']]);
  });

  it('reports a session already forgotten (a redelivery) as 0 forgotten', async () => {
    const outcome = await handleBillingEvent(event('checkout.session.completed', { id: 'cs_a', customer: 'cus_1' }), deps([], 0));
    expect(outcome).toMatchObject({ kind: 'checkout-closed', forgotten: 0 });
  });

  it('ignores a session of no customer of ours, without a customer, or without an id, forgetting nothing', async () => {
    const forgotten: Array<[string, string]> = [];
    expect(await handleBillingEvent(event('checkout.session.completed', { id: 'cs_a', customer: 'cus_other' }), deps(forgotten))).toEqual({
      kind: 'ignored',
      reason: 'no customer for cus_other',
    });
    expect(await handleBillingEvent(event('checkout.session.expired', { id: 'cs_a', customer: null }), deps(forgotten))).toEqual({
      kind: 'ignored',
      reason: 'Checkout session without a customer',
    });
    expect(await handleBillingEvent(event('checkout.session.completed', { customer: 'cus_1' }), deps(forgotten))).toEqual({
      kind: 'ignored',
      reason: 'unexpected checkout.session.completed object: id',
    });
    expect(forgotten).toEqual([]);
  });
});
