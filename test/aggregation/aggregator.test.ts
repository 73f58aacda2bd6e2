import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { createAggregator } from '../../lambdas/aggregator/aggregator.ts';
import { DynamoCounterStore } from '../../lambdas/adapters/counting-store.ts';
import type { CounterStore } from '../../lambdas/core/counting.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';
import { insertRecord, removeRecord, usageEvent, voidRecord } from '../harness/stream-records.ts';

const silent = { info: () => undefined, error: () => undefined };
const SHARD = 'shardId-0001';

describe('aggregator under stream faults (against DynamoDB Local)', () => {
  let t: TestTables;
  let store: DynamoCounterStore;
  beforeEach(async () => {
    t = await freshTables();
    store = new DynamoCounterStore(t.doc, t.tables.counters);
  });

  const deliver = (records: DynamoDBRecord[], shardId = SHARD, counterStore: CounterStore = store) =>
    createAggregator(counterStore, silent)({ Records: records, shardId, eventSourceARN: 'arn:stream' });

  async function counter(customerId: string, sk: string) {
    const result = await t.doc.send(new GetCommand({ TableName: t.tables.counters, Key: { pk: `CUSTOMER#${customerId}`, sk }, ConsistentRead: true }));
    return { billable: Number(result.Item?.billable ?? 0), voided: Number(result.Item?.voided ?? 0) };
  }

  /** 150 customers: 300 counter items, so one batch needs several transactions (the rest pending in the checkpoint). */
  const wideBatch = (from = 1) => Array.from({ length: 150 }, (_, i) => insertRecord(from + i, usageEvent(`r${from + i}`, `c${i}`)));

  it('counts a batch delivered twice once', async () => {
    const batch = [insertRecord(1, usageEvent('a', 'c1')), insertRecord(2, usageEvent('b', 'c1')), insertRecord(3, usageEvent('c', 'c2'))];
    await deliver(batch);
    await deliver(batch);
    expect(await counter('c1', 'MONTH#2026-11')).toEqual({ billable: 2, voided: 0 });
    expect(await counter('c1', 'HOUR#2026-11-25T06')).toEqual({ billable: 2, voided: 0 });
    expect(await counter('c2', 'MONTH#2026-11')).toEqual({ billable: 1, voided: 0 });
  });

  it('resumes a batch that failed halfway from the reported record, and a bisected retry changes nothing', async () => {
    const failing: CounterStore = {
      readCheckpoint: (s) => store.readCheckpoint(s),
      commitBatch: (...args) => store.commitBatch(...args),
      commitPending: async () => {
        throw new Error('DynamoDB throttled the second transaction');
      },
    };
    const batch = wideBatch();
    const response = await deliver(batch, SHARD, failing);
    const failedAt = response.batchItemFailures[0]?.itemIdentifier;
    expect(failedAt).toBeDefined();
    const from = batch.findIndex((r) => r.dynamodb?.SequenceNumber === failedAt);
    expect(from).toBeGreaterThanOrEqual(0);
    // Lambda retries from the failed record; then, as if it had also bisected, both halves again.
    expect((await deliver(batch.slice(from))).batchItemFailures).toEqual([]);
    await deliver(batch.slice(0, 75));
    await deliver(batch.slice(75));
    for (const i of [0, 74, 149]) expect(await counter(`c${i}`, 'MONTH#2026-11')).toEqual({ billable: 1, voided: 0 });
  });

  it('skips what it applied before crashing between the transaction and the acknowledgement', async () => {
    const crashing: CounterStore = {
      readCheckpoint: (s) => store.readCheckpoint(s),
      commitBatch: async (...args) => {
        await store.commitBatch(...args);
        throw new Error('Lambda timed out after the commit');
      },
      commitPending: (...args) => store.commitPending(...args),
    };
    const batch = [insertRecord(10, usageEvent('x', 'c1')), insertRecord(11, usageEvent('y', 'c1'))];
    const response = await deliver(batch, SHARD, crashing);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '10' }]);
    await deliver(batch); // the retry
    await deliver(batch.slice(0, 1)); // and a bisected one
    await deliver(batch.slice(1));
    expect(await counter('c1', 'MONTH#2026-11')).toEqual({ billable: 2, voided: 0 });
  });

  it('keeps counts exact when two shards update the same counters at once', async () => {
    const shardA = Array.from({ length: 200 }, (_, i) => insertRecord(i + 1, usageEvent(`a${i}`, `c${i % 5}`)));
    const shardB = Array.from({ length: 200 }, (_, i) => insertRecord(i + 1, usageEvent(`b${i}`, `c${i % 5}`)));
    await Promise.all([deliver(shardA, 'shard-A'), deliver(shardB, 'shard-B'), deliver(shardA, 'shard-A')]);
    for (let c = 0; c < 5; c++) expect(await counter(`c${c}`, 'MONTH#2026-11')).toEqual({ billable: 80, voided: 0 });
  });

  it('takes a void back out of the counts, whether it comes in a later batch or the same one', async () => {
    const later = usageEvent('later', 'c1');
    const same = usageEvent('same', 'c1');
    await deliver([insertRecord(1, later)]);
    await deliver([voidRecord(2, later)]);
    await deliver([insertRecord(3, same), voidRecord(4, same, 'QUOTA_EXCEEDED')]);
    await deliver([voidRecord(2, later)]); // redelivered void
    expect(await counter('c1', 'MONTH#2026-11')).toEqual({ billable: 0, voided: 2 });
    expect(await counter('c1', 'HOUR#2026-11-25T06')).toEqual({ billable: 0, voided: 2 });
  });

  it('ignores TTL removals', async () => {
    const event = usageEvent('old', 'c1');
    await deliver([insertRecord(1, event), removeRecord(2, event)]);
    expect(await counter('c1', 'MONTH#2026-11')).toEqual({ billable: 1, voided: 0 });
  });

  it('refuses a batch that names no shard rather than risk counting twice', async () => {
    await expect(createAggregator(store, silent)({ Records: [insertRecord(1, usageEvent('a', 'c1'))] })).rejects.toThrow(/tumbling window/);
  });
});
