/**
 * The experiment, monitored daily (issue 12, part 4): the day's report is stored as a snapshot,
 * published as CloudWatch metrics, summarised to the operators, and a failure criterion that trips
 * pages them at once. Pure: the report, the snapshot store, the metrics and the alerts are ports.
 */
import type { Alert, AlertSink } from './alerts.ts';
import type { Criterion, ExperimentReport } from './experiment.ts';
import { count, criterionFigure, criterionInterval, percent, usd, verdictLabel, windowLabel } from './experiment-report.ts';

const DAY_MS = 86_400_000;

/** The CloudWatch namespace of the experiment's metrics (EMF), read by the stack's dashboard. */
export const EXPERIMENT_METRICS_NAMESPACE = 'api-billing/experiment';

/** CloudWatch units, spelled as CloudWatch (and Powertools' `MetricUnit` values) spell them. */
export type MetricUnitName = 'Count' | 'Percent' | 'None';

interface MetricDefinition {
  readonly name: string;
  readonly unit: MetricUnitName;
  /** The label on the dashboard. */
  readonly label: string;
  /** The figure from the report; `null` when there is none yet (no answers, no reconciliation): not published. */
  readonly value: (report: ExperimentReport) => number | null;
}

/** The last whole UTC day of the report's window (the day before the run, for the daily run). */
export function lastFullDay(report: ExperimentReport): ExperimentReport['callsPerDay']['days'][number] | undefined {
  const to = Date.parse(report.window.to);
  return report.callsPerDay.days.filter((d) => Date.parse(`${d.day}T00:00:00Z`) + DAY_MS <= to).at(-1);
}

const pct = (fraction: number | null | undefined) => (fraction === null || fraction === undefined ? null : fraction * 100);

/** Every metric the daily run publishes, in one place: the Lambda publishes these, the dashboard graphs these. */
export const EXPERIMENT_METRICS = [
  { name: 'RevenuePaidUsd', unit: 'None', label: 'Paid invoices in the window (USD)', value: (r) => r.revenue.paidCents / 100 },
  { name: 'RevenueMonthEstimateUsd', unit: 'None', label: 'This month so far, billed (USD)', value: (r) => r.revenue.monthEstimateCents / 100 },
  { name: 'RevenueShadowEstimateUsd', unit: 'None', label: 'This month so far, shadow billed (USD)', value: (r) => r.revenue.shadowEstimateCents / 100 },
  { name: 'CallsServed', unit: 'Count', label: 'Served (last whole day)', value: (r) => lastFullDay(r)?.served ?? null },
  { name: 'CallsBillable', unit: 'Count', label: 'Billable (last whole day)', value: (r) => lastFullDay(r)?.billable ?? null },
  { name: 'CallsRefused', unit: 'Count', label: 'Refused, 4xx (last whole day)', value: (r) => lastFullDay(r)?.refused ?? null },
  { name: 'CallsServerErrors', unit: 'Count', label: 'Errors, 5xx (last whole day)', value: (r) => lastFullDay(r)?.errors ?? null },
  { name: 'CallsPerDayAverage', unit: 'Count', label: 'Billable calls a day, window average', value: (r) => r.callsPerDay.average },
  { name: 'UpgradeRate', unit: 'Percent', label: 'Upgrade rate (%)', value: (r) => pct(r.upgradeRate.interval?.estimate) },
  { name: 'ApiErrorRate', unit: 'Percent', label: 'API error rate, 5xx of served (%)', value: (r) => pct(r.errorRate.rate) },
  { name: 'Nps', unit: 'None', label: 'NPS', value: (r) => r.nps?.estimate ?? null },
  { name: 'NpsAnswers', unit: 'Count', label: 'NPS answers', value: (r) => r.nps?.n ?? 0 },
  { name: 'BillingTickets', unit: 'Count', label: 'Billing tickets', value: (r) => r.billingTickets.count },
  { name: 'BillingTicketSlaBreaches', unit: 'Count', label: 'Billing ticket SLA breaches (4 h)', value: (r) => r.billingTickets.slaBreaches },
  {
    name: 'BillingErrorRate',
    unit: 'Percent',
    label: 'Billing error rate, worst of calls and cents (%)',
    value: (r) => pct(r.billingErrorRate && Math.max(r.billingErrorRate.calls, r.billingErrorRate.cents)),
  },
  { name: 'Churn', unit: 'Percent', label: 'Churn (%)', value: (r) => pct(r.churn.interval?.estimate) },
  { name: 'ActiveUsers', unit: 'Count', label: 'Active users', value: (r) => r.sampleSize.activeUsers },
  { name: 'FailureCriteriaMet', unit: 'Count', label: 'Failure criteria met', value: (r) => trippedCriteria(r).length },
] as const satisfies readonly MetricDefinition[];

