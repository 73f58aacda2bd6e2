/** Writes hour counters in the aggregator's format, for tests of what reads them (usage API, dashboard, sync). */
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export async function addHourCounts(
  doc: DynamoDBDocumentClient,
  countersTable: string,
  customerId: string,
  hours: ReadonlyArray<{ hour: string; billable: number }>,
): Promise<void> {
  for (const { hour, billable } of hours) {
    await doc.send(
      new UpdateCommand({
        TableName: countersTable,
        Key: { pk: `CUSTOMER#${customerId}`, sk: `HOUR#${hour}` },
        UpdateExpression: 'ADD billable :n',
        ExpressionAttributeValues: { ':n': billable },
      }),
    );
  }
}
