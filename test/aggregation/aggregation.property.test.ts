import fc from 'fast-check';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { createAggregator } from '../../lambdas/aggregator/aggregator.ts';
import { DynamoCounterStore } from '../../lambdas/adapters/counting-store.ts';
import { DynamoOutcomeStore } from '../../lambdas/adapters/outcome-store.ts';
import { DynamoRecountSources } from '../../lambdas/adapters/recount-sources.ts';
import type { CounterStore } from '../../lambdas/core/counting.ts';
import type { VoidReason } from '../../lambdas/core/model.ts';
import { recountMonth } from '../../lambdas/core/recount.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';
import { insertRecord, usageEvent, voidRecord } from '../harness/stream-records.ts';

type Outcome = 'served' | 'denied' | 'throttled' | 'over-quota' | 'server-error';
const VOIDS: Partial<Record<Outcome, VoidReason>> = { throttled: 'THROTTLED', 'over-quota': 'QUOTA_EXCEEDED', 'server-error': 'SERVER_ERROR' };
type Fault = 'none' | 'redeliver' | 'crash-after-commit' | 'fail-midway' | 'bisect';

const callArb = fc.record({
  customer: fc.nat({ max: 59 }),
  outcome: fc.constantFrom<Outcome>('served', 'served', 'served', 'denied', 'throttled', 'over-quota', 'server-error'),
  hour: fc.constantFrom('2026-11-25T06', '2026-11-25T07', '2026-11-30T23'),
  logDeliveredTwice: fc.boolean(),
});
const scheduleArb = fc.record({ batchSize: fc.integer({ min: 1, max: 80 }), faults: fc.array(fc.constantFrom<Fault>('none', 'redeliver', 'crash-after-commit', 'fail-midway', 'bisect'), { minLength: 1, maxLength: 8 }) });

const silent = { info: () => undefined, error: () => undefined };

describe('aggregation property: counters equal the billable events under any fault schedule', () => {
  let t: TestTables;
  let run = 0;

  it('holds for random call histories and fault schedules', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(callArb, { minLength: 1, maxLength: 80 }), scheduleArb, async (calls, schedule) => {
        // A fresh table set every 25 runs keeps the recount's scan small.
        if (run++ % 25 === 0) t = await freshTables();
        const store = new DynamoCounterStore(t.doc, t.tables.counters);
        const outcomes = new DynamoOutcomeStore(t.doc, t.tables);
        const customers = Array.from({ length: 60 }, (_, i) => `run${run}-c${i}`);

        // What the authorizer and the outcome path write, and the stream records those writes produce.
        const shards: Record<'A' | 'B', DynamoDBRecord[]> = { A: [], B: [] };
        let sequence = 0;
        const expected = new Map<string, number>();
        for (const [i, call] of calls.entries()) {
          if (call.outcome === 'denied') continue; // no event: nothing to count, nothing to void
          const event = usageEvent(`run${run}-r${i}`, customers[call.customer]!, call.hour);
          await t.doc.send(new PutCommand({ TableName: t.tables.usageEvents, Item: event }));
          const shard = i % 2 === 0 ? 'A' : 'B'; // an item's records stay on one shard, in order
          shards[shard].push(insertRecord(++sequence, event));
          const reason = VOIDS[call.outcome];
          if (reason) {
            for (let d = 0; d < (call.logDeliveredTwice ? 2 : 1); d++) {
              if ((await outcomes.voidEvent(event.requestId, reason)) === 'voided') shards[shard].push(voidRecord(++sequence, event, reason));
            }
          } else {
            expected.set(event.customerId, (expected.get(event.customerId) ?? 0) + 1);
          }
        }

        // Deliver each shard's records in batches, each under a fault from the schedule.
        let faultIndex = 0;
        const nextFault = () => schedule.faults[faultIndex++ % schedule.faults.length]!;
        const deliverShard = async (shardId: string, records: DynamoDBRecord[]) => {
          for (let start = 0; start < records.length; start += schedule.batchSize) {
            const batch = records.slice(start, start + schedule.batchSize);
            const fault = nextFault();
            // fail-midway: the batch's first transaction commits, the next one fails (or, with one group, the first fails).
            const faulty: CounterStore = {
              readCheckpoint: (s) => store.readCheckpoint(s),
              commitBatch: async (...args) => {
                if (fault === 'fail-midway' && args[4].length === 0) throw new Error('throttled');
                const result = await store.commitBatch(...args);
                if (fault === 'crash-after-commit') throw new Error('crashed');
                return result;
              },
              commitPending: async (...args) => {
                if (fault === 'fail-midway') throw new Error('throttled');
                return store.commitPending(...args);
              },
            };
            const aggregate = createAggregator(fault === 'crash-after-commit' || fault === 'fail-midway' ? faulty : store, silent);
            const first = await aggregate({ Records: batch, shardId, eventSourceARN: 'arn:stream' });
            const retry = createAggregator(store, silent);
            const failedAt = first.batchItemFailures[0]?.itemIdentifier;
            if (failedAt !== undefined) await retry({ Records: batch.slice(batch.findIndex((r) => r.dynamodb?.SequenceNumber === failedAt)), shardId, eventSourceARN: 'arn:stream' });
            if (fault === 'redeliver' || fault === 'crash-after-commit') await retry({ Records: batch, shardId, eventSourceARN: 'arn:stream' });
            if (fault === 'bisect') {
              const middle = Math.ceil(batch.length / 2);
              await retry({ Records: batch.slice(0, middle), shardId, eventSourceARN: 'arn:stream' });
              await retry({ Records: batch.slice(middle), shardId, eventSourceARN: 'arn:stream' });
            }
          }
        };
        await Promise.all([deliverShard(`run${run}-A`, shards.A), deliverShard(`run${run}-B`, shards.B)]);

        const sources = new DynamoRecountSources(t.doc, t.tables);
        for (const customerId of new Set(calls.map((c) => customers[c.customer]!))) {
          for (const month of ['2026-11']) {
            const recount = await recountMonth(customerId, month, sources);
            expect(recount.differences).toEqual([]);
            expect(recount.counted.billable).toBe(expected.get(customerId) ?? 0);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
