/**
 * The beta cohort end to end (DynamoDB Local, the local Stripe through the adapter): during the beta
 * only the cohort's calls reach Stripe; everyone else's are metered and priced (shadow billed); the
 * launch bills everyone from that moment, never the beta's usage; the month's invoices come out at
 * what each customer owes, and the reconciliation agrees.
 */
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { feeCreditCents } from '../../lambdas/core/grandfather.ts';
import { launch, startBeta, type ExperimentState } from '../../lambdas/core/experiment.ts';
import { runSync } from '../../lambdas/core/sync.ts';
import { usageReport } from '../../lambdas/core/usage-report.ts';
import { dynamoUsageHistory } from '../../lambdas/adapters/usage-history.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';
import { serveCalls } from '../harness/counters.ts';

const NOV = Date.UTC(2026, 10, 1) / 1000;
const DEC = Date.UTC(2026, 11, 1) / 1000;

describe('shadow billing during the beta (DynamoDB Local, the local Stripe)', () => {
  let f: BillingFixture;
  beforeEach(async () => {
    f = await billingFixture(Date.UTC(2026, 10, 2, 0, 0));
  });
  afterEach(async () => f.stop());

  it('pushes only the cohort during the beta, bills the others from the launch on, and invoices each what it owes', async () => {
    const inCohort = await f.addCustomer('enterprise');
    const outside = await f.addCustomer('enterprise');
    const betaStart = Date.UTC(2026, 10, 2, 1, 0);
    const started = startBeta(undefined, [inCohort.customerId], betaStart) as { ok: true; state: ExperimentState };
    expect(await f.services.state.putExperiment(started.state, 'planned')).toBe(true);
    expect(await f.services.state.putExperiment(started.state, 'planned')).toBe(false); // a second start loses

    for (const c of [inCohort, outside]) await serveCalls(f.doc, f.tables, c.customerId, '2026-11-05T10', 200);
    setTime(f, Date.UTC(2026, 10, 6, 0, 0));
    const { sync } = await f.services.ready();
    await runSync(await f.services.customers.listCustomers(), sync, { paused: false });
    const inStripe = async (stripeCustomerId: string) => f.services.provider.meteredTotal(sync.meterId, stripeCustomerId, NOV, DEC);
    expect([await inStripe(inCohort.stripeCustomerId!), await inStripe(outside.stripeCustomerId!)]).toEqual([200, 0]);

    // The customer outside the cohort sees what it would pay, and that it is not charged.
    const history = dynamoUsageHistory(f.doc, f.tables);
    const shadowReport = await usageReport((await f.services.customers.getCustomer(outside.customerId))!, history, billingConfig, f.clock.now);
    expect(shadowReport.billing.mode).toBe('shadow');
    expect(shadowReport.estimate.totalCents).toBe(estimateBill('enterprise', 200).totalCents);
    expect((await usageReport((await f.services.customers.getCustomer(inCohort.customerId))!, history, billingConfig, f.clock.now)).billing.mode).toBe(
      'charged',
    );

    const launchedAt = Date.UTC(2026, 10, 10, 0, 0);
    const launched = launch(started.state, launchedAt) as { ok: true; state: ExperimentState };
    expect(await f.services.state.putExperiment(launched.state, 'beta')).toBe(true);
    for (const c of [inCohort, outside]) await serveCalls(f.doc, f.tables, c.customerId, '2026-11-12T10', 30);
    setTime(f, Date.UTC(2026, 10, 13, 0, 0));
    await runSync(await f.services.customers.listCustomers(), sync, { paused: false });
    expect([await inStripe(inCohort.stripeCustomerId!), await inStripe(outside.stripeCustomerId!)]).toEqual([230, 30]);

    // The month ends: the drafts are reconciled (the webhook's run), then finalized.
    setTime(f, Date.UTC(2026, 11, 1, 0, 5));
    await f.stripe.advanceBillingPeriods();
    const run = await f.services.reconcile({ alerts: f.alertSink, trigger: 'invoice', months: ['2026-11'] });
    setTime(f, Date.UTC(2026, 11, 1, 1, 10));
    await f.stripe.advanceBillingPeriods();

    const invoiceOf = async (stripeCustomerId: string) =>
      (await f.stripe.client().invoices.list({ customer: stripeCustomerId })).data.find((i) => i.period_start === NOV)!;
    const cohortInvoice = await invoiceOf(inCohort.stripeCustomerId!);
    const outsideInvoice = await invoiceOf(outside.stripeCustomerId!);
    // The customer outside the cohort: no charge for the beta's calls, nor for the fee of the beta's days.
    const betaFeeCredit = feeCreditCents(outside, Date.UTC(2026, 10, 1), Date.UTC(2026, 11, 1), billingConfig, { from: betaStart, until: launchedAt });
    expect(betaFeeCredit).toBeGreaterThan(0);
    expect([cohortInvoice.total, outsideInvoice.total]).toEqual([
      estimateBill('enterprise', 230).totalCents,
      estimateBill('enterprise', 30).totalCents - betaFeeCredit,
    ]);
    expect(run.records.map((r) => [r.customerId === inCohort.customerId ? 'cohort' : 'outside', r.discrepancy])).toEqual(
      expect.arrayContaining([
        ['cohort', false],
        ['outside', false],
      ]),
    );
    const final = await f.services.reconcile({ alerts: f.alertSink, trigger: 'daily', months: ['2026-11'] });
    expect(final.rate).toMatchObject({ discrepancies: 0, error: { calls: 0, cents: 0 } });
    expect(final.records.flatMap((r) => r.corrections)).toEqual([]);
  }, 300_000); // seconds alone; minutes on a loaded 2-core machine
});
