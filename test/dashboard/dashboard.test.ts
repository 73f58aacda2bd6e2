import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { billingConfig } from '../../lambdas/core/config.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import type { UsageReport } from '../../lambdas/core/usage-report.ts';
import { utcHour } from '../../lambdas/core/time.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { launchChromium } from '../harness/browser.ts';
import { midMonthClock } from '../harness/clock.ts';
import { addHourCounts } from '../harness/counters.ts';

const SCREENSHOTS = resolve(__dirname, '../../test-output/screenshots');

describe('dashboard in headless Chromium against the local stack', () => {
  // One clock for the stack and the test: "this month" cannot change between acting and reading.
  // It starts mid-month and runs with the wall clock; a test moves it on past the authorizer's key cache.
  const clock = { skewMs: 0 };
  const midMonth = midMonthClock();
  const now = () => midMonth() + clock.skewMs;
  let stack: LocalStack;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    [stack, browser] = await Promise.all([
      startLocalStack({
        dir: mkdtempSync(join(tmpdir(), 'dash-')),
        dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
        tablePrefix: `d${randomUUID().slice(0, 8)}-`,
        stripe: 'local',
        syncIntervalMs: 3_600_000,
        now,
      }),
      launchChromium(),
    ]);
  });

  /** A Free customer of its own for each test (no test depends on another's state), with `calls` this month over the last three hours. */
  async function freeCustomer(calls: number): Promise<{ customerId: string; key: string }> {
    const { stripe } = await stack.billing!.services.ready();
    const created = await createCustomer({ name: 'Dash Co', tier: 'free' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe });
    const third = Math.floor(calls / 3);
    await addHourCounts(stack.doc, stack.tables.counters, created.customer.customerId, [
      { hour: utcHour(now()), billable: calls - 2 * third },
      { hour: utcHour(now() - 3_600_000), billable: third },
      { hour: utcHour(now() - 2 * 3_600_000), billable: third },
    ]);
    return { customerId: created.customer.customerId, key: created.apiKey.key };
  }
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function usageApi(key: string): Promise<UsageReport> {
    const response = await fetch(`${stack.gateway.url}/usage`, { headers: { 'x-api-key': key } });
    return (await response.json()) as UsageReport;
  }

  async function signIn(page: Page, withKey: string) {
    await page.goto(`${stack.gateway.url}/dashboard`);
    await page.getByLabel('API key', { exact: true }).fill(withKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  const text = (page: Page, field: string) => page.locator(`[data-field="${field}"]`).first().textContent();

  it('refuses a bad key with a message and keeps the usage hidden', async () => {
    const page = await browser.newPage();
    await signIn(page, 'ab_live_not-a-real-key');
    await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
    expect(await page.locator('#usage').isHidden()).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-bad-key.png'), fullPage: true });
    await page.close();
  });

  it('shows exactly the figures of the usage API, with the 80% upgrade prompt, and keeps the key out of the URL', async () => {
    const { key } = await freeCustomer(850); // 85% of the Free quota
    const page = await browser.newPage();
    const cspViolations: string[] = [];
    page.on('console', (message) => message.text().includes('Content Security Policy') && cspViolations.push(message.text()));
    const response = await page.goto(`${stack.gateway.url}/dashboard`);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    await page.getByLabel('API key', { exact: true }).fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#usage').waitFor({ state: 'visible' });

    const report = await usageApi(key);
    expect(report.calls).toBeGreaterThan(0);
    expect(await text(page, 'calls')).toBe(report.calls.toLocaleString('en-US'));
    expect(await text(page, 'quota-used')).toBe(report.calls.toLocaleString('en-US'));
    expect(await text(page, 'quota-remaining')).toBe(report.quota!.remaining.toLocaleString('en-US'));
    expect(await page.locator('#quota-bar').evaluate((el: HTMLProgressElement) => [el.value, el.max])).toEqual([report.calls, 1_000]);
    expect(await text(page, 'estimate-total')).toBe(
      new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(report.estimate.totalCents / 100),
    );
    expect(await page.locator('#estimate-lines tbody tr').count()).toBe(report.estimate.lines.length);
    expect(await text(page, 'cap-used')).toBe(String(report.cap.usedPercent));
    const bars = await page
      .locator('#daily-chart rect')
      .evaluateAll((rects) => rects.map((r) => ({ day: (r as SVGElement).dataset.day, calls: Number((r as SVGElement).dataset.calls) })));
    expect(bars).toEqual(report.daily);
    expect(await page.locator('#previous-months tbody tr').count()).toBe(report.previousMonths.length);

    expect(report.upgrade?.level).toBe('approaching-quota');
    expect(await page.getByRole('status').filter({ hasText: '85%' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Upgrade to Pro' }).isVisible()).toBe(true);

    expect(page.url()).not.toContain(key);
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    expect(cspViolations).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-free-85-percent.png'), fullPage: true });
    await page.close();
  });

  it('says the quota is used up at 100% and fits a phone screen', async () => {
    const { key } = await freeCustomer(1_000);
    const page = await browser.newPage({ viewport: { width: 375, height: 740 } });
    await signIn(page, key);
    await page.locator('#usage').waitFor({ state: 'visible' });
    await page.getByRole('status').filter({ hasText: 'used all 1000 free calls' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-free-100-percent-phone.png'), fullPage: true });
    await page.close();
  });

  it('upgrades a Free customer to Pro through Checkout; the next call is no longer held to the Free quota', async () => {
    const { customerId, key } = await freeCustomer(1_000);
    const customer = (await stack.store.getCustomer(customerId))!;
    stack.gateway.chargeQuota(customer.gatewayKeyId, utcHour(now()).slice(0, 7), 1_000);
    expect((await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': key } })).status).toBe(429);

    const page = await browser.newPage();
    await signIn(page, key);
    await page.getByRole('button', { name: 'Upgrade to Pro' }).click();
    await page.waitForURL(`${stack.gateway.url}/dashboard`); // through Stripe Checkout and back
    await stack.billing!.localStripe!.webhooksDelivered();
    await page.getByText('your upgrade is being applied').waitFor();
    await page.reload();
    await page.locator('#usage').waitFor({ state: 'visible' });
    expect(await text(page, 'tier')).toBe('Pro');
    expect(await page.locator('#quota').isHidden()).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-after-upgrade-pro.png'), fullPage: true });
    await page.close();

    const after = (await stack.store.getCustomer(customerId))!;
    expect(after.tier).toBe('pro');
    expect(stack.gatewayKeys.findByValue(after.gatewayKeyValue)?.tier).toBe('pro');
    // The upgrade gave the customer a new gateway key in the Pro plan; authorizers that cached the customer
    // keep naming its Free key (still in the Free plan) until their key cache expires, then use the new one.
    clock.skewMs += (billingConfig.keyCacheTtlSeconds + 1) * 1000;
    const subscription = await stack.billing!.localStripe!.client().subscriptions.retrieve(after.subscriptionId!);
    expect(subscription.items.data.map((i) => i.price.metadata.tier)).toEqual(['pro', 'pro']);
    expect((await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': key } })).status).toBe(200);
  });

  it('files a billing support ticket from the "report a billing problem" link and alerts the operator', async () => {
    const { customerId, key } = await freeCustomer(10);
    const page = await browser.newPage();
    await signIn(page, key);
    await page.getByRole('link', { name: 'Report a billing problem' }).click();
    await page.getByLabel('What looks wrong?').fill('My October invoice counts calls I did not make');
    await page.getByRole('button', { name: 'Send to billing support' }).click();
    await page.getByRole('status').filter({ hasText: 'within 4 hours' }).waitFor();
    const alerts = readFileSync(stack.alertsFile, 'utf8');
    expect(alerts).toContain('My October invoice counts calls I did not make');
    expect(alerts).toContain(customerId);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-ticket-filed.png'), fullPage: true });
    await page.close();
  });

  it.each([
    ['suspended', { status: 'suspended' as const }, 'suspended', 'Report a billing problem below'],
    ['capped', { capBehaviour: 'block' as const, cappedMonth: utcHour(now()).slice(0, 7) }, 'billing cap', 'ask billing support for a higher cap'],
  ])('a %s customer keeps its key, sees its usage, why calls are refused and what to do, and can file a ticket', async (_, refusal, why, whatToDo) => {
    const { stripe } = await stack.billing!.services.ready();
    const created = await createCustomer({ name: `Refused ${why}`, tier: 'pro' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe });
    await stack.store.updateCustomer(created.customer.customerId, refusal);
    const refusedKey = created.apiKey.key;
    const metered = await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': refusedKey } });
    expect(metered.status).toBe(403);

    const page = await browser.newPage();
    await signIn(page, refusedKey);
    await page.locator('#usage').waitFor({ state: 'visible' });
    const banner = page.getByRole('alert').filter({ hasText: why });
    await banner.waitFor();
    expect(await banner.textContent()).toContain(whatToDo);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(1); // the key is kept
    await page.getByRole('link', { name: 'Report a billing problem' }).click();
    await page.getByLabel('What looks wrong?').fill(`Why am I ${why}?`);
    await page.getByRole('button', { name: 'Send to billing support' }).click();
    await page.getByRole('status').filter({ hasText: 'within 4 hours' }).waitFor();
    expect(readFileSync(stack.alertsFile, 'utf8')).toContain(`Why am I ${why}?`);
    await page.screenshot({ path: join(SCREENSHOTS, `dashboard-${why.replace(' ', '-')}.png`), fullPage: true });
    await page.close();
  });

  it('can be used by keyboard alone', async () => {
    const { key } = await freeCustomer(10);
    const page = await browser.newPage();
    await page.goto(`${stack.gateway.url}/dashboard`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('api-key');
    await page.keyboard.type(key);
    await page.keyboard.press('Enter');
    await page.locator('#usage').waitFor({ state: 'visible' });
    await page.close();
  });
});
