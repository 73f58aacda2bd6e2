/** Adds to hour counters and their month's item, as the aggregator does, for tests of what reads them (usage API, dashboard, sync, reconciliation). */
import { BatchWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { usageEvent } from './stream-records.ts';

export async function addHourCounts(
  doc: DynamoDBDocumentClient,
  countersTable: string,
  customerId: string,
  hours: ReadonlyArray<{ hour: string; billable: number }>,
): Promise<void> {
  for (const { hour, billable } of hours) {
    for (const sk of [`HOUR#${hour}`, `MONTH#${hour.slice(0, 7)}`]) {
      await doc.send(
        new UpdateCommand({
          TableName: countersTable,
          Key: { pk: `CUSTOMER#${customerId}`, sk },
          UpdateExpression: 'ADD billable :n',
          ExpressionAttributeValues: { ':n': billable },
        }),
      );
    }
  }
}

/**
 * `n` metered calls of the customer in `hour`, as the authorizer records them (raw usage events) and,
 * unless `counted` is false (a batch the aggregator never applied), as the aggregator counts them.
 */
export async function serveCalls(
  doc: DynamoDBDocumentClient,
  tables: { readonly usageEvents: string; readonly counters: string },
  customerId: string,
  hour: string,
  n: number,
  options: { counted?: boolean } = {},
): Promise<void> {
  // Kept a year from now whatever the event's hour: DynamoDB Local's TTL deletes expired items, as DynamoDB does.
  const expiresAt = Math.floor(Date.now() / 1000) + 365 * 86_400;
  const events = Array.from({ length: n }, (_, i) => ({
    ...usageEvent(`${customerId}-${hour}-${i}-${Math.random().toString(36).slice(2)}`, customerId, hour),
    expiresAt,
  }));
  for (let i = 0; i < events.length; i += 25) {
    const batch = events.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    await doc.send(new BatchWriteCommand({ RequestItems: { [tables.usageEvents]: batch } }));
  }
  if (options.counted ?? true) await addHourCounts(doc, tables.counters, customerId, [{ hour, billable: n }]);
}
