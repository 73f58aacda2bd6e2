/**
 * The public pricing page (GET /pricing), rendered on the server from the one billing config and
 * priced by the one pricing function: no figure is written here, so the page cannot drift from
 * the bill. It is one self-contained document (inline styles allowed by their hash, no script, no
 * external resource), so it needs no API call and works wherever the API is served.
 */
import { createHash } from 'node:crypto';
import { type BillingConfig, TIER_NAMES, type TierConfig, type TierName } from '#core/config.ts';
import { estimateBill } from '#core/pricing.ts';

/** The parts of the config the page shows. */
export type PricingPageConfig = Pick<BillingConfig, 'tiers' | 'rateLimit' | 'billingCapCents' | 'capAlertPercents'>;

/** One worked example: a month's calls on a tier and what estimateBill says it costs. */
export interface PricingExample {
  readonly tier: TierName;
  readonly calls: number;
  readonly totalCents: number;
  /** How the total is made, in words, from the tier's figures. */
  readonly explanation: string;
}

const STYLE = `
:root { --fg: #1b1f24; --muted: #57606a; --accent: #0b5cad; --line: #d0d7de; font-family: system-ui, sans-serif; color: var(--fg); background: #fff; }
body { margin: 0 auto; max-width: 62rem; padding: 1rem; line-height: 1.5; }
h1 { font-size: 1.75rem; margin: .5rem 0; } h2 { font-size: 1.3rem; margin-top: 2rem; } h3 { font-size: 1.15rem; margin: 0 0 .25rem; }
a { color: var(--accent); } a:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
.tiers { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
.tier { border: 1px solid var(--line); border-radius: 8px; padding: 1rem; min-width: 0; }
.fee { font-size: 1.5rem; font-weight: 700; margin: 0; } .fee small { font-size: 1rem; font-weight: 400; color: var(--muted); }
.tier ul, .examples { padding-left: 1.25rem; }
table { border-collapse: collapse; width: 100%; margin-top: .5rem; }
caption { text-align: left; font-weight: 600; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
td:last-child, th:last-child { text-align: right; }
.note { color: var(--muted); }
.cta { display: inline-block; margin-top: .5rem; font-weight: 600; }
@media (max-width: 480px) { body { padding: .75rem; } h1 { font-size: 1.4rem; } th, td { padding: .25rem; } }
`;

/** The page's Content-Security-Policy: its own inline styles (by hash), nothing else; no script at all. */
export const PRICING_CONTENT_SECURITY_POLICY = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const money = (cents: number) => usd.format(cents / 100);
const count = (n: number) => n.toLocaleString('en-US');
const calls = (n: number) => `${count(n)} call${n === 1 ? '' : 's'}`;
const tierTitle = (tier: TierName) => `${tier[0]!.toUpperCase()}${tier.slice(1)}`;
/**
 * A per-call price in millicents as the price of 1,000 calls, in cents: 1,000 calls at m
 * millicents are 1,000·m millicents, which is m cents.
 */
const per1000 = (unitMillicents: number) => `${money(unitMillicents)} per 1,000 calls`;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The bands of a volume tier as rows: which month totals each covers and its price per 1,000 calls (millicents per call are cents per 1,000). */
export function volumeBandRows(tier: Extract<TierConfig, { pricing: 'volume' }>): Array<{ range: string; pricePer1000: string }> {
  return tier.bands.map((band, i) => {
    const from = i === 0 ? 0 : (tier.bands[i - 1]!.upTo ?? 0) + 1;
    const range =
      band.upTo === null
        ? from === 0
          ? 'Any number of calls'
          : `${count(from)} calls or more`
        : from === 0
          ? `Up to ${calls(band.upTo)}`
          : `${count(from)} to ${calls(band.upTo)}`;
    return { range, pricePer1000: money(band.unitMillicents) };
  });
}

/**
 * Worked examples for each tier, at the volumes where its price changes: the Free quota, Pro at
 * and past its included calls, and each side of every Enterprise band boundary (where more calls
 * can cost less, since the month's total prices every call). Each total is estimateBill's.
 */
export function pricingExamples(config: Pick<BillingConfig, 'tiers'>): PricingExample[] {
  return TIER_NAMES.flatMap((tier) => examplesOf(tier, config));
}

function examplesOf(tier: TierName, config: Pick<BillingConfig, 'tiers'>): PricingExample[] {
  const tierConfig = config.tiers[tier];
  const example = (n: number, explanation: string): PricingExample => ({ tier, calls: n, totalCents: estimateBill(tier, n, config).totalCents, explanation });
  switch (tierConfig.pricing) {
    case 'free':
      return [example(tierConfig.monthlyQuota, 'the whole monthly quota; the next call is refused until the 1st')];
    case 'included-plus-overage': {
      const { includedCalls, monthlyFeeCents, overageUnitMillicents } = tierConfig;
      const over = Math.max(1_000, Math.round(includedCalls / 5));
      return [
        example(includedCalls, `the ${money(monthlyFeeCents)} fee; all ${calls(includedCalls)} are included`),
        example(
          includedCalls + over,
          `the ${money(monthlyFeeCents)} fee and ${calls(over)} over the ${count(includedCalls)} included, at ${per1000(overageUnitMillicents)}`,
        ),
      ];
    }
    case 'volume': {
      const atBand = (n: number, unitMillicents: number) =>
        example(n, `the ${money(tierConfig.monthlyFeeCents)} fee and every call at ${per1000(unitMillicents)}`);
      // One open-ended band (the config requires the last to be): one price at any volume.
      if (tierConfig.bands.length === 1) return [atBand(100_000, tierConfig.bands[0]!.unitMillicents)];
      return tierConfig.bands.flatMap((band, i) =>
        band.upTo === null ? [] : [atBand(band.upTo, band.unitMillicents), atBand(band.upTo + 1, tierConfig.bands[i + 1]!.unitMillicents)],
      );
    }
  }
}

