/**
 * The local stack's billing timer (local/billing.ts): with a short `syncIntervalMs`, calls reach the
 * local Stripe as meter events without anyone running a sync, once their hour has settled.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { billingConfig } from '../../lambdas/core/config.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { midMonthClock } from '../harness/clock.ts';

/** Resolves once `condition` holds, checked after each of the timer's short periods; fails with `describe()` at the deadline. */
async function eventually(condition: () => boolean | Promise<boolean>, describe: () => string, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${describe()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe('the local billing timer', () => {
  let stack: LocalStack;
  afterEach(async () => stack?.stop());

  it('pushes settled usage to the local Stripe on its own, every syncIntervalMs', async () => {
    const midMonth = midMonthClock();
    let ahead = 0;
    const now = () => midMonth() + ahead;
    stack = await startLocalStack({
      dir: mkdtempSync(join(tmpdir(), 'timer-')),
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `tm${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 100,
      now,
    });
    const services = stack.billing!.services;
    const { customer, apiKey } = await createCustomer(
      { name: 'Timed Co', tier: 'pro' },
      { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe: (await services.ready()).stripe },
    );
    const stripeEvents = () => stack.billing!.localStripe!.state.meterEvents.filter((e) => e.customer === customer.stripeCustomerId);

    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await fetch(`${stack.gateway.url}/api/work/${i}`, { headers: { 'x-api-key': apiKey.key } })).status);
    expect(statuses).toEqual(Array(7).fill(200));
    await stack.settle();
    const month = utcMonth(now());
    const sync = (await services.ready()).sync;
    expect(await sync.usage.billableCalls(customer.customerId, month)).toBe(7);
    // The hour is still open: the timer's runs leave it alone (it settles 15 minutes after it ends).
    expect(await sync.state.get(customer.customerId, month)).toBeUndefined();

    // Two hours later (12:00 -> 14:00) the hour has ended and settled (settle window: 15 minutes); the timer's next tick pushes it.
    ahead = 2 * 3_600_000;
    expect(ahead).toBeGreaterThanOrEqual(3_600_000 + billingConfig.settleWindowMinutes * 60_000);
    await eventually(
      () => stripeEvents().reduce((s, e) => s + e.value, 0) >= 7,
      () => `meter events ${JSON.stringify(stripeEvents())}`,
    );
    expect(stripeEvents()).toEqual([expect.objectContaining({ value: 7 })]);
    expect(await sync.state.get(customer.customerId, month)).toMatchObject({ pushedCalls: 7 });
    await eventually(
      async () => (await sync.state.get(customer.customerId, month))?.pending === undefined,
      () => 'the push is still pending',
    );
  });
});
