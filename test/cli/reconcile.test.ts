/**
 * `reconcile` as an operator runs it against `npm start`'s stack: the figures of each customer-month
 * and the error rate as JSON, a dry run that changes nothing, a correction that changes Stripe and is
 * audited, and bad input refused in one line. The stack and the CLI run on one mid-month clock.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createCustomer } from '../../lambdas/core/customers.ts';
import type { ReconciliationRecord } from '../../lambdas/core/reconciliation.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';
import { midMonthClock } from '../harness/clock.ts';
import { cliOnClock } from '../harness/cli-clock.ts';
import { serveCalls } from '../harness/counters.ts';

const now = midMonthClock();
const TWENTY_MINUTES = 20 * 60_000;

describe('reconcile (CLI child process, local stack with the local Stripe)', () => {
  let stack: LocalStack;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-reconcile-'));
    stack = await startLocalStack({
      dir,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `rc${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000,
      now,
    });
    writeLocalState(stack.state(), dir);
  });
  afterAll(async () => stack?.stop());

  it('prints each customer-month with its figures and the error rate, corrects a lost meter event, and audits it', async () => {
    const cli = cliOnClock(dir, now, { API_BILLING_OPERATOR: 'ops-test' });
    const { stripe } = await stack.billing!.services.ready();
    const { customer } = await createCustomer({ name: 'Proof Co', tier: 'pro' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe });
    const month = utcMonth(now());
    // Recorded as the authorizer does; the stack's stream poller and aggregator count them.
    await serveCalls(stack.doc, stack.tables, customer.customerId, `${month}-14T20`, 1_234, { counted: false });
    await stack.settle();
    const inStripe = () =>
      stack.billing!.localStripe!.state.meterEvents.filter((e) => e.customer === customer.stripeCustomerId).reduce((s, e) => s + e.value, 0);

    const first = await cli('reconcile', '--json');
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout) as {
      rate: { rate: { calls: number; cents: number } };
      experiment: { fromMonth: string; customerMonths: number; rate: { calls: number; cents: number } };
      records: ReconciliationRecord[];
    };
    expect(report.records.map((r) => [r.customerId, r.month, r.before.countedCalls, r.before.pushedCalls, r.before.stripeCalls])).toEqual([
      [customer.customerId, month, 1_234, 1_234, 1_234],
    ]);
    expect(report.rate.rate).toEqual({ calls: 0, cents: 0 });
    expect(report.experiment).toMatchObject({ fromMonth: month, customerMonths: 1, rate: { calls: 0, cents: 0 } });

    // Stripe loses the event; twenty minutes on, Stripe's summary would show it if it had it.
    stack.billing!.localStripe!.loseMeterEvent(`${customer.customerId}:${month}:1`);
    const later = cliOnClock(dir, () => now() + TWENTY_MINUTES, { API_BILLING_OPERATOR: 'ops-test' });
    const dry = await later('reconcile', '--customer', customer.customerId, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/push-shortfall \(planned\)/);
    expect(dry.stdout).toMatch(/Stripe's meter holds 1,234 calls fewer than were pushed \(unexplained\)/);
    expect(dry.stdout).toMatch(/dry run: nothing changed/);
    expect(inStripe()).toBe(0);

    const fixed = await later('reconcile', '--customer', customer.customerId, '--month', month);
    expect(fixed.code).toBe(0); // corrected: nothing is still wrong
    expect(fixed.stdout).toMatch(/push-shortfall \(applied\)/);
    expect(fixed.stdout).toMatch(/^billing error rate 100\.000% of calls, .* after corrections 0\.000% \/ 0\.000%$/m);
    expect(fixed.stdout).toMatch(new RegExp(`^since ${month}: billing error rate 100\\.000% of calls, .* over 1 reconciled customer-months`, 'm'));
    expect(inStripe()).toBe(1_234);
    const audit = JSON.parse((await cli('audit', '--customer', customer.customerId, '--json')).stdout) as Array<{ action: string; by: string }>;
    expect(audit).toContainEqual(expect.objectContaining({ action: 'reconcile-push-shortfall', by: 'reconciliation (on-demand)' }));
  }, 300_000); // five CLI processes and a stack: minutes on a loaded 2-core machine

  it('refuses a bad month or an unknown customer in one line, changing nothing', async () => {
    const cli = cliOnClock(dir, now);
    const badMonth = await cli('reconcile', '--month', '2026-13');
    expect([badMonth.code, badMonth.stderr.trim()]).toEqual([1, 'error: --month must look like 2026-11, not "2026-13"']);
    const unknown = await cli('reconcile', '--customer', 'cus_nobody');
    expect([unknown.code, unknown.stderr.trim()]).toEqual([1, 'error: no customer cus_nobody']);
  });
});