function tierCard(tier: TierName, config: PricingPageConfig): string {
  const tierConfig = config.tiers[tier];
  const title = tierTitle(tier);
  const fee = tierConfig.pricing === 'free' ? 0 : tierConfig.monthlyFeeCents;
  let details: string;
  switch (tierConfig.pricing) {
    case 'free':
      details = `<ul>
        <li><strong data-figure="${tier}-quota">${calls(tierConfig.monthlyQuota)}</strong> a month: a hard monthly quota</li>
        <li>Call ${count(tierConfig.monthlyQuota + 1)} of a month is refused (HTTP 429, <code>quota_exceeded</code>) with a link to upgrade; the quota resets on the 1st (UTC). Upgrade to keep calling.</li>
      </ul>`;
      break;
    case 'included-plus-overage':
      details = `<ul>
        <li><strong data-figure="${tier}-included">${calls(tierConfig.includedCalls)}</strong> included every month</li>
        <li>Then <strong data-figure="${tier}-overage">${per1000(tierConfig.overageUnitMillicents)}</strong></li>
        <li>No monthly quota</li>
      </ul>`;
      break;
    case 'volume':
      details = `<ul>
        <li>No monthly quota</li>
        <li>Volume pricing: the month's total number of calls picks one band, and that band's price applies to every call of the month, not only to the calls past its threshold.</li>
      </ul>
      <table data-figure="${tier}-bands">
        <caption>${title} volume bands</caption>
        <thead><tr><th scope="col">Calls in the month</th><th scope="col">Price per 1,000 calls</th></tr></thead>
        <tbody>${volumeBandRows(tierConfig)
          .map((row) => `<tr><td>${row.range}</td><td>${row.pricePer1000}</td></tr>`)
          .join('')}</tbody>
      </table>`;
      break;
  }
  return `<section class="tier" id="tier-${tier}" aria-labelledby="tier-${tier}-title">
      <h3 id="tier-${tier}-title">${title}</h3>
      <p class="fee"><span data-figure="${tier}-fee">${money(fee)}</span> <small>a month</small></p>
      ${details}
    </section>`;
}

/**
 * The pricing page, its links built on `basePath` (the API's base path as the browser sees it,
 * ending in `/`: apiBasePath(event)).
 */
export function renderPricingPage(config: PricingPageConfig, basePath: string): string {
  const base = escapeHtml(basePath);
  const cap = money(config.billingCapCents);
  const alertPercents = config.capAlertPercents.map((p) => `${p}%`).join(' and ');
  const examples = pricingExamples(config)
    .map((e) => {
      const overCap = e.totalCents > config.billingCapCents;
      return `<li data-tier="${e.tier}" data-calls="${e.calls}" data-cents="${e.totalCents}"><strong>${calls(e.calls)} on ${tierTitle(e.tier)} = ${money(e.totalCents)}</strong>: ${e.explanation}${
        overCap ? `. <span class="note">Above the ${cap} billing cap: at most ${cap} is billed unless a higher cap is approved (see below).</span>` : ''
      }</li>`;
    })
    .join('\n      ');
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Pricing</title>
  <style>${STYLE}</style>
</head>
<body>
  <header>
    <h1>Pricing</h1>
    <p>Pay for the calls your API key makes, by calendar month (UTC). Refused calls (an unknown key, the rate limit, the quota, the billing cap) and calls that fail on our side (5xx) are never billed.</p>
    <p><a class="cta" href="${base}dashboard" id="dashboard-link">Sign in to your dashboard</a> to see this month's usage and estimated bill, and to upgrade.</p>
  </header>
  <main>
    <section aria-labelledby="tiers-title">
      <h2 id="tiers-title">Tiers</h2>
      <div class="tiers">
    ${TIER_NAMES.map((tier) => tierCard(tier, config)).join('\n    ')}
      </div>
    </section>
    <section aria-labelledby="examples-title">
      <h2 id="examples-title">What a month costs</h2>
      <ul class="examples">
      ${examples}
      </ul>
    </section>
    <section aria-labelledby="rate-title">
      <h2 id="rate-title">Rate limit</h2>
      <p>Every key, on every tier: <strong data-figure="rate-limit">${count(config.rateLimit.requestsPerMinute)} requests per minute</strong>, in bursts of up to <span data-figure="rate-burst">${count(config.rateLimit.burst)}</span> at once. A call above the limit is refused (HTTP 429, <code>rate_limited</code>) and not billed: slow down and retry shortly.</p>
    </section>
    <section aria-labelledby="cap-title">
      <h2 id="cap-title">Billing cap</h2>
      <p>No account is billed more than <strong data-figure="billing-cap">${cap}</strong> in a calendar month unless a higher cap is approved for it (ask billing support from your dashboard). Calls past the cap are never charged. At the cap, your account's setting decides what happens next: by default its metered calls are refused (HTTP 403, billing cap reached) until the month ends or the cap is raised; an account set to keep serving has its calls served, free of charge, for the rest of the month.</p>
      <p>Your dashboard shows how much of the cap you have used; our billing team is alerted at ${alertPercents} of it.</p>
    </section>
  </main>
  <footer><p class="note">Prices in US dollars. <a href="${base}dashboard">Go to your dashboard</a>.</p></footer>
</body>
</html>
`;
}
