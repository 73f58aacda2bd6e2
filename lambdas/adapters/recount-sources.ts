/**
 * Raw events and counters for a recount. The events are found with a filtered Scan: a recount is
 * an occasional operator command, and an index on customer and month would cost a second write on
 * every metered call.
 */
import { GetCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { queryAll } from './dynamodb.ts';
import type { UsageEvent } from '#core/model.ts';
import type { RecountSources, Tally } from '#core/recount.ts';

export class DynamoRecountSources implements RecountSources {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tables: { readonly usageEvents: string; readonly counters: string },
  ) {}

  async events(customerId: string, month: string) {
    const events: Pick<UsageEvent, 'hour' | 'voided'>[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({
          TableName: this.tables.usageEvents,
          FilterExpression: 'customerId = :c AND #month = :m',
          ExpressionAttributeNames: { '#month': 'month', '#hour': 'hour' },
          ExpressionAttributeValues: { ':c': customerId, ':m': month },
          ProjectionExpression: '#hour, voided',
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      events.push(...((page.Items ?? []) as Pick<UsageEvent, 'hour' | 'voided'>[]));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return events;
  }

  async counters(customerId: string, month: string) {
    const tally = (item: Record<string, unknown> | undefined): Tally => ({ billable: Number(item?.billable ?? 0), voided: Number(item?.voided ?? 0) });
    const monthItem = await this.doc.send(
      new GetCommand({ TableName: this.tables.counters, Key: { pk: `CUSTOMER#${customerId}`, sk: `MONTH#${month}` }, ConsistentRead: true }),
    );
    const hours: Record<string, Tally> = {};
    const items = await queryAll(this.doc, {
      TableName: this.tables.counters,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': `CUSTOMER#${customerId}`, ':prefix': `HOUR#${month}` },
      ConsistentRead: true,
    });
    for (const item of items) hours[String(item.sk).slice('HOUR#'.length)] = tally(item);
    return { month: tally(monthItem.Item), hours };
  }
}
