import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { billingConfig } from '../../lambdas/core/config.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { launchChromium } from '../harness/browser.ts';

const SCREENSHOTS = resolve(__dirname, '../../test-output/screenshots');
const money = (cents: number) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(cents / 100);
const { free, pro, enterprise } = billingConfig.tiers;
if (free.pricing !== 'free' || pro.pricing !== 'included-plus-overage' || enterprise.pricing !== 'volume') throw new Error('the shipped tiers changed kind');

/** Each figure the page must show, from the shipped config (and the pricing function for the example). */
const FIGURES: Array<[string, string]> = [
  ['free-fee', '$0.00'],
  ['free-quota', `${free.monthlyQuota.toLocaleString('en-US')} calls`],
  ['pro-fee', money(pro.monthlyFeeCents)],
  ['pro-included', `${pro.includedCalls.toLocaleString('en-US')} calls`],
  ['pro-overage', `${money(pro.overageUnitMillicents)} per 1,000 calls`],
  ['enterprise-fee', money(enterprise.monthlyFeeCents)],
  ['rate-limit', `${billingConfig.rateLimit.requestsPerMinute.toLocaleString('en-US')} requests per minute`],
  ['billing-cap', money(billingConfig.billingCapCents)],
];

describe('pricing page in headless Chromium against the local stack', () => {
  let stack: LocalStack;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    [stack, browser] = await Promise.all([
      startLocalStack({
        dir: mkdtempSync(join(tmpdir(), 'pricing-')),
        dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
        tablePrefix: `p${randomUUID().slice(0, 8)}-`,
      }),
      launchChromium(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  /** The page at a viewport, with any Content-Security-Policy report or failed request collected. */
  async function open(width: number, height: number): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width, height } });
    const problems: string[] = [];
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    page.on('requestfailed', (request) => problems.push(`${request.url()} failed`));
    page.on('request', (request) => request.url() !== `${stack.gateway.url}/pricing` && problems.push(`requested ${request.url()}`));
    const response = await page.goto(`${stack.gateway.url}/pricing`);
    expect(response?.status()).toBe(200);
    page.removeAllListeners('request'); // only the page's own load must be one request
    return { page, problems };
  }

  async function expectFiguresVisible(page: Page, width: number) {
    for (const [name, text] of FIGURES) {
      const figure = page.locator(`[data-figure="${name}"]`);
      expect(await figure.textContent()).toBe(text);
      await figure.scrollIntoViewIfNeeded();
      expect(await figure.isVisible()).toBe(true);
      const box = (await figure.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(width);
    }
    const bands = page.getByRole('table', { name: 'Enterprise volume bands' });
    expect(await bands.locator('tbody tr').allInnerTexts()).toEqual([
      'Up to 100,000 calls\t$1.50',
      '100,001 to 1,000,000 calls\t$1.00',
      '1,000,001 calls or more\t$0.50',
    ]);
    expect(await page.getByText("the month's total number of calls picks one band").isVisible()).toBe(true);
    const example = `12,000 calls on Pro = ${money(estimateBill('pro', 12_000).totalCents)}`;
    expect(example).toBe('12,000 calls on Pro = $53.00');
    expect(await page.getByText(example).isVisible()).toBe(true);
    expect(await page.getByText('Calls past the cap are never charged.').isVisible()).toBe(true);
  }

  it('shows every figure at desktop width, the three tiers side by side, from one request and no script', async () => {
    const { page, problems } = await open(1280, 800);

    await expectFiguresVisible(page, 1280);
    const tops = await page.locator('.tier').evaluateAll((tiers) => tiers.map((t) => Math.round(t.getBoundingClientRect().top)));
    expect(new Set(tops).size).toBe(1);
    expect(await page.locator('script').count()).toBe(0);
    expect(problems).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'pricing-desktop.png'), fullPage: true });
    await page.close();
  });

  it('fits a phone: every figure visible, the tiers stacked, no horizontal scroll; its link opens the dashboard', async () => {
    const { page, problems } = await open(390, 844);

    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await expectFiguresVisible(page, 390);
    const tops = await page.locator('.tier').evaluateAll((tiers) => tiers.map((t) => t.getBoundingClientRect().top));
    expect(tops).toEqual([...tops].sort((a, b) => a - b));
    expect(new Set(tops).size).toBe(3);
    expect(problems).toEqual([]);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SCREENSHOTS, 'pricing-phone.png'), fullPage: true });

    await page.getByRole('link', { name: 'Sign in to your dashboard' }).click();
    await page.waitForURL(`${stack.gateway.url}/dashboard`);
    expect(await page.getByLabel('API key', { exact: true }).isVisible()).toBe(true);
    await page.close();
  });
});
