import Stripe from 'stripe';
import { startLocalStripe, type LocalStripe } from '../../local/stripe/server.ts';

describe('local Stripe through the official SDK', () => {
  let stripe: LocalStripe;
  let client: Stripe;
  const NOW = Date.UTC(2026, 10, 25, 12, 0);
  beforeEach(async () => {
    stripe = await startLocalStripe({ now: () => NOW });
    client = stripe.client();
  });
  afterEach(async () => stripe.stop());

  async function meteredSetup(tiers: Stripe.PriceCreateParams.Tier[], mode: 'graduated' | 'volume') {
    const meter = await client.billing.meters.create({ display_name: 'Calls', event_name: 'calls', default_aggregation: { formula: 'sum' } });
    await client.products.create({ id: 'prod_api', name: 'API' });
    const price = await client.prices.create({
      currency: 'usd',
      product: 'prod_api',
      billing_scheme: 'tiered',
      tiers_mode: mode,
      tiers,
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
    });
    const customer = await client.customers.create({ name: 'Acme' });
    const subscription = await client.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      backdate_start_date: Date.UTC(2026, 10, 1) / 1000,
      billing_cycle_anchor: Date.UTC(2026, 11, 1) / 1000,
    });
    return { meter, price, customer, subscription };
  }

  it.each([
    ['graduated', 2_500, 0 + Math.round(1_500 * 0.2)],
    ['volume', 2_500, Math.round(2_500 * 0.15)],
  ] as const)('prices %s tiers from meter sums in the invoice preview (%i calls)', async (mode, calls, cents) => {
    const tiers: Stripe.PriceCreateParams.Tier[] =
      mode === 'graduated'
        ? [
            { up_to: 1_000, unit_amount: 0 },
            { up_to: 'inf', unit_amount_decimal: Stripe.Decimal.from('0.2') },
          ]
        : [
            { up_to: 2_000, unit_amount_decimal: Stripe.Decimal.from('0.2') },
            { up_to: 'inf', unit_amount_decimal: Stripe.Decimal.from('0.15') },
          ];
    const { meter, customer, subscription } = await meteredSetup(tiers, mode);
    await client.billing.meterEvents.create({
      event_name: 'calls',
      payload: { stripe_customer_id: customer.id, value: String(calls - 500) },
      identifier: 'a',
      timestamp: NOW / 1000 - 3600,
    });
    await client.billing.meterEvents.create({
      event_name: 'calls',
      payload: { stripe_customer_id: customer.id, value: '500' },
      identifier: 'b',
      timestamp: NOW / 1000 - 60,
    });
    const preview = await client.invoices.createPreview({ subscription: subscription.id });
    expect(preview.total).toBe(cents);
    const summary = await client.billing.meters.listEventSummaries(meter.id, {
      customer: customer.id,
      start_time: Date.UTC(2026, 10, 1) / 1000,
      end_time: Date.UTC(2026, 11, 1) / 1000,
    });
    expect(summary.data[0]?.aggregated_value).toBe(calls);
  });

  it.each([
    ['an unknown event name', { event_name: 'nope', payload: { stripe_customer_id: 'cus_x', value: '1' } }, 'event_name'],
    ['a zero value', { event_name: 'calls', payload: { stripe_customer_id: '$C', value: '0' } }, 'payload[value]'],
    ['a fractional value', { event_name: 'calls', payload: { stripe_customer_id: '$C', value: '1.5' } }, 'payload[value]'],
    ['a timestamp 36 days old', { event_name: 'calls', payload: { stripe_customer_id: '$C', value: '1' }, timestamp: NOW / 1000 - 36 * 86_400 }, 'timestamp'],
    ['a timestamp 10 minutes ahead', { event_name: 'calls', payload: { stripe_customer_id: '$C', value: '1' }, timestamp: NOW / 1000 + 600 }, 'timestamp'],
    ['an unknown parameter', { event_name: 'calls', payload: { stripe_customer_id: '$C', value: '1' }, colour: 'blue' }, 'colour'],
  ])('rejects a meter event with %s, naming the parameter', async (_name, params, param) => {
    const { customer } = await meteredSetup([{ up_to: 'inf', unit_amount: 1 }], 'graduated');
    const body = JSON.parse(JSON.stringify(params).replace('$C', customer.id)) as Stripe.Billing.MeterEventCreateParams;
    await expect(client.billing.meterEvents.create(body)).rejects.toMatchObject({ type: 'StripeInvalidRequestError', statusCode: 400, param });
  });

  it('rejects a repeated identifier within 24 hours and accepts it after', async () => {
    const { customer } = await meteredSetup([{ up_to: 'inf', unit_amount: 1 }], 'graduated');
    const event = { event_name: 'calls', payload: { stripe_customer_id: customer.id, value: '3' }, identifier: 'same', timestamp: NOW / 1000 };
    await client.billing.meterEvents.create(event);
    await expect(client.billing.meterEvents.create(event)).rejects.toMatchObject({ code: 'resource_already_exists' });
    stripe.setNow(NOW + 25 * 3_600_000);
    await expect(client.billing.meterEvents.create(event)).resolves.toMatchObject({ identifier: 'same' });
  });

  it('takes a Checkout session expiry from 30 minutes to 24 hours ahead (24 hours by default), and expires the session then', async () => {
    await client.products.create({ id: 'prod_fee', name: 'Fee' });
    const price = await client.prices.create({ currency: 'usd', product: 'prod_fee', unit_amount: 4_900, recurring: { interval: 'month' } });
    const customer = await client.customers.create({ name: 'Acme' });
    const create = (expires_at?: number) =>
      client.checkout.sessions.create({
        mode: 'subscription',
        customer: customer.id,
        line_items: [{ price: price.id, quantity: 1 }],
        success_url: 'https://example.com/ok',
        ...(expires_at !== undefined && { expires_at }),
      });
    const nowSec = NOW / 1000;
    expect((await create()).expires_at).toBe(nowSec + 86_400);
    for (const bad of [nowSec + 30 * 60 - 1, nowSec + 86_400 + 1])
      await expect(create(bad)).rejects.toMatchObject({ type: 'StripeInvalidRequestError', param: 'expires_at' });
    const session = await create(nowSec + 3_600);
    expect(session).toMatchObject({ status: 'open', expires_at: nowSec + 3_600 });
    stripe.setNow(NOW + 3_600_000);
    expect(await client.checkout.sessions.retrieve(session.id)).toMatchObject({ status: 'expired' });
  });

  it('sends checkout.session.completed when a Checkout is paid, and checkout.session.expired once, when its clock passes expires_at', async () => {
    const received: Array<{ type: string; id: string; status: string }> = [];
    const { createServer } = await import('node:http');
    const sink = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const event = JSON.parse(body) as { type: string; data: { object: { id: string; status: string } } };
        received.push({ type: event.type, id: event.data.object.id, status: event.data.object.status });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    await client.webhookEndpoints.create({
      url: `http://127.0.0.1:${(sink.address() as { port: number }).port}/hook`,
      enabled_events: ['checkout.session.completed', 'checkout.session.expired'],
    });
    await client.products.create({ id: 'prod_fee', name: 'Fee' });
    const price = await client.prices.create({ currency: 'usd', product: 'prod_fee', unit_amount: 4_900, recurring: { interval: 'month' } });
    const customer = await client.customers.create({ name: 'Acme' });
    const create = () =>
      client.checkout.sessions.create({
        mode: 'subscription',
        customer: customer.id,
        line_items: [{ price: price.id, quantity: 1 }],
        success_url: 'https://example.com/ok',
        expires_at: NOW / 1000 + 3_600,
      });
    const paid = await create();
    const left = await create();
    const unread = await create();
    expect((await fetch(paid.url!, { redirect: 'manual' })).status).toBe(302);
    stripe.setNow(NOW + 3_600_000);
    // Read after its expiry, or expired by the clock unread: one event each, and none for the paid one.
    expect(await client.checkout.sessions.retrieve(left.id)).toMatchObject({ status: 'expired' });
    await stripe.advanceBillingPeriods();
    await stripe.advanceBillingPeriods();
    await client.checkout.sessions.retrieve(left.id);
    expect(await client.checkout.sessions.retrieve(paid.id)).toMatchObject({ status: 'complete' });
    await stripe.webhooksDelivered();
    sink.close();
    expect(received).toEqual([
      { type: 'checkout.session.completed', id: paid.id, status: 'complete' },
      { type: 'checkout.session.expired', id: left.id, status: 'expired' },
      { type: 'checkout.session.expired', id: unread.id, status: 'expired' },
    ]);
  });

  it('rejects a price with a bad enum, a missing parameter and an unknown meter', async () => {
    await client.products.create({ id: 'prod_x', name: 'X' });
    await expect(
      client.prices.create({ currency: 'usd', product: 'prod_x', unit_amount: 1, recurring: { interval: 'fortnight' as 'month' } }),
    ).rejects.toMatchObject({ param: 'recurring[interval]' });
    await expect(
      client.prices.create({ product: 'prod_x', unit_amount: 1, recurring: { interval: 'month' } } as Stripe.PriceCreateParams),
    ).rejects.toMatchObject({ code: 'parameter_missing', param: 'currency' });
    await expect(
      client.prices.create({ currency: 'usd', product: 'prod_x', unit_amount: 1, recurring: { interval: 'month', usage_type: 'metered', meter: 'mtr_nope' } }),
    ).rejects.toMatchObject({ code: 'resource_missing' });
  });

  it('replays an idempotent request and refuses the key with other parameters', async () => {
    const first = await client.customers.create({ name: 'A' }, { idempotencyKey: 'k1' });
    const again = await client.customers.create({ name: 'A' }, { idempotencyKey: 'k1' });
    expect(again.id).toBe(first.id);
    await expect(client.customers.create({ name: 'B' }, { idempotencyKey: 'k1' })).rejects.toMatchObject({ type: 'StripeIdempotencyError' });
  });

  it("answers a 500 in Stripe's error shape, and accepts then drops the connection so the client sees a connection error", async () => {
    stripe.failNext(/^\/v1\/customers$/, { status: 500 });
    await expect(client.customers.create({ name: 'A' })).rejects.toMatchObject({ statusCode: 500, type: 'StripeAPIError' });
    stripe.failNext(/^\/v1\/customers$/, { acceptThenDrop: true, count: 2 });
    await expect(client.customers.create({ name: 'B' })).rejects.toMatchObject({ type: 'StripeConnectionError' });
    expect((await client.customers.create({ name: 'C' })).name).toBe('C');
  });

  it('is re-sent once by stripe-node when one reply is lost, under the same idempotency key: applied once', async () => {
    const { customer } = await meteredSetup([{ up_to: 'inf', unit_amount: 1 }], 'graduated');
    stripe.failNext(/meter_events/, { acceptThenDrop: true });
    const event = { event_name: 'calls', payload: { stripe_customer_id: customer.id, value: '4' }, identifier: 'lost-reply', timestamp: NOW / 1000 };
    await expect(client.billing.meterEvents.create(event)).resolves.toMatchObject({ identifier: 'lost-reply' });
    expect(stripe.requests.filter((r) => r.path === '/v1/billing/meter_events')).toHaveLength(2);
    expect(stripe.state.meterEvents.filter((e) => e.identifier === 'lost-reply').map((e) => e.value)).toEqual([4]);
  });

  it('signs webhooks so that constructEvent verifies them, and a wrong secret does not', async () => {
    const received: Array<{ body: string; signature: string }> = [];
    const { createServer } = await import('node:http');
    const sink = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ body, signature: String(req.headers['stripe-signature']) });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const port = (sink.address() as { port: number }).port;
    const endpoint = await client.webhookEndpoints.create({ url: `http://127.0.0.1:${port}/hook`, enabled_events: ['customer.subscription.created'] });
    await meteredSetup([{ up_to: 'inf', unit_amount: 1 }], 'graduated');
    await stripe.webhooksDelivered();
    sink.close();
    expect(received).toHaveLength(1);
    const event = client.webhooks.constructEvent(received[0]!.body, received[0]!.signature, endpoint.secret!);
    expect(event.type).toBe('customer.subscription.created');
    expect(() => client.webhooks.constructEvent(received[0]!.body, received[0]!.signature, 'whsec_wrong')).toThrow(/signature/i);
  });

  it('drafts the period invoice when the period ends and finalizes it an hour later', async () => {
    const { customer, subscription } = await meteredSetup([{ up_to: 'inf', unit_amount: 2 }], 'graduated');
    await client.billing.meterEvents.create({ event_name: 'calls', payload: { stripe_customer_id: customer.id, value: '10' }, timestamp: NOW / 1000 });
    stripe.setNow(Date.UTC(2026, 11, 1, 0, 5));
    await stripe.advanceBillingPeriods();
    const [draft] = (await client.invoices.list({ customer: customer.id })).data;
    expect(draft).toMatchObject({ status: 'draft', total: 20, period_start: Date.UTC(2026, 10, 1) / 1000, period_end: Date.UTC(2026, 11, 1) / 1000 });
    // Usage that reaches Stripe before finalization lands on the draft's period.
    await client.billing.meterEvents.create({
      event_name: 'calls',
      payload: { stripe_customer_id: customer.id, value: '5' },
      timestamp: Date.UTC(2026, 11, 1) / 1000 - 1,
    });
    stripe.setNow(Date.UTC(2026, 11, 1, 1, 10));
    await stripe.advanceBillingPeriods();
    expect(await client.invoices.retrieve(draft!.id)).toMatchObject({ status: 'paid', total: 30 });
    expect((await client.subscriptions.retrieve(subscription.id)).items.data[0]).toMatchObject({ current_period_start: Date.UTC(2026, 11, 1) / 1000 });
  });

  describe('cancellation at period end', () => {
    it('shows it as cancel_at (the period end) and canceled_at (when asked), clears both when lifted, and keeps the subscription active meanwhile', async () => {
      const { subscription } = await meteredSetup([{ up_to: 'inf', unit_amount: 2 }], 'graduated');
      expect(subscription).toMatchObject({ cancel_at_period_end: false, cancel_at: null, canceled_at: null });
      const cancelling = await client.subscriptions.update(subscription.id, { cancel_at_period_end: true });
      expect(cancelling).toMatchObject({ status: 'active', cancel_at_period_end: true, cancel_at: Date.UTC(2026, 11, 1) / 1000, canceled_at: NOW / 1000 });
      const kept = await client.subscriptions.update(subscription.id, { cancel_at_period_end: false });
      expect(kept).toMatchObject({ status: 'active', cancel_at_period_end: false, cancel_at: null, canceled_at: null });
    });

    it("bills the last period's usage on a final invoice and deletes the subscription when the period ends, not before", async () => {
      const { customer, subscription } = await meteredSetup([{ up_to: 'inf', unit_amount: 2 }], 'graduated');
      const events: string[] = [];
      const { createServer } = await import('node:http');
      const sink = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          events.push((JSON.parse(body) as { type: string }).type);
          res.end();
        });
      });
      await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
      try {
        await client.webhookEndpoints.create({ url: `http://127.0.0.1:${(sink.address() as { port: number }).port}/hook`, enabled_events: ['*'] });
        await client.subscriptions.update(subscription.id, { cancel_at_period_end: true });
        await client.billing.meterEvents.create({ event_name: 'calls', payload: { stripe_customer_id: customer.id, value: '10' }, timestamp: NOW / 1000 });
        stripe.setNow(Date.UTC(2026, 11, 1) - 1_000);
        await stripe.advanceBillingPeriods();
        expect((await client.subscriptions.retrieve(subscription.id)).status).toBe('active');

        stripe.setNow(Date.UTC(2026, 11, 1, 0, 5));
        await stripe.advanceBillingPeriods();
        await stripe.webhooksDelivered();
        expect(await client.subscriptions.retrieve(subscription.id)).toMatchObject({
          status: 'canceled',
          cancel_at_period_end: true,
          ended_at: Date.UTC(2026, 11, 1) / 1000,
          canceled_at: NOW / 1000,
        });
        expect(events.slice(-2).sort()).toEqual(['customer.subscription.deleted', 'invoice.created']);
        stripe.setNow(Date.UTC(2026, 11, 1, 1, 10));
        await stripe.advanceBillingPeriods();
        const invoices = (await client.invoices.list({ customer: customer.id })).data;
        expect(invoices.map((i) => [i.status, i.total, i.period_end])).toEqual([['paid', 20, Date.UTC(2026, 11, 1) / 1000]]);
        // No later period: a cancelled subscription is never invoiced again, and cannot be changed back.
        stripe.setNow(Date.UTC(2027, 0, 1, 2));
        await stripe.advanceBillingPeriods();
        expect((await client.invoices.list({ customer: customer.id })).data).toHaveLength(1);
        await expect(client.subscriptions.update(subscription.id, { cancel_at_period_end: false })).rejects.toMatchObject({ statusCode: 400 });
      } finally {
        sink.close();
      }
    });

    it('invoices a subscription switched to send_invoice (left open until paid), and requires its days_until_due', async () => {
      const { customer, subscription } = await meteredSetup([{ up_to: 'inf', unit_amount: 2 }], 'graduated');
      await expect(client.subscriptions.update(subscription.id, { collection_method: 'send_invoice' })).rejects.toMatchObject({
        statusCode: 400,
        param: 'days_until_due',
      });
      await client.subscriptions.update(subscription.id, { collection_method: 'send_invoice', days_until_due: 30 });
      await client.billing.meterEvents.create({ event_name: 'calls', payload: { stripe_customer_id: customer.id, value: '10' }, timestamp: NOW / 1000 });
      stripe.setNow(Date.UTC(2026, 11, 1, 0, 5));
      await stripe.advanceBillingPeriods();
      stripe.setNow(Date.UTC(2026, 11, 1, 1, 10));
      await stripe.advanceBillingPeriods();
      expect((await client.invoices.list({ customer: customer.id, status: 'open' })).data.map((i) => i.amount_remaining)).toEqual([20]);
    });
  });

  it.each([
    ['re-delivers a webhook the endpoint failed, after each retry delay, until it answers 2xx', [500, 500, 200], 3],
    ['gives a webhook up after its last retry, as Stripe does', [500, 500, 500, 500], 3],
  ])('%s', async (_, answers, attempts) => {
    const retrying = await startLocalStripe({ now: () => NOW, webhookRetryDelaysMs: [40, 80] });
    const { createServer } = await import('node:http');
    const seen: number[] = [];
    const sink = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answers[seen.length] ?? 500);
        seen.push(Date.now());
        res.end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    try {
      const c = retrying.client();
      await c.webhookEndpoints.create({
        url: `http://127.0.0.1:${(sink.address() as { port: number }).port}/hook`,
        enabled_events: ['customer.subscription.created'],
      });
      const meter = await c.billing.meters.create({ display_name: 'Calls', event_name: 'calls', default_aggregation: { formula: 'sum' } });
      await c.products.create({ id: 'prod_retry', name: 'API' });
      const price = await c.prices.create({
        currency: 'usd',
        product: 'prod_retry',
        unit_amount: 1,
        recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
      });
      const customer = await c.customers.create({ name: 'Retried' });
      await c.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
      await retrying.webhooksDelivered();
      expect(seen).toHaveLength(attempts);
      expect(seen[1]! - seen[0]!).toBeGreaterThanOrEqual(40);
      expect(seen[2]! - seen[1]!).toBeGreaterThanOrEqual(80);
    } finally {
      sink.close();
      await retrying.stop();
    }
  });
});
