/**
 * The figures `billing status` prints, per customer: this month's calls (hour counters), what was
 * pushed to Stripe (the sync's outbox), and the estimate (the one pricing function), for known
 * counters and a known push. The stack and the CLI run on one mid-month clock.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { syncCustomerMonth } from '../../lambdas/core/sync.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';
import { midMonthClock } from '../harness/clock.ts';
import { cliOnClock } from '../harness/cli-clock.ts';
import { addHourCounts } from '../harness/counters.ts';

const now = midMonthClock();

describe('billing status (CLI child process, local stack with the local Stripe)', () => {
  let stack: LocalStack;
  let cli: ReturnType<typeof cliOnClock>;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-status-'));
    cli = cliOnClock(dir, now, { API_BILLING_OPERATOR: 'ops-test' });
    stack = await startLocalStack({
      dir,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `bs${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000,
      now,
    });
    writeLocalState(stack.state(), dir);
  });
  afterAll(async () => stack?.stop());

  it('prints calls, pushed to Stripe and the estimate of each customer for this month', async () => {
    const { stripe, sync } = await stack.billing!.services.ready();
    const deps = { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe };
    const { customer: pro } = await createCustomer({ name: 'Pro Co', tier: 'pro' }, deps);
    const { customer: idle } = await createCustomer({ name: 'Idle Co', tier: 'free' }, deps);
    const month = utcMonth(now());

    // 12,345 calls, pushed (flushed, as at the period's end), then 655 more not pushed yet.
    await addHourCounts(stack.doc, stack.tables.counters, pro.customerId, [
      { hour: `${month}-14T20`, billable: 345 },
      { hour: `${month}-15T02`, billable: 12_000 },
    ]);
    expect(await syncCustomerMonth((await stack.store.getCustomer(pro.customerId))!, month, sync, { flush: true })).toMatchObject({
      kind: 'pushed',
      value: 12_345,
    });
    expect(stack.billing!.localStripe!.state.meterEvents.filter((e) => e.customer === pro.stripeCustomerId).reduce((s, e) => s + e.value, 0)).toBe(12_345);
    await addHourCounts(stack.doc, stack.tables.counters, pro.customerId, [{ hour: `${month}-15T09`, billable: 655 }]);

    const status = await cli('billing', 'status');
    expect(status.code).toBe(0);
    const lines = status.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('billing active');
    expect(lines[1]).toMatch(/^CUSTOMERID\s+TIER\s+MONTH\s+CALLS\s+PUSHEDTOSTRIPE\s+ESTIMATECENTS$/);
    // Pro: $49 for 10,000 calls, then 3,000 at $0.002: $55.00.
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${pro.customerId}\\s+pro\\s+${month}\\s+13000\\s+12345\\s+5500$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${idle.customerId}\\s+free\\s+${month}\\s+0\\s+0\\s+0$`)));
    expect(lines).toHaveLength(4);

    const json = JSON.parse((await cli('billing', 'status', '--json')).stdout) as { paused: boolean; customers: unknown[] };
    expect(json.paused).toBe(false);
    expect(json.customers).toEqual(
      expect.arrayContaining([
        { customerId: pro.customerId, tier: 'pro', month, calls: 13_000, pushedToStripe: 12_345, estimateCents: 5_500 },
        { customerId: idle.customerId, tier: 'free', month, calls: 0, pushedToStripe: 0, estimateCents: 0 },
      ]),
    );

    expect((await cli('billing', 'pause', '--reason', 'checking the figures')).code).toBe(0);
    expect((await cli('billing', 'status')).stdout.split('\n')[0]).toMatch(/^billing PAUSED by ops-test at \S+: checking the figures$/);
  });
});
