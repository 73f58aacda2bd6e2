import type { ExperimentReport } from '../../lambdas/core/experiment.ts';
import { criterionFigure, criterionInterval, reportHtml, reportJson, reportMarkdown, verdictLabel } from '../../lambdas/core/experiment-report.ts';
import { sampleReport } from '../harness/experiment.ts';

const HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(2)> | *bold* [link](javascript:alert(3))';

/** The report with hostile text wherever text comes from data: the hypothesis, the cohort's ids, a reason, a day. */
const hostile = (report: ExperimentReport): ExperimentReport => ({
  ...report,
  experiment: { ...report.experiment, hypothesis: HOSTILE, cohort: [HOSTILE] },
  criteria: report.criteria.map((c, i) => (i === 0 ? { ...c, description: HOSTILE, reason: HOSTILE } : c)),
  verdict: { ...report.verdict, reason: HOSTILE },
  callsPerDay: { ...report.callsPerDay, days: report.callsPerDay.days.map((d, i) => (i === 0 ? { ...d, day: `</title>${HOSTILE}` } : d)) },
});

/** The element with `id` and what it contains, up to its closing tag (figures do not nest). */
const figureById = (html: string, id: string) => {
  const match = new RegExp(`<figure id="${id}"[\\s\\S]*?</figure>`).exec(html);
  if (!match) throw new Error(`no figure ${id}`);
  return match[0];
};
const rowsOf = (figure: string) =>
  [...figure.matchAll(/<tr><th scope="row">([^<]*)<\/th>((?:<td[^>]*>[^<]*<\/td>)*)<\/tr>/g)].map((m) => [
    m[1],
    ...[...m[2]!.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((c) => c[1]),
  ]);

describe('experiment report renderers', () => {
  let report: ExperimentReport;
  beforeAll(async () => {
    report = await sampleReport();
  });

  it('JSON has the experiment, its window and every figure, the criteria and the verdict, as the report computed them', () => {
    const json = JSON.parse(reportJson(report)) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual([
      'experiment',
      'window',
      'revenue',
      'callsPerDay',
      'upgradeRate',
      'errorRate',
      'nps',
      'billingTickets',
      'billingErrorRate',
      'churn',
      'sampleSize',
      'criteria',
      'verdict',
    ]);
    expect(json).toEqual(JSON.parse(JSON.stringify(report)));
  });

  it('Markdown opens with the verdict and its reason, then has one criteria row per criterion (value, interval, n, verdict)', () => {
    const markdown = reportMarkdown(report);
    const lines = markdown.split('\n');
    expect(lines[0]).toBe('# Experiment api-billing-001: Inconclusive');
    expect(lines[2]).toBe(`**Verdict: inconclusive.** ${report.verdict.reason.replace(/[\\`*[\]<|]/g, '\\$&')}`);
    expect(markdown.indexOf('Hypothesis')).toBeGreaterThan(markdown.indexOf('**Verdict'));
    expect(lines).toContain('| Criterion | Kind | Value | 95% interval | n | Verdict |');
    for (const c of report.criteria) {
      const n = c.n === undefined ? '–' : c.n.toLocaleString('en-US');
      expect(lines).toContain(
        `| ${c.description.replace('<', '\\<')} | ${c.kind} | ${criterionFigure(c, c.value)} | ${criterionInterval(c)} | ${n} | ${verdictLabel(c)} |`,
      );
    }
    expect(lines).toContain('| Upgrade rate > 15% | success | 18.0% | 12.7% to 24.9% | 150 | inconclusive |');
    expect(lines).toContain('| Customer churn > 10% | failure | 7.5% | 2.6% to 19.9% | 40 | inconclusive |');
    for (const heading of [
      'Revenue',
      'Calls per day',
      'Upgrade rate',
      'API error rate',
      'Net Promoter Score',
      'Billing support tickets',
      'Billing error rate',
      'Churn',
      'Sample size',
    ])
      expect(lines).toContain(`## ${heading}`);
  });

  it('Markdown escapes what would be markup (HTML, table pipes, emphasis, links)', () => {
    const markdown = reportMarkdown(hostile(report));
    // Every `<` is escaped: no inline HTML survives.
    expect(markdown).not.toMatch(/(?<!\\)</);
    expect(markdown).toContain('\\<script>alert(1)\\</script>');
    expect(markdown).toContain('\\| \\*bold\\* \\[link\\](javascript:alert(3))');
    // The hostile criterion is still one table row of six cells.
    const row = markdown.split('\n').find((l) => l.startsWith('| \\<script>'))!;
    expect(row.split(/(?<!\\)\|/).length - 2).toBe(6);
  });

  it.each([
    ['chart-calls', 'API calls per day', ['Day (UTC)', 'Calls']],
    ['chart-revenue', 'Revenue per day (invoices paid)', ['Day (UTC)', 'Paid (USD)']],
    ['chart-funnel', 'Upgrade funnel', ['Customers', 'Step']],
    ['chart-nps', 'NPS survey answers per score', ['Score (0 = not at all likely to recommend, 10 = extremely likely)', 'Answers']],
    ['chart-tickets', 'Billing tickets and SLA', ['Tickets by state', 'Tickets']],
  ])('HTML: %s is an SVG named by its title and description, with labelled axes and a data table', (id, title, axisTitles) => {
    const chart = figureById(reportHtml(report), id);
    const svgId = id.replace('chart-', '');
    expect(chart).toContain(`role="img" aria-labelledby="${svgId}-title ${svgId}-desc" aria-label="${title}"`);
    expect(chart).toContain(`<title id="${svgId}-title">${title}</title>`);
    expect(chart).toMatch(new RegExp(`<desc id="${svgId}-desc">[^<]+The figures are in the table below.</desc>`));
    const axes = [...chart.matchAll(/class="axis-title"[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(axes).toEqual(axisTitles);
    expect(chart).toMatch(/<table><caption>[^<]+\(figures of the chart above\)<\/caption>/);
  });

  it('HTML: each data table holds the figures of its chart', () => {
    const html = reportHtml(report);
    expect(rowsOf(figureById(html, 'chart-calls'))).toEqual(
      report.callsPerDay.days.map((d) => [d.day, ...[d.served, d.billable, d.refused, d.errors].map((n) => n.toLocaleString('en-US'))]),
    );
    expect(rowsOf(figureById(html, 'chart-revenue'))).toEqual(report.revenue.perDay.map((d) => [d.day, `$${(d.paidCents / 100).toFixed(2)}`]));
    expect(rowsOf(figureById(html, 'chart-funnel'))).toEqual([
      ['Started on Free', '150', '100%'],
      ['Upgraded to a paid tier', '27', '18.0% (95% interval 12.7% to 24.9%)'],
    ]);
    expect(rowsOf(figureById(html, 'chart-nps'))).toEqual(
      report.nps!.distribution.map((n, score) => [String(score), score >= 9 ? 'Promoter' : score >= 7 ? 'Passive' : 'Detractor', String(n)]),
    );
    expect(rowsOf(figureById(html, 'chart-tickets'))).toEqual([
      ['Filed in the window', '12'],
      ['Acknowledged within 4 hours (or younger than 4 hours)', '8'],
      ['SLA breached (not acknowledged within 4 hours)', '4'],
      ['Still open', '2'],
      ['Median minutes to acknowledge', '60'],
    ]);
  });

  it('HTML: NPS bars are coloured by group and the groups are labelled with their counts', () => {
    const nps = figureById(reportHtml(report), 'chart-nps');
    const fills = [...nps.matchAll(/<rect [^>]*fill="(#[0-9A-Fa-f]{6})"><title>Score (\d+)/g)].map((m) => [Number(m[2]), m[1]]);
    expect(fills).toEqual(Array.from({ length: 11 }, (_, s) => [s, s >= 9 ? '#009E73' : s >= 7 ? '#7a7a7a' : '#D55E00']));
    for (const [label, detail] of [
      ['Detractors', '0–6: 12'],
      ['Passives', '7–8: 15'],
      ['Promoters', '9–10: 33'],
    ])
      expect(nps).toMatch(new RegExp(`>${label}</text><text [^>]*>${detail}</text>`));
  });

  it('HTML: the verdict comes first, then a criteria table row per criterion', () => {
    const html = reportHtml(report);
    expect(html.indexOf('Verdict: Inconclusive')).toBeLessThan(html.indexOf('id="criteria-title"'));
    for (const c of report.criteria)
      expect(html).toContain(`<tr><th scope="row">${c.description.replace('<', '&lt;').replace('>', '&gt;')}</th><td>${c.kind}</td>`);
  });

  it('HTML is self-contained: no script, no external resource, a policy that forbids both', () => {
    const html = reportHtml(report);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
    // The only URL is SVG's namespace.
    expect([...html.matchAll(/https?:\/\/[^\s"']+/g)].map((m) => m[0])).toEqual(Array(5).fill('http://www.w3.org/2000/svg'));
  });

  it('HTML escapes hostile text everywhere it appears (headings, attributes, SVG titles, tables)', () => {
    const html = reportHtml(hostile(report));
    expect(html).not.toMatch(/<script|<img|<\/title>[^<]*<script/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
    // The hostile day is text in the calls table and the markers' tooltips, not markup.
    expect(html).toContain('<th scope="row">&lt;/title&gt;&lt;script&gt;');
    expect(html.match(/<\/title>/g)?.length).toBe(html.match(/<title[ >]/g)?.length);
  });

  it('renders an experiment with no data yet: empty charts, dashes, no NaN', async () => {
    const empty = await sampleReport({ now: Date.UTC(2026, 10, 1, 0, 30) });
    const html = reportHtml({ ...empty, nps: null });
    expect(html).not.toMatch(/NaN|Infinity|undefined/);
    expect(html).toContain('NPS distribution: no survey answers in the window');
    expect(reportMarkdown({ ...empty, nps: null })).toContain('No survey answers in the window.');
  });
});
