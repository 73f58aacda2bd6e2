/**
 * `experiment start|status|launch|conclude` as an operator runs them against `npm start`'s stack:
 * each step recorded and audited, a step out of order refused in one line and changing nothing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';
import { midMonthClock } from '../harness/clock.ts';
import { cliOnClock } from '../harness/cli-clock.ts';

const now = midMonthClock();

describe('experiment (CLI child process, local stack with the local Stripe)', () => {
  let stack: LocalStack;
  let cli: ReturnType<typeof cliOnClock>;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-experiment-'));
    stack = await startLocalStack({
      dir,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `ex${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000,
      now,
    });
    writeLocalState(stack.state(), dir);
    cli = cliOnClock(dir, now, { API_BILLING_OPERATOR: 'ops-test' });
  });
  afterAll(async () => stack?.stop());

  it('starts a beta with a random cohort of active customers, launches and concludes it, each step audited; a step out of order is refused', async () => {
    const { stripe } = await stack.billing!.services.ready();
    const deps = { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe };
    const ids: string[] = [];
    for (const name of ['A', 'B', 'C']) ids.push((await createCustomer({ name, tier: 'free' }, deps)).customer.customerId);

    const before = await cli('experiment', 'status', '--json');
    expect(JSON.parse(before.stdout)).toMatchObject({ state: { phase: 'planned', cohort: [] }, verdict: { overall: 'inconclusive' } });
    expect(await cli('experiment', 'launch')).toMatchObject({ code: 1, stderr: 'error: launch follows the beta; the experiment is planned\n' });
    expect(await cli('experiment', 'start', '--beta', 'ten')).toMatchObject({ code: 1, stderr: 'error: --beta must be a positive whole number, not "ten"\n' });
    expect(await cli('experiment', 'start', '--customers', 'cust_nobody')).toMatchObject({ code: 1, stderr: 'error: no customer cust_nobody\n' });

    const started = await cli('experiment', 'start', '--beta', '2', '--reason', 'first cohort');
    expect(started.code).toBe(0);
    const state = await stack.billing!.services.experiment();
    expect(state).toMatchObject({ phase: 'beta', betaStartedAt: expect.any(Number) });
    expect(state?.cohort).toHaveLength(2);
    expect(state?.cohort.every((id) => ids.includes(id))).toBe(true);
    expect(started.stdout).toContain(`with 2 customers: ${state!.cohort.join(', ')}`);
    expect(await cli('experiment', 'start', '--beta', '2')).toMatchObject({ code: 1, stderr: 'error: the experiment is already beta\n' });

    const status = await cli('experiment', 'status');
    expect(status.stdout).toMatch(/^phase: +beta$/m);
    expect(status.stdout).toMatch(/^inconclusive +success if Upgrade rate > 15%/m);

    expect((await cli('experiment', 'launch', '--reason', 'beta went well')).code).toBe(0);
    expect(await stack.billing!.services.experiment()).toMatchObject({ phase: 'launched', launchedAt: expect.any(Number) });
    const concluded = await cli('experiment', 'conclude');
    expect(concluded.stdout).toMatch(/^concluded .*: inconclusive \(/m);

    const audit = JSON.parse((await cli('audit', '--json')).stdout) as Array<{ action: string; by: string; reason: string }>;
    expect(audit.map((a) => [a.action, a.by, a.reason])).toEqual([
      ['experiment-beta-started', 'ops-test', 'first cohort'],
      ['experiment-launched', 'ops-test', 'beta went well'],
      ['experiment-concluded', 'ops-test', 'experiment concluded'],
    ]);
  }, 180_000);
});
