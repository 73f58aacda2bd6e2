/** The usage report's history from DynamoDB, one wiring for the usage Lambda, the local stack and the CLI. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { UsageHistory } from '#core/usage-report.ts';
import { DynamoBillingStateStore } from './billing-state.ts';
import type { TableNames } from './env.ts';
import { DynamoReconciliationRecords } from './reconciliation-records.ts';
import { CounterUsageReader } from './sync-store.ts';

/**
 * Hour counters (Counters table), the invoices the webhooks recorded and the reconciliation records (Billing table): Query only.
 * With `invoices`, also the customer's Stripe invoices (#core/customer-billing.ts invoiceSource).
 */
export function dynamoUsageHistory(
  doc: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'counters' | 'billing'>,
  invoices?: UsageHistory['invoices'],
): UsageHistory {
  const counters = new CounterUsageReader(doc, tables.counters);
  const state = new DynamoBillingStateStore(doc, tables.billing);
  const reconciliations = new DynamoReconciliationRecords(doc, tables.billing);
  return {
    hourly: (...args) => counters.hourly(...args),
    invoicedByMonth: (customerId) => state.invoicedByMonth(customerId),
    reconciliations: (customerId) => reconciliations.forCustomer(customerId),
    experiment: () => state.getExperiment(),
    ...(invoices && { invoices }),
  };
}
