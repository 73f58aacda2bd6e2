import { createServer, type Server } from 'node:http';
import type Stripe from 'stripe';
import { startLocalStripe, type LocalStripe } from '../../local/stripe/server.ts';

/** The local Stripe's customer portal, payment methods and invoice payments, through the official SDK. */
describe('local Stripe: billing portal, payment methods and failed payments', () => {
  let stripe: LocalStripe;
  let client: Stripe;
  let receiver: Server;
  let received: Array<{ type: string; object: Record<string, unknown> }>;
  // The local Stripe's own clock: the test reads no real date.
  const NOW = Date.UTC(2026, 10, 25, 12, 0);
  const PORTAL_FEATURES = {
    payment_method_update: { enabled: true },
    invoice_history: { enabled: true },
    subscription_cancel: { enabled: true, mode: 'at_period_end', proration_behavior: 'none' },
  } as const;

  beforeEach(async () => {
    stripe = await startLocalStripe({ now: () => NOW, webhookRetryDelaysMs: [] });
    client = stripe.client();
    received = [];
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const event = JSON.parse(body) as { type: string; data: { object: Record<string, unknown> } };
        received.push({ type: event.type, object: event.data.object });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    await client.webhookEndpoints.create({ url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`, enabled_events: ['*'] });
  });
  afterEach(async () => {
    await stripe.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  const events = async (type: string) => {
    await stripe.webhooksDelivered();
    return received.filter((e) => e.type === type).map((e) => e.object);
  };

  /** A customer subscribed to a $49 monthly fee for November 2026, renewing on December 1st. */
  async function subscriber() {
    await client.products.create({ id: 'prod_pro', name: 'Pro' });
    const price = await client.prices.create({ currency: 'usd', product: 'prod_pro', unit_amount: 4900, recurring: { interval: 'month' } });
    const customer = await client.customers.create({ name: 'Acme' });
    const subscription = await client.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      backdate_start_date: Date.UTC(2026, 10, 1) / 1000,
      billing_cycle_anchor: Date.UTC(2026, 11, 1) / 1000,
    });
    return { customer, subscription };
  }

  /** Past the period end: the draft is created, and an hour later finalized and charged. */
  async function renew() {
    stripe.setNow(Date.UTC(2026, 11, 1, 0, 5));
    await stripe.advanceBillingPeriods();
    stripe.setNow(Date.UTC(2026, 11, 1, 1, 10));
    await stripe.advanceBillingPeriods();
    const invoices = await client.invoices.list({ limit: 10 });
    return invoices.data[0]!;
  }

  describe('configurations', () => {
    it('creates, lists, retrieves and updates a configuration with Stripe defaults filled in', async () => {
      const created = await client.billingPortal.configurations.create({ features: PORTAL_FEATURES, metadata: { product: 'api-billing' } });
      expect(created).toMatchObject({
        object: 'billing_portal.configuration',
        active: true,
        is_default: false,
        features: {
          payment_method_update: { enabled: true },
          invoice_history: { enabled: true },
          subscription_cancel: { enabled: true, mode: 'at_period_end', proration_behavior: 'none' },
          customer_update: { enabled: false },
        },
        metadata: { product: 'api-billing' },
      });
      expect((await client.billingPortal.configurations.list({ active: true })).data.map((c) => c.id)).toEqual([created.id]);
      const updated = await client.billingPortal.configurations.update(created.id, {
        default_return_url: 'https://example.com/dashboard',
        features: { subscription_cancel: { mode: 'immediately' } },
      });
      expect(updated.default_return_url).toBe('https://example.com/dashboard');
      expect(updated.features.subscription_cancel.mode).toBe('immediately');
      expect(updated.features.invoice_history.enabled).toBe(true);
      expect((await client.billingPortal.configurations.retrieve(created.id)).features.subscription_cancel.mode).toBe('immediately');
    });

    it.each([
      ['features missing', {}, 'parameter_missing', 'features'],
      ['an unknown feature', { features: { refunds: { enabled: true } } }, 'parameter_unknown', 'features[refunds]'],
      [
        'a bad cancel mode',
        { features: { subscription_cancel: { enabled: true, mode: 'tomorrow' } } },
        'parameter_invalid',
        'features[subscription_cancel][mode]',
      ],
      [
        'prorations when cancelling at period end',
        { features: { subscription_cancel: { enabled: true, mode: 'at_period_end', proration_behavior: 'create_prorations' } } },
        undefined,
        'features[subscription_cancel][proration_behavior]',
      ],
    ])('rejects %s', async (_name, params, code, param) => {
      await expect(client.billingPortal.configurations.create(params as Stripe.BillingPortal.ConfigurationCreateParams)).rejects.toMatchObject({
        type: 'StripeInvalidRequestError',
        statusCode: 400,
        ...(code && { code }),
        param,
      });
    });

    it('answers 404 for an unknown configuration', async () => {
      await expect(client.billingPortal.configurations.retrieve('bpc_nope')).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing' });
    });
  });

  describe('sessions', () => {
    it('creates a session for a customer with a URL on the local Stripe and the return URL', async () => {
      const { customer } = await subscriber();
      const configuration = await client.billingPortal.configurations.create({ features: PORTAL_FEATURES });
      const session = await client.billingPortal.sessions.create({
        customer: customer.id,
        configuration: configuration.id,
        return_url: 'https://example.com/d',
      });
      expect(session).toMatchObject({
        object: 'billing_portal.session',
        customer: customer.id,
        configuration: configuration.id,
        return_url: 'https://example.com/d',
      });
      expect(session.url).toMatch(new RegExp(`^${stripe.url}/_local/portal/bps_`));
      const page = await fetch(session.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Cancel plan');
    });

    it.each([
      ['no customer', () => ({}), 400, 'parameter_missing', 'customer'],
      ['an unknown customer', () => ({ customer: 'cus_nope' }), 400, 'resource_missing', 'customer'],
      ['an unknown configuration', (c: string) => ({ customer: c, configuration: 'bpc_nope' }), 400, 'resource_missing', 'configuration'],
      ['a return URL that is not a URL', (c: string) => ({ customer: c, return_url: 'dashboard' }), 400, 'parameter_invalid', 'return_url'],
    ])('rejects %s', async (_name, params, statusCode, code, param) => {
      const { customer } = await subscriber();
      await client.billingPortal.configurations.create({ features: PORTAL_FEATURES });
      await expect(client.billingPortal.sessions.create(params(customer.id) as Stripe.BillingPortal.SessionCreateParams)).rejects.toMatchObject({
        statusCode,
        code,
        param,
      });
    });

    it('refuses a session without a configuration while the account has no default one, as Stripe does until the portal settings are saved', async () => {
      const { customer } = await subscriber();
      await expect(client.billingPortal.sessions.create({ customer: customer.id })).rejects.toMatchObject({
        statusCode: 400,
        message: expect.stringContaining('save your customer portal settings'),
      });
    });
  });

  describe('payment methods and failed payments', () => {
    it('declines pm_card_chargeDeclined when it is attached, and refuses a default payment method the customer does not have', async () => {
      const { customer } = await subscriber();
      await expect(client.paymentMethods.attach('pm_card_chargeDeclined', { customer: customer.id })).rejects.toMatchObject({
        type: 'StripeCardError',
        statusCode: 402,
        code: 'card_declined',
      });
      const other = await client.customers.create({ name: 'Other' });
      const theirs = await client.paymentMethods.attach('pm_card_visa', { customer: other.id });
      await expect(client.customers.update(customer.id, { invoice_settings: { default_payment_method: theirs.id } })).rejects.toMatchObject({
        statusCode: 400,
        param: 'invoice_settings[default_payment_method]',
      });
      await expect(client.paymentMethods.attach('pm_card_visa', { customer: 'cus_nope' })).rejects.toMatchObject({ statusCode: 400, code: 'resource_missing' });
    });

    it('a failing card leaves the renewal invoice open and the subscription past_due; a new card pays it and the subscription is active again', async () => {
      const { customer, subscription } = await subscriber();
      const failing = await client.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
      await client.customers.update(customer.id, { invoice_settings: { default_payment_method: failing.id } });
      expect(await events('payment_method.attached')).toHaveLength(1);
      expect((await events('customer.updated')).at(-1)).toMatchObject({ invoice_settings: { default_payment_method: failing.id } });

      const invoice = await renew();
      expect(invoice).toMatchObject({ status: 'open', amount_due: 4900, attempt_count: 1, number: expect.stringMatching(/-\d{4}$/) });
      expect(invoice.hosted_invoice_url).toMatch(/\/_local\/invoices\//);
      expect((await client.subscriptions.retrieve(subscription.id)).status).toBe('past_due');
      expect((await events('invoice.payment_failed')).map((i) => i.id)).toEqual([invoice.id]);
      expect((await events('customer.subscription.updated')).at(-1)).toMatchObject({ id: subscription.id, status: 'past_due' });
      await expect(client.invoices.pay(invoice.id!)).rejects.toMatchObject({ type: 'StripeCardError', code: 'card_declined' });

      const card = await client.paymentMethods.attach('pm_card_visa', { customer: customer.id });
      await client.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } });
      expect(await client.invoices.pay(invoice.id!)).toMatchObject({ status: 'paid', amount_paid: 4900, amount_remaining: 0 });
      expect((await client.subscriptions.retrieve(subscription.id)).status).toBe('active');
      expect((await events('invoice.paid')).map((i) => i.id)).toEqual([invoice.id]);
      await expect(client.invoices.pay(invoice.id!)).rejects.toMatchObject({ statusCode: 400 });
    });

    it("retries a failed payment on Stripe's schedule: three days later with a good card it is paid and the subscription is active again", async () => {
      const { customer, subscription } = await subscriber();
      const failing = await client.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
      await client.customers.update(customer.id, { invoice_settings: { default_payment_method: failing.id } });
      const invoice = await renew();
      expect(invoice.next_payment_attempt).toBe(Date.UTC(2026, 11, 1, 1, 10) / 1000 + 3 * 86_400);

      stripe.setNow(Date.UTC(2026, 11, 4, 1, 10)); // the retry is due; the card still fails
      await stripe.advanceBillingPeriods();
      expect(await client.invoices.retrieve(invoice.id!)).toMatchObject({ status: 'open', attempt_count: 2 });
      expect(await events('invoice.payment_failed')).toHaveLength(2);

      const card = await client.paymentMethods.attach('pm_card_visa', { customer: customer.id });
      await client.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } });
      stripe.setNow(Date.UTC(2026, 11, 7, 1, 10));
      await stripe.advanceBillingPeriods();
      expect(await client.invoices.retrieve(invoice.id!)).toMatchObject({ status: 'paid', attempt_count: 3, next_payment_attempt: null });
      expect((await client.subscriptions.retrieve(subscription.id)).status).toBe('active');
    });
  });

  describe('the portal page', () => {
    async function portal(mode: 'at_period_end' | 'immediately' = 'at_period_end') {
      const fixture = await subscriber();
      const configuration = await client.billingPortal.configurations.create({
        features: { ...PORTAL_FEATURES, subscription_cancel: { enabled: true, mode, proration_behavior: 'none' } },
      });
      const session = await client.billingPortal.sessions.create({
        customer: fixture.customer.id,
        configuration: configuration.id,
        return_url: 'https://example.com/d',
      });
      const post = (action: string, form: Record<string, string>) =>
        fetch(`${session.url}/${action}`, { method: 'POST', body: new URLSearchParams(form), redirect: 'manual' });
      return { ...fixture, session, post };
    }

    it('updates the card: a new default payment method, with payment_method.attached and customer.updated', async () => {
      const { customer, post } = await portal();
      const answer = await post('payment-method', { card: 'pm_card_visa' });
      expect(answer.status).toBe(303);
      const updated = await client.customers.retrieve(customer.id);
      const pmId = (updated as Stripe.Customer).invoice_settings.default_payment_method as string;
      expect((await client.paymentMethods.retrieve(pmId)).card).toMatchObject({ brand: 'visa', last4: '4242' });
      expect((await events('payment_method.attached')).map((pm) => pm.id)).toEqual([pmId]);
      expect((await events('customer.updated')).at(-1)).toMatchObject({ id: customer.id, invoice_settings: { default_payment_method: pmId } });
    });

    it('cancels at period end: cancel_at_period_end with the period end, and customer.subscription.updated', async () => {
      const { subscription, session, post } = await portal();
      expect((await post('cancel', { subscription: subscription.id })).status).toBe(303);
      const after = await client.subscriptions.retrieve(subscription.id);
      expect(after).toMatchObject({ status: 'active', cancel_at_period_end: true, cancel_at: Date.UTC(2026, 11, 1) / 1000 });
      expect((await events('customer.subscription.updated')).at(-1)).toMatchObject({ id: subscription.id, cancel_at_period_end: true });
      expect(await (await fetch(session.url)).text()).toContain('Your plan will be canceled on 2026-12-01');
    });

    it('cancels at once when the configuration says immediately', async () => {
      const { subscription, post } = await portal('immediately');
      await post('cancel', { subscription: subscription.id });
      expect((await client.subscriptions.retrieve(subscription.id)).status).toBe('canceled');
      expect((await events('customer.subscription.deleted')).map((s) => s.id)).toEqual([subscription.id]);
    });

    it('lists finalized invoices with their hosted page and pays an open one', async () => {
      const { customer, session, post } = await portal();
      const failing = await client.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
      await client.customers.update(customer.id, { invoice_settings: { default_payment_method: failing.id } });
      const invoice = await renew();
      const html = await (await fetch(session.url)).text();
      expect(html).toContain(invoice.number!);
      expect(html).toContain(`href="${invoice.hosted_invoice_url}"`);
      expect((await fetch(invoice.hosted_invoice_url!)).status).toBe(200);
      await post('payment-method', { card: 'pm_card_visa' });
      await post('pay', { invoice: invoice.id! });
      expect((await client.invoices.retrieve(invoice.id!)).status).toBe('paid');
    });

    it('refuses what the configuration does not allow, and an unknown session', async () => {
      const { customer, subscription } = await subscriber();
      const configuration = await client.billingPortal.configurations.create({ features: { invoice_history: { enabled: true } } });
      const session = await client.billingPortal.sessions.create({ customer: customer.id, configuration: configuration.id });
      const html = await (await fetch(session.url)).text();
      expect(html).not.toContain('Cancel plan');
      const answer = await fetch(`${session.url}/cancel`, { method: 'POST', body: new URLSearchParams({ subscription: subscription.id }), redirect: 'manual' });
      expect(answer.status).toBe(403);
      expect((await client.subscriptions.retrieve(subscription.id)).cancel_at_period_end).toBe(false);
      expect((await fetch(`${stripe.url}/_local/portal/bps_nope`)).status).toBe(404);
    });
  });
});