export type ExperimentMetricName = (typeof EXPERIMENT_METRICS)[number]['name'];

export interface MetricValue {
  readonly name: ExperimentMetricName;
  readonly unit: MetricUnitName;
  readonly value: number;
}

/** The metrics of `report` that have a figure. */
export function experimentMetrics(report: ExperimentReport): MetricValue[] {
  return EXPERIMENT_METRICS.flatMap((m) => {
    const value = (m.value as MetricDefinition['value'])(report);
    return value === null || !Number.isFinite(value) ? [] : [{ name: m.name, unit: m.unit, value }];
  });
}

/** The failure criteria the report finds met. */
export function trippedCriteria(report: ExperimentReport): Criterion[] {
  return report.criteria.filter((c) => c.kind === 'failure' && c.verdict === 'met');
}

const criterionLine = (c: Criterion) =>
  `- ${c.description}: ${criterionFigure(c, c.value)}${c.interval ? ` (95% CI ${criterionInterval(c)})` : ''}${c.n === undefined ? '' : `, n = ${count(c.n)}`}: ${verdictLabel(c)}. ${c.reason}`;

const REPORT_ACTION = 'npm run cli -- report --out ./experiment-report (JSON, Markdown and the HTML page with charts)';

/** The daily summary to the alert topic: the verdict, each criterion and the day's figures. */
export function dailySummary(report: ExperimentReport, day: string): Alert {
  const r = report;
  const yesterday = lastFullDay(r);
  const b = r.billingErrorRate;
  const figures = [
    `Revenue: ${usd(r.revenue.paidCents)} paid in the window; this month so far ${usd(r.revenue.monthEstimateCents)} billed, ${usd(r.revenue.shadowEstimateCents)} shadow billed`,
    yesterday
      ? `Calls on ${yesterday.day}: ${count(yesterday.served)} served, ${count(yesterday.billable)} billable, ${count(yesterday.refused)} refused at the gateway (429), ${count(yesterday.errors)} errors (5xx); ${count(r.callsPerDay.average, 1)} billable a day on average`
      : `Calls: ${count(r.callsPerDay.average, 1)} billable a day on average (no whole day yet)`,
    `Upgrade rate: ${r.upgradeRate.interval ? `${percent(r.upgradeRate.interval.estimate)} (${r.upgradeRate.upgraded} of ${r.upgradeRate.startedOnFree})` : 'no customer started on Free'}`,
    `API error rate: ${r.errorRate.rate === null ? 'no call served' : `${percent(r.errorRate.rate, 2)} of ${count(r.errorRate.served)} served`}; ${count(r.errorRate.refused)} refused`,
    `NPS: ${r.nps ? `${r.nps.estimate.toFixed(1)} (95% CI ${r.nps.low.toFixed(1)} to ${r.nps.high.toFixed(1)}, ${r.nps.n} answers)` : 'no answers yet'}`,
    `Billing tickets: ${r.billingTickets.count} (${r.billingTickets.slaBreaches} past the 4-hour SLA, ${r.billingTickets.open} open)`,
    `Billing error rate: ${b ? `${percent(b.calls, 2)} of calls, ${percent(b.cents, 2)} of cents over ${b.customerMonths} customer-months` : 'no reconciliation yet'}`,
    `Churn: ${r.churn.interval ? `${percent(r.churn.interval.estimate)} (${r.churn.churned} of ${r.churn.paidAtStart})` : 'no paying customer at the start'}`,
    `Active users: ${count(r.sampleSize.activeUsers)} (minimum ${r.sampleSize.minimum}, target ${r.sampleSize.target})`,
  ];
  return {
    subject: `Experiment ${r.experiment.id} on ${day}: ${r.verdict.overall}`,
    body: [
      `Verdict: ${r.verdict.overall}. ${r.verdict.reason}`,
      `Phase: ${r.experiment.phase}; window ${windowLabel(r)}`,
      '',
      'Criteria:',
      ...r.criteria.map(criterionLine),
      '',
      'Figures:',
      ...figures.map((f) => `- ${f}`),
    ].join('\n'),
    action: REPORT_ACTION,
    severity: 'notify',
  };
}

