import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { UsageEvent } from '#core/model.ts';
import type { UsageEventLog } from '#core/ports.ts';
import { writeIfCondition } from './dynamodb.ts';

/** The usage events table: one conditional put per metered call. */
export class DynamoUsageEventLog implements UsageEventLog {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async recordOnce(event: UsageEvent): Promise<'recorded' | 'duplicate'> {
    const written = await writeIfCondition(() =>
      this.doc.send(new PutCommand({ TableName: this.tableName, Item: event, ConditionExpression: 'attribute_not_exists(requestId)' })),
    );
    return written ? 'recorded' : 'duplicate';
  }
}
