/**
 * Per-customer limits of the free routes, in their handlers, against DynamoDB Local and the local
 * Stripe: an upgrade loop reuses one Checkout session, a ticket loop files a few tickets an hour,
 * and an oversized body is refused before it is parsed.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { DynamoCheckoutSessionStore } from '../../lambdas/adapters/checkout-sessions.ts';
import { DynamoTicketStore } from '../../lambdas/adapters/tickets-store.ts';
import { createBillingApi } from '../../lambdas/billing-api/billing-api.ts';
import type { Alert } from '../../lambdas/core/alerts.ts';
import { checkoutOffer, reusingOpenCheckouts } from '../../lambdas/core/checkout-reuse.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import { ApiBillingError } from '../../lambdas/core/errors.ts';
import type { BillingProvider } from '../../lambdas/core/ports.ts';
import { createFeedbackApi } from '../../lambdas/support-api/feedback-api.ts';
import { createSupportApi } from '../../lambdas/support-api/support-api.ts';
import { DynamoFeedbackStore } from '../../lambdas/adapters/feedback-store.ts';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';

/** A free route's proxy event after the authorizer allowed the customer's key. */
const post = (path: string, customerId: string, body: string) =>
  ({
    path,
    resource: path,
    body,
    requestContext: { authorizer: { customerId }, domainName: 'api.example.com', path: `/prod${path}` },
  }) as unknown as APIGatewayProxyEvent;

