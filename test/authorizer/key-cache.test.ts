/**
 * The authorizer's negative key cache, observed at DynamoDB: an unknown key's miss is cached for
 * the TTL (no second read of the keys table), and a key issued after a cached miss works once the
 * TTL has passed.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { billingConfig } from '../../lambdas/core/config.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { generateApiKey } from '../../lambdas/core/keys.ts';
import { cachedKeyDirectory, keyCaches } from '../../lambdas/core/metering.ts';
import { connectDynamoDb } from '../../lambdas/adapters/dynamodb.ts';
import { DynamoCustomerStore } from '../../lambdas/adapters/customer-store.ts';
import { LocalGatewayKeyRegistry } from '../../lambdas/adapters/gateway-keys-local.ts';
import { DynamoUsageEventLog } from '../../lambdas/adapters/usage-event-log.ts';
import { createAuthorizer } from '../../lambdas/authorizer/authorizer.ts';
import { freshTables } from '../harness/dynamodb.ts';
import { authorizerEvent } from '../harness/metering.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TTL_MS = billingConfig.keyCacheTtlSeconds * 1000;

/** Fresh tables, a Pro customer, and the authorizer's own connection with every request it sends to the keys table recorded. */
async function keyCacheFixture() {
  const tables = await freshTables();
  const clock = { now: Date.UTC(2026, 10, 25, 6, 30) };
  const now = () => clock.now;
  const admin = new DynamoCustomerStore(tables.doc, tables.tables);
  const { customer, apiKey } = await createCustomer(
    { name: 'Acme', tier: 'pro' },
    { registry: admin, gatewayKeys: new LocalGatewayKeyRegistry(join(mkdtempSync(join(tmpdir(), 'gw-')), 'keys.json')), now },
  );
  const reader = connectDynamoDb({ endpoint: tables.endpoint });
  const keyReads: string[] = [];
  reader.doc.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TableName?: string; Key?: { keyHash?: string } };
      if (input.TableName === tables.tables.apiKeys) keyReads.push(`${context.commandName} ${input.Key?.keyHash ?? ''}`);
      return next(args);
    },
    { step: 'initialize', name: 'recordKeyReads' },
  );
  return { tables, clock, now, admin, customer, apiKey, reader, keyReads };
}

describe("the authorizer's negative key cache (DynamoDB Local)", () => {
  it('reads an unknown key once per TTL, and lets a key issued after the cached miss in once the TTL has passed', async () => {
    const { tables, clock, now, admin, customer, reader, keyReads } = await keyCacheFixture();
    const authorize = createAuthorizer({
      directory: cachedKeyDirectory(new DynamoCustomerStore(reader.doc, tables.tables), keyCaches(billingConfig, now)),
      events: new DynamoUsageEventLog(tables.doc, tables.tables.usageEvents),
      config: billingConfig,
      now,
      logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
    });
    let requests = 0;
    const call = (key: string) => authorize(authorizerEvent({ requestId: `req-${++requests}`, headers: { 'x-api-key': key } }));

    const later = generateApiKey(); // well formed, not issued yet
    const t0 = clock.now;
    await expect(call(later.key)).rejects.toThrow('Unauthorized');
    expect(keyReads).toEqual([`GetItemCommand ${later.keyHash}`]);
    await expect(call(later.key)).rejects.toThrow('Unauthorized');
    expect(keyReads).toHaveLength(1); // the cached miss answered
    // Another unknown key is read: what is recorded is every read of the table.
    const other = generateApiKey();
    await expect(call(other.key)).rejects.toThrow('Unauthorized');
    expect(keyReads).toEqual([`GetItemCommand ${later.keyHash}`, `GetItemCommand ${other.keyHash}`]);

    // The key is issued (the record issueKey writes) while its miss is cached.
    await admin.addKey({
      keyHash: later.keyHash,
      keyId: 'key_later',
      customerId: customer.customerId,
      keyPrefix: later.keyPrefix,
      status: 'active',
      createdAt: new Date(t0).toISOString(),
    });
    expect(
      (await tables.doc.send(new GetCommand({ TableName: tables.tables.apiKeys, Key: { keyHash: later.keyHash }, ConsistentRead: true }))).Item,
    ).toMatchObject({ status: 'active' });

    clock.now = t0 + TTL_MS - 1;
    await expect(call(later.key)).rejects.toThrow('Unauthorized');
    expect(keyReads).toHaveLength(2);

    clock.now = t0 + TTL_MS;
    const allowed = await call(later.key);
    expect(allowed).toMatchObject({
      principalId: customer.customerId,
      policyDocument: { Statement: [expect.objectContaining({ Effect: 'Allow' })] },
      context: { keyId: 'key_later' },
    });
    expect(keyReads).toEqual([`GetItemCommand ${later.keyHash}`, `GetItemCommand ${other.keyHash}`, `GetItemCommand ${later.keyHash}`]);
    // And the found key is cached in turn: the next call reads nothing.
    await call(later.key);
    expect(keyReads).toHaveLength(3);
    reader.client.destroy();
  });

  it("keeps a real key cached through a flood of random keys many times the unknown cache's bound: one read per distinct random key, none for the real one", async () => {
    const { tables, now, apiKey, reader, keyReads } = await keyCacheFixture();
    // Small bounds keep the flood quick; the found cache is as small as can still hold the one real key.
    const bound = 8;
    const authorize = createAuthorizer({
      directory: cachedKeyDirectory(
        new DynamoCustomerStore(reader.doc, tables.tables),
        keyCaches({ ...billingConfig, keyCacheMaxEntries: 1, unknownKeyCacheMaxEntries: bound }, now),
      ),
      events: new DynamoUsageEventLog(tables.doc, tables.tables.usageEvents),
      config: billingConfig,
      now,
      logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
    });
    let requests = 0;
    const call = (key: string) => authorize(authorizerEvent({ requestId: `req-${++requests}`, headers: { 'x-api-key': key } }));

    await call(apiKey.key);
    expect(keyReads).toHaveLength(1);

    const flood = Array.from({ length: 25 * bound }, () => generateApiKey().key);
    for (const key of flood) await expect(call(key)).rejects.toThrow('Unauthorized');
    // The trade-off measured: distinct random keys cost one read each, cache or not.
    expect(keyReads).toHaveLength(1 + flood.length);

    await expect(call(apiKey.key)).resolves.toMatchObject({ policyDocument: { Statement: [expect.objectContaining({ Effect: 'Allow' })] } });
    expect(keyReads).toHaveLength(1 + flood.length); // a cache hit: no read
    // A repeated unknown key still within the unknown cache's bound costs nothing either.
    await expect(call(flood.at(-1) as string)).rejects.toThrow('Unauthorized');
    expect(keyReads).toHaveLength(1 + flood.length);
    reader.client.destroy();
  });
});
