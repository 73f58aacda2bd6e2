/** A shard's skipped ranges (see #core/aggregation-gaps.ts), as items beside its checkpoint in the Counters table. */
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Gap, GapStore } from '#core/aggregation-gaps.ts';
import { queryAll } from './dynamodb.ts';

/** Stream sequence numbers have at most 40 digits: zero-padded, they sort as strings. */
const SEQUENCE_WIDTH = 40;
const gapSk = (sequence: string) => `GAP#${sequence.padStart(SEQUENCE_WIDTH, '0')}`;
/** Gaps matter while their records can be read back from the stream (24 hours), and a while longer. */
const GAP_TTL_SECONDS = 3 * 86_400;

export class DynamoGapStore implements GapStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly countersTable: string,
    private readonly now: () => number = Date.now,
  ) {}

  async recordGap(shardKey: string, gap: Gap): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.countersTable,
        Item: { pk: `SHARD#${shardKey}`, sk: gapSk(gap.after), after: gap.after, until: gap.until, expiresAt: Math.floor(this.now() / 1000) + GAP_TTL_SECONDS },
      }),
    );
  }

  async gapsAround(shardKey: string, start: string, end: string): Promise<Gap[]> {
    const pk = `SHARD#${shardKey}`;
    const toGap = (item: Record<string, unknown>): Gap => ({ after: String(item.after), until: String(item.until) });
    // Gaps are disjoint and ordered by where they start: only the last one starting at or before `start` can reach into the range.
    const before = await this.doc.send(
      new QueryCommand({
        TableName: this.countersTable,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':pk': pk, ':lo': 'GAP#', ':hi': gapSk(start) },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const within = await queryAll(this.doc, {
      TableName: this.countersTable,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: { ':pk': pk, ':lo': gapSk(start), ':hi': gapSk(end) },
      ConsistentRead: true,
    });
    const gaps = new Map<string, Gap>();
    for (const item of [...(before.Items ?? []), ...within]) gaps.set(String(item.after), toGap(item));
    return [...gaps.values()];
  }
}
