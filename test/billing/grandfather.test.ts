import { usageReport } from '../../lambdas/core/usage-report.ts';
import { syncCustomerMonth } from '../../lambdas/core/sync.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import { dynamoUsageHistory } from '../../lambdas/adapters/usage-history.ts';
import { createWebhookHandler } from '../../lambdas/stripe-webhook/webhook.ts';
import Stripe from 'stripe';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';
import { addHourCounts } from '../harness/counters.ts';

describe('grandfathering lever (local Stripe, DynamoDB Local)', () => {
  let f: BillingFixture;
  beforeEach(async () => {
    f = await billingFixture(Date.UTC(2026, 10, 25, 12));
  });
  afterEach(async () => f.stop());

  it("counts the free days' calls without charging them, credits their share of the fee, and the invoice equals the estimate", async () => {
    const created = await f.addCustomer('pro');
    // Free for 30 days from Nov 10: 21 of November's 30 days.
    await f.services.customers.updateCustomer(created.customerId, { grandfatheredFrom: Date.UTC(2026, 10, 10), grandfatheredUntil: Date.UTC(2026, 11, 10) });
    const customer = (await f.services.customers.getCustomer(created.customerId))!;
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [
      { hour: '2026-11-05T10', billable: 12_000 }, // charged
      { hour: '2026-11-15T10', billable: 5_000 }, // free
    ]);
    const { sync } = await f.services.ready();
    expect(await syncCustomerMonth(customer, '2026-11', sync)).toMatchObject({ kind: 'pushed', value: 12_000 });

    const report = await usageReport(customer, dynamoUsageHistory(f.doc, f.tables), billingConfig, f.clock.now);
    expect(report.calls).toBe(17_000);
    const feeCredit = Math.round((4_900 * 21) / 30);
    expect(report.estimate.totalCents).toBe(4_900 + 400 - feeCredit);

    // Stripe drafts November's invoice; the webhook credits the free days' fee; the invoice equals the estimate.
    setTime(f, Date.UTC(2026, 11, 1, 0, 5));
    await f.stripe.advanceBillingPeriods();
    const [draft] = (await f.stripe.client().invoices.list({ customer: customer.stripeCustomerId! })).data;
    const handle = createWebhookHandler({
      stripe: f.stripe.client(),
      webhookSecret: 'whsec_t',
      services: f.services,
      gatewayKeys: f.gatewayKeys,
      alerts: f.alertSink,
      claims: { client: f.client, tableName: f.tables.idempotency },
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    const payload = JSON.stringify({ id: 'evt_g', object: 'event', type: 'invoice.created', created: 1, data: { object: draft } });
    await handle({
      body: payload,
      headers: { 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_t' }) },
      isBase64Encoded: false,
    });
    setTime(f, Date.UTC(2026, 11, 1, 1, 10));
    await f.stripe.advanceBillingPeriods();
    expect((await f.stripe.client().invoices.retrieve(draft!.id)).total).toBe(report.estimate.totalCents);
  });
});