/** The page sent at once when failure criteria of a running experiment trip. */
export function failurePage(report: ExperimentReport, tripped: readonly Criterion[]): Alert {
  return {
    // SNS cuts subjects at 100 characters: the count first, the criteria after.
    subject:
      tripped.length === 1
        ? `PAGE: experiment failure criterion met: ${tripped[0]!.description}`
        : `PAGE: experiment failure criteria met (${tripped.length}): ${tripped.map((c) => c.description).join('; ')}`,
    body: [
      `The experiment has met ${tripped.length === 1 ? 'a failure criterion' : `${tripped.length} failure criteria`} of its plan:`,
      ...tripped.map(criterionLine),
      '',
      `Overall: ${report.verdict.overall}. ${report.verdict.reason}`,
      `Phase: ${report.experiment.phase}; window ${windowLabel(report)}`,
    ].join('\n'),
    action: REPORT_ACTION,
    severity: 'page',
  };
}

/** One day's stored report. */
export interface ExperimentSnapshot {
  /** `YYYY-MM-DD`, UTC: the day the run took it. */
  readonly day: string;
  readonly takenAt: number;
  readonly report: ExperimentReport;
}

export interface ExperimentSnapshotStore {
  /** Stores the day's snapshot; a second run the same day replaces it. */
  put(snapshot: ExperimentSnapshot): Promise<void>;
  /** The latest snapshot of a day before `day`, if any. */
  latestBefore(day: string): Promise<ExperimentSnapshot | undefined>;
}

/** Where the day's metrics go (Powertools Metrics, as EMF, in the Lambda). */
export interface MetricSink {
  add(metric: MetricValue): void;
}

export interface DailyMonitoringResult {
  readonly day: string;
  readonly verdict: ExperimentReport['verdict']['overall'];
  /** Failure criteria paged about in this run: those met today and not met in the previous snapshot. */
  readonly paged: readonly string[];
  readonly metrics: number;
}

/**
 * The daily run: computes the report, pages at once on a failure criterion newly met while the
 * experiment runs (one page per criterion as it trips, not one a day while it stays tripped: the daily
 * summary keeps saying so),
 * stores the snapshot, adds the metrics and sends the summary. The page goes before the snapshot is
 * stored, so a run that fails in between pages again when retried rather than never.
 */
export async function monitorExperimentDaily(deps: {
  report: () => Promise<ExperimentReport>;
  snapshots: ExperimentSnapshotStore;
  alerts: AlertSink;
  metrics: MetricSink;
  now: number;
}): Promise<DailyMonitoringResult> {
  const report = await deps.report();
  const day = new Date(deps.now).toISOString().slice(0, 10);
  const previous = await deps.snapshots.latestBefore(day);
  const before = new Set(previous ? trippedCriteria(previous.report).map((c) => c.id) : []);
  // Only a running experiment pages: before the beta (the window is then the last 30 days) or after the
  // conclusion, a tripped criterion is in the summary and the metrics, and wakes nobody.
  const running = report.experiment.phase === 'beta' || report.experiment.phase === 'launched';
  const newly = running ? trippedCriteria(report).filter((c) => !before.has(c.id)) : [];
  if (newly.length) await deps.alerts.publish(failurePage(report, newly));
  await deps.snapshots.put({ day, takenAt: deps.now, report });
  const metrics = experimentMetrics(report);
  for (const metric of metrics) deps.metrics.add(metric);
  await deps.alerts.publish(dailySummary(report, day));
  return { day, verdict: report.verdict.overall, paged: newly.map((c) => c.id), metrics: metrics.length };
}
