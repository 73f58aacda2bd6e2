/**
 * Key rotation and suspension through the operator CLI (a child process) against the local stack,
 * whose clock the test steps past the authorizer's key cache TTL instead of waiting for it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { billingConfig } from '../../lambdas/core/config.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';
import { cliAt } from '../harness/cli.ts';

const TTL_MS = billingConfig.keyCacheTtlSeconds * 1000;

describe('key rotation and suspension through the CLI (local stack, stepped clock)', () => {
  let stack: LocalStack;
  let cli: ReturnType<typeof cliAt>;
  /** The stack's clock: stopped mid-month, moved only by the test. */
  const clock = { now: Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 15, 12) };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-keys-'));
    cli = cliAt(dir);
    stack = await startLocalStack({
      dir,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `ck${randomUUID().slice(0, 8)}-`,
      now: () => clock.now,
    });
    writeLocalState(stack.state(), dir);
  });
  afterAll(async () => stack?.stop());

  const call = async (key: string, path = '/api/hello') => {
    const response = await fetch(`${stack.gateway.url}${path}`, { headers: { 'x-api-key': key } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const created = async (name: string) => {
    const result = await cli('customers', 'create', '--name', name, '--tier', 'pro', '--json');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as { customerId: string; apiKey: string; keyId: string };
  };

  it('rotates a key: the issued key works at once, the old one until it is revoked, then a 403 with the reason within the key cache TTL', async () => {
    const { customerId, apiKey: oldKey, keyId: oldKeyId } = await created('Rotating Co');
    expect((await call(oldKey)).status).toBe(200); // the old key is now in the authorizer's cache

    const issued = await cli('keys', 'issue', '--customer', customerId);
    expect(issued.code).toBe(0);
    const newKey = /^apiKey:\s+(ab_live_[A-Za-z0-9_-]{43})$/m.exec(issued.stdout)?.[1];
    const newKeyId = /^keyId:\s+(key_\S+)$/m.exec(issued.stdout)?.[1];
    expect(newKey).toBeDefined();
    expect(newKeyId).not.toBe(oldKeyId);
    expect(issued.stderr).toMatch(/once/i); // the key is shown once

    expect((await call(newKey!)).status).toBe(200); // at once: no wait for any cache
    expect((await call(oldKey)).status).toBe(200);
    const listed = JSON.parse((await cli('keys', 'list', '--customer', customerId, '--json')).stdout) as Array<{
      keyId: string;
      status: string;
      prefix: string;
    }>;
    expect(listed.map((k) => [k.keyId, k.status]).sort()).toEqual(
      [
        [newKeyId, 'active'],
        [oldKeyId, 'active'],
      ].sort(),
    );
    expect(JSON.stringify(listed)).not.toContain(newKey!.slice(12));

    // Past the TTL the old key is read again, and is still good: only a revocation ends it.
    clock.now += TTL_MS;
    expect((await call(oldKey)).status).toBe(200);

    const revoked = await cli('keys', 'revoke', '--customer', customerId, '--key', oldKeyId);
    expect(revoked.code).toBe(0);
    // Within the TTL the cached entry may still serve it (here it does: the clock has not moved)...
    expect((await call(oldKey)).status).toBe(200);
    clock.now += TTL_MS - 1;
    expect((await call(oldKey)).status).toBe(200);
    // ...and once the TTL has passed it is refused, with the reason.
    clock.now += 1;
    expect(await call(oldKey)).toEqual({
      status: 403,
      body: expect.objectContaining({ error: 'forbidden', reason: 'KEY_REVOKED', message: 'This API key has been revoked.' }),
    });
    expect((await call(newKey!)).status).toBe(200);

    await stack.settle();
    const usage = await call(newKey!, '/usage');
    expect(usage).toMatchObject({ status: 200, body: { customerId, calls: 7 } }); // the seven served calls; the refused one is not counted
  });

  it("refuses a suspended customer's already cached key on metered routes once the TTL has passed, and keeps its free routes open", async () => {
    const { customerId, apiKey } = await created('Suspended Co');
    expect((await call(apiKey)).status).toBe(200); // cached, as active
    const suspended = await cli('customers', 'suspend', '--customer', customerId, '--reason', 'chargeback');
    expect(suspended.code).toBe(0);

    expect((await call(apiKey)).status).toBe(200); // the cached customer record, within the TTL
    clock.now += TTL_MS;
    expect(await call(apiKey)).toEqual({
      status: 403,
      body: expect.objectContaining({ error: 'forbidden', reason: 'CUSTOMER_SUSPENDED', message: 'This account is suspended; contact support.' }),
    });
    expect(await call(apiKey, '/api')).toMatchObject({ status: 403, body: { reason: 'CUSTOMER_SUSPENDED' } });
    expect((await call(apiKey, '/usage')).status).toBe(200); // how it learns why, never metered

    await stack.settle();
    expect((await call(apiKey, '/usage')).body).toMatchObject({ customerId, calls: 2 });
  });
});
