import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { DynamoCounterStore } from '../../lambdas/adapters/counting-store.ts';
import { DynamoStreamRange } from '../../lambdas/adapters/stream-range.ts';
import { createAggregator } from '../../lambdas/aggregator/aggregator.ts';
import { replayDeadLetters } from '../../lambdas/core/replay.ts';
import { FileDeadLetterQueue } from '../../local/dead-letters.ts';
import { freshTables } from '../harness/dynamodb.ts';
import { usageEvent } from '../harness/stream-records.ts';

const silent = { info: () => undefined, error: () => undefined };

describe('dead-letter replay (against DynamoDB Local and its stream)', () => {
  it('reads a dead-lettered batch back from the stream and counts it once, however often it is replayed', async () => {
    const t = await freshTables();
    for (let i = 0; i < 5; i++) await t.doc.send(new PutCommand({ TableName: t.tables.usageEvents, Item: usageEvent(`dl-${i}`, 'c-dlq') }));
    const streams = new DynamoDBStreamsClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const streamArn = (await t.client.send(new DescribeTableCommand({ TableName: t.tables.usageEvents }))).Table!.LatestStreamArn!;
    const shardId = (await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription!.Shards![0]!.ShardId!;
    const iterator = (await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' })))
      .ShardIterator;
    const records = ((await streams.send(new GetRecordsCommand({ ShardIterator: iterator }))).Records ?? []) as unknown as DynamoDBRecord[];
    expect(records).toHaveLength(5);

    // The aggregator gave up on the batch: its on-failure record names the shard and the range.
    const queue = new FileDeadLetterQueue(join(mkdtempSync(join(tmpdir(), 'dlq-')), 'dead-letters.jsonl'));
    queue.send({ shardId, streamArn, records }, new Error('gave up'));
    const aggregate = createAggregator(new DynamoCounterStore(t.doc, t.tables.counters), silent);
    const replay = () => replayDeadLetters(queue, new DynamoStreamRange(streams), (batch) => aggregate(batch as Parameters<typeof aggregate>[0]));

    expect(await replay()).toEqual([expect.objectContaining({ result: 'replayed', records: 5 })]);
    expect(await queue.receive()).toEqual([]);
    queue.send({ shardId, streamArn, records }, new Error('sent twice'));
    await replay();
    const month = await t.doc.send(new GetCommand({ TableName: t.tables.counters, Key: { pk: 'CUSTOMER#c-dlq', sk: 'MONTH#2026-11' }, ConsistentRead: true }));
    expect(month.Item).toMatchObject({ billable: 5, voided: 0 });
    streams.destroy();
  });

  it('keeps a message it cannot read, and says so', async () => {
    const queue = new FileDeadLetterQueue(join(mkdtempSync(join(tmpdir(), 'dlq-')), 'dead-letters.jsonl'));
    const { appendFileSync } = await import('node:fs');
    appendFileSync((queue as unknown as { file: string }).file, 'not json\n');
    const outcomes = await replayDeadLetters(queue, { read: async () => [] }, async () => ({ batchItemFailures: [] }));
    expect(outcomes).toEqual([expect.objectContaining({ result: 'unreadable' })]);
    expect(await queue.receive()).toHaveLength(1);
  });
});
