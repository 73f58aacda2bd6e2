import fc from 'fast-check';
import { billingConfig } from '../../lambdas/core/config.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import type { Correction, ReconciliationFigures, ReconciliationRecord } from '../../lambdas/core/reconciliation.ts';
import type { InvoiceSummary } from '../../lambdas/core/ports.ts';
import { accountStanding, usageReport, type HourCount, type UsageHistory } from '../../lambdas/core/usage-report.ts';
import { testCustomer } from '../harness/customer.ts';

const NOW = Date.UTC(2026, 10, 24, 13, 30); // 24 November 2026, 13:30 UTC
const HOUR = 3_600_000;

const customer = (fields: Partial<Customer> = {}): Customer => testCustomer({ createdAt: '2026-08-01T00:00:00Z', ...fields });

/** An in-memory usage history: hour counts (as the counters hold them), what Stripe invoiced, the stored reconciliation records. */
function history(hours: HourCount[], invoiced: Record<string, number> = {}, records: ReconciliationRecord[] = []) {
  const asked: Array<[string, string, string]> = [];
  const reconciliationsOf: string[] = [];
  const port: UsageHistory = {
    async hourly(customerId, fromHour, toHour) {
      asked.push([customerId, fromHour, toHour]);
      return hours.filter((h) => h.hour >= fromHour && h.hour < toHour);
    },
    async invoicedByMonth() {
      return invoiced;
    },
    async reconciliations(customerId) {
      reconciliationsOf.push(customerId);
      return records;
    },
  };
  return { port, asked, reconciliationsOf };
}

/** A stored reconciliation record of customer c1: `before` Stripe's meter held `stripeBefore` calls, the corrections brought it to `calls`. */
function reconciled(
  month: string,
  ranAt: number,
  calls: number,
  options: { cutoff?: number; stripeBefore?: number; corrections?: Correction[]; residualCalls?: number } = {},
) {
  const figures = (stripeCalls: number): ReconciliationFigures => ({
    servedCalls: null,
    countedCalls: calls,
    settledCountedCalls: calls,
    monthItemCalls: calls,
    grandfatheredCalls: 0,
    shouldBeBilledCalls: calls,
    settledBillableCalls: calls,
    pushedCalls: calls,
    pendingCalls: 0,
    stripeCalls,
    invoice: null,
  });
  const stripeBefore = options.stripeBefore ?? calls;
  const billedAfter = calls - (options.residualCalls ?? 0);
  const record: ReconciliationRecord = {
    customerId: 'c1',
    month,
    ranAt,
    trigger: 'daily',
    dryRun: false,
    cutoff: options.cutoff ?? Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 1),
    before: figures(stripeBefore),
    after: figures(billedAfter),
    differences: [],
    corrections: options.corrections ?? [],
    shouldBeBilled: { calls, cents: 0 },
    billed: { calls: stripeBefore, cents: 0 },
    billedAfter: { calls: billedAfter, cents: 0 },
    error: { calls: calls - stripeBefore, cents: 0 },
    residual: { calls: calls - billedAfter, cents: 0 },
    discrepancy: stripeBefore !== calls,
  };
  return record;
}

