import { createServer, type Server } from 'node:http';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import Stripe from 'stripe';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { createBillingApi } from '../../lambdas/billing-api/billing-api.ts';
import { changeTier, startUpgrade } from '../../lambdas/core/subscriptions.ts';
import { scheduleDowngrade } from '../../lambdas/core/downgrade.ts';
import { createWebhookHandler } from '../../lambdas/stripe-webhook/webhook.ts';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { syncCustomerMonth } from '../../lambdas/core/sync.ts';
import { addHourCounts } from '../harness/counters.ts';
import { enforcePaymentGrace } from '../../lambdas/core/webhooks.ts';
import { deleteDueGatewayKeys, RETIRE_MARGIN_MS } from '../../lambdas/core/gateway-keys.ts';
import { billingConfig, type TierName } from '../../lambdas/core/config.ts';
import type { GatewayKeyRegistry } from '../../lambdas/core/ports.ts';

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
    handle = createWebhookHandler({
      stripe: f.stripe.client(),
      webhookSecret: SECRET,
      services: f.services,
      gatewayKeys: f.gatewayKeys,
      alerts: f.alertSink,
      claims: claimsOf(f),
      logger: silent,
    });
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
    const response = await handle(
      signed(
        { id: 'evt_1', type: 'customer.subscription.updated', created: 100, object: await subscriptionObject(customer.subscriptionId!, 'pro') },
        'whsec_attacker',
      ),
    );
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ error: 'invalid_signature', message: expect.any(String) });
    expect((await f.services.customers.getCustomer(customer.customerId))?.tier).toBe('free');
    expect(await claimCount(f)).toBe(0);
    expect((await handle({ body: '{}', headers: {}, isBase64Encoded: false })).statusCode).toBe(400);
  });

  it('moves the tier and usage plan on a subscription update, once per event id', async () => {
    const customer = await f.addCustomer('free');
    const event = signed({
      id: 'evt_up',
      type: 'customer.subscription.updated',
      created: 100,
      object: await subscriptionObject(customer.subscriptionId!, 'pro'),
    });
    expect(JSON.parse((await handle(event)).body)).toEqual({ received: true, outcome: 'tier-changed' });
    expect(JSON.parse((await handle(event)).body)).toEqual({ received: true, outcome: 'duplicate' });
    const after = (await f.services.customers.getCustomer(customer.customerId))!;
    expect(after.tier).toBe('pro');
    expect(f.gatewayKeys.findByValue(after.gatewayKeyValue)?.tier).toBe('pro');
  });

  it('ignores an older subscription event that arrives after a newer one', async () => {
    const customer = await f.addCustomer('free');
    await handle(
      signed({ id: 'evt_new', type: 'customer.subscription.updated', created: 200, object: await subscriptionObject(customer.subscriptionId!, 'enterprise') }),
    );
    const late = await handle(
      signed({ id: 'evt_old', type: 'customer.subscription.updated', created: 100, object: await subscriptionObject(customer.subscriptionId!, 'pro') }),
    );
    expect(JSON.parse(late.body).outcome).toBe('ignored');
    expect((await f.services.customers.getCustomer(customer.customerId))?.tier).toBe('enterprise');
  });

  it('moves a cancelled customer to Free', async () => {
    const customer = await f.addCustomer('pro');
    await handle(
      signed({
        id: 'evt_del',
        type: 'customer.subscription.deleted',
        created: 300,
        object: await subscriptionObject(customer.subscriptionId!, 'pro', 'canceled'),
      }),
    );
    const after = await f.services.customers.getCustomer(customer.customerId);
    expect(after).toMatchObject({ tier: 'free' });
    expect(after?.subscriptionId).toBeUndefined();
    expect(f.gatewayKeys.findByValue(after!.gatewayKeyValue)?.tier).toBe('free');
  });

  it("flushes the period's unsettled last hours when Stripe drafts the invoice, before it finalizes", async () => {
    const customer = await f.addCustomer('pro');
    // The last hour of November, too fresh for the scheduled sync's settle window.
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour: '2026-11-30T23', billable: 12_345 }]);
    const invoice = {
      id: 'in_1',
      customer: customer.stripeCustomerId,
      status: 'draft',
      period_start: Date.UTC(2026, 10, 1) / 1000,
      period_end: Date.UTC(2026, 11, 1) / 1000,
      amount_due: 0,
      amount_paid: 0,
    };
    f.clock.now = Date.UTC(2026, 11, 1, 0, 5);
    f.stripe.setNow(f.clock.now);
    const response = await handle(signed({ id: 'evt_inv', type: 'invoice.created', created: 400, object: invoice }));
    expect(JSON.parse(response.body).outcome).toBe('reconciled');
    const { catalogIds } = await f.services.ready();
    expect(
      await f.services.provider.meteredTotal(catalogIds.meterId, customer.stripeCustomerId!, Date.UTC(2026, 10, 1) / 1000, Date.UTC(2026, 11, 1) / 1000),
    ).toBe(12_345);
  });

  it('holds the invoice flush while billing is paused, as it holds the scheduled sync', async () => {
    const customer = await f.addCustomer('pro');
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour: '2026-11-30T23', billable: 777 }]);
    await f.services.state.setPause({ paused: true, by: 'ops', reason: 'investigating a billing error', at: new Date(f.clock.now).toISOString() });
    const invoice = {
      id: 'in_paused',
      customer: customer.stripeCustomerId,
      status: 'draft',
      period_start: Date.UTC(2026, 10, 1) / 1000,
      period_end: Date.UTC(2026, 11, 1) / 1000,
      amount_due: 0,
      amount_paid: 0,
    };
    f.clock.now = Date.UTC(2026, 11, 1, 0, 5);
    f.stripe.setNow(f.clock.now);
    expect((await handle(signed({ id: 'evt_inv_paused', type: 'invoice.created', created: 400, object: invoice }))).statusCode).toBe(200);
    const { catalogIds } = await f.services.ready();
    expect(
      await f.services.provider.meteredTotal(catalogIds.meterId, customer.stripeCustomerId!, Date.UTC(2026, 10, 1) / 1000, Date.UTC(2026, 11, 1) / 1000),
    ).toBe(0);
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
    expect(JSON.parse(response.body).outcome).toBe('reconciled');

    setTime(f, Date.UTC(2026, 11, 1, 1, 10));
    await f.stripe.advanceBillingPeriods();
    const final = await f.stripe.client().invoices.retrieve(draft!.id);
    expect(final.status).toBe('paid');
    expect(final.total).toBe(estimateBill('pro', 11_000).totalCents);
    // A redelivered invoice.created credits nothing more.
    await handle(signed({ id: 'evt_credit_again', type: 'invoice.created', created: 501, object: draft }));
    expect((await f.stripe.client().invoices.retrieve(draft!.id)).total).toBe(estimateBill('pro', 11_000).totalCents);
  });

  describe('subscription status policy', () => {
    const DAY = 86_400_000;
    /** A subscription event created at the fixture's current time (the grace is counted from it). */
    const at = () => Math.floor(f.clock.now / 1000);
    const outcomeOf = async (response: Promise<{ body: string; statusCode: number }>) => {
      const r = await response;
      expect(r.statusCode).toBe(200);
      return JSON.parse(r.body).outcome as string;
    };
    /** A customer.subscription.updated event for the subscription, created now, and its outcome (answered 200). */
    const subscriptionUpdated = async (id: string, ...subscription: Parameters<typeof subscriptionObject>) =>
      outcomeOf(handle(signed({ id, type: 'customer.subscription.updated', created: at(), object: await subscriptionObject(...subscription) })));
    const tierOf = async (customerId: string) => (await f.services.customers.getCustomer(customerId))?.tier;
    /** The usage plan of the customer's current gateway key (a tier change switches it to a new key). */
    const planOf = async (customer: { customerId: string }) =>
      f.gatewayKeys.findByValue((await f.services.customers.getCustomer(customer.customerId))!.gatewayKeyValue)?.tier;
    const runGrace = async () =>
      enforcePaymentGrace(await f.services.customers.listCustomers(), {
        registry: f.services.customers,
        gatewayKeys: f.gatewayKeys,
        retirements: f.services.retirements,
        config: billingConfig,
        now: () => f.clock.now,
      });
    const runKeyCleanup = () =>
      deleteDueGatewayKeys({ gatewayKeys: f.gatewayKeys, retirements: f.services.retirements, registry: f.services.customers, now: () => f.clock.now });

    it('grants the tier of an active or trialing subscription', async () => {
      const customer = await f.addCustomer('free');
      expect(await subscriptionUpdated('evt_trial', customer.subscriptionId!, 'pro', 'trialing')).toBe('tier-changed');
      expect(await tierOf(customer.customerId)).toBe('pro');
      expect(await planOf(customer)).toBe('pro');
      setTime(f, f.clock.now + 1000);
      expect(await subscriptionUpdated('evt_active', customer.subscriptionId!, 'enterprise', 'active')).toBe('tier-changed');
      expect(await tierOf(customer.customerId)).toBe('enterprise');
    });

    it('past_due keeps the paid tier for the grace, then the scheduled run moves the customer to Free; paying restores it', async () => {
      expect(billingConfig.pastDueGraceDays).toBe(7);
      const customer = await f.addCustomer('pro');
      const start = f.clock.now;
      expect(await subscriptionUpdated('evt_pd1', customer.subscriptionId!, 'pro', 'past_due')).toBe('tier-unchanged');
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({
        tier: 'pro',
        paymentIssueSince: start,
        subscriptionId: customer.subscriptionId,
      });

      // A later past_due event (Stripe's next retry failed) does not restart the grace.
      setTime(f, start + 3 * DAY);
      await handle(
        signed({
          id: 'evt_pd2',
          type: 'customer.subscription.updated',
          created: at(),
          object: await subscriptionObject(customer.subscriptionId!, 'pro', 'past_due'),
        }),
      );
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({ tier: 'pro', paymentIssueSince: start });

      setTime(f, start + 7 * DAY - 1);
      expect(await runGrace()).toEqual([]);
      expect(await tierOf(customer.customerId)).toBe('pro');

      setTime(f, start + 7 * DAY);
      expect(await runGrace()).toEqual([{ customerId: customer.customerId, since: start, change: 'moved-to-free' }]);
      expect(await tierOf(customer.customerId)).toBe('free');
      expect(await planOf(customer)).toBe('free');
      expect(await runGrace()).toEqual([]);
      // An ordinary tier change: a new key in the Free plan; the Pro key stays in its plan while authorizers
      // may still hand it out from their cache, then the scheduled cleanup deletes it.
      const moved = (await f.services.customers.getCustomer(customer.customerId))!;
      expect(moved.gatewayKeyId).not.toBe(customer.gatewayKeyId);
      expect(f.gatewayKeys.findByValue(customer.gatewayKeyValue)?.tier).toBe('pro');
      expect((await runKeyCleanup()).deleted).toEqual([]);
      setTime(f, start + 7 * DAY + billingConfig.keyCacheTtlSeconds * 1000 + RETIRE_MARGIN_MS);
      expect((await runKeyCleanup()).deleted).toEqual([
        expect.objectContaining({ customerId: customer.customerId, key: { gatewayKeyId: customer.gatewayKeyId }, tier: 'pro', reason: 'replaced' }),
      ]);
      expect(f.gatewayKeys.findByValue(customer.gatewayKeyValue)).toBeUndefined();
      expect(await planOf(customer)).toBe('free');

      // The customer pays the overdue invoice: Stripe makes the same subscription active again.
      setTime(f, start + 9 * DAY);
      expect(await subscriptionUpdated('evt_paid', customer.subscriptionId!, 'pro', 'active')).toBe('tier-changed');
      const after = await f.services.customers.getCustomer(customer.customerId);
      expect(after).toMatchObject({ tier: 'pro', subscriptionId: customer.subscriptionId });
      expect(after?.paymentIssueSince).toBeUndefined();
      expect(await planOf(customer)).toBe('pro');
    });

    it('the scheduled run reports a grace it could not enforce, still moves the other customers, and retries on the next run', async () => {
      const [a, b] = [await f.addCustomer('pro'), await f.addCustomer('enterprise')];
      const start = f.clock.now;
      for (const c of [a, b]) {
        await handle(
          signed({
            id: `evt_pd_${c.customerId}`,
            type: 'customer.subscription.updated',
            created: at(),
            object: await subscriptionObject(c.subscriptionId!, c.tier as 'pro' | 'enterprise', 'past_due'),
          }),
        );
      }
      setTime(f, start + 8 * DAY);
      let failFor: string | undefined = a.customerId;
      const gatewayKeys: GatewayKeyRegistry = {
        async createKey(customerId, tier, name) {
          if (customerId === failFor) throw new Error('API Gateway is unavailable');
          return f.gatewayKeys.createKey(customerId, tier, name);
        },
        deleteKey: (key, tier) => f.gatewayKeys.deleteKey(key, tier),
      };
      const deps = { registry: f.services.customers, gatewayKeys, retirements: f.services.retirements, config: billingConfig, now: () => f.clock.now };
      const first = await enforcePaymentGrace(await f.services.customers.listCustomers(), deps);
      expect(first).toHaveLength(2);
      expect(first).toEqual(
        expect.arrayContaining([
          { customerId: a.customerId, since: start, change: 'failed', error: 'API Gateway is unavailable' },
          { customerId: b.customerId, since: start, change: 'moved-to-free' },
        ]),
      );
      expect(await f.services.customers.getCustomer(a.customerId)).toMatchObject({ tier: 'pro', gatewayKeyId: a.gatewayKeyId });
      expect(await tierOf(b.customerId)).toBe('free');

      failFor = undefined;
      expect(await enforcePaymentGrace(await f.services.customers.listCustomers(), deps)).toEqual([
        { customerId: a.customerId, since: start, change: 'moved-to-free' },
      ]);
      expect(await tierOf(a.customerId)).toBe('free');
      expect(await planOf(a)).toBe('free');
    });

    it('the scheduled run does not move a customer who paid up after the run read the customer list', async () => {
      const customer = await f.addCustomer('pro');
      const start = f.clock.now;
      await handle(
        signed({
          id: 'evt_pd',
          type: 'customer.subscription.updated',
          created: at(),
          object: await subscriptionObject(customer.subscriptionId!, 'pro', 'past_due'),
        }),
      );
      setTime(f, start + 8 * DAY);
      const listed = await f.services.customers.listCustomers();
      expect(await subscriptionUpdated('evt_paid', customer.subscriptionId!, 'pro', 'active')).toBe('tier-unchanged');
      expect(
        await enforcePaymentGrace(listed, {
          registry: f.services.customers,
          gatewayKeys: f.gatewayKeys,
          retirements: f.services.retirements,
          config: billingConfig,
          now: () => f.clock.now,
        }),
      ).toEqual([]);
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({ tier: 'pro', gatewayKeyId: customer.gatewayKeyId });
    });

    it('unpaid counts the grace from the first past_due event: once it has passed, the webhook itself moves the customer to Free', async () => {
      const customer = await f.addCustomer('enterprise');
      const start = f.clock.now;
      await handle(
        signed({
          id: 'evt_pd',
          type: 'customer.subscription.updated',
          created: at(),
          object: await subscriptionObject(customer.subscriptionId!, 'enterprise', 'past_due'),
        }),
      );
      setTime(f, start + 8 * DAY);
      expect(await subscriptionUpdated('evt_unpaid', customer.subscriptionId!, 'enterprise', 'unpaid')).toBe('tier-changed');
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({
        tier: 'free',
        paymentIssueSince: start,
        subscriptionId: customer.subscriptionId,
      });
      expect(await planOf(customer)).toBe('free');
    });

    it('unpaid as the first bad status starts the grace too, and never raises the tier to what its prices name', async () => {
      const customer = await f.addCustomer('pro');
      expect(await subscriptionUpdated('evt_unpaid', customer.subscriptionId!, 'enterprise', 'unpaid')).toBe('tier-unchanged');
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({ tier: 'pro', paymentIssueSince: f.clock.now });
    });

    it('an incomplete new subscription (Checkout awaiting payment) never grants its tier; once active it replaces the old one', async () => {
      const customer = await f.addCustomer('free');
      const { catalogIds, stripe } = await f.services.ready();
      const proPrices = stripe.catalog.prices.filter((p) => p.tier === 'pro').map((p) => ({ price: catalogIds.priceIds[p.lookupKey]! }));
      const fresh = await f.stripe.client().subscriptions.create({ customer: customer.stripeCustomerId!, items: proPrices });
      expect(
        await outcomeOf(
          handle(
            signed({ id: 'evt_inc', type: 'customer.subscription.created', created: at(), object: await subscriptionObject(fresh.id, 'pro', 'incomplete') }),
          ),
        ),
      ).toBe('ignored');
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({ tier: 'free', subscriptionId: customer.subscriptionId });
      expect((await f.stripe.client().subscriptions.retrieve(customer.subscriptionId!)).status).toBe('active');

      setTime(f, f.clock.now + 60_000);
      expect(
        await outcomeOf(
          handle(
            signed({ id: 'evt_inc_ok', type: 'customer.subscription.updated', created: at(), object: await subscriptionObject(fresh.id, 'pro', 'active') }),
          ),
        ),
      ).toBe('tier-changed');
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({ tier: 'pro', subscriptionId: fresh.id });
      expect((await f.stripe.client().subscriptions.retrieve(customer.subscriptionId!)).status).toBe('canceled');
    });

    it('an incomplete current subscription does not keep a paid tier', async () => {
      const customer = await f.addCustomer('pro');
      expect(await subscriptionUpdated('evt_inc', customer.subscriptionId!, 'pro', 'incomplete')).toBe('tier-changed');
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({ tier: 'free', subscriptionId: customer.subscriptionId });
    });

    it('incomplete_expired moves the customer to Free and forgets the subscription', async () => {
      const customer = await f.addCustomer('pro');
      expect(await subscriptionUpdated('evt_exp', customer.subscriptionId!, 'pro', 'incomplete_expired')).toBe('tier-changed');
      const after = await f.services.customers.getCustomer(customer.customerId);
      expect(after?.tier).toBe('free');
      expect(after?.subscriptionId).toBeUndefined();
      expect(await planOf(customer)).toBe('free');
    });

    it('paused moves the customer to Free at once and keeps the subscription, so resuming restores the tier', async () => {
      const customer = await f.addCustomer('pro');
      expect(await subscriptionUpdated('evt_pause', customer.subscriptionId!, 'pro', 'paused')).toBe('tier-changed');
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({ tier: 'free', subscriptionId: customer.subscriptionId });
      setTime(f, f.clock.now + 1000);
      expect(await subscriptionUpdated('evt_resume', customer.subscriptionId!, 'pro', 'active')).toBe('tier-changed');
      expect(await tierOf(customer.customerId)).toBe('pro');
    });

    it('a status Stripe may add later is ignored, with a 200', async () => {
      const customer = await f.addCustomer('pro');
      expect(await subscriptionUpdated('evt_new_status', customer.subscriptionId!, 'enterprise', 'on_hold')).toBe('ignored');
      expect(await tierOf(customer.customerId)).toBe('pro');
    });
  });

  describe('each event id acts once (claimed in the idempotency table)', () => {
    /**
     * The gateway keys, with a counted key creation (a tier change creates the customer's new key in the
     * new plan) that, when gated, holds until the test releases it: a second delivery then arrives while
     * the first is mid-way, on any machine, however slow.
     */
    function countedKeys(options: { failFirst?: boolean; gated?: boolean } = {}) {
      const creates: string[] = [];
      let fail = options.failFirst ?? false;
      let signalEntered: () => void = () => undefined;
      const entered = new Promise<void>((resolve) => {
        signalEntered = resolve;
      });
      let release: () => void = () => undefined;
      const released = options.gated
        ? new Promise<void>((resolve) => {
            release = resolve;
          })
        : Promise.resolve();
      const keys: GatewayKeyRegistry = {
        async createKey(customerId: string, tier: TierName, name?: string) {
          signalEntered();
          await released;
          if (fail) {
            fail = false;
            throw new Error('API Gateway is unavailable');
          }
          creates.push(`${customerId}:${tier}`);
          return f.gatewayKeys.createKey(customerId, tier, name);
        },
        deleteKey: (key, tier) => f.gatewayKeys.deleteKey(key, tier),
      };
      return { keys, creates, entered, release };
    }

    it('two concurrent deliveries of one event: one acts, the other is told to retry; a redelivery after success is a 200 that does nothing', async () => {
      const customer = await f.addCustomer('free');
      const { keys, creates, entered, release } = countedKeys({ gated: true });
      // Two Lambda instances, as Stripe's concurrent deliveries would reach.
      const [a, b] = [0, 1].map(() =>
        createWebhookHandler({
          stripe: f.stripe.client(),
          webhookSecret: SECRET,
          services: f.services,
          gatewayKeys: keys,
          alerts: f.alertSink,
          claims: claimsOf(f),
          logger: silent,
        }),
      );
      const event = signed({
        id: 'evt_race',
        type: 'customer.subscription.updated',
        created: 100,
        object: await subscriptionObject(customer.subscriptionId!, 'pro'),
      });
      const first = a!(event);
      await entered; // the first delivery holds the claim and is creating the key
      const second = await b!(event);
      release();
      const responses = [await first, second];
      expect(responses.map((r) => r.statusCode)).toEqual([200, 409]);
      expect(JSON.parse(responses[0]!.body)).toEqual({ received: true, outcome: 'tier-changed' });
      expect(creates).toEqual([`${customer.customerId}:pro`]);

      const again = await b!(event);
      expect(again.statusCode).toBe(200);
      expect(JSON.parse(again.body)).toEqual({ received: true, outcome: 'duplicate' });
      expect(creates).toEqual([`${customer.customerId}:pro`]);
      expect(await tierOf(customer.customerId)).toBe('pro');
      // One switch: the customer's Free key is the only one waiting to be retired.
      expect(f.gatewayKeys.list().filter((k) => k.customerId === customer.customerId)).toHaveLength(2);
      expect(await claimCount(f)).toBe(1);
    });

    it("a failure mid-processing releases the claim, so Stripe's retry acts", async () => {
      const customer = await f.addCustomer('free');
      const { keys, creates } = countedKeys({ failFirst: true });
      const errors: unknown[] = [];
      const h = createWebhookHandler({
        stripe: f.stripe.client(),
        webhookSecret: SECRET,
        services: f.services,
        gatewayKeys: keys,
        alerts: f.alertSink,
        claims: claimsOf(f),
        logger: { ...silent, error: (...args: unknown[]) => void errors.push(args) },
      });
      const event = signed({
        id: 'evt_fail',
        type: 'customer.subscription.updated',
        created: 100,
        object: await subscriptionObject(customer.subscriptionId!, 'pro'),
      });
      const failed = await h(event);
      expect(failed.statusCode).toBe(500);
      expect(errors).toHaveLength(1);
      expect(await claimCount(f)).toBe(0);
      expect(await tierOf(customer.customerId)).toBe('free');

      const retried = await h(event);
      expect(retried.statusCode).toBe(200);
      expect(JSON.parse(retried.body).outcome).toBe('tier-changed');
      expect(creates).toEqual([`${customer.customerId}:pro`]);
      expect(await tierOf(customer.customerId)).toBe('pro');
      expect(f.gatewayKeys.findByValue((await f.services.customers.getCustomer(customer.customerId))!.gatewayKeyValue)?.tier).toBe('pro');
    });

    async function tierOf(customerId: string) {
      return (await f.services.customers.getCustomer(customerId))?.tier;
    }
  });

  describe('verified events we cannot use: 200 and a log line with ids only', () => {
    function recordingLogger() {
      const lines: Array<{ level: string; message: string; attributes: unknown }> = [];
      const at =
        (level: string) =>
        (message: unknown, ...attributes: unknown[]) =>
          void lines.push({ level, message: String(message), attributes: attributes[0] });
      return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
    }

    it('a known type whose object lacks fields we read', async () => {
      const customer = await f.addCustomer('free');
      const { lines, logger } = recordingLogger();
      const h = createWebhookHandler({
        stripe: f.stripe.client(),
        webhookSecret: SECRET,
        services: f.services,
        gatewayKeys: f.gatewayKeys,
        alerts: f.alertSink,
        claims: claimsOf(f),
        logger,
      });
      const { items: _items, ...withoutItems } = await subscriptionObject(customer.subscriptionId!, 'pro');
      const secretish = { ...withoutItems, metadata: { note: 'Jane Doe, jane@example.com' } };
      const response = await h(signed({ id: 'evt_shape', type: 'customer.subscription.updated', created: 100, object: secretish }));
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ received: true, outcome: 'ignored' });
      expect(await f.services.customers.getCustomer(customer.customerId)).toMatchObject({ tier: 'free' });
      expect(lines).toEqual([
        {
          level: 'info',
          message: 'webhook processed',
          attributes: {
            eventId: 'evt_shape',
            type: 'customer.subscription.updated',
            outcome: 'ignored',
            reason: 'unexpected customer.subscription.updated object: items',
          },
        },
      ]);
      expect(JSON.stringify(lines)).not.toContain('jane@example.com');

      const invoice = await h(signed({ id: 'evt_inv_shape', type: 'invoice.paid', created: 100, object: { id: 'in_1', customer: customer.stripeCustomerId } }));
      expect(JSON.parse(invoice.body)).toEqual({ received: true, outcome: 'ignored' });
      expect(lines[1]?.attributes).toMatchObject({ eventId: 'evt_inv_shape', reason: expect.stringContaining('period_start') });
    });

    it('a type we do not handle', async () => {
      const { lines, logger } = recordingLogger();
      const h = createWebhookHandler({
        stripe: f.stripe.client(),
        webhookSecret: SECRET,
        services: f.services,
        gatewayKeys: f.gatewayKeys,
        alerts: f.alertSink,
        claims: claimsOf(f),
        logger,
      });
      const response = await h(
        signed({
          id: 'evt_other',
          type: 'charge.dispute.created',
          created: 100,
          object: { id: 'dp_1', evidence: { customer_email_address: 'jane@example.com' } },
        }),
      );
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ received: true, outcome: 'ignored' });
      expect(lines).toEqual([
        {
          level: 'info',
          message: 'webhook processed',
          attributes: { eventId: 'evt_other', type: 'charge.dispute.created', outcome: 'ignored', reason: 'event type charge.dispute.created is not used' },
        },
      ]);
    });
  });

  /**
   * Stripe delivers to our webhook handler over HTTP, signed with the endpoint's secret; each answer's
   * outcome is kept with the event type, in the order the handler finished them.
   */
  async function receiveWebhooks(): Promise<{ receiver: Server; outcomes: Array<{ type: string; outcome: string }> }> {
    let secret = '';
    const outcomes: Array<{ type: string; outcome: string }> = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        void createWebhookHandler({
          stripe: f.stripe.client(),
          webhookSecret: secret,
          services: f.services,
          gatewayKeys: f.gatewayKeys,
          alerts: f.alertSink,
          claims: claimsOf(f),
          logger: silent,
        })({ body, headers: req.headers as Record<string, string>, isBase64Encoded: false }).then((r) => {
          outcomes.push({ type: (JSON.parse(body) as { type: string }).type, outcome: (JSON.parse(r.body) as { outcome?: string }).outcome ?? r.body });
          res.writeHead(r.statusCode);
          res.end(r.body);
        });
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const endpoint = await f.stripe
      .client()
      .webhookEndpoints.create({ url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/webhooks/stripe`, enabled_events: ['*'] });
    secret = endpoint.secret!;
    return { receiver, outcomes };
  }

  describe('upgrade through Stripe Checkout, end to end', () => {
    let receiver: Server;
    afterEach(() => receiver?.close());

    it('subscribes to the new tier, moves the usage plan and cancels the old subscription', async () => {
      ({ receiver } = await receiveWebhooks());

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

    it('drops the kept Checkout session once Stripe reports it completed: the next upgrade call gets a new one, and a redelivery changes nothing more', async () => {
      // Every delivery is recorded with the handler's answer, so one can be delivered again as it came.
      const deliveries: Array<{ body: string; headers: Record<string, string>; type: string; outcome: string }> = [];
      let secret = '';
      const webhook = () =>
        createWebhookHandler({
          stripe: f.stripe.client(),
          webhookSecret: secret,
          services: f.services,
          gatewayKeys: f.gatewayKeys,
          alerts: f.alertSink,
          claims: claimsOf(f),
          logger: silent,
        });
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          const headers = req.headers as Record<string, string>;
          void webhook()({ body, headers, isBase64Encoded: false }).then((r) => {
            deliveries.push({ body, headers, type: (JSON.parse(body) as { type: string }).type, outcome: (JSON.parse(r.body) as { outcome: string }).outcome });
            res.writeHead(r.statusCode);
            res.end(r.body);
          });
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      const endpoint = await f.stripe
        .client()
        .webhookEndpoints.create({ url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/webhooks/stripe`, enabled_events: ['*'] });
      secret = endpoint.secret!;
      const customer = await f.addCustomer('free');
      await f.stripe.webhooksDelivered();

      // POST /billing/upgrade as the Lambda serves it, with the store the webhook forgets from.
      const upgrade = async () => {
        const response = await createBillingApi({
          registry: f.services.customers,
          stripe: async () => (await f.services.ready()).stripe,
          dashboardUrl: 'http://dashboard.local/dashboard',
          checkouts: f.services.checkouts,
          config: f.services.config,
          now: () => f.clock.now,
        })({
          path: '/billing/upgrade',
          body: '{"tier":"pro"}',
          requestContext: { authorizer: { customerId: customer.customerId } },
        } as unknown as APIGatewayProxyEvent);
        expect(response.statusCode).toBe(200);
        return (JSON.parse(response.body) as { url: string }).url;
      };
      const sessionOf = (url: string) => url.slice(url.lastIndexOf('/') + 1);
      const checkoutsCreated = () => f.stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions').length;
      const before = checkoutsCreated();

      const a = await upgrade();
      expect(await upgrade()).toBe(a);
      // The customer pays: Stripe completes the session and sends checkout.session.completed (and the subscription's events).
      expect((await fetch(a, { redirect: 'manual' })).status).toBe(302);
      await f.stripe.webhooksDelivered();
      expect(deliveries.filter((d) => d.type === 'checkout.session.completed').map((d) => d.outcome)).toEqual(['checkout-closed']);
      const upgraded = (await f.services.customers.getCustomer(customer.customerId))!;
      expect(upgraded.tier).toBe('pro');

      // The customer leaves Pro (its subscription cancelled) and asks to upgrade again: a new session, not the paid one.
      await f.stripe.client().subscriptions.cancel(upgraded.subscriptionId!);
      await f.stripe.webhooksDelivered();
      expect((await f.services.customers.getCustomer(customer.customerId))!.tier).toBe('free');
      const b = await upgrade();
      expect(sessionOf(b)).not.toBe(sessionOf(a));
      expect(await f.stripe.client().checkout.sessions.retrieve(sessionOf(b))).toMatchObject({ status: 'open' });
      expect(await upgrade()).toBe(b);
      expect(checkoutsCreated() - before).toBe(2);

      // Stripe delivers the completed event again: a duplicate (its id is claimed), and session B stays handed out.
      const completed = deliveries.find((d) => d.type === 'checkout.session.completed')!;
      const again = await webhook()({ body: completed.body, headers: completed.headers, isBase64Encoded: false });
      expect(JSON.parse(again.body)).toEqual({ received: true, outcome: 'duplicate' });
      // Even acted on afresh (another event id for session A, as after a lost claim), it drops nothing: B is not A.
      const object = (JSON.parse(completed.body) as { data: { object: unknown } }).data.object;
      const late = await handle(signed({ id: 'evt_late_completed', type: 'checkout.session.completed', created: Math.floor(f.clock.now / 1000), object }));
      expect(JSON.parse(late.body)).toEqual({ received: true, outcome: 'checkout-closed' });
      expect(await upgrade()).toBe(b);
      expect(checkoutsCreated() - before).toBe(2);
      expect((await f.services.customers.getCustomer(customer.customerId))!.tier).toBe('free');
    });
  });
  describe("a customer's opt-out to Free, end to end with the local Stripe", () => {
    let receiver: Server;
    let outcomes: Array<{ type: string; outcome: string }>;
    beforeEach(async () => {
      ({ receiver, outcomes } = await receiveWebhooks());
    });
    afterEach(() => receiver?.close());

    const DECEMBER = Date.UTC(2026, 11, 1);
    const downgradeDeps = () => ({
      registry: f.services.customers,
      billing: f.services.provider,
      audit: (entry: Parameters<typeof f.services.state.audit>[0]) => f.services.state.audit(entry),
      now: () => f.clock.now,
    });
    /** A Pro customer with 12,000 calls in November ($49 + 2,000 x $0.002 = $53.00), opted out at the fixture's 25 November. */
    async function optedOutProCustomer() {
      const customer = await f.addCustomer('pro');
      await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour: '2026-11-20T10', billable: 12_000 }]);
      await f.stripe.webhooksDelivered();
      expect(await scheduleDowngrade(customer, new Date(DECEMBER).toISOString(), downgradeDeps())).toEqual({ ok: true, at: DECEMBER });
      await f.stripe.webhooksDelivered();
      return (await f.services.customers.getCustomer(customer.customerId))!;
    }

    it('keeps the customer on Pro until the period ends; then bills the month at Pro, deletes the subscription and moves the tier and usage plan to Free', async () => {
      const customer = await optedOutProCustomer();
      const subscription = await f.stripe.client().subscriptions.retrieve(customer.subscriptionId!);
      expect(subscription).toMatchObject({ status: 'active', cancel_at_period_end: true, cancel_at: DECEMBER / 1000, canceled_at: f.clock.now / 1000 });
      expect(customer).toMatchObject({ tier: 'pro', downgradeAt: DECEMBER });

      setTime(f, DECEMBER - 60_000); // the month's last minute: nothing ends early
      await f.stripe.advanceBillingPeriods();
      await f.stripe.webhooksDelivered();
      expect((await f.services.customers.getCustomer(customer.customerId))?.tier).toBe('pro');

      setTime(f, DECEMBER + 30_000);
      await f.stripe.advanceBillingPeriods();
      await f.stripe.webhooksDelivered();
      expect(
        outcomes
          .slice(-2)
          .map((o) => o.type)
          .sort(),
      ).toEqual(['customer.subscription.deleted', 'invoice.created']);
      expect(outcomes).toContainEqual({ type: 'customer.subscription.deleted', outcome: 'tier-changed' });
      const after = (await f.services.customers.getCustomer(customer.customerId))!;
      expect(after).toMatchObject({ tier: 'free', downgradedFrom: 'pro', downgradedAt: DECEMBER + 30_000 });
      expect(after.downgradeAt).toBeUndefined();
      expect(after.subscriptionId).toBeUndefined();
      expect(after.gatewayKeyValue).not.toBe(customer.gatewayKeyValue);
      expect(f.gatewayKeys.findByValue(after.gatewayKeyValue)?.tier).toBe('free');
      expect((await f.stripe.client().subscriptions.retrieve(customer.subscriptionId!)).status).toBe('canceled');

      // The final invoice is finalized an hour later, with November's usage at Pro: the estimate shown at opt-out.
      setTime(f, DECEMBER + 2 * 3_600_000);
      await f.stripe.advanceBillingPeriods();
      await f.stripe.webhooksDelivered();
      const invoice = (await f.services.provider.periodInvoice(customer.stripeCustomerId!, Date.UTC(2026, 10, 1) / 1000))!;
      expect(invoice).toMatchObject({ status: 'paid', totalCents: estimateBill('pro', 12_000).totalCents });
      expect(invoice.totalCents).toBe(5_300);
      // Reconciliation prices November at Pro too: nothing to correct, no credit taken off the last paid month.
      const run = await f.services.reconcile({ alerts: f.alertSink, customerId: customer.customerId, months: ['2026-11'], trigger: 'on-demand' });
      expect(run.records[0]).toMatchObject({ corrections: [], residual: { calls: 0, cents: 0 }, discrepancy: false });
    });

    it('an upgrade through Checkout while the downgrade is pending replaces the subscription and the downgrade with it', async () => {
      const customer = await optedOutProCustomer();
      const { stripe } = await f.services.ready();
      const started = await startUpgrade(customer, 'enterprise', 'http://dashboard.local/dashboard', stripe, f.clock.now);
      await fetch((started as { url: string }).url, { redirect: 'manual' });
      await f.stripe.webhooksDelivered();

      const after = (await f.services.customers.getCustomer(customer.customerId))!;
      expect(after.tier).toBe('enterprise');
      expect(after.downgradeAt).toBeUndefined();
      expect(after.subscriptionId).not.toBe(customer.subscriptionId);
      // The replaced subscription was cancelled at once; its deletion event no longer speaks for the tier.
      expect(outcomes).toContainEqual({ type: 'customer.subscription.deleted', outcome: 'ignored' });

      setTime(f, DECEMBER + 30_000);
      await f.stripe.advanceBillingPeriods();
      await f.stripe.webhooksDelivered();
      const december = (await f.services.customers.getCustomer(customer.customerId))!;
      expect(december.tier).toBe('enterprise');
      expect((await f.stripe.client().subscriptions.retrieve(december.subscriptionId!)).status).toBe('active');
    });

    it('a deletion of a subscription that is no longer the current one never moves the customer to Free, even delivered late', async () => {
      const customer = await optedOutProCustomer();
      const { stripe } = await f.services.ready();
      const started = await startUpgrade(customer, 'enterprise', 'http://dashboard.local/dashboard', stripe, f.clock.now);
      await fetch((started as { url: string }).url, { redirect: 'manual' });
      await f.stripe.webhooksDelivered();
      const replaced = await f.stripe.client().subscriptions.retrieve(customer.subscriptionId!);

      // The old subscription's deletion, redelivered as a new event after the replacement was applied.
      const late = await handle(
        signed({ id: 'evt_late_delete', type: 'customer.subscription.deleted', created: Math.floor(f.clock.now / 1000) + 60, object: replaced }),
      );
      expect(JSON.parse(late.body)).toEqual({ received: true, outcome: 'ignored' });
      const after = (await f.services.customers.getCustomer(customer.customerId))!;
      expect(after.tier).toBe('enterprise');
      expect(f.gatewayKeys.findByValue(after.gatewayKeyValue)?.tier).toBe('enterprise');
    });

    it("follows a cancellation at period end set or lifted in Stripe itself (its billing portal), but never an event older than the customer's own last change", async () => {
      const customer = await f.addCustomer('pro');
      await f.stripe.webhooksDelivered();
      const record = async () => (await f.services.customers.getCustomer(customer.customerId))!;
      await f.stripe.client().subscriptions.update(customer.subscriptionId!, { cancel_at_period_end: true });
      await f.stripe.webhooksDelivered();
      expect((await record()).downgradeAt).toBe(DECEMBER);
      expect((await record()).tier).toBe('pro');
      setTime(f, f.clock.now + 60_000);
      await f.stripe.client().subscriptions.update(customer.subscriptionId!, { cancel_at_period_end: false });
      await f.stripe.webhooksDelivered();
      expect((await record()).downgradeAt).toBeUndefined();

      // The customer opts out on the dashboard; an event of the same second that still says "not cancelling"
      // (an earlier change's, delivered late) passes the in-order check but must not undo the opt-out.
      setTime(f, f.clock.now + 60_000);
      await scheduleDowngrade(await record(), new Date(DECEMBER).toISOString(), downgradeDeps());
      await f.stripe.webhooksDelivered();
      const subscription = await f.stripe.client().subscriptions.retrieve(customer.subscriptionId!);
      const late = await handle(
        signed({
          id: 'evt_late_not_cancelling',
          type: 'customer.subscription.updated',
          created: Math.floor(f.clock.now / 1000),
          object: { ...subscription, cancel_at_period_end: false, cancel_at: null },
        }),
      );
      expect(JSON.parse(late.body)).toEqual({ received: true, outcome: 'tier-unchanged' });
      expect((await record()).downgradeAt).toBe(DECEMBER);
    });

    it("an operator's tier change replaces the customer's pending opt-out: the subscription no longer ends with the month", async () => {
      const customer = await optedOutProCustomer();
      const { stripe } = await f.services.ready();
      const change = await changeTier(customer.customerId, 'enterprise', {
        registry: f.services.customers,
        gatewayKeys: f.gatewayKeys,
        retirements: f.services.retirements,
        config: billingConfig,
        now: () => f.clock.now,
        stripe,
      });
      expect(change).toMatchObject({ ok: true, to: 'enterprise' });
      expect((await f.services.customers.getCustomer(customer.customerId))?.downgradeAt).toBeUndefined();
      expect(await f.stripe.client().subscriptions.retrieve(customer.subscriptionId!)).toMatchObject({ cancel_at_period_end: false, cancel_at: null });
    });
  });
});
