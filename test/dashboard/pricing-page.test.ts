import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { billingConfig, type BillingConfig } from '../../lambdas/core/config.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { createDashboard } from '../../lambdas/dashboard/dashboard.ts';
import { PRICING_CONTENT_SECURITY_POLICY, pricingExamples, renderPricingPage, volumeBandRows } from '../../lambdas/dashboard/pricing-page.ts';

/** The text of an HTML page, tags stripped and whitespace folded: what a reader sees. */
const textOf = (html: string) =>
  html
    .replace(/<style>[\s\S]*?<\/style>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ');

/** The element with `data-figure="<name>"`'s text. */
const figure = (html: string, name: string) => new RegExp(`data-figure="${name}">([^<]*)<`).exec(html)?.[1];

/** Every figure different from the shipped config, so a figure written into the page would show. */
const OTHER: BillingConfig = {
  ...billingConfig,
  tiers: {
    free: { pricing: 'free', monthlyQuota: 2_500 },
    pro: { pricing: 'included-plus-overage', monthlyFeeCents: 7_900, includedCalls: 25_000, overageUnitMillicents: 300 },
    enterprise: {
      pricing: 'volume',
      monthlyFeeCents: 99_000,
      bands: [
        { upTo: 50_000, unitMillicents: 250 },
        { upTo: 2_000_000, unitMillicents: 80 },
        { upTo: null, unitMillicents: 30 },
      ],
    },
  },
  rateLimit: { requestsPerMinute: 600, burst: 40 },
  billingCapCents: 250_000,
  capAlertPercents: [50, 90],
};

describe('pricing page, rendered from the billing config', () => {
  it('shows the shipped figures: fees, quota, included calls, overage, bands, rate limit and cap', () => {
    const html = renderPricingPage(billingConfig, '/prod/');

    expect(figure(html, 'free-fee')).toBe('$0.00');
    expect(figure(html, 'free-quota')).toBe('1,000 calls');
    expect(figure(html, 'pro-fee')).toBe('$49.00');
    expect(figure(html, 'pro-included')).toBe('10,000 calls');
    expect(figure(html, 'pro-overage')).toBe('$2.00 per 1,000 calls');
    expect(figure(html, 'enterprise-fee')).toBe('$499.00');
    expect(figure(html, 'rate-limit')).toBe('1,000 requests per minute');
    expect(figure(html, 'rate-burst')).toBe('100');
    expect(figure(html, 'billing-cap')).toBe('$1,000.00');
    const text = textOf(html);
    expect(text).toContain('Up to 100,000 calls $1.50');
    expect(text).toContain('100,001 to 1,000,000 calls $1.00');
    expect(text).toContain('1,000,001 calls or more $0.50');
    expect(text).toContain("the month's total number of calls picks one band, and that band's price applies to every call of the month");
    expect(text).toContain('12,000 calls on Pro = $53.00');
    expect(text).toContain('Call 1,001 of a month is refused (HTTP 429');
    expect(text).toContain('alerted at 80% and 100%');
  });

  it('says what happens at the cap: calls past it are never charged; refused by default, or served free', () => {
    const text = textOf(renderPricingPage(billingConfig, '/prod/'));

    expect(text).toContain('No account is billed more than $1,000.00 in a calendar month unless a higher cap is approved');
    expect(text).toContain('Calls past the cap are never charged.');
    expect(text).toContain('by default its metered calls are refused (HTTP 403, billing cap reached) until the month ends or the cap is raised');
    expect(text).toContain('has its calls served, free of charge, for the rest of the month');
  });

  it('changes with the config: every figure comes from it, none from the page', () => {
    const html = renderPricingPage(OTHER, '/prod/');
    const text = textOf(html);

    expect(figure(html, 'free-quota')).toBe('2,500 calls');
    expect(figure(html, 'pro-fee')).toBe('$79.00');
    expect(figure(html, 'pro-included')).toBe('25,000 calls');
    expect(figure(html, 'pro-overage')).toBe('$3.00 per 1,000 calls');
    expect(figure(html, 'enterprise-fee')).toBe('$990.00');
    expect(figure(html, 'rate-limit')).toBe('600 requests per minute');
    expect(figure(html, 'rate-burst')).toBe('40');
    expect(figure(html, 'billing-cap')).toBe('$2,500.00');
    expect(text).toContain('Up to 50,000 calls $2.50');
    expect(text).toContain('50,001 to 2,000,000 calls $0.80');
    expect(text).toContain('2,000,001 calls or more $0.30');
    expect(text).toContain('Call 2,501 of a month');
    expect(text).toContain('alerted at 50% and 90%');
    // None of the shipped figures is left.
    for (const shipped of ['$49.00', '10,000', '$2.00', '$499.00', '100,000', '$1.50', '$1,000.00', '1,000 requests', '80%'])
      expect(text).not.toContain(shipped);
  });

  it.each([
    ['the shipped config', billingConfig],
    ['another config', OTHER],
  ])("prices every example with estimateBill (%s), at the tiers' price changes", (_, config) => {
    const examples = pricingExamples(config);
    const html = renderPricingPage(config, '/');

    for (const example of examples) expect(example.totalCents).toBe(estimateBill(example.tier, example.calls, config).totalCents);
    const free = config.tiers.free.pricing === 'free' ? config.tiers.free.monthlyQuota : 0;
    const pro = config.tiers.pro.pricing === 'included-plus-overage' ? config.tiers.pro.includedCalls : 0;
    const bounds =
      config.tiers.enterprise.pricing === 'volume' ? config.tiers.enterprise.bands.flatMap((b) => (b.upTo === null ? [] : [b.upTo, b.upTo + 1])) : [];
    expect(examples.map((e) => [e.tier, e.calls])).toEqual([
      ['free', free],
      ['pro', pro],
      ['pro', pro + Math.max(1_000, Math.round(pro / 5))],
      ...bounds.map((calls) => ['enterprise', calls]),
    ]);
    const shown = [...html.matchAll(/data-tier="(\w+)" data-calls="(\d+)" data-cents="(\d+)"><strong>([^<]*)<\/strong>/g)].map((m) => ({
      tier: m[1],
      calls: Number(m[2]),
      totalCents: Number(m[3]),
      headline: m[4],
    }));
    expect(shown).toEqual(
      examples.map((e) => ({
        tier: e.tier,
        calls: e.calls,
        totalCents: e.totalCents,
        headline: `${e.calls.toLocaleString('en-US')} calls on ${e.tier[0]!.toUpperCase()}${e.tier.slice(1)} = ${new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(e.totalCents / 100)}`,
      })),
    );
  });

  it('shows that crossing a band can lower the bill, and marks an example above the cap', () => {
    const text = textOf(renderPricingPage(billingConfig, '/'));

    expect(text).toContain('100,000 calls on Enterprise = $649.00');
    expect(text).toContain('100,001 calls on Enterprise = $599.00');
    expect(text).toContain(
      '1,000,000 calls on Enterprise = $1,499.00 : the $499.00 fee and every call at $1.00 per 1,000 calls. Above the $1,000.00 billing cap',
    );
    expect(text).not.toContain('$999.00 : the $499.00 fee and every call at $0.50 per 1,000 calls. Above');
  });

  it.each([
    [[{ upTo: null, unitMillicents: 75 }], ['Any number of calls: $0.75']],
    [
      [
        { upTo: 10, unitMillicents: 1 },
        { upTo: null, unitMillicents: 0 },
      ],
      ['Up to 10 calls: $0.01', '11 calls or more: $0.00'],
    ],
  ])('words volume bands %j', (bands, rows) => {
    expect(volumeBandRows({ pricing: 'volume', monthlyFeeCents: 0, bands }).map((r) => `${r.range}: ${r.pricePer1000}`)).toEqual(rows);
  });

  it.each([
    ['/prod/', 'href="/prod/dashboard"'],
    ['/', 'href="/dashboard"'],
    ['/billing/', 'href="/billing/dashboard"'],
    ['/"><script>/', 'href="/&#34;&#62;&#60;script&#62;/dashboard"'],
  ])('links to the dashboard on the base path %s (escaped)', (base, link) => {
    const html = renderPricingPage(billingConfig, base);

    expect(html).toContain(link);
    expect(html).not.toContain('<script');
  });

  it('is self-contained: no script, no external resource, its inline styles allowed by hash', () => {
    const html = renderPricingPage(billingConfig, '/prod/');

    expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|https?:\/\//);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const hash = createHash('sha256').update(style).digest('base64');
    expect(PRICING_CONTENT_SECURITY_POLICY).toBe(`default-src 'none'; style-src 'sha256-${hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
  });

  it("is served by the dashboard function at GET /pricing with the config it was given, on the request's base path", async () => {
    const dashboard = createDashboard(join(__dirname, '../../lambdas/dashboard/assets'), OTHER);
    const response = await dashboard({ resource: '/pricing', path: '/pricing', pathParameters: null, requestContext: { path: '/prod/pricing' } as never });

    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({ 'content-type': 'text/html; charset=utf-8', 'content-security-policy': PRICING_CONTENT_SECURITY_POLICY });
    expect(response.body).toBe(renderPricingPage(OTHER, '/prod/'));
  });
});
