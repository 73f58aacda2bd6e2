import type { Alert } from '../../lambdas/core/alerts.ts';
import {
  EXPERIMENT_METRICS,
  type ExperimentSnapshot,
  type ExperimentSnapshotStore,
  type MetricValue,
  monitorExperimentDaily,
} from '../../lambdas/core/experiment-monitoring.ts';
import type { ExperimentReport } from '../../lambdas/core/experiment.ts';
import { REPORT_AT, sampleReport } from '../harness/experiment.ts';

const DAY_MS = 86_400_000;

/** The snapshot port in memory (the DynamoDB adapter is exercised by the handler test). */
function memorySnapshots(): ExperimentSnapshotStore & { all: Map<string, ExperimentSnapshot> } {
  const all = new Map<string, ExperimentSnapshot>();
  return {
    all,
    put: async (s) => void all.set(s.day, s),
    latestBefore: async (day) =>
      [...all.values()]
        .filter((s) => s.day < day)
        .sort((a, b) => a.day.localeCompare(b.day))
        .at(-1),
  };
}

describe('the experiment monitored daily (core, ports in memory)', () => {
  let alerts: Alert[];
  let metrics: MetricValue[];
  let snapshots: ReturnType<typeof memorySnapshots>;
  const run = (report: ExperimentReport, now: number) =>
    monitorExperimentDaily({
      report: async () => report,
      snapshots,
      alerts: { publish: async (a) => void alerts.push(a) },
      metrics: { add: (m) => void metrics.push(m) },
      now,
    });

  beforeEach(() => {
    alerts = [];
    metrics = [];
    snapshots = memorySnapshots();
  });

  it('stores the snapshot under the day, publishes every metric with a figure, and sends one summary with the verdict and each criterion', async () => {
    const report = await sampleReport();
    expect(await run(report, REPORT_AT)).toEqual({ day: '2026-11-30', verdict: 'inconclusive', paged: [], metrics: EXPERIMENT_METRICS.length });
    expect(snapshots.all.get('2026-11-30')).toEqual({ day: '2026-11-30', takenAt: REPORT_AT, report });
    expect(Object.fromEntries(metrics.map((m) => [m.name, [m.unit, Number(m.value.toFixed(2))]]))).toEqual({
      RevenuePaidUsd: ['None', 3283],
      RevenueMonthEstimateUsd: ['None', 3136],
      RevenueShadowEstimateUsd: ['None', 0],
      CallsServed: ['Count', 2290],
      CallsBillable: ['Count', 2280],
      CallsRefused: ['Count', 180],
      CallsServerErrors: ['Count', 10],
      CallsPerDayAverage: ['Count', 1706.55],
      UpgradeRate: ['Percent', 18],
      ApiErrorRate: ['Percent', 1.65],
      Nps: ['None', 35],
      NpsAnswers: ['Count', 60],
      BillingTickets: ['Count', 12],
      BillingTicketSlaBreaches: ['Count', 4],
      BillingErrorRate: ['Percent', 0.2],
      Churn: ['Percent', 7.5],
      ActiveUsers: ['Count', 190],
      FailureCriteriaMet: ['Count', 0],
    });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ subject: 'Experiment api-billing-001 on 2026-11-30: inconclusive', severity: 'notify' });
    for (const c of report.criteria) expect(alerts[0]!.body).toContain(`- ${c.description}: `);
    expect(alerts[0]!.body).toContain('Calls on 2026-11-29: 2,290 served, 2,280 billable, 180 refused at the gateway (429), 10 errors (5xx)');
  });

  it('pages at once when a failure criterion trips, once: not again the next day while it stays tripped', async () => {
    // 6% billing errors: over the 5% ceiling. 12 of 40 paying customers churn: 30%, its interval above 10%.
    const failing = await sampleReport({ billingError: 0.06, churned: 12 });
    expect(await run(failing, REPORT_AT)).toMatchObject({ verdict: 'failure', paged: ['billingErrorRateCeiling', 'churn'] });
    expect(alerts.map((a) => [a.severity, a.subject])).toEqual([
      ['page', 'PAGE: experiment failure criteria met (2): Billing error rate > 5%; Customer churn > 10%'],
      ['notify', 'Experiment api-billing-001 on 2026-11-30: failure'],
    ]);
    expect(alerts[0]!.body).toContain('- Billing error rate > 5%: 6.00%');
    expect(metrics.find((m) => m.name === 'FailureCriteriaMet')?.value).toBe(2);

    alerts = [];
    expect(await run(failing, REPORT_AT + DAY_MS)).toMatchObject({ paged: [] });
    expect(alerts.map((a) => a.severity)).toEqual(['notify']);
  });

  it.each(['planned', 'concluded'] as const)('does not page while the experiment is %s: the summary and the metric say it', async (phase) => {
    const failing = await sampleReport({ billingError: 0.06 });
    expect(await run({ ...failing, experiment: { ...failing.experiment, phase } }, REPORT_AT)).toMatchObject({ verdict: 'failure', paged: [] });
    expect(alerts.map((a) => [a.severity, a.subject])).toEqual([['notify', 'Experiment api-billing-001 on 2026-11-30: failure']]);
    expect(alerts[0]!.body).toContain('- Billing error rate > 5%: 6.00%: met: failure tripped.');
    expect(metrics.find((m) => m.name === 'FailureCriteriaMet')?.value).toBe(1);
  });

  it('does not publish a metric that has no figure yet (no answers, no reconciliation)', async () => {
    const report = await sampleReport();
    await run({ ...report, nps: null, billingErrorRate: null }, REPORT_AT);
    expect(metrics.map((m) => m.name)).not.toContain('Nps');
    expect(metrics.map((m) => m.name)).not.toContain('BillingErrorRate');
    expect(metrics.find((m) => m.name === 'NpsAnswers')?.value).toBe(0);
  });
});
