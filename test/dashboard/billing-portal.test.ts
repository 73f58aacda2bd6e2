import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type Stripe from 'stripe';
import { billingConfig } from '../../lambdas/core/config.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { startOfNextUtcMonth, utcMonth } from '../../lambdas/core/time.ts';
import type { UsageReport } from '../../lambdas/core/usage-report.ts';
import type { LocalStack } from '../../local/stack.ts';
import { SCREENSHOTS, startDashboardStack } from '../harness/browser.ts';
import { midMonthClock } from '../harness/clock.ts';

const DAY = 86_400_000;

/** "Manage billing" (Stripe's customer portal, the local one), invoices on the dashboard and the past-due banner, in headless Chromium. */
describe('dashboard billing self-service in headless Chromium against the local stack', () => {
  // One clock for the stack, its local Stripe and the test: it starts mid-month (whatever the date the
  // test runs on) and a test moves it past the month's end to have Stripe renew the subscription.
  const clock = { skewMs: 0 };
  const midMonth = midMonthClock();
  const now = () => midMonth() + clock.skewMs;
  let stack: LocalStack;
  let browser: Browser;
  let stripe: Stripe;

  beforeAll(async () => {
    [stack, browser] = await startDashboardStack('portal', now);
    stripe = stack.billing!.localStripe!.client();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function proCustomer(name: string) {
    const { stripe: setup } = await stack.billing!.services.ready();
    const created = await createCustomer({ name, tier: 'pro' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe: setup });
    return { ...created.customer, key: created.apiKey.key };
  }

  async function signIn(page: Page, key: string) {
    await page.goto(`${stack.gateway.url}/dashboard`);
    await page.getByLabel('API key', { exact: true }).fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#usage').waitFor();
  }

  async function usageApi(key: string): Promise<UsageReport> {
    return (await (await fetch(`${stack.gateway.url}/usage`, { headers: { 'x-api-key': key } })).json()) as UsageReport;
  }

  /** The month ends (on the local Stripe's clock): Stripe drafts the invoice, an hour later finalizes and charges it; the webhooks are delivered. */
  async function renewSubscriptions() {
    const localStripe = stack.billing!.localStripe!;
    clock.skewMs += startOfNextUtcMonth(now()) + 70 * 60_000 - now();
    await localStripe.advanceBillingPeriods(); // the draft, dated the period's end
    await localStripe.advanceBillingPeriods(); // finalized and charged: it is over an hour old
    await localStripe.webhooksDelivered();
  }

  it('"Manage billing" opens the portal, which updates the card and cancels the plan at the end of the period', async () => {
    const customer = await proCustomer('Portal Co');
    const page = await browser.newPage();
    await signIn(page, customer.key);

    await page.getByRole('button', { name: 'Manage billing' }).click();
    await page.waitForURL(/\/_local\/portal\/bps_/);
    await page.getByRole('heading', { name: 'Billing portal' }).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'portal-open.png'), fullPage: true });

    await page.getByLabel('New card').selectOption({ label: 'Visa ending 4242 (payments succeed)' });
    await page.getByRole('button', { name: 'Update payment method' }).click();
    await page.getByRole('status').filter({ hasText: 'Payment method updated.' }).waitFor();
    expect(await page.locator('.card').textContent()).toBe('visa ending 4242');
    const { invoice_settings } = (await stripe.customers.retrieve(customer.stripeCustomerId!)) as Stripe.Customer;
    expect((await stripe.paymentMethods.retrieve(invoice_settings.default_payment_method as string)).card?.last4).toBe('4242');
    await page.screenshot({ path: join(SCREENSHOTS, 'portal-card-updated.png'), fullPage: true });

    await page.getByRole('button', { name: 'Cancel plan' }).click();
    const periodEnd = new Date(startOfNextUtcMonth(now())).toISOString().slice(0, 10);
    await page.getByText(`Your plan will be canceled on ${periodEnd}.`).first().waitFor();
    const subscription = await stripe.subscriptions.retrieve(customer.subscriptionId!);
    expect(subscription).toMatchObject({ status: 'active', cancel_at_period_end: true, cancel_at: startOfNextUtcMonth(now()) / 1000 });
    await page.screenshot({ path: join(SCREENSHOTS, 'portal-cancelled.png'), fullPage: true });

    // Back to the dashboard, still signed in (the key is in this tab's session storage): the webhook of
    // Stripe's cancellation at period end made it the customer's pending move to Free.
    await stack.billing!.localStripe!.webhooksDelivered();
    await page.getByRole('link', { name: /^Return to / }).click();
    await page.waitForURL(`${stack.gateway.url}/dashboard`);
    await page.locator('#usage').waitFor();
    await page.locator('#plan-pending').waitFor();
    expect(await page.locator('[data-field="plan-pending-message"]').textContent()).toContain(`You are moving to Free on ${periodEnd}`);
    await page.screenshot({ path: join(SCREENSHOTS, 'portal-returned.png'), fullPage: true });
    await page.close();
  });

  it('a failed payment shows the banner with the amount and the grace date; previous months list the invoice with its status and hosted page; paying clears it', async () => {
    const customer = await proCustomer('Late Payer Co');
    // The card on file fails every charge (Stripe's pm_card_chargeCustomerFail).
    const failing = await stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.stripeCustomerId! });
    await stripe.customers.update(customer.stripeCustomerId!, { invoice_settings: { default_payment_method: failing.id } });
    const billedMonth = utcMonth(now());
    await renewSubscriptions();

    const behind = (await stack.store.getCustomer(customer.customerId))!;
    expect(behind.paymentIssueSince).toBeDefined();
    expect(behind.tier).toBe('pro'); // the grace keeps the paid tier
    const graceEnds = new Date(behind.paymentIssueSince! + billingConfig.pastDueGraceDays * DAY).toISOString();
    const report = await usageApi(customer.key);
    expect(report.paymentIssue).toMatchObject({ amountDueCents: 4_900, state: 'grace', graceEndsAt: graceEnds });
    const invoice = report.previousMonths.find((m) => m.month === billedMonth)!.invoice!;
    expect(invoice).toMatchObject({ status: 'past_due', totalCents: 4_900, amountDueCents: 4_900, number: expect.any(String) });
    expect(report.invoices).toEqual([invoice]);

    const page = await browser.newPage();
    await signIn(page, customer.key);
    const banner = page.locator('#payment-issue');
    await banner.waitFor();
    expect(await banner.getAttribute('data-state')).toBe('grace');
    expect(await banner.locator('[data-field="payment-issue-amount"]').textContent()).toBe('$49.00');
    expect(await banner.locator('[data-field="payment-issue-date"]').textContent()).toBe(`${graceEnds.slice(0, 10)} ${graceEnds.slice(11, 16)} UTC`);
    expect(await banner.locator('[data-field="payment-issue-message"]').textContent()).toContain(
      `before ${graceEnds.slice(0, 10)}: your Pro plan stays active`,
    );
    await page.screenshot({ path: join(SCREENSHOTS, 'past-due.png'), fullPage: true });

    const row = page.locator('#previous-months tbody tr').filter({ hasText: billedMonth });
    expect(await row.locator('[data-field="invoice"]').textContent()).toBe(`${invoice.number} · Past due · $49.00 · $49.00 due`);
    const link = row.getByRole('link', { name: 'View invoice' });
    expect(await link.getAttribute('href')).toBe(invoice.hostedInvoiceUrl);
    expect(await (await fetch(invoice.hostedInvoiceUrl!)).text()).toContain('Status: open');

    // The banner's button opens the portal: a new card, then pay the open invoice, then back.
    await banner.getByRole('button', { name: 'Update payment method' }).click();
    await page.waitForURL(/\/_local\/portal\/bps_/);
    await page.getByLabel('New card').selectOption({ label: 'Visa ending 4242 (payments succeed)' });
    await page.getByRole('button', { name: 'Update payment method' }).click();
    await page.getByRole('status').filter({ hasText: 'Payment method updated.' }).waitFor();
    await page.getByRole('button', { name: 'Pay $49.00' }).click();
    await page.getByRole('status').filter({ hasText: 'Invoice paid.' }).waitFor();
    await stack.billing!.localStripe!.webhooksDelivered();
    expect((await stack.store.getCustomer(customer.customerId))!.paymentIssueSince).toBeUndefined();

    await page.getByRole('link', { name: /^Return to / }).click();
    await page.locator('#usage').waitFor();
    await page.locator('#previous-months [data-field="invoice"][data-status="paid"]').waitFor();
    expect(await page.locator('#payment-issue').isHidden()).toBe(true);
    expect(await row.locator('[data-field="invoice"]').textContent()).toBe(`${invoice.number} · Paid · $49.00`);
    await page.screenshot({ path: join(SCREENSHOTS, 'invoices.png'), fullPage: true });
    // On a phone the invoices stay readable without widening the page.
    await page.setViewportSize({ width: 375, height: 812 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(SCREENSHOTS, 'invoices-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 720 });
    await row.getByRole('link', { name: 'View invoice' }).click();
    await page.getByText('Status: paid').waitFor();
    await page.close();
  });
});
