/**
 * The experiment's report (#core/experiment.ts) as JSON, Markdown and one self-contained HTML page
 * (inline CSS and SVG, no script, no external resource). Pure: the CLI writes the files, the daily
 * Lambda reuses the figures' formatting for its summary.
 */
import type { Criterion, ExperimentReport } from './experiment.ts';

// ---------------------------------------------------------------------------------------------
// Figures in words: one formatting per kind of figure, shared by every renderer.

/** `$1,234.56`. */
export const usd = (cents: number): string =>
  `${cents < 0 ? '-' : ''}$${(Math.abs(cents) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
/** A fraction as a percentage: 0.1234 → `12.3%` (`digits` after the point). */
export const percent = (fraction: number, digits = 1): string => `${(fraction * 100).toFixed(digits)}%`;
/** `12,345` or `12,345.6`. */
export const count = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/**
 * How each criterion's value, bar and interval read. The criteria carry bare numbers (cents,
 * fractions, calls, NPS points); their ids say which.
 */
const CRITERION_FORMAT: Record<string, (x: number) => string> = {
  revenue: usd,
  revenueFloor: usd,
  callsPerDay: (x) => count(x, 1),
  upgradeRate: (x) => percent(x),
  upgradeRateFloor: (x) => percent(x),
  billingErrorRate: (x) => percent(x, 2),
  billingErrorRateCeiling: (x) => percent(x, 2),
  nps: (x) => x.toFixed(1),
  churn: (x) => percent(x),
};

/** A criterion's figure (its value, bar or an interval bound) as it reads. */
export function criterionFigure(criterion: Pick<Criterion, 'id'>, x: number | null | undefined): string {
  if (x === null || x === undefined) return '–';
  return (CRITERION_FORMAT[criterion.id] ?? ((v: number) => String(Number(v.toFixed(4)))))(x);
}

/** The 95% interval of a criterion, or a dash when it has none. */
export function criterionInterval(criterion: Criterion): string {
  return criterion.interval ? `${criterionFigure(criterion, criterion.interval.low)} to ${criterionFigure(criterion, criterion.interval.high)}` : '–';
}

/** A verdict in words: a failure criterion that is met has tripped. */
export function verdictLabel(criterion: Pick<Criterion, 'kind' | 'verdict'>): string {
  if (criterion.verdict === 'inconclusive') return 'inconclusive';
  if (criterion.kind === 'failure') return criterion.verdict === 'met' ? 'met: failure tripped' : 'not met';
  return criterion.verdict === 'met' ? 'met' : 'not met';
}

const OVERALL_LABEL = { success: 'Success', failure: 'Failure', inconclusive: 'Inconclusive' } as const;

/** The window in words: `2026-11-01 00:00 to 2026-11-15 12:00 UTC (15 days)`. */
export function windowLabel(report: Pick<ExperimentReport, 'window'>): string {
  const at = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
  return `${at(report.window.from)} to ${at(report.window.to)} UTC (${report.window.days} day${report.window.days === 1 ? '' : 's'})`;
}

function phaseLabel(report: ExperimentReport): string {
  const { phase, cohort } = report.experiment;
  return cohort.length ? `${phase} (beta cohort of ${cohort.length}: ${cohort.join(', ')})` : phase;
}

// ---------------------------------------------------------------------------------------------
// JSON

/** The report as JSON: the experiment and its window, then every figure, the criteria and the verdict. */
export function reportJson(report: ExperimentReport): string {
  const { experiment, window, revenue, callsPerDay, upgradeRate, errorRate, nps, billingTickets, billingErrorRate, churn, sampleSize, criteria, verdict } =
    report;
  return JSON.stringify(
    { experiment, window, revenue, callsPerDay, upgradeRate, errorRate, nps, billingTickets, billingErrorRate, churn, sampleSize, criteria, verdict },
    null,
    2,
  );
}

// ---------------------------------------------------------------------------------------------
// Markdown

/**
 * Text in a Markdown document, on one line, with the characters that could make markup of it escaped
 * (CommonMark backslash escapes): `<` (inline HTML), `|` (a table cell), emphasis, code and links.
 */
const md = (text: string) => text.replace(/[\\`*[\]<|]/g, '\\$&').replace(/\s*\n\s*/g, ' ');

/** A Markdown table; every cell is escaped here. */
function mdTable(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.map(md).join(' | ')} |`;
  return [line(head), `|${head.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n');
}

