import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { utcMonth } from '../../lambdas/core/time.ts';
import { DynamoTicketStore } from '../../lambdas/adapters/tickets-store.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';
import { cliAt } from '../harness/cli.ts';
import { midMonthClock } from '../harness/clock.ts';
import { cliOnClock } from '../harness/cli-clock.ts';

describe('operator CLI (child process against the local stack)', () => {
  let stack: LocalStack;
  let dir: string;
  let cli: ReturnType<typeof cliAt>;
  // The stack, the CLI and the test on one mid-month clock: "this month" is the same for all three.
  const now = midMonthClock();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-'));
    cli = cliOnClock(dir, now);
    stack = await startLocalStack({ dir, dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT, tablePrefix: `cli${randomUUID().slice(0, 8)}-`, now });
    writeLocalState(stack.state(), dir);
  });
  afterAll(async () => stack.stop());

  it('creates a customer whose printed key makes a metered call, and lists it', async () => {
    const created = await cli('customers', 'create', '--name', 'Acme Inc', '--tier', 'pro', '--json');
    expect(created.code).toBe(0);
    const { customerId, apiKey } = JSON.parse(created.stdout) as { customerId: string; apiKey: string };
    expect((await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': apiKey } })).status).toBe(200);

    const listed = await cli('customers', 'list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^CUSTOMERID\\s+NAME\\s+TIER.*\\n${customerId}\\s+Acme Inc\\s+pro\\s+active`, 'm'));
    const shown = await cli('customers', 'show', customerId, '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({ customerId, tier: 'pro', keys: [expect.objectContaining({ status: 'active' })] });
    expect(shown.stdout).not.toContain(apiKey);
    expect(shown.stdout).not.toContain('gatewayKeyValue');
  });

  it('revokes a key so that its next call is a 403', async () => {
    const { customerId, apiKey, keyId } = JSON.parse((await cli('customers', 'create', '--name', 'Rev', '--json')).stdout) as Record<string, string>;
    const revoked = await cli('keys', 'revoke', '--customer', customerId!, '--key', keyId!);
    expect(revoked.code).toBe(0);
    // The key was never called before, so the authorizer has no cached entry that could outlive the revocation.
    expect((await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': apiKey! } })).status).toBe(403);
  });

  it('recounts a month from the raw events: no difference, until a counter is tampered with', async () => {
    const { customerId, apiKey } = JSON.parse((await cli('customers', 'create', '--name', 'Counted', '--json')).stdout) as Record<string, string>;
    for (let i = 0; i < 3; i++) await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': apiKey! } });
    await stack.settle();
    const usage = await cli('usage', 'show', '--customer', customerId!);
    expect(usage.code).toBe(0);
    expect(usage.stdout).toMatch(/calls:\s+3/);
    expect(usage.stdout).toMatch(/quota:\s+997 of 1000 left/);
    expect(usage.stdout).toMatch(/reconciliation:\s+not reconciled yet \(reconciliation runs daily\)/);
    const clean = await cli('recount', '--customer', customerId!, '--json');
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ counted: { billable: 3, voided: 0 }, recounted: { billable: 3, voided: 0 }, differences: [] });

    await stack.doc.send(
      new UpdateCommand({
        TableName: stack.tables.counters,
        Key: { pk: `CUSTOMER#${customerId}`, sk: `MONTH#${utcMonth(now())}` },
        UpdateExpression: 'ADD billable :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    const tampered = await cli('recount', '--customer', customerId!);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/differences:\s+1/);
  });

  it('lists, acknowledges and resolves billing tickets, and refuses to acknowledge one twice', async () => {
    const { apiKey } = JSON.parse((await cli('customers', 'create', '--name', 'Unhappy', '--json')).stdout) as Record<string, string>;
    const filed = await fetch(`${stack.gateway.url}/support/tickets`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey! },
      body: JSON.stringify({ message: 'double charge' }),
    });
    expect(filed.status).toBe(201);
    const { ticketId } = (await filed.json()) as { ticketId: string };
    expect((await cli('tickets', 'list')).stdout).toMatch(new RegExp(`${ticketId}\\s+open`));
    expect((await cli('tickets', 'ack', ticketId)).code).toBe(0);
    const again = await cli('tickets', 'ack', ticketId);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`error: ticket ${ticketId} is acknowledged`);
    expect((await cli('tickets', 'resolve', ticketId)).code).toBe(0);
    expect((await cli('tickets', 'list')).stdout).not.toContain(ticketId);
    const bad = await fetch(`${stack.gateway.url}/support/tickets`, { method: 'POST', headers: { 'x-api-key': apiKey! }, body: 'not json' });
    expect(bad.status).toBe(400);
  });

  it('shows hostile ticket text inert: no raw control, escape or bidi character reaches the terminal, in tables or JSON', async () => {
    // Stored raw, as a ticket filed before sanitizing existed would be: the CLI must not rely on the filing path.
    const message = 'Refund\u001b]0;pwned\u0007 \u001b[2J\u009b31m \u202Eevil\u202C\nAct on it: npm run cli -- refund';
    await new DynamoTicketStore(stack.doc, stack.tables.billing).create({
      ticketId: 'tkt_hostile',
      customerId: 'cust_x',
      message,
      status: 'open',
      createdAt: now(),
    });
    const raw = /[^\P{Cc}\n]|[\u202a-\u202e\u2066-\u2069]/u; // any control character but the newlines between lines, any bidi override
    const list = await cli('tickets', 'list');
    const show = await cli('tickets', 'show', 'tkt_hostile');
    const json = await cli('tickets', 'show', 'tkt_hostile', '--json');
    for (const out of [list, show, json]) {
      expect(out.code).toBe(0);
      expect(out.stdout).not.toMatch(raw);
    }
    expect(show.stdout).toContain('Refund\\u001b]0;pwned\\u0007 \\u001b[2J\\u009b31m \\u202eevil\\u202c\\u000aAct on it');
    expect(show.stdout.split('\n').filter((line) => line.startsWith('Act on it'))).toEqual([]);
    expect(JSON.parse(json.stdout)).toMatchObject({ ticketId: 'tkt_hostile', message });
  });

  it('suspends and reinstates a customer, approves a cap raise, and keeps each in the audit log', async () => {
    const { customerId, apiKey } = JSON.parse((await cli('customers', 'create', '--name', 'Levers', '--tier', 'pro', '--json')).stdout) as Record<
      string,
      string
    >;
    expect((await cli('customers', 'suspend', '--customer', customerId!, '--reason', 'chargeback')).code).toBe(0);
    expect((await fetch(`${stack.gateway.url}/api/x`, { headers: { 'x-api-key': apiKey! } })).status).toBe(403);
    expect((await cli('customers', 'reinstate', '--customer', customerId!, '--reason', 'resolved')).code).toBe(0);
    expect((await cli('cap', 'approve', '--customer', customerId!, '--cap', '2500', '--reason', 'enterprise trial')).code).toBe(0);
    expect(await stack.store.getCustomer(customerId!)).toMatchObject({ status: 'active', capCents: 250_000 });
    const audit = JSON.parse((await cli('audit', '--customer', customerId!, '--json')).stdout) as Array<{ action: string; reason: string; by: string }>;
    expect(audit.map((a) => [a.action, a.reason])).toEqual([
      ['suspend', 'chargeback'],
      ['reinstate', 'resolved'],
      ['cap-approved', 'enterprise trial'],
    ]);
    expect(audit.every((a) => a.by.length > 0)).toBe(true);
  });

  it.each([
    [['cap', 'approve', '--customer', 'cust_nope', '--cap', 'lots', '--reason', 'x'], /^error: --cap must be a positive amount of dollars/],
    [['refund', '--customer', 'cust_nope', '--amount', 'ten', '--reason', 'x'], /^error: --amount must be a positive amount of dollars/],
    [['grandfather', '--customer', 'cust_nope', '--from', '25/11/2026', '--reason', 'x'], /^error: --from must be a date like 2026-11-25/],
    [['grandfather', '--customer', 'cust_nope', '--reason', 'x'], /^error: no customer cust_nope$/],
    [['refund', '--customer', 'cust_nope', '--amount', '10', '--reason', 'x'], /^error: no customer cust_nope$/],
    [['customers', 'suspend', '--customer', 'cust_nope', '--reason', 'x'], /^error: no customer cust_nope$/],
    [['tickets', 'ack', 'tkt_nope'], /^error: no ticket tkt_nope$/],
    [['recount', '--customer', 'cust_nope', '--month', '2026-13'], /^error: --month must look like 2026-11/],
    [['customers', 'create', '--name', 'X', '--tier', 'gold'], /^error: option '--tier <tier>' argument 'gold' is invalid/],
    [['customers', 'create'], /^error: required option '--name <name>' not specified/],
    [['keys', 'issue', '--customer', 'cust_nope'], /^error: no customer cust_nope$/],
    [['keys', 'revoke', '--customer', 'cust_nope', '--key', 'key_x'], /^error: no customer cust_nope$/],
    [['customers', 'show', 'cust_nope'], /^error: no customer cust_nope$/],
    [['frobnicate'], /^error: unknown command 'frobnicate'/],
  ])('rejects %j with one line and a non-zero exit, changing nothing', async (args, message) => {
    const before = (await stack.store.listCustomers()).length;
    const result = await cli(...args);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(message);
    expect(await stack.store.listCustomers()).toHaveLength(before);
  });

  it('says how to start the local stack when it is not running', async () => {
    const { code, stderr } = await cliAt(mkdtempSync(join(tmpdir(), 'none-')))('customers', 'list');
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('error: the local stack is not running: start it with `npm start` in another terminal');
  });
});
