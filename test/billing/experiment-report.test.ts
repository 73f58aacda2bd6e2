/**
 * A 30-day experiment with known ground truth, written into DynamoDB Local the way the product
 * writes it (customers, hour and outcome counters, invoices from webhooks, tickets, survey answers,
 * reconciliation records), read back through the real adapters: the report must equal the truth.
 */
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoFeedbackStore } from '../../lambdas/adapters/feedback-store.ts';
import { DynamoTicketStore } from '../../lambdas/adapters/tickets-store.ts';
import { npsInterval, wilsonInterval, type ExperimentState } from '../../lambdas/core/experiment.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import type { ReconciliationRecord } from '../../lambdas/core/reconciliation.ts';
import { billingFixture, type BillingFixture } from '../harness/billing.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const START = Date.UTC(2026, 9, 20); // the beta starts on 20 October
const NOW = START + 30 * DAY + 12 * HOUR; // 30 full days later

describe('the experiment report over 30 days of known ground truth (DynamoDB Local)', () => {
  let f: BillingFixture;
  beforeAll(async () => {
    f = await billingFixture(NOW);
  });
  afterAll(async () => f?.stop());

  it('equals the truth: calls per day, revenue, upgrades, errors, NPS, tickets, billing error rate, churn and sample size', async () => {
    // 240 customers: 150 new on Free in the window (36 upgraded to Pro), 60 paying from before (9 churned to Free), 30 old Free.
    const customers: Customer[] = [];
    const base = { status: 'active', capBehaviour: 'block', gatewayKeyId: 'g', gatewayKeyValue: 'g' } as const;
    for (let i = 0; i < 150; i++) {
      const createdAt = START + (i % 25) * DAY + HOUR;
      const upgraded = i < 36;
      customers.push({
        ...base,
        customerId: `new${i}`,
        name: `new${i}`,
        initialTier: 'free',
        tier: upgraded ? 'pro' : 'free',
        createdAt: new Date(createdAt).toISOString(),
        ...(upgraded && { upgradedAt: createdAt + 2 * DAY, paidSince: createdAt + 2 * DAY }),
      });
    }
    for (let i = 0; i < 60; i++) {
      const churned = i < 9;
      customers.push({
        ...base,
        customerId: `paid${i}`,
        name: `paid${i}`,
        initialTier: 'pro',
        tier: churned ? 'free' : 'pro',
        createdAt: new Date(START - 40 * DAY).toISOString(),
        ...(churned ? { downgradedAt: START + 10 * DAY } : { paidSince: START - 40 * DAY }),
      });
    }
    for (let i = 0; i < 30; i++)
      customers.push({
        ...base,
        customerId: `old${i}`,
        name: `old${i}`,
        initialTier: 'free',
        tier: 'free',
        createdAt: new Date(START - 90 * DAY).toISOString(),
      });
    for (const c of customers) {
      await f.services.customers.createCustomerWithKey(c, {
        keyHash: `hash-${c.customerId}`,
        keyId: `key-${c.customerId}`,
        customerId: c.customerId,
        keyPrefix: 'ab_live_x',
        status: 'active',
        createdAt: c.createdAt,
      });
    }

    // Calls: the 120 first customers call every day of the window at 10:00: 40 billable (2xx), 2 refused at the gateway (429, voided), 1 server error (voided).
    const active = customers.slice(0, 120);
    const items: Array<Record<string, unknown>> = [];
    for (const c of active) {
      for (let d = 0; d < 30; d++) {
        const hour = new Date(START + d * DAY + 10 * HOUR).toISOString().slice(0, 13);
        items.push({ pk: `CUSTOMER#${c.customerId}`, sk: `HOUR#${hour}`, billable: 40 });
        items.push({ pk: `CUSTOMER#${c.customerId}`, sk: `OUTCOME#${hour}`, s2xx: 40, s4xx: 2, s5xx: 1 });
      }
    }
    for (let i = 0; i < items.length; i += 25)
      await f.doc.send(new BatchWriteCommand({ RequestItems: { [f.tables.counters]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));

    // Paid invoices (the invoice.paid webhook's records): the 51 paying customers' October invoices, $49 each, on 1 November.
    for (const c of customers.filter((x) => x.customerId.startsWith('paid') && x.tier === 'pro')) {
      await f.services.state.recordInvoice({
        invoiceId: `in_${c.customerId}`,
        customerId: c.customerId,
        month: '2026-10',
        status: 'paid',
        amountDueCents: 4_900,
        amountPaidCents: 4_900,
        at: Date.UTC(2026, 10, 1, 1),
      });
    }
    // An open invoice is not revenue yet.
    await f.services.state.recordInvoice({
      invoiceId: 'in_open',
      customerId: 'paid10',
      month: '2026-10',
      status: 'open',
      amountDueCents: 4_900,
      amountPaidCents: 0,
      at: Date.UTC(2026, 10, 1, 1),
    });

    // Tickets: 10 in the window, acknowledged after 1..10 hours (6 past the 4-hour SLA), 2 of them still open; 1 before the window.
    const tickets = new DynamoTicketStore(f.doc, f.tables.billing);
    for (let i = 0; i < 10; i++) {
      const createdAt = START + (i + 1) * DAY;
      await tickets.create({
        ticketId: `t${i}`,
        customerId: `new${i}`,
        message: 'invoice question',
        status: i < 2 ? 'open' : 'acknowledged',
        createdAt,
        ...(i >= 2 && { acknowledgedAt: createdAt + (i - 1) * HOUR }),
      });
    }
    await tickets.create({
      ticketId: 'old',
      customerId: 'old0',
      message: 'before',
      status: 'acknowledged',
      createdAt: START - 5 * DAY,
      acknowledgedAt: START - 5 * DAY + HOUR,
    });

    // Survey: 80 answers in the window (50 promoters, 20 passives, 10 detractors), 1 before it.
    const feedback = new DynamoFeedbackStore(f.doc, f.tables.billing);
    const scores = [...Array(50).fill(10), ...Array(20).fill(8), ...Array(10).fill(3)] as number[];
    for (const [i, score] of scores.entries())
      expect(await feedback.record({ kind: 'answer', customerId: `new${i}`, score, at: START + 3 * DAY + i * HOUR }, Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(await feedback.record({ kind: 'answer', customerId: 'old0', score: 0, at: START - DAY }, Number.MAX_SAFE_INTEGER)).toBe(true);

    // Reconciliation: two customer-months reconciled, 3 calls and 10 cents wrong of 1,000 calls and $20.00.
    const record = (customerId: string, month: string, errorCalls: number, errorCents: number) =>
      ({
        customerId,
        month,
        shouldBeBilled: { calls: 500, cents: 1_000 },
        error: { calls: errorCalls, cents: errorCents },
        residual: { calls: 0, cents: 0 },
        discrepancy: errorCalls > 0,
      }) as unknown as ReconciliationRecord;
    // Only what the error rate reads is filled in; put() stores the record as it is.
    await f.services.reconciliationRecords.put({ ...record('paid11', '2026-10', 3, 10), ranAt: NOW, before: {}, after: {} } as unknown as ReconciliationRecord);
    await f.services.reconciliationRecords.put({ ...record('paid12', '2026-11', 0, 0), ranAt: NOW, before: {}, after: {} } as unknown as ReconciliationRecord);

    const state: ExperimentState = { id: 'api-billing-001', phase: 'launched', cohort: ['paid20'], betaStartedAt: START, launchedAt: START + 3 * DAY };
    expect(await f.services.state.putExperiment(state, 'planned')).toBe(true);

    const report = await f.services.experimentReport();

    expect(report.window).toEqual({ from: new Date(START).toISOString(), to: new Date(NOW).toISOString(), days: 31 });
    expect(report.callsPerDay.average).toBe(120 * 40);
    expect(report.callsPerDay.days.slice(0, 30).every((d) => d.billable === 4_800 && d.served === 120 * 41 && d.refused === 240 && d.errors === 120)).toBe(
      true,
    );
    expect(report.revenue.paidCents).toBe(51 * 4_900);
    // November so far: 36 upgraded + 51 paying customers on Pro ($49 each, their calls within the 10,000 included).
    expect(report.revenue.monthEstimateCents).toBe(87 * 4_900);
    expect(report.upgradeRate).toEqual({ startedOnFree: 150, upgraded: 36, interval: wilsonInterval(36, 150) });
    expect(report.churn).toEqual({ paidAtStart: 60, churned: 9, interval: wilsonInterval(9, 60) });
    // Served by the backend: the 40 billable and the 1 server error a day; the 2 refusals were voided.
    expect(report.errorRate).toMatchObject({ served: 120 * 41 * 30, serverErrors: 120 * 30, refused: 120 * 2 * 30 });
    expect(report.errorRate.rate).toBeCloseTo(1 / 41, 12);
    expect(report.nps).toEqual(npsInterval(scores));
    expect(report.nps?.estimate).toBe(50);
    expect(report.billingTickets).toEqual({ count: 10, slaBreaches: 2 + 4, medianAcknowledgeMinutes: 4.5 * 60, open: 2 });
    expect(report.billingErrorRate).toEqual({ calls: 3 / 1_000, cents: 10 / 2_000, customerMonths: 2, discrepancies: 1 });
    expect(report.sampleSize).toEqual({ activeUsers: 120, minimum: 100, target: 500, marginOfError: 1.959963984540054 * Math.sqrt(0.25 / 120) });

    const verdicts = Object.fromEntries(report.criteria.map((c) => [c.id, c.verdict]));
    expect(verdicts).toEqual({
      revenue: 'met', // $2,499 paid in the window
      callsPerDay: 'met', // 4,800 a day
      upgradeRate: 'met', // 24%, its 95% interval clear of 15% with 120 active users
      billingErrorRate: 'met', // 0.5% at its worst (cents)
      nps: 'inconclusive', // 50, and its interval straddles the bar
      revenueFloor: 'not-met',
      upgradeRateFloor: 'not-met',
      billingErrorRateCeiling: 'not-met',
      churn: 'inconclusive', // 15% of 60, its interval straddles 10%
    });
    expect(report.criteria.find((c) => c.id === 'upgradeRate')?.interval?.low).toBeGreaterThan(0.15);
    expect(report.verdict).toEqual({ overall: 'inconclusive', reason: 'not yet met: Customer satisfaction (NPS) > 50 (inconclusive)' });
  }, 300_000); // 7,200 counter items and 240 customers: minutes on a loaded 2-core machine
});
