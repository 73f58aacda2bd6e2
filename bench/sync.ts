/**
 * Stripe sync benchmark: 500 customers with a month of hourly usage, held back by a pause, then
 * pushed by one resumed run against the local Stripe: wall time and Stripe requests.
 */
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { billingServices } from '../lambdas/adapters/billing-services.ts';
import { connectDynamoDb } from '../lambdas/adapters/dynamodb.ts';
import { stripeCatalog } from '../lambdas/core/catalog.ts';
import { billingConfig } from '../lambdas/core/config.ts';
import type { Customer } from '../lambdas/core/model.ts';
import { subscribe } from '../lambdas/core/subscriptions.ts';
import { runSync } from '../lambdas/core/sync.ts';
import { utcHour } from '../lambdas/core/time.ts';
import { startDynamoDbLocal } from '../local/dynamodb-local.ts';
import { startLocalStripe } from '../local/stripe/server.ts';
import { createTables, synthesizeTableDefinitions } from '../local/tables.ts';

const CUSTOMERS = 500;
const NOW = Date.UTC(2026, 10, 25, 12, 0);

export async function benchSync(): Promise<void> {
  const [dynamo, stripe] = await Promise.all([startDynamoDbLocal(), startLocalStripe({ now: () => NOW })]);
  try {
    const { client, doc } = connectDynamoDb({ endpoint: dynamo.endpoint });
    const tables = await createTables(client, synthesizeTableDefinitions(), 'bench-sync-');
    const services = billingServices({ doc, tables, stripe: stripe.client(), config: billingConfig, now: () => NOW });
    await services.state.putCatalogIds(await services.provider.ensureCatalog(stripeCatalog(billingConfig)));
    const { stripe: setup, sync } = await services.ready();

    const customers: Customer[] = [];
    for (let i = 0; i < CUSTOMERS; i++) {
      const tier = i % 2 ? 'pro' : 'enterprise';
      const ids = await subscribe({ customerId: `bench-${i}`, name: `c${i}`, tier }, setup, NOW);
      customers.push({
        customerId: `bench-${i}`,
        name: `c${i}`,
        tier,
        status: 'active',
        capBehaviour: 'absorb',
        gatewayKeyId: 'g',
        gatewayKeyValue: 'g',
        createdAt: '2026-11-01T00:00:00Z',
        ...ids,
      });
    }
    // Every hour of the month so far, for every customer (what the aggregator would have counted).
    const hours: string[] = [];
    for (let t = Date.UTC(2026, 10, 1); t < NOW - 3_600_000; t += 3_600_000) hours.push(utcHour(t));
    const items = customers.flatMap((c, i) => hours.map((hour, h) => ({ pk: `CUSTOMER#${c.customerId}`, sk: `HOUR#${hour}`, billable: 1 + ((i + h) % 7) })));
    for (let i = 0; i < items.length; i += 25) {
      const batch = items.slice(i, i + 25);
      await doc.send(new BatchWriteCommand({ RequestItems: { [tables.counters]: batch.map((Item) => ({ PutRequest: { Item } })) } }));
    }

    const paused = await runSync(customers, sync, { paused: true });
    const before = stripe.requests.length;
    const beforeEvents = stripe.requests.filter((r) => r.path === '/v1/billing/meter_events').length;
    const started = process.hrtime.bigint();
    const resumed = await runSync(customers, sync, { paused: false });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const meterEventRequests = stripe.requests.filter((r) => r.path === '/v1/billing/meter_events').length - beforeEvents;
    const expected = items.reduce((s, i) => s + i.billable, 0);
    const pushed = stripe.state.meterEvents.reduce((s, e) => s + e.value, 0);
    client.destroy();

    console.log('stripe sync (500 customers, a month of hourly usage, resumed after a pause)');
    console.log(`  held while paused: ${paused.outcomes.filter((o) => o.kind === 'paused').length} customer-months`);
    console.log(
      `  resumed run: ${seconds.toFixed(2)} s wall time, ${stripe.requests.length - before} Stripe requests, ${meterEventRequests} meter-event requests (target <= 500, ratio ${(meterEventRequests / 500).toFixed(2)})`,
    );
    console.log(
      `  calls in Stripe ${pushed.toLocaleString('en-US')} = counted ${expected.toLocaleString('en-US')}: ${pushed === expected ? 'yes' : 'NO'}; problems: ${resumed.problems.length}`,
    );
  } finally {
    await stripe.stop();
    await dynamo.stop();
  }
}

if (require.main === module) void benchSync();
