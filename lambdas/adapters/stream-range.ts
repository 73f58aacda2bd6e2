/** Reads a range of a DynamoDB stream shard back, as Lambda would have delivered it. */
import { type DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { compareSequenceNumbers } from '#core/counting.ts';
import type { StreamRange } from '#core/replay.ts';

export class DynamoStreamRange implements StreamRange {
  constructor(private readonly streams: DynamoDBStreamsClient) {}

  async read(streamArn: string, shardId: string, start: string, end: string): Promise<unknown[]> {
    const records: unknown[] = [];
    let iterator = (
      await this.streams.send(
        new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', SequenceNumber: start }),
      )
    ).ShardIterator;
    while (iterator) {
      const page = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      for (const record of page.Records ?? []) {
        const sequence = record.dynamodb?.SequenceNumber ?? '';
        if (compareSequenceNumbers(sequence, end) > 0) return records;
        if (record.eventName !== 'REMOVE') records.push({ ...record, eventSourceARN: streamArn });
      }
      if (!page.Records?.length) return records; // caught up with the shard
      iterator = page.NextShardIterator;
    }
    return records;
  }
}
