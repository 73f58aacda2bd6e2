/**
 * `npm run bench -- month`: a billing month for 500 customers and over a million served calls through
 * the real path with every fault (bench/month.ts), then the reconciliation: its wall time, its Stripe
 * requests, and the billing error rate on the last line.
 */
import { connectDynamoDb } from '../lambdas/adapters/dynamodb.ts';
import { startDynamoDbLocal } from '../local/dynamodb-local.ts';
import { createTables, synthesizeTableDefinitions } from '../local/tables.ts';
import { monthLine, simulateMonth } from './month.ts';

const CUSTOMERS = Number(process.env.BENCH_MONTH_CUSTOMERS ?? 500);
const CALLS = Number(process.env.BENCH_MONTH_CALLS ?? 1_050_000);

export async function benchMonth(): Promise<void> {
  const started = process.hrtime.bigint();
  const dynamo = await startDynamoDbLocal();
  const { client, doc } = connectDynamoDb({ endpoint: dynamo.endpoint });
  try {
    const tables = await createTables(client, synthesizeTableDefinitions(), 'bench-month-');
    console.log(`billing month (${CUSTOMERS} customers, about ${CALLS.toLocaleString('en-US')} calls, every fault)`);
    const result = await simulateMonth({
      dynamo: { client, doc, endpoint: dynamo.endpoint, tables },
      customers: CUSTOMERS,
      calls: CALLS,
      seed: 11,
      // A scheduled run per simulated day: each run reads every customer's month (about a second per 40 customers on DynamoDB Local).
      syncEveryHours: 24,
      log: (line) => console.log(`  ${line}`),
    });
    const f = result.faults;
    console.log(
      `  events ${result.eventsWritten.toLocaleString('en-US')} written, ${result.voided.toLocaleString('en-US')} voided, ${result.denied.toLocaleString('en-US')} denied at a cap`,
    );
    console.log(
      `  faults: ${f.storeFailures} store failures (${f.redeliveredBatches} batches redelivered), ${f.bisectedBatches} bisected batches, ` +
        `${f.deadLetters} dead letter(s) of ${f.deadLetteredRecords} records (${f.replayedRecords} replayed), ${f.stripe500s} Stripe 500s, ` +
        `${f.stripeTimeouts} Stripe time-outs (${f.resentAsDuplicate} re-sends Stripe knew), ${f.crashesBeforeMark} crash(es) before mark, ` +
        `${f.webhooksOutOfOrder} webhook(s) out of order, ${f.webhooksReplayed} replayed, ${f.lateVoids} voids after their push, ${f.outcomeBatchesRedelivered} access-log batches redelivered`,
    );
    console.log(`  webhooks: ${JSON.stringify(result.webhookOutcomes)}`);
    console.log(
      `  where the time went: ${Object.entries(result.timings)
        .map(([stage, seconds]) => `${stage} ${seconds.toFixed(0)} s`)
        .join(', ')}`,
    );
    console.log(`  simulation: ${result.simulationSeconds.toFixed(1)} s wall time, ${result.stripeRequests.toLocaleString('en-US')} Stripe requests`);
    console.log(
      `  reconciliation of ${result.customers} customers: ${result.reconciliation.seconds.toFixed(1)} s wall time, ${result.reconciliation.stripeRequests.toLocaleString('en-US')} Stripe requests; ` +
        `error ${result.rate.error.calls} calls / ${result.rate.error.cents} cents (residual ${(result.rate.residualRate.calls * 100).toFixed(2)}%)`,
    );
    for (const record of result.records.filter((r) => r.discrepancy))
      console.log(
        `  discrepancy ${record.customerId}: ${record.differences
          .filter((d) => !d.explained)
          .map((d) => d.detail)
          .join('; ')}`,
      );
    console.log(`  whole bench: ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
    console.log(monthLine(result));
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}

if (require.main === module) void benchMonth();
