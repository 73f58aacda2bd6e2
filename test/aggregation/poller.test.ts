import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { DynamoGapStore } from '../../lambdas/adapters/counter-gaps.ts';
import { DynamoCounterStore } from '../../lambdas/adapters/counting-store.ts';
import { DynamoOutcomeStore } from '../../lambdas/adapters/outcome-store.ts';
import { DynamoStreamRange } from '../../lambdas/adapters/stream-range.ts';
import { createAggregator, createDeadLetterReplayer, type WindowedStreamEvent } from '../../lambdas/aggregator/aggregator.ts';
import { replayDeadLetters } from '../../lambdas/core/replay.ts';
import { FileDeadLetterQueue } from '../../local/dead-letters.ts';
import { startStreamPoller } from '../../local/stream-poller.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';
import { usageEvent } from '../harness/stream-records.ts';

const silent = { info: () => undefined, error: () => undefined };

describe('the local stream poller feeding the aggregator (DynamoDB Local and its real stream)', () => {
  let t: TestTables;
  let store: DynamoCounterStore;
  let gaps: DynamoGapStore;
  beforeEach(async () => {
    t = await freshTables();
    store = new DynamoCounterStore(t.doc, t.tables.counters);
    gaps = new DynamoGapStore(t.doc, t.tables.counters);
  });

  const month = async (customerId: string) => {
    const item = (
      await t.doc.send(new GetCommand({ TableName: t.tables.counters, Key: { pk: `CUSTOMER#${customerId}`, sk: 'MONTH#2026-11' }, ConsistentRead: true }))
    ).Item;
    return { billable: Number(item?.billable ?? 0), voided: Number(item?.voided ?? 0) };
  };
  const putEvents = async (prefix: string, count: number, customers: number) => {
    for (let i = 0; i < count; i++)
      await t.doc.send(new PutCommand({ TableName: t.tables.usageEvents, Item: usageEvent(`${prefix}${i}`, `c${i % customers}`) }));
  };

  it('counts events written to the table, takes a void back out, and survives failing invocations by bisecting', async () => {
    await putEvents('p', 30, 3);
    await new DynamoOutcomeStore(t.doc, t.tables).voidEvent('p0', 'THROTTLED');
    const aggregate = createAggregator(store, silent, { gaps });
    let failures = 3;
    const invocations: number[] = [];
    const poller = await startStreamPoller({
      client: t.client,
      endpoint: t.endpoint,
      tableName: t.tables.usageEvents,
      batchSize: 8,
      idleMs: 20,
      handler: async (event) => {
        invocations.push(event.Records.length);
        if (failures-- > 0) throw new Error('Lambda timed out');
        return aggregate(event);
      },
    });
    try {
      await poller.drain();
    } finally {
      await poller.stop();
    }
    expect(invocations.slice(0, 3)).toEqual([8, 4, 2]); // the failing batch, bisected
    expect(await month('c0')).toEqual({ billable: 9, voided: 1 });
    expect(await month('c1')).toEqual({ billable: 10, voided: 0 });
    expect(await month('c2')).toEqual({ billable: 10, voided: 0 });
  });

  it('goes on past a batch it gives up on, and the dead-letter replay counts that batch once', async () => {
    await putEvents('d', 20, 2);
    const dir = mkdtempSync(join(tmpdir(), 'poller-dlq-'));
    const deadLetters = new FileDeadLetterQueue(join(dir, 'dead-letters.jsonl'));
    const aggregate = createAggregator(store, silent, { gaps });
    const poisoned = (event: WindowedStreamEvent) => event.Records.some((r: DynamoDBRecord) => r.dynamodb?.NewImage?.requestId?.S === 'd7');
    const poller = await startStreamPoller({
      client: t.client,
      endpoint: t.endpoint,
      tableName: t.tables.usageEvents,
      batchSize: 100,
      idleMs: 20,
      maxRetries: 2,
      handler: async (event) => {
        if (poisoned(event)) throw new Error('DynamoDB unavailable');
        return aggregate(event);
      },
      onDeadLetter: (letter, error) => deadLetters.send(letter, error),
    });
    try {
      await poller.drain();
    } finally {
      await poller.stop();
    }
    expect(await month('c1')).toEqual({ billable: 9, voided: 0 }); // d7 given up on, the records after it counted
    expect(await deadLetters.receive()).toHaveLength(1);

    const streams = new DynamoDBStreamsClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const replay = createDeadLetterReplayer(store, gaps, silent);
    try {
      const message = (await deadLetters.receive())[0]!.body;
      expect(await replayDeadLetters(deadLetters, new DynamoStreamRange(streams), (batch) => replay(batch as WindowedStreamEvent))).toEqual([
        expect.objectContaining({ result: 'replayed', records: 1 }),
      ]);
      // The same on-failure record delivered again: nothing more is counted.
      appendFileSync(join(dir, 'dead-letters.jsonl'), `${message}\n`);
      expect(await replayDeadLetters(deadLetters, new DynamoStreamRange(streams), (batch) => replay(batch as WindowedStreamEvent))).toEqual([
        expect.objectContaining({ result: 'replayed', records: 1 }),
      ]);
    } finally {
      streams.destroy();
    }
    expect(await month('c1')).toEqual({ billable: 10, voided: 0 });
    expect(await month('c0')).toEqual({ billable: 10, voided: 0 });
  });
});