describe('the usage report (in-memory history)', () => {
  const hours: HourCount[] = [
    { hour: '2026-08-15T10', billable: 7 },
    { hour: '2026-10-31T23', billable: 20_000 },
    { hour: '2026-11-01T00', billable: 100 },
    { hour: '2026-11-01T05', billable: 50 },
    { hour: '2026-11-22T13', billable: 3 }, // just before the last 48 hours
    { hour: '2026-11-22T14', billable: 4 }, // the first of them
    { hour: '2026-11-24T13', billable: 5_000 }, // the current hour
    { hour: '2026-11-24T14', billable: 999 }, // the future: not asked for
  ];

  it('counts the month, its days, the last 48 hours and the previous three months', async () => {
    const h = history(hours, { '2026-10': 6_900 });
    const report = await usageReport(customer(), h.port, billingConfig, NOW);
    expect(h.asked).toEqual([['c1', '2026-08-01T00', '2026-11-24T14']]);
    expect(report).toMatchObject({ customerId: 'c1', tier: 'pro', month: '2026-11', calls: 5_157, quota: null, includedCalls: 10_000, upgrade: null });
    expect(report.estimate).toEqual(estimateBill('pro', 5_157));
    expect(report.daily).toHaveLength(24);
    expect(report.daily[0]).toEqual({ day: '2026-11-01', calls: 150 });
    expect(report.daily[1]).toEqual({ day: '2026-11-02', calls: 0 });
    expect(report.daily.slice(21)).toEqual([
      { day: '2026-11-22', calls: 7 },
      { day: '2026-11-23', calls: 0 },
      { day: '2026-11-24', calls: 5_000 },
    ]);
    expect(report.last48Hours).toHaveLength(48);
    expect(report.last48Hours[0]).toEqual({ hour: '2026-11-22T14', billable: 4 });
    expect(report.last48Hours[1]).toEqual({ hour: '2026-11-22T15', billable: 0 });
    expect(report.last48Hours[47]).toEqual({ hour: '2026-11-24T13', billable: 5_000 });
    expect(report.previousMonths).toEqual([
      { month: '2026-10', calls: 20_000, estimateCents: 6_900, invoicedCents: 6_900, reconciliation: null, invoice: null },
      { month: '2026-09', calls: 0, estimateCents: 4_900, invoicedCents: null, reconciliation: null, invoice: null },
      { month: '2026-08', calls: 7, estimateCents: 4_900, invoicedCents: null, reconciliation: null, invoice: null },
    ]);
    expect(report.reconciliation).toBeNull(); // no reconciliation has run yet
  });

  it("shows each month's Stripe invoice and, when a payment failed, the banner with the amount and the grace's end", async () => {
    const invoice = (month: number, fields: Partial<InvoiceSummary>): InvoiceSummary => ({
      invoiceId: `in_${month}`,
      number: `ABC-000${month}`,
      status: 'paid',
      periodStartSec: Date.UTC(2026, month - 1, 1) / 1000,
      periodEndSec: Date.UTC(2026, month, 1) / 1000,
      createdSec: Date.UTC(2026, month, 1) / 1000,
      totalCents: 4_900,
      amountRemainingCents: 0,
      dueDateSec: null,
      paymentFailed: false,
      fromSubscription: true,
      hostedInvoiceUrl: `https://invoice.example/${month}`,
      ...fields,
    });
    const failedSince = NOW - 2 * 24 * HOUR;
    const asked: string[] = [];
    const port: UsageHistory = {
      ...history(hours).port,
      async invoices(c) {
        asked.push(c.customerId);
        return [invoice(9, {}), invoice(10, { status: 'open', paymentFailed: true, amountRemainingCents: 6_900, totalCents: 6_900 })];
      },
    };
    const report = await usageReport(customer({ paymentIssueSince: failedSince }), port, billingConfig, NOW);
    expect(asked).toEqual(['c1']);
    expect(report.invoices?.map((i) => [i.month, i.number, i.status, i.totalCents, i.amountDueCents])).toEqual([
      ['2026-10', 'ABC-00010', 'past_due', 6_900, 6_900],
      ['2026-09', 'ABC-0009', 'paid', 4_900, 0],
    ]);
    expect(report.previousMonths.map((m) => [m.month, m.invoice?.status ?? null, m.invoice?.hostedInvoiceUrl ?? null])).toEqual([
      ['2026-10', 'past_due', 'https://invoice.example/10'],
      ['2026-09', 'paid', 'https://invoice.example/9'],
      ['2026-08', null, null],
    ]);
    expect(report.paymentIssue).toMatchObject({
      amountDueCents: 6_900,
      state: 'grace',
      graceEndsAt: new Date(failedSince + billingConfig.pastDueGraceDays * 24 * HOUR).toISOString(),
      invoiceUrl: 'https://invoice.example/10',
    });
  });

  it('still answers when Stripe cannot be read: the invoices are null, the banner keeps the grace', async () => {
    const port: UsageHistory = {
      ...history(hours).port,
      invoices: async () => {
        throw new Error('Stripe is down');
      },
    };
    const report = await usageReport(customer({ paymentIssueSince: NOW - HOUR }), port, billingConfig, NOW);
    expect(report.invoices).toBeNull();
    expect(report.calls).toBe(5_157);
    expect(report.paymentIssue).toMatchObject({ state: 'grace', amountDueCents: 0, message: expect.stringMatching(/^Your last payment failed\./) });
  });

  it("shows each month's latest reconciliation: metered, billed, when, and the corrections applied, in words", async () => {
    const lost: Correction = {
      kind: 'push-shortfall',
      calls: 3,
      identifier: 'c1:2026-11:fix:5150',
      description: '3 calls that had not reached Stripe were reported again',
      status: 'applied',
    };
    const failed: Correction = { ...lost, description: 'a correction that failed', status: 'failed', error: 'Stripe is down' };
    const h = history(hours, {}, [
      reconciled('2026-11', Date.UTC(2026, 10, 24, 3, 0, 12), 5_150, { cutoff: Date.UTC(2026, 10, 24, 2), stripeBefore: 5_147, corrections: [lost] }),
      reconciled('2026-10', Date.UTC(2026, 10, 1, 3), 20_000),
      reconciled('2026-08', Date.UTC(2026, 8, 1, 3), 7, { corrections: [failed], residualCalls: 2 }),
      reconciled('2026-06', Date.UTC(2026, 6, 1, 3), 1), // before the months shown
    ]);
    const report = await usageReport(customer(), h.port, billingConfig, NOW);
    expect(h.reconciliationsOf).toEqual(['c1']);
    expect(report.reconciliation).toEqual({
      month: '2026-11',
      meteredCalls: 5_150,
      billedCalls: 5_150,
      reconciledAt: '2026-11-24T03:00:12.000Z',
      corrections: ['3 calls that had not reached Stripe were reported again'],
      matches: true,
      billedBefore: '2026-11-24T02:00:00.000Z', // the month is open: the latest hours wait for the next run
    });
    expect(report.previousMonths.map((m) => [m.month, m.reconciliation])).toEqual([
      [
        '2026-10',
        {
          month: '2026-10',
          meteredCalls: 20_000,
          billedCalls: 20_000,
          reconciledAt: '2026-11-01T03:00:00.000Z',
          corrections: [],
          matches: true,
          billedBefore: null, // over, and counted whole
        },
      ],
      ['2026-09', null],
      // A failed correction is not told as done, and what is still wrong shows.
      [
        '2026-08',
        { month: '2026-08', meteredCalls: 7, billedCalls: 5, reconciledAt: '2026-09-01T03:00:00.000Z', corrections: [], matches: false, billedBefore: null },
      ],
    ]);
  });

  it('includes the day that starts at the very instant of the report', async () => {
    const report = await usageReport(customer(), history(hours).port, billingConfig, Date.UTC(2026, 10, 24));
    expect(report.daily).toHaveLength(24);
    expect(report.daily.at(-1)).toEqual({ day: '2026-11-24', calls: 0 });
  });

  it('counts the first day of a month alone at its first hour', async () => {
    const report = await usageReport(customer(), history(hours).port, billingConfig, Date.UTC(2026, 10, 1, 0, 10));
    expect(report.daily).toEqual([{ day: '2026-11-01', calls: 100 }]);
    expect(report.calls).toBe(100);
  });

  it('gives a quota with what remains, never below zero, and when it resets, for Free', async () => {
    const at = async (calls: number) =>
      await usageReport(customer({ tier: 'free' }), history([{ hour: '2026-11-02T00', billable: calls }]).port, billingConfig, NOW);
    expect((await at(835)).quota).toEqual({ limit: 1_000, remaining: 165, resetsAt: '2026-12-01T00:00:00.000Z' });
    expect((await at(1_000)).quota?.remaining).toBe(0);
    expect((await at(1_020)).quota?.remaining).toBe(0);
    expect((await at(835)).includedCalls).toBe(1_000);
    expect((await at(835)).upgrade).toMatchObject({ level: 'approaching-quota' });
    const enterprise = await usageReport(customer({ tier: 'enterprise' }), history([]).port, billingConfig, NOW);
    expect(enterprise.includedCalls).toBeNull();
    expect(enterprise.quota).toBeNull();
  });

  it.each([
    [25_495, 79, 'ok'], // $79.99 of $100
    [25_500, 80, 'warning'], // exactly 80%
    [35_495, 99, 'warning'],
    [35_500, 100, 'reached'], // exactly 100%
    [45_500, 120, 'reached'],
  ])('with %i Pro calls under a $100 cap shows %i%% used: %s', async (calls, usedPercent, state) => {
    const report = await usageReport(customer(), history([{ hour: '2026-11-02T00', billable: calls }]).port, billingConfig, NOW);
    expect(report.cap).toEqual({ capCents: 10_000, usedPercent, state, behaviour: 'block' });
  });

  it('shows the default $1,000 cap and the lowest alert share as the warning', async () => {
    const config = { ...billingConfig, capAlertPercents: [100, 50] };
    const report = await usageReport(
      customer({ capCents: undefined, capBehaviour: 'absorb' }),
      history([{ hour: '2026-11-02T00', billable: 260_000 }]).port,
      config,
      NOW,
    );
    expect(report.cap).toEqual({ capCents: 100_000, usedPercent: 54, state: 'warning', behaviour: 'absorb' }); // $549 of $1,000
  });

  it('leaves grandfathered calls and the fee for the free days out of the estimate', async () => {
    // Free from 10 November 09:15 for 30 days: the calls of the hours from 09:00 on are free, and the fee
    // for the 20 days 14.75 hours of November from 09:15 is credited.
    const from = Date.UTC(2026, 10, 10, 9, 15);
    const until = from + 30 * 24 * HOUR;
    const grandfathered = customer({ grandfatheredFrom: from, grandfatheredUntil: until });
    const h = [
      { hour: '2026-11-10T08', billable: 20_000 }, // before the window: charged
      { hour: '2026-11-10T09', billable: 3_000 }, // the window's first hour: free
      { hour: '2026-11-20T00', billable: 4_000 },
    ];
    const report = await usageReport(grandfathered, history(h).port, billingConfig, NOW);
    const feeCredit = Math.round((4_900 * (Date.UTC(2026, 11, 1) - from)) / (30 * 24 * HOUR)); // 3,367.05 -> 3,367
    expect(feeCredit).toBe(3_367);
    expect(report.calls).toBe(27_000);
    expect(report.estimate.billableCalls).toBe(20_000);
    expect(report.estimate.lines.at(-1)).toEqual({
      description: 'Grandfathered until 2026-12-10: 7000 calls and the fee for those days free',
      quantity: 7_000,
      amountCents: -feeCredit,
    });
    expect(report.estimate.totalCents).toBe(6_900 - feeCredit);
    expect(report.estimate.lines.reduce((s, l) => s + l.amountCents, 0)).toBe(report.estimate.totalCents);
  });

  it('charges the hour the window ends in as free, and the hour after it', async () => {
    const from = Date.UTC(2026, 9, 20);
    const until = Date.UTC(2026, 10, 19, 10, 30);
    const report = await usageReport(
      customer({ grandfatheredFrom: from, grandfatheredUntil: until }),
      history([
        { hour: '2026-11-19T10', billable: 11_000 }, // the window's last (partial) hour: free
        { hour: '2026-11-19T11', billable: 15_000 }, // after it: charged
      ]).port,
      billingConfig,
      NOW,
    );
    expect(report.estimate.billableCalls).toBe(15_000);
    expect(report.estimate.lines.at(-1)?.quantity).toBe(11_000);
  });

  it('shows the estimate as the bill of the month when nothing is grandfathered, for any hours', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ day: fc.integer({ min: 1, max: 24 }), hour: fc.integer({ min: 0, max: 12 }), billable: fc.nat({ max: 100_000 }) }), {
          maxLength: 20,
        }),
        fc.constantFrom<'free' | 'pro' | 'enterprise'>('free', 'pro', 'enterprise'),
        async (rows, tier) => {
          const h = rows.map((r) => ({ hour: `2026-11-${String(r.day).padStart(2, '0')}T${String(r.hour).padStart(2, '0')}`, billable: r.billable }));
          const report = await usageReport(customer({ tier }), history(h).port, billingConfig, NOW);
          const total = rows.reduce((s, r) => s + r.billable, 0);
          expect(report.calls).toBe(total);
          expect(report.daily.reduce((s, d) => s + d.calls, 0)).toBe(total);
          expect(report.estimate).toEqual(estimateBill(tier, total));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('tells the customer why its calls are refused', async () => {
    expect((await usageReport(customer({ status: 'suspended' }), history([]).port, billingConfig, NOW)).standing.state).toBe('suspended');
  });
});