/** The report as a Markdown document: the verdict first, the criteria table, then each metric. */
export function reportMarkdown(report: ExperimentReport): string {
  const r = report;
  const lines: string[] = [];
  const section = (title: string, ...body: string[]) => lines.push('', `## ${title}`, '', ...body);
  lines.push(
    `# Experiment ${md(r.experiment.id)}: ${OVERALL_LABEL[r.verdict.overall]}`,
    '',
    `**Verdict: ${OVERALL_LABEL[r.verdict.overall].toLowerCase()}.** ${md(r.verdict.reason)}`,
    '',
    `- Hypothesis: ${md(r.experiment.hypothesis)}`,
    `- Phase: ${md(phaseLabel(r))}`,
    `- Window: ${md(windowLabel(r))}`,
  );
  section(
    'Criteria',
    mdTable(
      ['Criterion', 'Kind', 'Value', '95% interval', 'n', 'Verdict'],
      r.criteria.map((c) => [c.description, c.kind, criterionFigure(c, c.value), criterionInterval(c), c.n === undefined ? '–' : count(c.n), verdictLabel(c)]),
    ),
    '',
    ...r.criteria.map((c) => `- ${md(c.description)}: ${md(c.reason)}`),
  );
  section(
    'Revenue',
    `- Paid invoices in the window: ${usd(r.revenue.paidCents)}`,
    `- This month so far, billed in Stripe: ${usd(r.revenue.monthEstimateCents)}`,
    `- This month so far, shadow billed (outside the beta cohort, not charged): ${usd(r.revenue.shadowEstimateCents)}`,
    '',
    mdTable(
      ['Day (UTC)', 'Paid'],
      r.revenue.perDay.map((d) => [d.day, usd(d.paidCents)]),
    ),
  );
  section(
    'Calls per day',
    `${count(r.callsPerDay.average, 1)} billable calls a day on average. Served: answered after the key was accepted; refused: 4xx answers; errors: 5xx answers.`,
    '',
    mdTable(
      ['Day (UTC)', 'Served', 'Billable', 'Refused', 'Errors'],
      r.callsPerDay.days.map((d) => [d.day, count(d.served), count(d.billable), count(d.refused), count(d.errors)]),
    ),
  );
  const up = r.upgradeRate;
  section(
    'Upgrade rate',
    up.interval
      ? `${count(up.upgraded)} of ${count(up.startedOnFree)} customers who started on Free in the window moved to a paid tier: ${percent(up.interval.estimate)} (95% Wilson interval ${percent(up.interval.low)} to ${percent(up.interval.high)}).`
      : 'No customer started on Free in the window.',
  );
  const err = r.errorRate;
  section(
    'API error rate',
    err.rate === null
      ? 'No call was served in the window.'
      : `${percent(err.rate, 2)}: ${count(err.serverErrors)} 5xx answers of ${count(err.served)} calls served; ${count(err.refused)} refused at the gateway (429), shown apart.`,
  );
  const nps = r.nps;
  section(
    'Net Promoter Score',
    ...(nps
      ? [
          `NPS ${nps.estimate.toFixed(1)} (95% interval ${nps.low.toFixed(1)} to ${nps.high.toFixed(1)}) from ${count(nps.n)} answers: ${count(nps.promoters)} promoters (9–10), ${count(nps.passives)} passives (7–8), ${count(nps.detractors)} detractors (0–6).`,
          '',
          mdTable(
            ['Score', 'Answers'],
            nps.distribution.map((n, score) => [String(score), count(n)]),
          ),
        ]
      : ['No survey answers in the window.']),
  );
  const t = r.billingTickets;
  section(
    'Billing support tickets',
    `${count(t.count)} tickets, ${count(t.open)} still open; ${count(t.slaBreaches)} not acknowledged within the 4-hour SLA; median time to acknowledge ${
      t.medianAcknowledgeMinutes === null ? '– (none acknowledged)' : `${count(t.medianAcknowledgeMinutes, 0)} minutes`
    }.`,
  );
  const b = r.billingErrorRate;
  section(
    'Billing error rate',
    b
      ? `${percent(b.calls, 2)} of calls and ${percent(b.cents, 2)} of cents over ${count(b.customerMonths)} reconciled customer-months (${count(b.discrepancies)} with a discrepancy).`
      : 'No reconciliation has run yet.',
  );
  section(
    'Churn',
    r.churn.interval
      ? `${count(r.churn.churned)} of ${count(r.churn.paidAtStart)} customers paying at the window's start cancelled or went to Free: ${percent(r.churn.interval.estimate)} (95% Wilson interval ${percent(r.churn.interval.low)} to ${percent(r.churn.interval.high)}).`
      : "No customer was paying at the window's start.",
  );
  const s = r.sampleSize;
  section(
    'Sample size',
    `${count(s.activeUsers)} active users (the plan's minimum ${count(s.minimum)}, target ${count(s.target)}); margin of error at 95% confidence: ${
      s.marginOfError === null ? '–' : `±${percent(s.marginOfError)}`
    }.`,
  );
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// HTML

/** Text or an attribute value in HTML (and in SVG, which is parsed as HTML here). */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const h = escapeHtml;

/** Colour-blind-safe (Okabe–Ito); every series also has its own line pattern or a label, never colour alone. */
const COLOURS = {
  blue: '#0072B2',
  green: '#009E73',
  orange: '#E69F00',
  vermillion: '#D55E00',
  grey: '#7a7a7a',
  sky: '#56B4E9',
} as const;

const CSS = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --rule: #d0d7de; --bg: #ffffff; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: var(--bg); }
main { max-width: 980px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 32px 0 8px; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
.hypothesis { font-size: 1.05rem; margin: 4px 0 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.verdict { border-left: 6px solid var(--muted); background: var(--panel); padding: 12px 16px; margin: 20px 0; }
.verdict h2 { border: 0; margin: 0 0 4px; padding: 0; }
.verdict-success { border-color: ${COLOURS.green}; }
.verdict-failure { border-color: ${COLOURS.vermillion}; }
.verdict-inconclusive { border-color: ${COLOURS.orange}; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 0.9rem; }
caption { text-align: left; color: var(--muted); padding: 4px 0; font-size: 0.85rem; }
th, td { border-bottom: 1px solid var(--rule); padding: 4px 8px; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.v-met { color: #1a7f37; font-weight: 600; }
.v-tripped { color: #b35900; font-weight: 700; }
.v-not-met { color: #8c1d18; font-weight: 600; }
.v-inconclusive { color: var(--muted); font-weight: 600; }
figure { margin: 12px 0 24px; }
figure svg { width: 100%; height: auto; max-width: 760px; display: block; }
figcaption { color: var(--muted); font-size: 0.9rem; margin: 4px 0; }
.legend { list-style: none; padding: 0; margin: 4px 0; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 0.85rem; }
.legend svg { width: 28px; height: 10px; display: inline-block; vertical-align: middle; margin-right: 4px; }
.data { max-height: 320px; overflow: auto; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.figure-card { background: var(--panel); padding: 10px 12px; border-radius: 6px; }
.figure-card strong { display: block; font-size: 1.3rem; }
.figure-card .note { display: block; color: var(--muted); font-size: 0.85rem; }
svg text { font-family: inherit; fill: var(--ink); }
svg .axis { stroke: var(--ink); stroke-width: 1; }
svg .grid { stroke: var(--rule); stroke-width: 1; }
svg .tick { font-size: 11px; fill: var(--muted); }
svg .axis-title { font-size: 12px; font-weight: 600; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85rem; }
@media print { .data { max-height: none; overflow: visible; } }
`;

interface Series {
  readonly name: string;
  readonly colour: string;
  /** SVG stroke-dasharray: every series has its own pattern. */
  readonly dash: string;
  readonly values: readonly number[];
}

interface Scale {
  readonly top: number;
  readonly ticks: readonly number[];
}

/** A y-axis from 0 with about four round steps (whole steps for counts). */
function scale(max: number, whole: boolean): Scale {
  const raw = max > 0 ? max / 4 : 1;
  const exp = 10 ** Math.floor(Math.log10(raw));
  const f = raw / exp;
  let step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * exp;
  if (whole) step = Math.max(1, Math.round(step));
  const top = Math.max(step, Math.ceil(max / step) * step);
  const ticks: number[] = [];
  for (let t = 0; t <= top + step / 2; t += step) ticks.push(Number(t.toFixed(6)));
  return { top, ticks };
}

const W = 760;
const H = 300;
const M = { left: 72, right: 20, top: 16, bottom: 64 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;

interface ChartText {
  /** Prefix of the ids the chart's title and description get. */
  readonly id: string;
  readonly title: string;
  /** One sentence a screen reader reads before the data table. */
  readonly description: string;
  readonly xTitle: string;
  readonly yTitle: string;
}

/** The opening of an accessible SVG chart: role img, named by its title and described by its desc. */
function svgOpen(text: ChartText, height = H): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" role="img" aria-labelledby="${text.id}-title ${text.id}-desc" aria-label="${h(text.title)}"><title id="${text.id}-title">${h(text.title)}</title><desc id="${text.id}-desc">${h(text.description)}</desc>`;
}

/** The y-axis with grid lines and tick labels, the x-axis line, and both axis titles. */
function axes(text: ChartText, y: Scale, tick: (v: number) => string, height = H): string {
  const yAt = (v: number) => M.top + PLOT_H - (v / y.top) * PLOT_H;
  const grid = y.ticks
    .map(
      (t) =>
        `<line class="grid" x1="${M.left}" x2="${M.left + PLOT_W}" y1="${yAt(t).toFixed(1)}" y2="${yAt(t).toFixed(1)}"/><text class="tick" x="${M.left - 8}" y="${(yAt(t) + 4).toFixed(1)}" text-anchor="end">${h(tick(t))}</text>`,
    )
    .join('');
  return `<g aria-hidden="true">${grid}<line class="axis" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + PLOT_H}"/><line class="axis" x1="${M.left}" x2="${M.left + PLOT_W}" y1="${M.top + PLOT_H}" y2="${M.top + PLOT_H}"/><text class="axis-title" x="${M.left + PLOT_W / 2}" y="${height - 8}" text-anchor="middle">${h(text.xTitle)}</text><text class="axis-title" transform="translate(16 ${M.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${h(text.yTitle)}</text></g>`;
}

/** Labels under the x-axis for every `step`-th category (about eight in all). */
function xLabels(labels: readonly string[], xAt: (i: number) => number): string {
  const step = labels.length <= 12 ? 1 : Math.ceil(labels.length / 8);
  return `<g aria-hidden="true">${labels
    .map((label, i) =>
      i % step === 0
        ? `<line class="axis" x1="${xAt(i).toFixed(1)}" x2="${xAt(i).toFixed(1)}" y1="${M.top + PLOT_H}" y2="${M.top + PLOT_H + 4}"/><text class="tick" x="${xAt(i).toFixed(1)}" y="${M.top + PLOT_H + 18}" text-anchor="middle">${h(label)}</text>`
        : '',
    )
    .join('')}</g>`;
}

function legend(series: ReadonlyArray<Pick<Series, 'name' | 'colour' | 'dash'>>): string {
  return `<ul class="legend">${series
    .map(
      (s) =>
        `<li><svg viewBox="0 0 28 10" aria-hidden="true"><line x1="0" x2="28" y1="5" y2="5" stroke="${s.colour}" stroke-width="3" stroke-dasharray="${s.dash}"/></svg>${h(s.name)}</li>`,
    )
    .join('')}</ul>`;
}

/** The chart's figures as a table: what a screen reader reads, and what a reader can copy. */
function dataTable(caption: string, head: readonly string[], rows: ReadonlyArray<readonly string[]>, numericFrom = 1): string {
  const cells = (row: readonly string[], tag: 'th' | 'td') =>
    row
      .map((c, i) =>
        i === 0 && tag === 'td'
          ? `<th scope="row">${h(c)}</th>`
          : `<${tag}${i >= numericFrom ? ' class="n"' : ''}${tag === 'th' ? ' scope="col"' : ''}>${h(c)}</${tag}>`,
      )
      .join('');
  // A scrolling region is focusable, so a keyboard can scroll it.
  return `<div class="data" role="region" tabindex="0" aria-label="${h(caption)}"><table><caption>${h(caption)}</caption><thead><tr>${cells(head, 'th')}</tr></thead><tbody>${rows.map((r) => `<tr>${cells(r, 'td')}</tr>`).join('')}</tbody></table></div>`;
}

function figure(id: string, caption: string, body: string): string {
  return `<figure id="${id}" aria-labelledby="${id}-caption"><figcaption id="${id}-caption">${h(caption)}</figcaption>${body}</figure>`;
}

/** A line chart over days, one polyline and marker per series and day (each marker has a tooltip). */
function lineChart(text: ChartText, days: readonly string[], series: readonly Series[]): string {
  const y = scale(Math.max(0, ...series.flatMap((s) => s.values)), true);
  const xAt = (i: number) => M.left + (days.length <= 1 ? PLOT_W / 2 : (i / (days.length - 1)) * PLOT_W);
  const yAt = (v: number) => M.top + PLOT_H - (v / y.top) * PLOT_H;
  const lines = series
    .map((s) => {
      const points = s.values.map((v, i) => `${xAt(i).toFixed(1)},${yAt(v).toFixed(1)}`).join(' ');
      const markers = s.values
        .map(
          (v, i) =>
            `<circle cx="${xAt(i).toFixed(1)}" cy="${yAt(v).toFixed(1)}" r="3" fill="${s.colour}"><title>${h(`${days[i]}: ${count(v)} ${s.name.toLowerCase()}`)}</title></circle>`,
        )
        .join('');
      return `<g><polyline fill="none" stroke="${s.colour}" stroke-width="2" stroke-dasharray="${s.dash}" points="${points}"/>${markers}</g>`;
    })
    .join('');
  return `${svgOpen(text)}${axes(text, y, (v) => count(v))}${xLabels(
    days.map((d) => d.slice(5)),
    xAt,
  )}${lines}</svg>${legend(series)}`;
}

interface Bar {
  readonly label: string;
  readonly value: number;
  readonly colour: string;
  /** The tooltip; default: label and value. */
  readonly tip?: string;
}

/** A vertical bar chart; `groups` draws labelled brackets under runs of bars (the NPS groups). */
function barChart(
  text: ChartText,
  bars: readonly Bar[],
  options: {
    tick: (v: number) => string;
    whole: boolean;
    /** The axis reaches at least this far, so an empty chart still reads (a dollar, not a cent). @default 0 */
    minTop?: number;
    groups?: ReadonlyArray<{ from: number; to: number; label: string; detail: string; colour: string }>;
  },
): string {
  const height = options.groups ? H + 44 : H;
  const y = scale(Math.max(options.minTop ?? 0, ...bars.map((b) => b.value)), options.whole);
  const band = PLOT_W / Math.max(1, bars.length);
  const xAt = (i: number) => M.left + band * (i + 0.5);
  const yAt = (v: number) => M.top + PLOT_H - (v / y.top) * PLOT_H;
  const width = Math.max(1, Math.min(48, band * 0.7));
  const rects = bars
    .map(
      (b, i) =>
        `<rect x="${(xAt(i) - width / 2).toFixed(1)}" y="${yAt(b.value).toFixed(1)}" width="${width.toFixed(1)}" height="${(M.top + PLOT_H - yAt(b.value)).toFixed(1)}" fill="${b.colour}"><title>${h(b.tip ?? `${b.label}: ${options.tick(b.value)}`)}</title></rect>`,
    )
    .join('');
  const groups = (options.groups ?? [])
    .map((g) => {
      const x1 = xAt(g.from) - band / 2 + 3;
      const x2 = xAt(g.to) + band / 2 - 3;
      const yLine = M.top + PLOT_H + 30;
      return `<g aria-hidden="true"><path d="M${x1.toFixed(1)} ${yLine - 5} V${yLine} H${x2.toFixed(1)} V${yLine - 5}" fill="none" stroke="${g.colour}" stroke-width="2"/><text x="${((x1 + x2) / 2).toFixed(1)}" y="${yLine + 16}" text-anchor="middle" font-size="12" font-weight="600" style="fill:${g.colour}">${h(g.label)}</text><text x="${((x1 + x2) / 2).toFixed(1)}" y="${yLine + 31}" text-anchor="middle" font-size="12" style="fill:${g.colour}">${h(g.detail)}</text></g>`;
    })
    .join('');
  // With groups under the bars, the x-axis title moves below them.
  return `${svgOpen(text, height)}${axes(text, y, options.tick, height)}${xLabels(
    bars.map((b) => b.label),
    xAt,
  )}${rects}${groups}</svg>`;
}

/** The upgrade funnel: started on Free, then upgraded, as horizontal bars against the plan's bars (15% target, 5% floor). */
function funnelChart(text: ChartText, startedOnFree: number, upgraded: number, target: number, floor: number): string {
  const height = 200;
  const left = 150;
  const plotW = W - left - 40;
  const x = scale(Math.max(1, startedOnFree), true);
  const xAt = (v: number) => left + (v / x.top) * plotW;
  const rows = [
    { label: 'Started on Free', value: startedOnFree, colour: COLOURS.sky },
    { label: 'Upgraded', value: upgraded, colour: COLOURS.green },
  ];
  const barH = 36;
  const yOf = (i: number) => 20 + i * (barH + 16);
  const axisY = yOf(rows.length) + 4;
  const bars = rows
    .map(
      (r, i) =>
        `<text x="${left - 8}" y="${yOf(i) + barH / 2 + 5}" text-anchor="end" font-size="13">${h(r.label)}</text><rect x="${left}" y="${yOf(i)}" width="${(xAt(r.value) - left).toFixed(1)}" height="${barH}" fill="${r.colour}"><title>${h(`${r.label}: ${count(r.value)}`)}</title></rect><text x="${(xAt(r.value) + 6).toFixed(1)}" y="${yOf(i) + barH / 2 + 5}" font-size="13" font-weight="600">${h(count(r.value))}</text>`,
    )
    .join('');
  const marks = [
    { share: target, label: `target ${percent(target, 0)}`, colour: COLOURS.green, anchor: 'start', dx: 4 },
    { share: floor, label: `failure below ${percent(floor, 0)}`, colour: COLOURS.vermillion, anchor: 'end', dx: -4 },
  ]
    .filter(() => startedOnFree > 0)
    .map(
      (m) =>
        `<g aria-hidden="true"><line x1="${xAt(m.share * startedOnFree).toFixed(1)}" x2="${xAt(m.share * startedOnFree).toFixed(1)}" y1="${yOf(1) - 6}" y2="${yOf(1) + barH + 6}" stroke="${m.colour}" stroke-width="2" stroke-dasharray="4 3"/><text x="${(xAt(m.share * startedOnFree) + m.dx).toFixed(1)}" y="${yOf(1) - 4}" font-size="11" text-anchor="${m.anchor}" style="fill:${m.colour}">${h(m.label)}</text></g>`,
    )
    .join('');
  const ticks = x.ticks
    .map(
      (t) =>
        `<line class="axis" x1="${xAt(t).toFixed(1)}" x2="${xAt(t).toFixed(1)}" y1="${axisY}" y2="${axisY + 4}"/><text class="tick" x="${xAt(t).toFixed(1)}" y="${axisY + 17}" text-anchor="middle">${h(count(t))}</text>`,
    )
    .join('');
  const axisSvg = `<g aria-hidden="true"><line class="axis" x1="${left}" x2="${left + plotW}" y1="${axisY}" y2="${axisY}"/><line class="axis" x1="${left}" x2="${left}" y1="10" y2="${axisY}"/>${ticks}<text class="axis-title" x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle">${h(text.xTitle)}</text><text class="axis-title" transform="translate(16 ${(axisY + 10) / 2}) rotate(-90)" text-anchor="middle">${h(text.yTitle)}</text></g>`;
  return `${svgOpen(text, height)}${axisSvg}${bars}${marks}</svg>`;
}

function verdictCell(c: Criterion): string {
  const cls =
    c.verdict === 'inconclusive' ? 'v-inconclusive' : c.kind === 'failure' && c.verdict === 'met' ? 'v-tripped' : c.verdict === 'met' ? 'v-met' : 'v-not-met';
  return `<td class="${cls}">${h(verdictLabel(c))}</td>`;
}

function card(label: string, value: string, note = ''): string {
  return `<div class="figure-card">${h(label)}<strong>${h(value)}</strong>${note ? `<span class="note">${h(note)}</span>` : ''}</div>`;
}

/**
 * The report as one self-contained HTML page: inline CSS and SVG, no script, no external resource
 * (its Content-Security-Policy forbids both). Every chart has labelled axes, a title and description
 * for assistive technology, and a table of its figures below it. All text from the report is escaped.
 */
export function reportHtml(report: ExperimentReport, options: { generatedAt?: string } = {}): string {
  const r = report;
  const days = r.callsPerDay.days.map((d) => d.day);
  const overall = r.verdict.overall;

  const calls = figure(
    'chart-calls',
    `Calls per day: served, billable, refused and errors (average ${count(r.callsPerDay.average, 1)} billable calls a day; the plan's bar is over 100)`,
    lineChart(
      {
        id: 'calls',
        title: 'API calls per day',
        description: `Line chart of calls per UTC day from ${days[0] ?? '–'} to ${days.at(-1) ?? '–'}: served, billable, refused at the gateway (429) and errors (5xx). The figures are in the table below.`,
        xTitle: 'Day (UTC)',
        yTitle: 'Calls',
      },
      days,
      [
        { name: 'Served', colour: COLOURS.blue, dash: '0', values: r.callsPerDay.days.map((d) => d.served) },
        { name: 'Billable', colour: COLOURS.green, dash: '8 4', values: r.callsPerDay.days.map((d) => d.billable) },
        { name: 'Refused at the gateway (429)', colour: COLOURS.orange, dash: '2 3', values: r.callsPerDay.days.map((d) => d.refused) },
        { name: 'Errors (5xx)', colour: COLOURS.vermillion, dash: '10 3 2 3', values: r.callsPerDay.days.map((d) => d.errors) },
      ],
    ) +
      dataTable(
        'Calls per day (figures of the chart above)',
        ['Day (UTC)', 'Served', 'Billable', 'Refused at the gateway (429)', 'Errors (5xx)'],
        r.callsPerDay.days.map((d) => [d.day, count(d.served), count(d.billable), count(d.refused), count(d.errors)]),
      ),
  );

  const revenue = figure(
    'chart-revenue',
    `Revenue per day: invoices paid (${usd(r.revenue.paidCents)} in the window)`,
    barChart(
      {
        id: 'revenue',
        title: 'Revenue per day (invoices paid)',
        description: `Bar chart of the amount paid per UTC day, ${usd(r.revenue.paidCents)} in all. The figures are in the table below.`,
        xTitle: 'Day (UTC)',
        yTitle: 'Paid (USD)',
      },
      r.revenue.perDay.map((d) => ({ label: d.day.slice(5), value: d.paidCents, colour: COLOURS.blue, tip: `${d.day}: ${usd(d.paidCents)} paid` })),
      { tick: (v) => usd(v).replace(/\.00$/, ''), whole: true, minTop: 100 },
    ) +
      dataTable(
        'Revenue per day (figures of the chart above)',
        ['Day (UTC)', 'Paid'],
        r.revenue.perDay.map((d) => [d.day, usd(d.paidCents)]),
      ),
  );

  const up = r.upgradeRate;
  const funnel = figure(
    'chart-funnel',
    up.interval
      ? `Upgrade funnel: ${count(up.upgraded)} of ${count(up.startedOnFree)} upgraded, ${percent(up.interval.estimate)} (95% interval ${percent(up.interval.low)} to ${percent(up.interval.high)})`
      : 'Upgrade funnel: no customer started on Free in the window',
    funnelChart(
      {
        id: 'funnel',
        title: 'Upgrade funnel',
        description: `Horizontal bars: ${count(up.startedOnFree)} customers started on Free in the window and ${count(up.upgraded)} moved to a paid tier. The figures are in the table below.`,
        xTitle: 'Customers',
        yTitle: 'Step',
      },
      up.startedOnFree,
      up.upgraded,
      r.criteria.find((c) => c.id === 'upgradeRate')?.threshold ?? 0.15,
      r.criteria.find((c) => c.id === 'upgradeRateFloor')?.threshold ?? 0.05,
    ) +
      dataTable(
        'Upgrade funnel (figures of the chart above)',
        ['Step', 'Customers', 'Share of those who started on Free'],
        [
          ['Started on Free', count(up.startedOnFree), up.startedOnFree ? '100%' : '–'],
          [
            'Upgraded to a paid tier',
            count(up.upgraded),
            up.interval ? `${percent(up.interval.estimate)} (95% interval ${percent(up.interval.low)} to ${percent(up.interval.high)})` : '–',
          ],
        ],
      ),
  );

  const nps = r.nps;
  const distribution = nps?.distribution ?? Array.from({ length: 11 }, () => 0);
  const groupOf = (score: number) =>
    score >= 9
      ? { name: 'Promoter', colour: COLOURS.green }
      : score >= 7
        ? { name: 'Passive', colour: COLOURS.grey }
        : { name: 'Detractor', colour: COLOURS.vermillion };
  const npsChart = figure(
    'chart-nps',
    nps
      ? `NPS distribution: NPS ${nps.estimate.toFixed(1)} (95% interval ${nps.low.toFixed(1)} to ${nps.high.toFixed(1)}) from ${count(nps.n)} answers`
      : 'NPS distribution: no survey answers in the window',
    barChart(
      {
        id: 'nps',
        title: 'NPS survey answers per score',
        description: nps
          ? `Bar chart of answers per score from 0 to 10: ${count(nps.detractors)} detractors (0 to 6), ${count(nps.passives)} passives (7 and 8), ${count(nps.promoters)} promoters (9 and 10). The figures are in the table below.`
          : 'Bar chart of answers per score from 0 to 10: no answers yet.',
        xTitle: 'Score (0 = not at all likely to recommend, 10 = extremely likely)',
        yTitle: 'Answers',
      },
      distribution.map((n, score) => ({
        label: String(score),
        value: n,
        colour: groupOf(score).colour,
        tip: `Score ${score} (${groupOf(score).name.toLowerCase()}): ${count(n)} answers`,
      })),
      {
        tick: (v) => count(v),
        whole: true,
        groups: [
          { from: 0, to: 6, label: 'Detractors', detail: `0–6: ${count(nps?.detractors ?? 0)}`, colour: COLOURS.vermillion },
          { from: 7, to: 8, label: 'Passives', detail: `7–8: ${count(nps?.passives ?? 0)}`, colour: COLOURS.grey },
          { from: 9, to: 10, label: 'Promoters', detail: `9–10: ${count(nps?.promoters ?? 0)}`, colour: COLOURS.green },
        ],
      },
    ) +
      dataTable(
        'Answers per score (figures of the chart above)',
        ['Score', 'Group', 'Answers'],
        distribution.map((n, score) => [String(score), groupOf(score).name, count(n)]),
        2,
      ),
  );

  const t = r.billingTickets;
  const withinSla = Math.max(0, t.count - t.slaBreaches);
  const tickets = figure(
    'chart-tickets',
    `Billing support tickets and the 4-hour SLA: median time to acknowledge ${t.medianAcknowledgeMinutes === null ? '– (none acknowledged)' : `${count(t.medianAcknowledgeMinutes)} minutes`}`,
    barChart(
      {
        id: 'tickets',
        title: 'Billing tickets and SLA',
        description: `Bar chart: ${count(t.count)} tickets in the window, ${count(withinSla)} within the 4-hour SLA, ${count(t.slaBreaches)} breached it, ${count(t.open)} still open. The figures are in the table below.`,
        xTitle: 'Tickets by state',
        yTitle: 'Tickets',
      },
      [
        { label: 'Filed', value: t.count, colour: COLOURS.blue },
        { label: 'Within SLA', value: withinSla, colour: COLOURS.green },
        { label: 'SLA breached', value: t.slaBreaches, colour: COLOURS.vermillion },
        { label: 'Still open', value: t.open, colour: COLOURS.orange },
      ],
      { tick: (v) => count(v), whole: true },
    ) +
      dataTable(
        'Billing tickets (figures of the chart above)',
        ['State', 'Tickets'],
        [
          ['Filed in the window', count(t.count)],
          ['Acknowledged within 4 hours (or younger than 4 hours)', count(withinSla)],
          ['SLA breached (not acknowledged within 4 hours)', count(t.slaBreaches)],
          ['Still open', count(t.open)],
          ['Median minutes to acknowledge', t.medianAcknowledgeMinutes === null ? '–' : count(t.medianAcknowledgeMinutes)],
        ],
      ),
  );

  const err = r.errorRate;
  const b = r.billingErrorRate;
  const s = r.sampleSize;
  const cards = `<div class="figures">${[
    card('Revenue this month (billed in Stripe)', usd(r.revenue.monthEstimateCents), `shadow billed ${usd(r.revenue.shadowEstimateCents)}`),
    card('Paid in the window', usd(r.revenue.paidCents)),
    card('API error rate (5xx of served)', err.rate === null ? '–' : percent(err.rate, 2), `${count(err.refused)} refused at the gateway (429) apart`),
    card(
      'Billing error rate',
      b ? percent(Math.max(b.calls, b.cents), 2) : '–',
      b ? `over ${count(b.customerMonths)} customer-months` : 'no reconciliation yet',
    ),
    card(
      'Churn',
      r.churn.interval ? percent(r.churn.interval.estimate) : '–',
      `${count(r.churn.churned)} of ${count(r.churn.paidAtStart)} paying at the start`,
    ),
    card(
      'Active users',
      count(s.activeUsers),
      `minimum ${count(s.minimum)}, target ${count(s.target)}${s.marginOfError === null ? '' : `, ±${percent(s.marginOfError)}`}`,
    ),
  ].join('')}</div>`;

  const criteriaTable = `<table><caption>Each criterion of the plan, with its figure, 95% interval, sample size and verdict</caption><thead><tr><th scope="col">Criterion</th><th scope="col">Kind</th><th scope="col" class="n">Value</th><th scope="col" class="n">95% interval</th><th scope="col" class="n">n</th><th scope="col">Verdict</th><th scope="col">Why</th></tr></thead><tbody>${r.criteria
    .map(
      (c) =>
        `<tr><th scope="row">${h(c.description)}</th><td>${h(c.kind)}</td><td class="n">${h(criterionFigure(c, c.value))}</td><td class="n">${h(criterionInterval(c))}</td><td class="n">${c.n === undefined ? '–' : h(count(c.n))}</td>${verdictCell(c)}<td>${h(c.reason)}</td></tr>`,
    )
    .join('')}</tbody></table>`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${h(`Experiment ${r.experiment.id}: ${OVERALL_LABEL[overall]}`)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>${h(`Experiment ${r.experiment.id}`)}</h1>
<p class="hypothesis">${h(r.experiment.hypothesis)}</p>
<dl class="facts"><dt>Phase</dt><dd>${h(phaseLabel(r))}</dd><dt>Window</dt><dd>${h(windowLabel(r))}</dd>${
    options.generatedAt ? `<dt>Generated</dt><dd>${h(options.generatedAt)}</dd>` : ''
  }</dl>
</header>
<section class="verdict verdict-${overall}" aria-labelledby="verdict-title">
<h2 id="verdict-title">${h(`Verdict: ${OVERALL_LABEL[overall]}`)}</h2>
<p>${h(r.verdict.reason)}</p>
</section>
<section aria-labelledby="criteria-title"><h2 id="criteria-title">Criteria</h2>${criteriaTable}</section>
<section aria-labelledby="figures-title"><h2 id="figures-title">Figures</h2>${cards}</section>
<section aria-labelledby="calls-title"><h2 id="calls-title">Calls per day</h2>${calls}</section>
<section aria-labelledby="revenue-title"><h2 id="revenue-title">Revenue</h2>${revenue}</section>
<section aria-labelledby="funnel-title"><h2 id="funnel-title">Upgrades</h2>${funnel}</section>
<section aria-labelledby="nps-title"><h2 id="nps-title">Net Promoter Score</h2>${npsChart}</section>
<section aria-labelledby="tickets-title"><h2 id="tickets-title">Billing support</h2>${tickets}</section>
<footer>api-billing experiment report (<code>npm run cli -- report</code>): figures from the product's own tables; intervals are 95% (Wilson for rates, the standard variance formula for NPS).</footer>
</main>
</body>
</html>
`;
}