describe('free-route limits in the handlers (DynamoDB Local, local Stripe)', () => {
  let f: BillingFixture;
  beforeAll(async () => {
    f = await billingFixture();
  });
  afterAll(async () => f.stop());

  const billingApi = () =>
    createBillingApi({
      registry: f.services.customers,
      stripe: async () => (await f.services.ready()).stripe,
      checkouts: new DynamoCheckoutSessionStore(f.doc, f.tables.billing),
      config: billingConfig,
      now: () => f.clock.now,
    });
  const checkoutsCreated = () => f.stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions').length;
  const upgrade = (customerId: string, tier = 'pro') => billingApi()(post('/billing/upgrade', customerId, JSON.stringify({ tier })));
  const urlOf = (response: { statusCode: number; body: string }) => {
    expect(response.statusCode).toBe(200);
    return (JSON.parse(response.body) as { url: string }).url;
  };

  it('answers 20 upgrade calls with one Checkout session, open for an hour, and makes a new one only once it is near its end', async () => {
    const customer = await f.addCustomer('free');
    const before = checkoutsCreated();
    const urls = [];
    for (let i = 0; i < 20; i++) urls.push(urlOf(await upgrade(customer.customerId)));
    expect(new Set(urls).size).toBe(1);
    expect(checkoutsCreated() - before).toBe(1);
    const session = await f.stripe.client().checkout.sessions.retrieve((urls[0] as string).split('/').at(-1) as string);
    expect(session).toMatchObject({ status: 'open', customer: customer.stripeCustomerId, expires_at: Math.floor(f.clock.now / 1000) + 3_600 });

    // Another tier is another offer: its own session.
    const enterprise = urlOf(await upgrade(customer.customerId, 'enterprise'));
    expect(enterprise).not.toBe(urls[0]);
    expect(checkoutsCreated() - before).toBe(2);

    // Ten minutes before Stripe expires it, the session is no longer handed out: a fresh one is.
    const start = f.clock.now;
    setTime(f, start + 50 * 60_000 - 1);
    expect(urlOf(await upgrade(customer.customerId))).toBe(urls[0]);
    setTime(f, start + 50 * 60_000);
    const fresh = urlOf(await upgrade(customer.customerId));
    expect(fresh).not.toBe(urls[0]);
    expect(checkoutsCreated() - before).toBe(3);
    setTime(f, start);
  });

  it('hands a kept session only to calls that return where it returns: another domain gets its own, and neither replaces the other', async () => {
    const customer = await f.addCustomer('free');
    const before = checkoutsCreated();
    const from = (domainName: string) =>
      billingApi()({
        ...post('/billing/upgrade', customer.customerId, '{"tier":"pro"}'),
        requestContext: { authorizer: { customerId: customer.customerId }, domainName, path: '/prod/billing/upgrade' },
      } as unknown as APIGatewayProxyEvent);
    const first = urlOf(await from('api.example.com'));
    const other = urlOf(await from('billing.example.org'));
    expect(other).not.toBe(first);
    const session = await f.stripe.client().checkout.sessions.retrieve(other.split('/').at(-1) as string);
    expect(session).toMatchObject({
      success_url: 'https://billing.example.org/prod/dashboard?upgraded=pro',
      cancel_url: 'https://billing.example.org/prod/dashboard',
    });
    // Alternating domains is not a loop that creates a session per call.
    for (let i = 0; i < 3; i++) {
      expect(urlOf(await from('api.example.com'))).toBe(first);
      expect(urlOf(await from('billing.example.org'))).toBe(other);
    }
    expect(checkoutsCreated() - before).toBe(2);
  });

  it('answers 20 concurrent upgrade calls with one Checkout session', async () => {
    const customer = await f.addCustomer('free');
    const before = checkoutsCreated();
    const urls = await Promise.all(Array.from({ length: 20 }, async () => urlOf(await upgrade(customer.customerId))));
    expect(new Set(urls).size).toBe(1);
    expect(checkoutsCreated() - before).toBe(1);
  });

  it("waits for another call's session, fails retryably if it never comes, and takes over a crashed creator's claim once it lapses", async () => {
    const store = new DynamoCheckoutSessionStore(f.doc, f.tables.billing);
    let created = 0;
    const provider = reusingOpenCheckouts(
      { createCheckoutSession: async () => ({ url: `https://checkout.example/${++created}`, sessionId: `cs_${created}` }) } as unknown as BillingProvider,
      { store, config: billingConfig, now: () => f.clock.now, sleep: async () => undefined },
    );
    const input = {
      customerId: 'cust_crashed',
      stripeCustomerId: 'cus_x',
      priceIds: ['price_fee'],
      successUrl: 'https://x/ok',
      cancelUrl: 'https://x',
      billingCycleAnchorSec: 0,
    };
    // A creator claimed and crashed before keeping its session.
    expect(await store.claim('cust_crashed', checkoutOffer(input), f.clock.now, f.clock.now + 30_000)).toBe(true);
    const waited = provider.createCheckoutSession(input);
    await expect(waited).rejects.toBeInstanceOf(ApiBillingError);
    await expect(waited).rejects.toMatchObject({ retryable: true });
    expect(created).toBe(0);
    const start = f.clock.now;
    setTime(f, start + 30_000);
    expect(await provider.createCheckoutSession(input)).toMatchObject({ url: 'https://checkout.example/1' });
    expect(await provider.createCheckoutSession(input)).toMatchObject({ url: 'https://checkout.example/1' });
    expect(created).toBe(1);
    setTime(f, start);
  });

  it('refuses an upgrade body over 1 KiB with a JSON 413 before parsing it, creating nothing', async () => {
    const customer = await f.addCustomer('free');
    const before = checkoutsCreated();
    const response = await billingApi()(post('/billing/upgrade', customer.customerId, `{"tier":"pro","pad":"${'x'.repeat(2_000)}"}`));
    expect(response.statusCode).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'payload_too_large' });
    expect(checkoutsCreated()).toBe(before);
  });

  describe('POST /support/tickets', () => {
    let alerts: Alert[];
    const supportApi = () =>
      createSupportApi({
        store: new DynamoTicketStore(f.doc, f.tables.billing),
        alerts: { publish: async (alert) => void alerts.push(alert) },
        config: billingConfig,
        now: () => f.clock.now,
      });
    beforeEach(() => {
      alerts = [];
    });

    it('files 3 tickets an hour per customer under 12 concurrent calls; the rest are JSON 429s with Retry-After, storing and sending nothing', async () => {
      const customerId = 'cust_ticket_loop';
      setTime(f, Date.UTC(2026, 10, 25, 12, 45));
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => supportApi()(post('/support/tickets', customerId, JSON.stringify({ message: `loop ${i}` })))),
      );
      expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(billingConfig.supportTickets.perCustomerPerHour);
      const refused = answers.filter((a) => a.statusCode === 429);
      expect(refused).toHaveLength(12 - billingConfig.supportTickets.perCustomerPerHour);
      for (const answer of refused) {
        expect(answer.headers).toMatchObject({ 'content-type': 'application/json', 'retry-after': String(15 * 60) });
        expect(JSON.parse(answer.body)).toMatchObject({ error: 'too_many_tickets', retryAt: '2026-11-25T13:00:00.000Z' });
      }
      const stored = (await new DynamoTicketStore(f.doc, f.tables.billing).list()).filter((t) => t.customerId === customerId);
      expect(stored).toHaveLength(billingConfig.supportTickets.perCustomerPerHour);
      expect(alerts).toHaveLength(billingConfig.supportTickets.perCustomerPerHour);
    });

    it.each([
      ['100 KB of JSON', `{"message":"${'x'.repeat(100_000)}"}`],
      ['a body just over the bound', `{"message":"${'x'.repeat(12_512)}"}`],
      ['100 KB that is not JSON', '{'.repeat(100_000)],
    ])('refuses %s with a JSON 413 before parsing it, storing and sending nothing', async (_, body) => {
      const response = await supportApi()(post('/support/tickets', 'cust_big', body));
      expect(response.statusCode).toBe(413);
      expect(JSON.parse(response.body)).toMatchObject({ error: 'payload_too_large' });
      expect((await new DynamoTicketStore(f.doc, f.tables.billing).list()).filter((t) => t.customerId === 'cust_big')).toEqual([]);
      expect(alerts).toEqual([]);
    });

    it('accepts the longest message even with every character JSON-escaped', async () => {
      const escaped = '\\u00e9'.repeat(billingConfig.supportTickets.maxMessageChars);
      const response = await supportApi()(post('/support/tickets', 'cust_escaped', `{"message":"${escaped}"}`));
      expect(response.statusCode).toBe(201);
    });
  });

  it('refuses a feedback body over its bound with a JSON 413', async () => {
    const feedback = createFeedbackApi({ store: new DynamoFeedbackStore(f.doc, f.tables.billing), config: billingConfig, now: () => f.clock.now });
    const response = await feedback(post('/feedback', 'cust_fb', `{"score":9,"comment":"${'x'.repeat(100_000)}"}`));
    expect(response.statusCode).toBe(413);
  });
});
