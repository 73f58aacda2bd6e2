import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';

const ROOT = resolve(__dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

describe('operator CLI billing levers (child process against the local stack with the local Stripe)', () => {
  let stack: LocalStack;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-billing-'));
    stack = await startLocalStack({ dir, dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT, tablePrefix: `cb${randomUUID().slice(0, 8)}-`, stripe: 'local', syncIntervalMs: 3_600_000 });
    writeLocalState(
      { pid: process.pid, dynamoDbEndpoint: stack.dynamoDbEndpoint, gatewayUrl: stack.gateway.url, gatewayKeysFile: stack.gatewayKeysFile, accessLogFile: stack.accessLogFile, deadLetterFile: stack.deadLetterFile, tables: stack.tables, stripeApiBase: stack.billing!.stripeApiBase },
      dir,
    );
  });
  afterAll(async () => stack.stop());

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await promisify(execFile)(TSX, [join(ROOT, 'cli/main.ts'), ...args], { env: { ...process.env, API_BILLING_LOCAL_DIR: dir, API_BILLING_OPERATOR: 'ops-test' } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('walks the levers: setup, tier changes, pause and resume, flush, cap behaviour, grandfather, refund, each in the audit log', async () => {
    expect((await cli('stripe', 'setup')).stdout).toMatch(/^meter: mtr_/m);
    const { customerId, apiKey, stripeCustomerId } = JSON.parse((await cli('customers', 'create', '--name', 'Lever Co', '--tier', 'free', '--json')).stdout) as Record<string, string>;
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
    expect((await cli('grandfather', '--customer', customerId!, '--from', '2026-11-01', '--reason', 'beta user')).code).toBe(0);
    expect((await cli('usage', 'show', '--customer', customerId!)).stdout).toContain('Grandfathered until 2026-12-01');
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
  });
});
