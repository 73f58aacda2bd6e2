/** Adds to hour counters and their month's item, as the aggregator does, for tests of what reads them (usage API, dashboard, sync, reconciliation). */
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

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
