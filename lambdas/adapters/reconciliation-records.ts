/**
 * Reconciliation records in the Billing table: the latest per customer-month, twice, so that both
 * reads are one Query: under the customer (its dashboard, newest month first) and under the month
 * (the month's error rate across customers).
 */
import { TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ReconciliationRecord, ReconciliationRecordStore } from '#core/reconciliation.ts';
import { queryAll } from './dynamodb.ts';

const recheckKey = (r: { customerId: string; month: string }) => ({ pk: 'RECONCILE-RECHECK', sk: `${r.month}#${r.customerId}` });

export class DynamoReconciliationRecords implements ReconciliationRecordStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly billingTable: string,
  ) {}

  async put(record: ReconciliationRecord): Promise<void> {
    const body = { record, ranAt: new Date(record.ranAt).toISOString() };
    await this.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: this.billingTable, Item: { pk: `CUSTOMER#${record.customerId}`, sk: `RECONCILED#${record.month}`, ...body } } },
          { Put: { TableName: this.billingTable, Item: { pk: `RECONCILED#${record.month}`, sk: `CUSTOMER#${record.customerId}`, ...body } } },
          // A small marker the scheduled run can find in one Query, every few minutes, without reading records.
          record.recheckAfter === undefined
            ? { Delete: { TableName: this.billingTable, Key: recheckKey(record) } }
            : {
                Put: {
                  TableName: this.billingTable,
                  Item: { ...recheckKey(record), customerId: record.customerId, month: record.month, recheckAfter: record.recheckAfter },
                },
              },
        ],
      }),
    );
  }

  async dueRechecks(now: number) {
    const items = await queryAll(this.doc, {
      TableName: this.billingTable,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'RECONCILE-RECHECK' },
    });
    return items.filter((item) => Number(item.recheckAfter) <= now).map((item) => ({ customerId: String(item.customerId), month: String(item.month) }));
  }

  async forCustomer(customerId: string): Promise<ReconciliationRecord[]> {
    const items = await queryAll(this.doc, {
      TableName: this.billingTable,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': `CUSTOMER#${customerId}`, ':prefix': 'RECONCILED#' },
      ScanIndexForward: false,
    });
    return items.map((item) => item.record as ReconciliationRecord);
  }

  async forMonth(month: string): Promise<ReconciliationRecord[]> {
    const items = await queryAll(this.doc, {
      TableName: this.billingTable,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `RECONCILED#${month}` },
    });
    return items.map((item) => item.record as ReconciliationRecord);
  }
}
