import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';
import { cliAt } from '../harness/cli.ts';

describe('operator CLI billing levers (child process against the local stack with the local Stripe)', () => {
  let stack: LocalStack;
  let dir: string;
  let cli: ReturnType<typeof cliAt>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-billing-'));
    cli = cliAt(dir, { API_BILLING_OPERATOR: 'ops-test' });
    stack = await startLocalStack({
      dir,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `cb${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000,
    });
    writeLocalState(stack.state(), dir);
  });
  afterAll(async () => stack.stop());

  it('walks the levers: setup, tier changes, pause and resume, flush, cap behaviour, grandfather, refund, each in the audit log', async () => {
    // The local stack ran the setup when it started: this is the second run, which finds the portal configuration again.
    const setup = (await cli('stripe', 'setup')).stdout;
    expect(setup).toMatch(/^meter: mtr_/m);
    const portalConfigurations = await stack.billing!.localStripe!.client().billingPortal.configurations.list();
    expect(portalConfigurations.data.map((c) => `customer portal: ${c.id}`)).toEqual([setup.match(/^customer portal: \S+$/m)?.[0]]);
    const { customerId, apiKey, stripeCustomerId } = JSON.parse(
      (await cli('customers', 'create', '--name', 'Lever Co', '--tier', 'free', '--json')).stdout,
    ) as Record<string, string>;
    expect(stripeCustomerId).toMatch(/^cus_/);

    expect((await cli('tier', 'set', '--customer', customerId!, '--tier', 'pro', '--reason', 'asked to upgrade')).code).toBe(0);
    expect(stack.gatewayKeys.findByValue((await stack.store.getCustomer(customerId!))!.gatewayKeyValue)?.tier).toBe('pro');
    for (let i = 0; i < 5; i++) await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': apiKey! } });
    await stack.settle();

    expect((await cli('billing', 'pause', '--reason', 'investigating')).code).toBe(0);
    expect((await cli('billing', 'status')).stdout).toMatch(/^billing PAUSED by ops-test/m);
    const held = await cli('billing', 'sync', '--flush', '--json');
    expect(JSON.parse(held.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'paused', customerId })]));
    expect((await cli('billing', 'resume', '--reason', 'fixed')).code).toBe(0);
    const pushed = await cli('billing', 'sync', '--flush', '--json');
    expect(JSON.parse(pushed.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'pushed', customerId })]));
    expect(stack.billing!.localStripe!.state.meterEvents.reduce((s, e) => s + e.value, 0)).toBe(5);

    expect((await cli('cap', 'set', '--customer', customerId!, '--behaviour', 'absorb', '--reason', 'keep serving')).code).toBe(0);
    const from = new Date(Date.now() - 86_400_000); // yesterday: inside Stripe's window, whatever today is
    const until = new Date(from.getTime() + 30 * 86_400_000);
    expect((await cli('grandfather', '--customer', customerId!, '--from', from.toISOString().slice(0, 10), '--reason', 'beta user')).code).toBe(0);
    expect((await cli('usage', 'show', '--customer', customerId!)).stdout).toContain(`Grandfathered until ${until.toISOString().slice(0, 10)}`);
    const refund = await cli('refund', '--customer', customerId!, '--amount', '5', '--reason', 'goodwill');
    expect(refund.code).toBe(1); // a new customer has no finalized invoice yet
    expect(refund.stderr.trim()).toBe(`error: customer ${customerId} has no finalized invoice to credit yet`);
    expect((await cli('tier', 'set', '--customer', customerId!, '--tier', 'free', '--reason', 'opted out')).code).toBe(0);

    const audit = JSON.parse((await cli('audit', '--customer', customerId!, '--json')).stdout) as Array<{ action: string; by: string }>;
    expect(audit.map((a) => a.action)).toEqual(['tier-free-to-pro', 'cap-behaviour-absorb', 'grandfathered', 'tier-pro-to-free']);
    expect(audit.every((a) => a.by === 'ops-test')).toBe(true);
    const productWide = JSON.parse((await cli('audit', '--json')).stdout) as Array<{ action: string }>;
    expect(productWide.map((a) => a.action)).toEqual(['billing-paused', 'billing-resumed']);
    expect(readFileSync(stack.accessLogFile, 'utf8')).toContain(customerId);
  }, 240_000); // seventeen CLI processes, each a Node.js start: minutes on a loaded 2-core machine
});
