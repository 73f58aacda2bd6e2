import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { billingConfig } from '../../lambdas/core/config.ts';
import type { Alert } from '../../lambdas/core/alerts.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { monthBounds, syncCustomerMonth } from '../../lambdas/core/sync.ts';
import type { UsageReport } from '../../lambdas/core/usage-report.ts';
import { utcHour, utcMonth } from '../../lambdas/core/time.ts';
import type { LocalStack } from '../../local/stack.ts';
import { SCREENSHOTS, startDashboardStack } from '../harness/browser.ts';
import { midMonthClock } from '../harness/clock.ts';
import { addHourCounts } from '../harness/counters.ts';
import { DynamoFeedbackStore } from '../../lambdas/adapters/feedback-store.ts';

const HOUR = 3_600_000;

describe('dashboard in headless Chromium against the local stack', () => {
  // One clock for the stack and the test: "this month" cannot change between acting and reading.
  // It starts mid-month and runs with the wall clock; a test moves it on past the authorizer's key cache.
  const clock = { skewMs: 0 };
  const midMonth = midMonthClock();
  const now = () => midMonth() + clock.skewMs;
  let stack: LocalStack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await startDashboardStack('d', now);
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
      .locator('#daily-chart rect.bar')
      .evaluateAll((rects) => rects.map((r) => ({ day: (r as SVGElement).dataset.day, calls: Number((r as SVGElement).dataset.calls) })));
    expect(bars).toEqual(report.daily);
    expect(await page.locator('#previous-months tbody tr').count()).toBe(report.previousMonths.length);
    expect(report.reconciliation).toBeNull();
    expect(await page.getByRole('group', { name: 'Reconciliation of this month' }).textContent()).toBe('Not reconciled yet: reconciliation runs daily.');

    expect(report.upgrade?.level).toBe('approaching-quota');
    expect(await page.getByRole('status').filter({ hasText: '85%' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Upgrade to Pro' }).isVisible()).toBe(true);

    expect(page.url()).not.toContain(key);
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    expect(cspViolations).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-free-85-percent.png'), fullPage: true });
    await page.close();
  });

  it("labels the calls-per-day chart's axes and gives each day's figure as a tooltip and in a table a screen reader reads", async () => {
    const { stripe } = await stack.billing!.services.ready();
    const created = await createCustomer({ name: 'Chart Co', tier: 'pro' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe });
    await addHourCounts(stack.doc, stack.tables.counters, created.customer.customerId, [
      { hour: utcHour(now() - 48 * HOUR), billable: 1_234 },
      { hour: utcHour(now() - 24 * HOUR), billable: 1 },
      { hour: utcHour(now()), billable: 56 },
    ]);
    const report = await usageApi(created.apiKey.key);
    const days = report.daily.filter((d) => d.calls > 0);
    expect(days.map((d) => d.calls)).toEqual([1_234, 1, 56]);
    const callsText = (n: number) => `${n.toLocaleString('en-US')} call${n === 1 ? '' : 's'}`;

    const page = await browser.newPage();
    await signIn(page, created.apiKey.key);
    await page.locator('#usage').waitFor({ state: 'visible' });

    const chart = page.getByRole('img', { name: /^Calls per day from/ });
    expect(await chart.getAttribute('aria-label')).toBe(
      `Calls per day from ${report.daily[0]!.day} to ${report.daily.at(-1)!.day}: 1,291 calls in total, the most on ${days[0]!.day} (1,234 calls). Each day's figure is in the table that follows.`,
    );
    expect(await chart.locator('text.axis-title').allTextContents()).toEqual(['Calls', 'Day of the month (UTC)']);
    // The y axis's ticks reach the busiest day; the x axis is labelled with days of the month.
    expect(await chart.locator('text:not(.axis-title)').allTextContents()).toEqual(expect.arrayContaining(['0', '1,000', '2,000', '1', '15']));
    // One tooltip per day, on a full-height target, so a day without calls has one too.
    expect(await chart.locator('g.day > title').allTextContents()).toEqual(report.daily.map((d) => `${d.day}: ${callsText(d.calls)}`));
    expect(await chart.locator('g.day > rect.hit').count()).toBe(report.daily.length);

    const table = page.getByRole('table', { name: 'Calls per day (UTC)' });
    expect(await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent)))).toEqual(
      report.daily.map((d) => [d.day, d.calls.toLocaleString('en-US')]),
    );
    // Visually hidden, not hidden from the accessibility tree (getByRole skips what is): a screen reader reads each row.
    const spoken = await table.ariaSnapshot();
    for (const d of days) expect(spoken).toContain(`- row "${d.day} ${d.calls.toLocaleString('en-US')}"`);

    // Drawn in its own pixels at any width: resized to a phone, it is drawn again at the new width.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(
      () =>
        document.querySelector('#daily-chart')?.getAttribute('viewBox') ===
        `0 0 ${Math.round(document.querySelector('#daily-chart')!.getBoundingClientRect().width)} 200`,
    );
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await chart.screenshot({ path: join(SCREENSHOTS, 'dashboard-calls-per-day-phone.png') });
    await page.close();
  });

  it('links to the pricing page', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.gateway.url}/dashboard`);
    await page.getByRole('link', { name: 'Pricing: tiers, included calls and prices' }).click();
    await page.waitForURL(`${stack.gateway.url}/pricing`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Pricing');
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

  it('shows the proof of the month: metered and billed calls from the last reconciliation, when it ran, and its correction in words', async () => {
    const { stripe, sync } = await stack.billing!.services.ready();
    const created = await createCustomer({ name: 'Proof Co', tier: 'pro' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe });
    const { customer, apiKey } = created;
    const month = utcMonth(now());
    // Real calls through the gateway, counted by the aggregator, then pushed by the sync once their hour is settled.
    const callThenSync = async (calls: number) => {
      for (let i = 0; i < calls; i++) expect((await fetch(`${stack.gateway.url}/api/proof`, { headers: { 'x-api-key': apiKey.key } })).status).toBe(200);
      await stack.settle();
      clock.skewMs += 2 * HOUR; // past the settle window
      return syncCustomerMonth(customer, month, sync);
    };
    expect(await callThenSync(9)).toMatchObject({ kind: 'pushed', value: 9 });
    const second = await callThenSync(3);
    expect(second).toMatchObject({ kind: 'pushed', value: 3 });
    // Stripe loses the second meter event.
    stack.billing!.localStripe!.loseMeterEvent((second as { identifier: string }).identifier);
    clock.skewMs += 20 * 60_000; // past the summaries' consistency lag: the 3 calls are lost, not in flight

    const alerts: Alert[] = [];
    const run = await stack.billing!.services.reconcile({
      alerts: { publish: async (alert) => void alerts.push(alert) },
      customerId: customer.customerId,
      trigger: 'on-demand',
    });
    const [record] = run.records;
    expect(record?.corrections).toEqual([expect.objectContaining({ kind: 'push-shortfall', calls: 3, status: 'applied' })]);
    expect(record?.residual).toEqual({ calls: 0, cents: 0 });
    expect(alerts.map((a) => a.customerId)).toEqual([customer.customerId]); // the operators hear of it too

    const report = await usageApi(apiKey.key);
    const reconciledAt = new Date(record!.ranAt).toISOString();
    const billedBefore = new Date(record!.cutoff).toISOString();
    const utc = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
    expect(report.calls).toBe(12);
    expect(report.reconciliation).toEqual({
      month,
      meteredCalls: 12,
      billedCalls: 12,
      reconciledAt,
      corrections: ['3 calls that had not reached Stripe were reported again'],
      matches: true,
      billedBefore,
    });

    const page = await browser.newPage();
    await signIn(page, apiKey.key);
    await page.locator('#usage').waitFor({ state: 'visible' });
    const proof = page.getByRole('group', { name: 'Reconciliation of this month' });
    expect(await proof.locator('[data-field="reconciliation-figures"]').textContent()).toBe('Metered 12 calls · billed 12 calls');
    expect(await proof.locator('[data-field="reconciliation-checked"]').textContent()).toBe(
      `Checked ${utc(reconciledAt)}, billed for calls before ${utc(billedBefore)}`,
    );
    expect(await proof.locator('time').evaluateAll((times) => times.map((t) => t.getAttribute('datetime')))).toEqual([reconciledAt, billedBefore]);
    expect(await proof.getByRole('listitem').allTextContents()).toEqual(['Corrected: 3 calls that had not reached Stripe were reported again.']);
    // The customer is new this month: no previous month has calls or a reconciliation to show.
    expect(await page.getByRole('columnheader', { name: 'Reconciliation' }).isVisible()).toBe(true);
    const reconciliationColumn = page.locator('#previous-months tbody td:nth-child(4)');
    expect(await reconciliationColumn.allTextContents()).toEqual(['–', '–', '–']);

    // A previous month's row, from a record stored under last month (this run's, moved there: the customer
    // did not exist then, so no run could have made one).
    const previous = report.previousMonths[0]!.month;
    const ranAt = monthBounds(month).start + 3 * HOUR;
    await stack.billing!.services.reconciliationRecords.put({ ...record!, month: previous, ranAt, cutoff: monthBounds(previous).end });
    await page.reload();
    await page.locator('#usage').waitFor({ state: 'visible' });
    // A month that is over is counted whole: no "calls before".
    expect(await reconciliationColumn.first().textContent()).toBe(
      `Metered 12 calls · billed 12 callsChecked ${utc(new Date(ranAt).toISOString())}Corrected: 3 calls that had not reached Stripe were reported again.`,
    );
    expect(await reconciliationColumn.nth(1).textContent()).toBe('–');
    await page.screenshot({ path: join(SCREENSHOTS, 'reconciliation.png'), fullPage: true });
    await page.close();
  });

  describe('the NPS survey', () => {
    const DAY = 24 * HOUR;
    /** A customer of eight days: old enough to be asked (`survey.minCustomerAgeDays`). */
    async function weekOldCustomer() {
      const created = await freeCustomer(10);
      await stack.store.updateCustomer(created.customerId, { createdAt: new Date(now() - 8 * DAY).toISOString() });
      return created;
    }
    const surveyOf = (page: Page) => page.getByRole('region', { name: 'A quick question' });
    const scaleOf = (page: Page) => page.getByRole('group', { name: 'How likely are you to recommend this API to a colleague?' });

    it('asks a customer of a week, sends the answer to POST /feedback, and is gone on reload', async () => {
      const { customerId, key } = await weekOldCustomer();
      expect((await usageApi(key)) as unknown).toMatchObject({ survey: { ask: true } });
      const page = await browser.newPage();
      await signIn(page, key);
      await surveyOf(page).waitFor();
      expect(await scaleOf(page).getByRole('radio').allTextContents()).toHaveLength(11);
      // Send without a score: the survey says what is missing and sends nothing.
      await surveyOf(page).getByRole('button', { name: 'Send' }).click();
      await page.getByRole('alert').filter({ hasText: 'Choose a score' }).waitFor();
      await scaleOf(page).getByRole('radio', { name: '9', exact: true }).check();
      await page.getByLabel('What is the main reason for your score? (optional)').fill('Clear bills, fast support');
      await page.screenshot({ path: join(SCREENSHOTS, 'survey.png'), fullPage: true });
      await surveyOf(page).getByRole('button', { name: 'Send' }).click();
      await page.getByRole('status').filter({ hasText: 'Thank you for your answer' }).waitFor();
      expect(await surveyOf(page).isHidden()).toBe(true);
      expect(await new DynamoFeedbackStore(stack.doc, stack.tables.billing).last(customerId)).toMatchObject({
        kind: 'answer',
        score: 9,
        comment: 'Clear bills, fast support',
      });

      await page.reload();
      await page.locator('#usage').waitFor({ state: 'visible' });
      expect(await page.locator('#survey').isHidden()).toBe(true);
      expect((await usageApi(key)) as unknown).toMatchObject({ survey: { ask: false } });
      await page.close();
    });

    it('is answered by keyboard and dismissed with "Not now", which also hides it on reload', async () => {
      const { customerId, key } = await weekOldCustomer();
      const page = await browser.newPage();
      await signIn(page, key);
      await surveyOf(page).waitFor();
      // One tab stop for the group; arrows move the choice, as in any radio group.
      await scaleOf(page).getByRole('radio', { name: '0', exact: true }).focus();
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowRight');
      expect(await scaleOf(page).getByRole('radio', { name: '2', exact: true }).isChecked()).toBe(true);
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('survey-comment');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('survey-dismiss');
      await page.keyboard.press('Enter');
      await page.getByRole('status').filter({ hasText: 'We will not ask again' }).waitFor();
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('survey-done');
      expect(await new DynamoFeedbackStore(stack.doc, stack.tables.billing).last(customerId)).toMatchObject({ kind: 'dismissal' });

      await page.reload();
      await page.locator('#usage').waitFor({ state: 'visible' });
      expect(await page.locator('#survey').isHidden()).toBe(true);
      await page.close();
    });

    it('is not shown to a customer of less than a week', async () => {
      const { key } = await freeCustomer(10);
      const page = await browser.newPage();
      await signIn(page, key);
      await page.locator('#usage').waitFor({ state: 'visible' });
      expect(await page.locator('#survey').isHidden()).toBe(true);
      await page.close();
    });
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
