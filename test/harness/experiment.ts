/**
 * A month-long experiment with known figures, through the real report (#core/experiment.ts) over an
 * in-memory `ExperimentData` port: for the renderers' and the daily monitoring's unit tests.
 */
import type { TierName } from '../../lambdas/core/config.ts';
import { experimentReport, type CustomerDay, type ExperimentData, type ExperimentReport, type ExperimentState } from '../../lambdas/core/experiment.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import type { ErrorRate } from '../../lambdas/core/reconciliation.ts';
import type { Ticket } from '../../lambdas/core/tickets.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** 1 November 2026, 00:00 UTC: the beta starts. */
export const BETA_START = Date.UTC(2026, 10, 1);
/** The daily run on 30 November 2026, 04:00 UTC. */
export const REPORT_AT = Date.UTC(2026, 10, 30, 4);

export interface SampleOptions {
  /** Customers paying at the start who churn during the window (of 40). @default 3 */
  readonly churned?: number;
  /** Billing error rate (fraction) of the reconciliation's records. @default 0.002 */
  readonly billingError?: number;
  readonly now?: number;
  /** Edits to the report after it is computed (hostile text). */
  readonly edit?: (report: ExperimentReport) => ExperimentReport;
}

function customer(id: string, tier: TierName, fields: Partial<Customer> & { createdAt: string }): Customer {
  return {
    customerId: id,
    name: id,
    tier,
    status: 'active',
    capBehaviour: 'block',
    gatewayKeyId: `gwk_${id}`,
    gatewayKeyValue: `v_${id}`,
    initialTier: tier,
    ...fields,
  };
}

/** 40 customers paying since October, 150 who start on Free in November (27 upgrade), calls every day, tickets, 60 survey answers. */
export async function sampleReport(options: SampleOptions = {}): Promise<ExperimentReport> {
  const now = options.now ?? REPORT_AT;
  const churned = options.churned ?? 3;
  const customers: Customer[] = [];
  for (let i = 0; i < 40; i++) {
    const downgradedAt = i < churned ? BETA_START + (5 + i) * DAY_MS : undefined;
    customers.push(
      customer(`cus_paid_${i}`, downgradedAt ? 'free' : 'pro', {
        createdAt: '2026-10-02T10:00:00.000Z',
        initialTier: 'pro',
        paidSince: Date.UTC(2026, 9, 2, 10),
        downgradedAt,
      }),
    );
  }
  for (let i = 0; i < 150; i++) {
    const createdAt = BETA_START + (i % 20) * DAY_MS + 9 * HOUR_MS;
    const upgradedAt = i < 27 ? createdAt + 3 * DAY_MS : undefined;
    customers.push(customer(`cus_new_${i}`, upgradedAt ? 'pro' : 'free', { createdAt: new Date(createdAt).toISOString(), initialTier: 'free', upgradedAt }));
  }
  const days: CustomerDay[] = [];
  for (const c of customers) {
    for (let t = Math.max(BETA_START, Math.floor(Date.parse(c.createdAt) / DAY_MS) * DAY_MS); t < now; t += DAY_MS) {
      const n = (c.customerId.length * 7 + t / DAY_MS) % 5;
      days.push({
        customerId: c.customerId,
        day: new Date(t).toISOString().slice(0, 10),
        billable: 10 + n,
        s2xx: 9 + n,
        s4xx: 1 + (n % 2),
        s5xx: n === 4 ? 1 : 0,
      });
    }
  }
  const tickets: Ticket[] = Array.from({ length: 12 }, (_, i) => ({
    ticketId: `tkt_${i}`,
    customerId: `cus_new_${i}`,
    message: 'billing question',
    status: i < 2 ? 'open' : 'acknowledged',
    createdAt: BETA_START + i * 2 * DAY_MS,
    acknowledgedAt: i < 2 ? undefined : BETA_START + i * 2 * DAY_MS + (i < 4 ? 6 : 1) * HOUR_MS,
  }));
  // 60 answers: 33 promoters, 15 passives, 12 detractors.
  const scores = [...Array(18).fill(10), ...Array(15).fill(9), ...Array(9).fill(8), ...Array(6).fill(7), ...Array(5).fill(6), ...Array(4).fill(5), 3, 2, 0];
  const rate = options.billingError ?? 0.002;
  const billingErrors: ErrorRate = {
    customerMonths: 190,
    discrepancies: rate > 0 ? 2 : 0,
    shouldBeBilled: { calls: 1_000_000, cents: 500_000 },
    error: { calls: 1_000_000 * rate, cents: 500_000 * rate },
    rate: { calls: rate, cents: rate },
    residualRate: { calls: 0, cents: 0 },
  };
  const data: ExperimentData = {
    customers: async () => customers,
    days: async (from, to) => days.filter((d) => Date.parse(`${d.day}T00:00:00Z`) >= from && Date.parse(`${d.day}T00:00:00Z`) < to),
    paidInvoices: async (from, to) =>
      customers
        .filter((c) => c.paidSince !== undefined || c.upgradedAt !== undefined)
        .map((c, i) => ({ customerId: c.customerId, paidCents: 4_900, at: BETA_START + (i % 29) * DAY_MS + 12 * HOUR_MS }))
        .filter((p) => p.at >= from && p.at < to),
    tickets: async () => tickets,
    feedback: async () => scores.map((score, i) => ({ customerId: `cus_new_${i}`, score, at: BETA_START + i * HOUR_MS * 8 })),
    billingErrorRate: async () => billingErrors,
  };
  const state: ExperimentState = {
    id: 'api-billing-001',
    phase: 'launched',
    cohort: customers.slice(40, 50).map((c) => c.customerId),
    betaStartedAt: BETA_START,
    launchedAt: BETA_START + 7 * DAY_MS,
  };
  const report = await experimentReport(data, state, { now });
  return options.edit ? options.edit(report) : report;
}
