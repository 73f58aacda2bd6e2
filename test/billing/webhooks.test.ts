import { createServer, type Server } from 'node:http';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import Stripe from 'stripe';
import { startUpgrade } from '../../lambdas/core/subscriptions.ts';
import { createWebhookHandler } from '../../lambdas/stripe-webhook/webhook.ts';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { syncCustomerMonth } from '../../lambdas/core/sync.ts';
import { addHourCounts } from '../harness/counters.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const SECRET = 'whsec_test_secret';

const claimsOf = (f: BillingFixture) => ({ client: f.client, tableName: f.tables.idempotency });
/** Claims in the idempotency table (DynamoDB Local), completed or in progress. */
async function claimCount(f: BillingFixture): Promise<number> {
  return (await f.client.send(new ScanCommand({ TableName: f.tables.idempotency, Select: 'COUNT', ConsistentRead: true }))).Count ?? 0;
}

describe('Stripe webhooks (signature verified, once per event, in order)', () => {
  let f: BillingFixture;
  let handle: ReturnType<typeof createWebhookHandler>;
  beforeEach(async () => {
    f = await billingFixture();
    handle = createWebhookHandler({ stripe: f.stripe.client(), webhookSecret: SECRET, services: f.services, gatewayKeys: f.gatewayKeys, claims: claimsOf(f), logger: silent });
  });
  afterEach(async () => f.stop());

  function signed(event: { id: string; type: string; created: number; object: unknown }, secret = SECRET) {
    const payload = JSON.stringify({ id: event.id, object: 'event', type: event.type, created: event.created, data: { object: event.object } });
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Math.floor(Date.now() / 1000) });
    return { body: payload, headers: { 'Stripe-Signature': header }, isBase64Encoded: false };
  }

  async function subscriptionObject(subscriptionId: string, tier: 'pro' | 'enterprise' | 'free', status = 'active') {
    const subscription = await f.stripe.client().subscriptions.retrieve(subscriptionId);
    const { catalogIds, stripe } = await f.services.ready();
    const price = stripe.catalog.prices.find((p) => p.tier === tier)!;
    return { ...subscription, status, items: { data: [{ price: { id: catalogIds.priceIds[price.lookupKey], metadata: { tier, role: price.role } } }] } };
  }

  it('answers a bad signature with a JSON 400 and changes nothing', async () => {
    const customer = await f.addCustomer('free');
    const response = await handle(signed({ id: 'evt_1', type: 'customer.subscription.updated', created: 100, object: await subscriptionObject(customer.subscriptionId!, 'pro') }, 'whsec_attacker'));
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ error: 'invalid_signature', message: expect.any(String) });
    expect((await f.services.customers.getCustomer(customer.customerId))?.tier).toBe('free');
    expect(await claimCount(f)).toBe(0);
    expect((await handle({ body: '{}', headers: {}, isBase64Encoded: false })).statusCode).toBe(400);
  });

  it('moves the tier and usage plan on a subscription update, once per event id', async () => {
    const customer = await f.addCustomer('free');
    const event = signed({ id: 'evt_up', type: 'customer.subscription.updated', created: 100, object: await subscriptionObject(customer.subscriptionId!, 'pro') });
    expect(JSON.parse((await handle(event)).body)).toEqual({ received: true, outcome: 'tier-changed' });
    expect(JSON.parse((await handle(event)).body)).toEqual({ received: true, outcome: 'duplicate' });
    const after = (await f.services.customers.getCustomer(customer.customerId))!;
    expect(after.tier).toBe('pro');
    expect(f.gatewayKeys.findByValue(after.gatewayKeyValue)?.tier).toBe('pro');
  });

  it('ignores an older subscription event that arrives after a newer one', async () => {
    const customer = await f.addCustomer('free');
    await handle(signed({ id: 'evt_new', type: 'customer.subscription.updated', created: 200, object: await subscriptionObject(customer.subscriptionId!, 'enterprise') }));
    const late = await handle(signed({ id: 'evt_old', type: 'customer.subscription.updated', created: 100, object: await subscriptionObject(customer.subscriptionId!, 'pro') }));
    expect(JSON.parse(late.body).outcome).toBe('ignored');
    expect((await f.services.customers.getCustomer(customer.customerId))?.tier).toBe('enterprise');
  });

  it('moves a cancelled customer to Free', async () => {
    const customer = await f.addCustomer('pro');
    await handle(signed({ id: 'evt_del', type: 'customer.subscription.deleted', created: 300, object: await subscriptionObject(customer.subscriptionId!, 'pro', 'canceled') }));
    const after = await f.services.customers.getCustomer(customer.customerId);
    expect(after).toMatchObject({ tier: 'free' });
    expect(after?.subscriptionId).toBeUndefined();
    expect(f.gatewayKeys.findByValue(after!.gatewayKeyValue)?.tier).toBe('free');
  });

  it('flushes the period\'s unsettled last hours when Stripe drafts the invoice, before it finalizes', async () => {
    const customer = await f.addCustomer('pro');
    // The last hour of November, too fresh for the scheduled sync's settle window.
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour: '2026-11-30T23', billable: 12_345 }]);
    const invoice = { id: 'in_1', customer: customer.stripeCustomerId, status: 'draft', period_start: Date.UTC(2026, 10, 1) / 1000, period_end: Date.UTC(2026, 11, 1) / 1000, amount_due: 0, amount_paid: 0 };
    f.clock.now = Date.UTC(2026, 11, 1, 0, 5);
    f.stripe.setNow(f.clock.now);
    const response = await handle(signed({ id: 'evt_inv', type: 'invoice.created', created: 400, object: invoice }));
    expect(JSON.parse(response.body).outcome).toBe('flushed');
    const { catalogIds } = await f.services.ready();
    expect(await f.services.provider.meteredTotal(catalogIds.meterId, customer.stripeCustomerId!, Date.UTC(2026, 10, 1) / 1000, Date.UTC(2026, 11, 1) / 1000)).toBe(12_345);
  });

  it('credits the draft invoice for calls voided after they were pushed, so the final invoice equals the estimate', async () => {
    const customer = await f.addCustomer('pro');
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour: '2026-11-25T08', billable: 12_000 }]);
    const { sync } = await f.services.ready();
    expect(await syncCustomerMonth(customer, '2026-11', sync)).toMatchObject({ kind: 'pushed', value: 12_000 });
    // 1,000 of those calls are voided afterwards (their 5xx lines arrived late): Stripe's meter cannot go down.
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour: '2026-11-25T08', billable: -1_000 }]);

    setTime(f, Date.UTC(2026, 11, 1, 0, 5));
    await f.stripe.advanceBillingPeriods();
    const [draft] = (await f.stripe.client().invoices.list({ customer: customer.stripeCustomerId! })).data;
    const response = await handle(signed({ id: 'evt_credit', type: 'invoice.created', created: 500, object: draft }));
    expect(JSON.parse(response.body).outcome).toBe('flushed');

    setTime(f, Date.UTC(2026, 11, 1, 1, 10));
    await f.stripe.advanceBillingPeriods();
    const final = await f.stripe.client().invoices.retrieve(draft!.id);
    expect(final.status).toBe('paid');
    expect(final.total).toBe(estimateBill('pro', 11_000).totalCents);
    // A redelivered invoice.created credits nothing more.
    await handle(signed({ id: 'evt_credit_again', type: 'invoice.created', created: 501, object: draft }));
    expect((await f.stripe.client().invoices.retrieve(draft!.id)).total).toBe(estimateBill('pro', 11_000).totalCents);
  });

  describe('upgrade through Stripe Checkout, end to end', () => {
    let receiver: Server;
    afterEach(() => receiver?.close());

    it('subscribes to the new tier, moves the usage plan and cancels the old subscription', async () => {
      // Stripe delivers to our webhook handler over HTTP, signed with the endpoint's secret.
      let secret = '';
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          void createWebhookHandler({ stripe: f.stripe.client(), webhookSecret: secret, services: f.services, gatewayKeys: f.gatewayKeys, claims: claimsOf(f), logger: silent })({ body, headers: req.headers as Record<string, string>, isBase64Encoded: false }).then((r) => {
            res.writeHead(r.statusCode);
            res.end(r.body);
          });
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      const endpoint = await f.stripe.client().webhookEndpoints.create({ url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/webhooks/stripe`, enabled_events: ['*'] });
      secret = endpoint.secret!;

      const customer = await f.addCustomer('free');
      await f.stripe.webhooksDelivered();
      const { stripe } = await f.services.ready();
      const started = await startUpgrade(customer, 'pro', 'http://dashboard.local/dashboard', stripe, f.clock.now);
      expect(started.ok).toBe(true);
      const visit = await fetch((started as { url: string }).url, { redirect: 'manual' });
      expect(visit.status).toBe(302);
      expect(visit.headers.get('location')).toBe('http://dashboard.local/dashboard?upgraded=pro');
      await f.stripe.webhooksDelivered();

      const after = (await f.services.customers.getCustomer(customer.customerId))!;
      expect(after.tier).toBe('pro');
      expect(after.subscriptionId).not.toBe(customer.subscriptionId);
      expect(f.gatewayKeys.findByValue(after.gatewayKeyValue)?.tier).toBe('pro');
      expect((await f.stripe.client().subscriptions.retrieve(customer.subscriptionId!)).status).toBe('canceled');
    });
  });
});
