/**
 * Aggregation benchmark: the in-process fold rate, and the end-to-end rate and DynamoDB writes
 * per 1,000 records through the real aggregator against DynamoDB Local, with 50 customers.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { createAggregator } from '../lambdas/aggregator/aggregator.ts';
import { DynamoGapStore } from '../lambdas/adapters/counter-gaps.ts';
import { DynamoCounterStore } from '../lambdas/adapters/counting-store.ts';
import { connectDynamoDb } from '../lambdas/adapters/dynamodb.ts';
import { foldRecords, type UsageStreamRecord } from '../lambdas/core/counting.ts';
import { startDynamoDbLocal } from '../local/dynamodb-local.ts';
import { createTables, synthesizeTableDefinitions } from '../local/tables.ts';
import { insertRecord, usageEvent } from '../test/harness/stream-records.ts';

const CUSTOMERS = 50;
const silent = { info: () => undefined, error: () => undefined };

function foldRate(): number {
  const records: UsageStreamRecord[] = Array.from({ length: 1_000_000 }, (_, i) => ({
    sequenceNumber: String(i + 1),
    eventName: 'INSERT',
    newImage: { customerId: `c${i % CUSTOMERS}`, hour: '2026-11-25T06', month: '2026-11' },
  }));
  foldRecords(records.slice(0, 10_000)); // warm up
  const started = process.hrtime.bigint();
  const deltas = foldRecords(records);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (deltas.filter((d) => d.sk.startsWith('MONTH#')).reduce((n, d) => n + d.billable, 0) !== records.length) throw new Error('fold lost records');
  return records.length / seconds;
}

async function endToEnd(endpoint: string, batchSize: number, total: number) {
  const { client, doc } = connectDynamoDb({ endpoint });
  const tables = await createTables(client, synthesizeTableDefinitions(), `bench-agg-${batchSize}-`);
  const store = new DynamoCounterStore(doc, tables.counters);
  // As the Lambda runs: each invocation also records the gap it skips (one PutItem), for dead-letter replay.
  const gapStore = new DynamoGapStore(doc, tables.counters);
  let gapWrites = 0;
  const gaps = {
    gapsAround: gapStore.gapsAround.bind(gapStore),
    recordGap: (...args: Parameters<DynamoGapStore['recordGap']>) => {
      gapWrites += 1;
      return gapStore.recordGap(...args);
    },
  };
  const aggregate = createAggregator(store, silent, { gaps });
  const records: DynamoDBRecord[] = Array.from({ length: total }, (_, i) => insertRecord(i + 1, usageEvent(`r${i}`, `c${i % CUSTOMERS}`)));
  const started = process.hrtime.bigint();
  for (let i = 0; i < records.length; i += batchSize)
    await aggregate({ Records: records.slice(i, i + batchSize), shardId: 'shard-1', eventSourceARN: 'arn:bench' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  client.destroy();
  return {
    rate: total / seconds,
    itemWritesPer1000: ((store.stats.itemWrites + gapWrites) * 1000) / total,
    transactionsPer1000: (store.stats.transactions * 1000) / total,
    putsPer1000: (gapWrites * 1000) / total,
  };
}

export async function benchAggregation(): Promise<void> {
  const fold = foldRate();
  const dynamo = await startDynamoDbLocal();
  try {
    console.log('aggregation');
    console.log(`  in-process fold: ${(fold / 1e6).toFixed(2)} M records/s (target >= 1 M, ratio ${(fold / 1e6).toFixed(2)})`);
    // 1,000 is a small batch; under load the mapping fills batches up to 10,000 records or Lambda's 6 MB payload (~8,000 of these records).
    for (const batchSize of [1_000, 8_000]) {
      const r = await endToEnd(dynamo.endpoint, batchSize, 80_000);
      console.log(
        `  end to end, ${CUSTOMERS} customers, batches of ${batchSize}: ${Math.round(r.rate).toLocaleString('en-US')} records/s (target >= 20,000, ratio ${(r.rate / 20_000).toFixed(2)}); ` +
          `${r.itemWritesPer1000.toFixed(1)} item writes in ${r.transactionsPer1000.toFixed(2)} TransactWriteItems + ${r.putsPer1000.toFixed(2)} PutItem (gap) requests per 1,000 records (target <= 20 writes)`,
      );
    }
  } finally {
    await dynamo.stop();
  }
}

if (require.main === module) void benchAggregation();
