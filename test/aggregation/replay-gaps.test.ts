import fc from 'fast-check';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { DynamoGapStore } from '../../lambdas/adapters/counter-gaps.ts';
import { DynamoCounterStore } from '../../lambdas/adapters/counting-store.ts';
import { createAggregator, createDeadLetterReplayer } from '../../lambdas/aggregator/aggregator.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';
import { insertRecord, usageEvent, voidRecord } from '../harness/stream-records.ts';
import { propertyBudget } from '../harness/property.ts';

const silent = { info: () => undefined, error: () => undefined };
const STREAM = 'arn:stream';

describe('dead-lettered ranges replayed after the shard moved on (against DynamoDB Local)', () => {
  let t: TestTables;
  beforeAll(async () => {
    t = await freshTables();
  });

  const wire = () => {
    const store = new DynamoCounterStore(t.doc, t.tables.counters);
    const gaps = new DynamoGapStore(t.doc, t.tables.counters);
    const aggregate = createAggregator(store, silent, { gaps });
    const replay = createDeadLetterReplayer(store, gaps, silent);
    return {
      deliver: (shardId: string, records: DynamoDBRecord[]) => aggregate({ Records: records, shardId, eventSourceARN: STREAM }),
      replay: (shardId: string, records: DynamoDBRecord[]) => replay({ Records: records, shardId, eventSourceARN: STREAM }),
      plain: (shardId: string, records: DynamoDBRecord[]) => createAggregator(store, silent)({ Records: records, shardId, eventSourceARN: STREAM }),
    };
  };
  const monthOf = async (customerId: string) => {
    const item = (
      await t.doc.send(new GetCommand({ TableName: t.tables.counters, Key: { pk: `CUSTOMER#${customerId}`, sk: 'MONTH#2026-11' }, ConsistentRead: true }))
    ).Item;
    return { billable: Number(item?.billable ?? 0), voided: Number(item?.voided ?? 0) };
  };
  /** Records 1..n of one customer, sequence numbers spaced as a real stream's are. */
  const history = (customerId: string, n: number) =>
    Array.from({ length: n }, (_, i) => insertRecord((i + 1) * 7, usageEvent(`${customerId}-r${i}`, customerId)));

  it('the ordinary path alone would skip a replayed range the checkpoint has passed (why gaps are recorded)', async () => {
    const { deliver, plain } = wire();
    const records = history('c-lost', 9);
    await deliver('s-lost', records.slice(0, 3));
    await deliver('s-lost', records.slice(6)); // the mapping gave up on 4..6 and went on
    await plain('s-lost', records.slice(3, 6));
    expect(await monthOf('c-lost')).toEqual({ billable: 6, voided: 0 });
  });

  it('counts a range given up on once, however often it is replayed', async () => {
    const { deliver, replay } = wire();
    const records = history('c-mid', 9);
    await deliver('s-mid', records.slice(0, 3));
    await deliver('s-mid', records.slice(6));
    for (let i = 0; i < 3; i++) expect((await replay('s-mid', records.slice(3, 6))).batchItemFailures).toEqual([]);
    expect(await monthOf('c-mid')).toEqual({ billable: 9, voided: 0 });
  });

  it('adds nothing for a range the aggregator had applied before the mapping gave up (crash after every commit)', async () => {
    const { deliver, replay } = wire();
    const records = history('c-applied', 9);
    await deliver('s-applied', records.slice(0, 6)); // committed; the acknowledgement never reached the mapping
    await deliver('s-applied', records.slice(6));
    await replay('s-applied', records.slice(3, 6));
    expect(await monthOf('c-applied')).toEqual({ billable: 9, voided: 0 });
  });

  it('replays the first batch of a shard, and a range the shard has not moved past yet', async () => {
    const { deliver, replay } = wire();
    const records = history('c-edges', 12);
    await deliver('s-edges', records.slice(3, 6)); // 1..3 given up on
    await replay('s-edges', records.slice(0, 3));
    await replay('s-edges', records.slice(6, 9)); // 7..9 given up on, nothing after them yet
    expect(await monthOf('c-edges')).toEqual({ billable: 9, voided: 0 });
    await deliver('s-edges', records.slice(9));
    await replay('s-edges', records.slice(6, 9));
    await replay('s-edges', records.slice(0, 3));
    expect(await monthOf('c-edges')).toEqual({ billable: 12, voided: 0 });
  });

  const replayBudget = propertyBudget(60, 180_000);
  it(
    'holds for random histories in which random batches are given up on (some after they were counted) and replayed, repeatedly and out of order',
    async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ customer: fc.nat({ max: 3 }), voided: fc.boolean() }), { minLength: 1, maxLength: 40 }),
          fc.integer({ min: 1, max: 8 }),
          fc.array(fc.constantFrom('counted', 'given-up', 'counted-then-given-up'), { minLength: 1, maxLength: 10 }),
          fc.array(fc.nat({ max: 20 }), { maxLength: 12 }),
          async (calls, batchSize, givenUp, replayOrder) => {
            run += 1;
            const { deliver, replay } = wire();
            const shardId = `prop-${run}`;
            const customers = [0, 1, 2, 3].map((c) => `p${run}-c${c}`);
            const records: DynamoDBRecord[] = [];
            let sequence = 0;
            for (const [i, call] of calls.entries()) {
              const event = usageEvent(`p${run}-r${i}`, customers[call.customer]!);
              records.push(insertRecord((sequence += 1 + (i % 3)), event)); // uneven steps, as a real stream's
              if (call.voided) records.push(voidRecord((sequence += 1), event));
            }
            const batches: DynamoDBRecord[][] = [];
            for (let i = 0; i < records.length; i += batchSize) batches.push(records.slice(i, i + batchSize));
            const deadLetters: DynamoDBRecord[][] = [];
            for (const [i, batch] of batches.entries()) {
              const fate = givenUp[i % givenUp.length];
              // counted-then-given-up: committed each time, but the acknowledgement never reached the mapping.
              if (fate !== 'given-up') await deliver(shardId, batch);
              if (fate !== 'counted') deadLetters.push(batch);
              // Sometimes a replay runs while the shard is still moving.
              if (deadLetters.length && replayOrder[i % Math.max(replayOrder.length, 1)] === 0) await replay(shardId, deadLetters[0]!);
            }
            for (const index of [...replayOrder, ...deadLetters.keys()])
              if (deadLetters.length) await replay(shardId, deadLetters[index % deadLetters.length]!);
            for (const [c, customerId] of customers.entries()) {
              const mine = calls.filter((call) => call.customer === c);
              expect(await monthOf(customerId)).toEqual({ billable: mine.filter((m) => !m.voided).length, voided: mine.filter((m) => m.voided).length });
            }
          },
        ),
        replayBudget.parameters,
      );
    },
    replayBudget.timeoutMs,
  );
});