describe('the plan: opting out to Free and a pending change', () => {
  const hours: HourCount[] = [
    { hour: '2026-10-20T10', billable: 15_000 },
    { hour: '2026-11-20T10', billable: 12_000 },
  ];

  it("offers a paid customer the terms of opting out, with this month's estimate so far", async () => {
    const report = await usageReport(customer({ tier: 'pro' }), history(hours).port, billingConfig, NOW);
    expect(report.plan.pendingChange).toBeNull();
    expect(report.plan.optOut).toMatchObject({ from: 'pro', takesEffectAt: '2026-12-01T00:00:00.000Z', billedThisMonthCents: report.estimate.totalCents });
    expect(report.estimate.totalCents).toBe(5_300);
  });

  it('shows a pending downgrade with its date instead of the terms', async () => {
    const report = await usageReport(customer({ tier: 'pro', downgradeAt: Date.UTC(2026, 11, 1) }), history(hours).port, billingConfig, NOW);
    expect(report.plan).toEqual({ pendingChange: { to: 'free', at: '2026-12-01T00:00:00.000Z' }, optOut: null });
  });

  it('prices the months before an opt-out took effect at the paid tier they were billed at', async () => {
    const optedOut = customer({ tier: 'free', downgradedFrom: 'pro', downgradedAt: Date.UTC(2026, 10, 1, 0, 0, 5) });
    const report = await usageReport(optedOut, history(hours).port, billingConfig, NOW);
    expect(report.plan).toEqual({ pendingChange: null, optOut: null });
    expect(report.estimate.totalCents).toBe(0);
    expect(report.previousMonths[0]).toMatchObject({ month: '2026-10', estimateCents: estimateBill('pro', 15_000, billingConfig).totalCents });
  });
});

describe('account standing', () => {
  it('explains a suspension', () => {
    expect(accountStanding(customer({ status: 'suspended', cappedMonth: '2026-11' }), 10_000, NOW)).toEqual({
      state: 'suspended',
      message: 'Your account is suspended, so API calls are refused. Report a billing problem below: billing support answers within 4 hours.',
    });
  });

  it('explains a block at the cap this month, with the cap and the day calls resume', () => {
    expect(accountStanding(customer({ cappedMonth: '2026-11' }), 25_050, NOW)).toEqual({
      state: 'capped',
      message:
        'Your account reached its $250.50 monthly billing cap, so API calls are refused until 2026-12-01. To keep calling now, ask billing support for a higher cap (report below) or upgrade.',
    });
  });

  it('is active when capped only last month, or when the cap absorbs', () => {
    expect(accountStanding(customer({ cappedMonth: '2026-10' }), 10_000, NOW)).toEqual({ state: 'active', message: null });
    expect(accountStanding(customer({ cappedMonth: '2026-11', capBehaviour: 'absorb' }), 10_000, NOW)).toEqual({ state: 'active', message: null });
  });
});
