import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { billingConfig } from '../../lambdas/core/config.ts';
import { unpaidInvoices } from '../../lambdas/core/customer-billing.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { startOfNextUtcMonth, utcHour, utcMonth } from '../../lambdas/core/time.ts';
import type { UsageReport } from '../../lambdas/core/usage-report.ts';
import type { LocalStack } from '../../local/stack.ts';
import { SCREENSHOTS, startDashboardStack } from '../harness/browser.ts';
import { midMonthClock } from '../harness/clock.ts';
import { addHourCounts } from '../harness/counters.ts';

const HOUR = 3_600_000;
const usd = (cents: number) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(cents / 100);
const day = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 10);

describe('opting out to Free from the dashboard, in headless Chromium against the local stack', () => {
  // One clock for the stack, its local Stripe and the test: it starts mid-month (any date, any hour) and the
  // test moves it past the month's end, as Stripe's own clock closes the period.
  const clock = { skewMs: 0 };
  const midMonth = midMonthClock();
  const now = () => midMonth() + clock.skewMs;
  let stack: LocalStack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await startDashboardStack('optout', now);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  const text = (page: Page, field: string) => page.locator(`[data-field="${field}"]`).first().textContent();
  const usageApi = async (key: string) => (await (await fetch(`${stack.gateway.url}/usage`, { headers: { 'x-api-key': key } })).json()) as UsageReport;
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `opt-out-${name}.png`), fullPage: true });

  it('a Pro customer opts out, sees what changes and when, undoes it, opts out again; from the 1st it is on Free and the last invoice is the estimate it was shown', async () => {
    const localStripe = stack.billing!.localStripe!;
    const { stripe } = await stack.billing!.services.ready();
    const { customer, apiKey } = await createCustomer(
      { name: 'Leaving Co', tier: 'pro' },
      { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe },
    );
    const customerId = customer.customerId;
    // 12,000 calls this month, in settled hours: $49 + 2,000 past the included 10,000 at $2 per 1,000 = $53.00.
    await addHourCounts(stack.doc, stack.tables.counters, customerId, [
      { hour: utcHour(now() - 3 * HOUR), billable: 7_000 },
      { hour: utcHour(now() - 2 * HOUR), billable: 5_000 },
    ]);
    const month = utcMonth(now());
    const monthEnd = startOfNextUtcMonth(now());
    const estimateCents = estimateBill('pro', 12_000, billingConfig).totalCents;
    expect(estimateCents).toBe(5_300);

    const page = await browser.newPage();
    await page.goto(`${stack.gateway.url}/dashboard`);
    await page.getByLabel('API key', { exact: true }).fill(apiKey.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#usage').waitFor({ state: 'visible' });
    expect(await text(page, 'tier')).toBe('Pro');

    // 1. The terms first, in words and figures: the date, this month at Pro with the estimate so far, Free's quota after, undo until then.
    await page.getByRole('button', { name: 'Switch to Free…' }).click();
    const terms = page.getByRole('group', { name: `Switch to Free on ${day(monthEnd)}?` });
    await terms.waitFor();
    const shownEstimate = await text(page, 'estimate-total');
    expect(shownEstimate).toBe(usd(estimateCents));
    const termsText = await terms.textContent();
    expect(termsText).toContain(`Free starts on ${day(monthEnd)} at 00:00 UTC`);
    expect(termsText).toContain(`This month (${month}) is billed at Pro as usual: ${usd(estimateCents)} so far`);
    expect(termsText).toContain('1,000 calls a month');
    expect(termsText).toContain(`You can undo this until ${day(monthEnd)} with "Keep Pro"`);
    await shot(page, 'terms');

    // 2. Confirmed: pending, with its date and an undo; Stripe ends the subscription with the period.
    await page.getByRole('button', { name: `Switch to Free on ${day(monthEnd)}` }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `you move to Free on ${day(monthEnd)}` })
      .waitFor();
    expect(await page.locator('#plan-pending').textContent()).toContain(`You are moving to Free on ${day(monthEnd)} at 00:00 UTC`);
    expect((await usageApi(apiKey.key)).plan).toEqual({ pendingChange: { to: 'free', at: new Date(monthEnd).toISOString() }, optOut: null });
    expect(unpaidInvoices(await stripe.provider.listInvoices(customer.stripeCustomerId!, 100))).toEqual([]);
    const subscription = () => localStripe.client().subscriptions.retrieve(customer.subscriptionId!);
    expect(await subscription()).toMatchObject({ status: 'active', cancel_at_period_end: true, cancel_at: monthEnd / 1000 });
    expect(await text(page, 'tier')).toBe('Pro');
    await shot(page, 'pending');

    // 3. Undone ("Keep Pro"), then opted out again.
    await page.getByRole('button', { name: 'Keep Pro' }).click();
    await page.getByRole('status').filter({ hasText: 'Done: you keep Pro' }).waitFor();
    expect(await page.getByRole('button', { name: 'Switch to Free…' }).isVisible()).toBe(true);
    expect(await subscription()).toMatchObject({ cancel_at_period_end: false, cancel_at: null });
    expect((await stack.store.getCustomer(customerId))?.downgradeAt).toBeUndefined();
    await shot(page, 'undone');
    await page.getByRole('button', { name: 'Switch to Free…' }).click();
    await page.getByRole('button', { name: `Switch to Free on ${day(monthEnd)}` }).click();
    await page.getByRole('button', { name: 'Keep Pro' }).waitFor();
    expect(await subscription()).toMatchObject({ cancel_at_period_end: true });
    const audit = await stack.billing!.services.state.auditLog(customerId);
    expect(audit.map((entry) => [entry.action, entry.by])).toEqual([
      ['downgrade-scheduled-pro-to-free', 'the customer'],
      ['downgrade-cancelled-stays-pro', 'the customer'],
      ['downgrade-scheduled-pro-to-free', 'the customer'],
    ]);

    // 4. The month ends on the local Stripe's clock: the final invoice, the subscription deleted, the webhook moves the customer to Free.
    clock.skewMs += monthEnd - now() + 30_000;
    await localStripe.advanceBillingPeriods();
    await localStripe.webhooksDelivered();
    const after = (await stack.store.getCustomer(customerId))!;
    expect(after).toMatchObject({ tier: 'free', downgradedFrom: 'pro' });
    expect(after.downgradeAt).toBeUndefined();
    expect(stack.gatewayKeys.findByValue(after.gatewayKeyValue)?.tier).toBe('free');
    clock.skewMs += HOUR + 60_000; // Stripe finalizes the draft an hour later, and charges it
    await localStripe.advanceBillingPeriods();
    await localStripe.webhooksDelivered();
    const invoice = (await stripe.provider.periodInvoice(customer.stripeCustomerId!, Date.parse(`${month}-01T00:00:00Z`) / 1000))!;
    expect(invoice.status).toBe('paid');
    expect(usd(invoice.totalCents)).toBe(shownEstimate); // the last paid month's invoice is the estimate shown at opt-out

    // 5. On Free with the Free quota: the dashboard, the usage API and the gateway.
    await page.reload();
    await page.locator('#usage').waitFor({ state: 'visible' });
    expect(await text(page, 'tier')).toBe('Free');
    expect(await page.locator('#quota').isVisible()).toBe(true);
    expect(await text(page, 'quota-limit')).toBe('1,000');
    expect(await page.locator('#plan').isHidden()).toBe(true);
    const report = await usageApi(apiKey.key);
    expect(report).toMatchObject({ tier: 'free', quota: { limit: 1_000 }, plan: { pendingChange: null, optOut: null } });
    expect(report.previousMonths[0]).toMatchObject({ month, calls: 12_000, estimateCents, invoicedCents: estimateCents });
    await shot(page, 'free');
    await page.close();
    clock.skewMs += (billingConfig.keyCacheTtlSeconds + 1) * 1000; // past the authorizer's key cache: the Free key is used
    stack.gateway.chargeQuota(after.gatewayKeyId, utcMonth(now()), 1_000);
    expect((await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': apiKey.key } })).status).toBe(429);
  }, 120_000);

  it('answers bad or refused opt-out requests with a JSON error and changes nothing', async () => {
    const { stripe } = await stack.billing!.services.ready();
    const { customer: created, apiKey } = await createCustomer(
      { name: 'Careful Co', tier: 'pro' },
      { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe },
    );
    await stack.billing!.localStripe!.webhooksDelivered();
    const customer = (await stack.store.getCustomer(created.customerId))!;
    const call = async (method: string, body?: string) => {
      const response = await fetch(`${stack.gateway.url}/billing/downgrade`, {
        method,
        body,
        headers: { 'x-api-key': apiKey.key, 'content-type': 'application/json' },
      });
      return { status: response.status, body: (await response.json()) as { error: string } };
    };
    expect(await call('POST', 'not json')).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await call('POST', JSON.stringify({ takesEffectAt: 'x'.repeat(2_000) }))).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
    expect(await call('POST', JSON.stringify({ takesEffectAt: 'soon' }))).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await call('POST', JSON.stringify({ takesEffectAt: new Date(startOfNextUtcMonth(now())).toISOString(), extra: 1 }))).toMatchObject({ status: 400 });
    // Terms of a month already gone: the month turned between showing and confirming.
    const lastMonth = new Date(Date.parse(`${utcMonth(now())}-01T00:00:00Z`)).toISOString();
    expect(await call('POST', JSON.stringify({ takesEffectAt: lastMonth }))).toMatchObject({ status: 409, body: { error: 'terms_changed' } });
    expect(await call('DELETE')).toMatchObject({ status: 409, body: { error: 'not_scheduled' } });
    expect(await stack.store.getCustomer(customer.customerId)).toEqual(customer);
    expect(await stack.billing!.localStripe!.client().subscriptions.retrieve(customer.subscriptionId!)).toMatchObject({ cancel_at_period_end: false });
    expect(await stack.billing!.services.state.auditLog(customer.customerId)).toEqual([]);
    const unknown = await fetch(`${stack.gateway.url}/billing/downgrade`, { method: 'DELETE', headers: { 'x-api-key': 'nope' } });
    expect(unknown.status).toBe(401);
    // A suspended account's billing is in billing support's hands.
    await stack.store.updateCustomer(customer.customerId, { status: 'suspended' });
    const takesEffectAt = new Date(startOfNextUtcMonth(now())).toISOString();
    expect(await call('POST', JSON.stringify({ takesEffectAt }))).toMatchObject({ status: 403, body: { error: 'account_suspended' } });
    expect((await stack.store.getCustomer(customer.customerId))?.downgradeAt).toBeUndefined();
  });
});
