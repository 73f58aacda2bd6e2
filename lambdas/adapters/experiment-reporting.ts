/**
 * The experiment's reads, without Stripe: its rollout state, the billing error rate so far and the
 * report (#core/experiment.ts) over the product's tables. The CLI (through billingServices) and the
 * daily metrics Lambda, which holds no Stripe key, share this one wiring.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { billingConfig, type BillingConfig } from '#core/config.ts';
import { experimentReport, type ExperimentReport, type ExperimentState } from '#core/experiment.ts';
import { errorRate, type ErrorRate } from '#core/reconciliation.ts';
import { utcMonth } from '#core/time.ts';
import { DynamoBillingStateStore } from './billing-state.ts';
import { scanCustomers } from './customer-store.ts';
import type { TableNames } from './env.ts';
import { dynamoExperimentData } from './experiment-data.ts';
import { DynamoFeedbackStore } from './feedback-store.ts';
import { DynamoReconciliationRecords } from './reconciliation-records.ts';
import { DynamoTicketStore } from './tickets-store.ts';

export interface ExperimentReporting {
  /** The experiment's rollout state; `undefined` while planned. */
  experiment(): Promise<ExperimentState | undefined>;
  /**
   * The billing error rate over every customer-month's latest record from `fromMonth` to this month
   * (default: from the month the first customer was created): the experiment's figure so far.
   */
  errorRateSince(fromMonth?: string): Promise<ErrorRate & { readonly fromMonth: string }>;
  /** The experiment's report: figures, intervals and verdicts over [from, now) (default: since the beta started). */
  experimentReport(options?: { from?: number }): Promise<ExperimentReport>;
}

/** Reads customers (Scan), counters (Query) and the Billing table (Query, GetItem): invoices, tickets, survey answers, reconciliation records, the experiment's state. */
export function experimentReporting(options: {
  doc: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'customers' | 'counters' | 'billing'>;
  config?: Pick<BillingConfig, 'tiers'>;
  now?: () => number;
}): ExperimentReporting {
  const { doc, tables } = options;
  const config = options.config ?? billingConfig;
  const now = options.now ?? Date.now;
  const listCustomers = () => scanCustomers(doc, tables.customers);
  const state = new DynamoBillingStateStore(doc, tables.billing);
  const records = new DynamoReconciliationRecords(doc, tables.billing);
  const reporting: ExperimentReporting = {
    experiment: () => state.getExperiment(),
    async errorRateSince(fromMonth) {
      const first = fromMonth ?? (await listCustomers()).map((c) => c.createdAt.slice(0, 7)).sort()[0] ?? utcMonth(now());
      const months: string[] = [];
      for (let [y, m] = first.split('-').map(Number) as [number, number]; ; m++) {
        const month = utcMonth(Date.UTC(y, m - 1, 1));
        if (month > utcMonth(now())) break;
        months.push(month);
        if (months.length > 120) break;
      }
      const all = (await Promise.all(months.map((month) => records.forMonth(month)))).flat();
      return { ...errorRate(all), fromMonth: first };
    },
    async experimentReport(report = {}) {
      const data = dynamoExperimentData({
        doc,
        tables,
        customers: listCustomers,
        tickets: () => new DynamoTicketStore(doc, tables.billing).list(),
        feedback: (fromMs, toMs) => new DynamoFeedbackStore(doc, tables.billing).answers(fromMs, toMs),
        billingErrorRate: (fromMonth) => reporting.errorRateSince(fromMonth),
      });
      return experimentReport(data, await state.getExperiment(), { now: now(), from: report.from, config });
    },
  };
  return reporting;
}
