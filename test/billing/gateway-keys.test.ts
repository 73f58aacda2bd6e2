/**
 * Gateway keys under API Gateway's rule "one usage plan per key and stage": the local registry
 * refuses as API Gateway does, and a tier change switches the customer to a new key without a
 * moment in which its calls are refused, then deletes the old key once no cached record names it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { DynamoCustomerStore } from '../../lambdas/adapters/customer-store.ts';
import { DynamoGatewayKeyRetirementStore } from '../../lambdas/adapters/gateway-key-retirements.ts';
import { LocalGatewayKeyRegistry } from '../../lambdas/adapters/gateway-keys-local.ts';
import { DynamoUsageEventLog } from '../../lambdas/adapters/usage-event-log.ts';
import { createAuthorizer } from '../../lambdas/authorizer/authorizer.ts';
import { billingConfig, type TierName } from '../../lambdas/core/config.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { deleteDueGatewayKeys, RETIRE_MARGIN_MS, switchGatewayKey, UNFINISHED_CHANGE_GRACE_MS } from '../../lambdas/core/gateway-keys.ts';
import { cachedKeyDirectory, keyCaches } from '../../lambdas/core/metering.ts';
import type { GatewayKeyRetirementStore } from '../../lambdas/core/ports.ts';
import { changeTier } from '../../lambdas/core/subscriptions.ts';
import { ROUTES } from '../../lambdas/core/routes.ts';
import { startLocalGateway, type RawAccessLogLine, type RunningLocalGateway } from '../../local/gateway.ts';
import { freshTables } from '../harness/dynamodb.ts';

const newRegistry = (planStages?: Partial<Record<TierName, string>>) =>
  new LocalGatewayKeyRegistry(join(mkdtempSync(join(tmpdir(), 'gw-keys-')), 'keys.json'), planStages);
const okBackend = async () => ({ statusCode: 200, body: '{"ok":true}' });

describe('local gateway keys refuse what API Gateway refuses', () => {
  it('refuses a key in a second usage plan of the same stage with a ConflictException, and keeps it in its plan', async () => {
    const registry = newRegistry();
    const key = await registry.createKey('cust_a', 'free');

    const refused = await registry.addToPlan(key.gatewayKeyId, 'pro').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({
      name: 'ConflictException',
      $fault: 'client',
      $metadata: { httpStatusCode: 409 },
      message: expect.stringContaining('cannot reference multiple Usage Plans with the same API Stage'),
    });
    expect(registry.findByValue(key.gatewayKeyValue)).toMatchObject({ plans: ['free'], tier: 'free' });
    // The same plan again is a conflict too, as CreateUsagePlanKey answers a repeat.
    await expect(registry.addToPlan(key.gatewayKeyId, 'free')).rejects.toMatchObject({ name: 'ConflictException' });
  });

  it('lets a key be in several plans when they are on different stages', async () => {
    const registry = newRegistry({ enterprise: 'beta' });
    const key = await registry.createKey('cust_a', 'free');
    await registry.addToPlan(key.gatewayKeyId, 'enterprise');
    expect(registry.findByValue(key.gatewayKeyValue)).toMatchObject({ plans: ['free', 'enterprise'], tier: 'free' });
  });

  it('answers 403 at the usage plan for a key in no plan, after the authorizer allowed the call', async () => {
    const registry = newRegistry();
    const key = await registry.createKey('cust_a', 'free');
    const log: RawAccessLogLine[] = [];
    let authorized = 0;
    const gateway = await startLocalGateway({
      authorizer: async (): Promise<APIGatewayAuthorizerResult> => {
        authorized += 1;
        return {
          principalId: 'cust_a',
          usageIdentifierKey: key.gatewayKeyValue,
          policyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: '*' }] },
        };
      },
      routes: [{ route: ROUTES.api, handler: okBackend }],
      gatewayKeys: registry,
      config: billingConfig,
      accessLog: (line) => log.push(line),
    });
    // Any key: the stub authorizer allows it; without one the gateway would answer 401 before it runs.
    const withKey = { headers: { 'x-api-key': 'ab_live_stub' } };
    try {
      expect((await fetch(`${gateway.url}/api`, withKey)).status).toBe(200);
      await registry.removeFromPlan(key.gatewayKeyId, 'free');
      const refused = await fetch(`${gateway.url}/api`, withKey);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ message: 'Forbidden' });
      expect(authorized).toBe(2);
      expect(log.map((line) => line.status)).toEqual(['200', '403']);
    } finally {
      await gateway.stop();
    }
  });
});

/** DynamoDB Local tables, the local key registry, the real authorizer with its key cache, the local gateway, and a clock. */
async function tierChangeFixture(start: number) {
  const tables = await freshTables();
  const clock = { now: start };
  const now = () => clock.now;
  const store = new DynamoCustomerStore(tables.doc, tables.tables);
  const registry = newRegistry();
  const retirements = new DynamoGatewayKeyRetirementStore(tables.doc, tables.tables);
  const usedKeys: string[] = []; // the usageIdentifierKey of every metered call, as the gateway matched it
  const gateway: RunningLocalGateway = await startLocalGateway({
    authorizer: createAuthorizer({
      directory: cachedKeyDirectory(store, keyCaches(billingConfig, now)),
      events: new DynamoUsageEventLog(tables.doc, tables.tables.usageEvents),
      config: billingConfig,
      now,
      logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
    }),
    routes: [{ route: ROUTES.apiProxy, handler: okBackend }],
    gatewayKeys: {
      findByValue: (value) => {
        usedKeys.push(value);
        return registry.findByValue(value);
      },
    },
    config: billingConfig,
    accessLog: () => undefined,
    now,
  });
  const { customer, apiKey } = await createCustomer({ name: 'Acme', tier: 'free' }, { registry: store, gatewayKeys: registry, now });
  const switchDeps = { registry: store, gatewayKeys: registry, retirements, config: billingConfig, now };
  const cleanupDeps = { gatewayKeys: registry, retirements, registry: store, now };
  const call = async () => (await fetch(`${gateway.url}/api/things`, { headers: { 'x-api-key': apiKey.key } })).status;
  return { tables, clock, store, registry, retirements, gateway, usedKeys, customer, call, switchDeps, cleanupDeps };
}

// Time is an input: a day in the middle of a month, and the last seconds of a year (the retirement crosses into the next month).
describe.each([
  ['mid-month', Date.UTC(2026, 10, 25, 12, 0)],
  ['the last seconds of a year', Date.UTC(2026, 11, 31, 23, 59, 50)],
])('a tier change (%s)', (_when, start) => {
  let f: Awaited<ReturnType<typeof tierChangeFixture>>;
  beforeEach(async () => {
    f = await tierChangeFixture(start);
  });
  afterEach(async () => f.gateway.stop());

  const retireAfterMs = billingConfig.keyCacheTtlSeconds * 1000 + RETIRE_MARGIN_MS;

  it('keeps the customer served throughout: cached records use the old key, still in its plan; the new key is used once the cache expires; the old key goes once due', async () => {
    const old = f.customer;
    expect(await f.call()).toBe(200); // the authorizer now caches the customer with its Free key

    expect(await changeTier(old.customerId, 'pro', f.switchDeps)).toEqual({ ok: true, from: 'free', to: 'pro', changed: true });
    const current = (await f.store.getCustomer(old.customerId))!;
    expect(current).toMatchObject({ tier: 'pro', gatewayKeyName: expect.stringMatching(new RegExp(`^${old.customerId}\\.`)) });
    expect(current.gatewayKeyId).not.toBe(old.gatewayKeyId);
    expect(f.registry.findByValue(current.gatewayKeyValue)?.tier).toBe('pro');
    expect(f.registry.findByValue(old.gatewayKeyValue)?.tier).toBe('free');

    // Within the cache TTL the authorizer still hands out the old key: served, by the Free plan.
    f.clock.now += billingConfig.keyCacheTtlSeconds * 1000 - 1;
    expect(await f.call()).toBe(200);
    expect(f.usedKeys.at(-1)).toBe(old.gatewayKeyValue);
    // Nothing is due yet: the cleanup leaves the old key alone.
    expect(await deleteDueGatewayKeys(f.cleanupDeps)).toEqual({ deleted: [], kept: [], failed: [] });

    // Past the TTL the authorizer reads the record again and names the new key, in the Pro plan.
    f.clock.now += 2;
    expect(await f.call()).toBe(200);
    expect(f.usedKeys.at(-1)).toBe(current.gatewayKeyValue);

    // Due: the old key leaves its plan and is deleted, once.
    f.clock.now = start + retireAfterMs + 5_000;
    const cleanup = await deleteDueGatewayKeys(f.cleanupDeps);
    expect(cleanup.deleted).toEqual([
      expect.objectContaining({ customerId: old.customerId, key: { gatewayKeyId: old.gatewayKeyId }, tier: 'free', reason: 'replaced' }),
    ]);
    expect(cleanup.failed).toEqual([]);
    expect(f.registry.findByValue(old.gatewayKeyValue)).toBeUndefined();
    expect(f.registry.list().map((k) => k.gatewayKeyId)).toEqual([current.gatewayKeyId]);
    expect(await deleteDueGatewayKeys(f.cleanupDeps)).toEqual({ deleted: [], kept: [], failed: [] });
    expect(await f.call()).toBe(200);
  });

  it('survives a crash between creating the new key and switching the record: the customer keeps its old key, a re-run completes, the stray key is deleted later', async () => {
    const old = f.customer;
    const crashingSwitch: GatewayKeyRetirementStore = {
      schedule: (entry) => f.retirements.schedule(entry),
      switchKey: async () => {
        throw new Error('crash before the switch');
      },
      due: (now, limit) => f.retirements.due(now, limit),
      forget: (entry) => f.retirements.forget(entry),
    };
    await expect(changeTier(old.customerId, 'pro', { ...f.switchDeps, retirements: crashingSwitch })).rejects.toThrow('crash before the switch');
    expect(await f.store.getCustomer(old.customerId)).toMatchObject({ tier: 'free', gatewayKeyId: old.gatewayKeyId });
    expect(await f.call()).toBe(200);
    const stray = f.registry.list().find((k) => k.gatewayKeyId !== old.gatewayKeyId)!;
    expect(stray.plans).toEqual(['pro']);

    // Run again (a redelivered webhook, the operator's retry): a fresh key, and the switch.
    expect(await changeTier(old.customerId, 'pro', f.switchDeps)).toMatchObject({ ok: true, changed: true });
    const current = (await f.store.getCustomer(old.customerId))!;
    expect(current.gatewayKeyId).not.toBe(stray.gatewayKeyId);

    // The replaced key is due first, the stray one (known only by name) after the unfinished-change grace.
    f.clock.now = start + retireAfterMs + 5_000;
    expect((await deleteDueGatewayKeys(f.cleanupDeps)).deleted.map((e) => e.key)).toEqual([{ gatewayKeyId: old.gatewayKeyId }]);
    expect(
      f.registry
        .list()
        .map((k) => k.gatewayKeyId)
        .sort(),
    ).toEqual([current.gatewayKeyId, stray.gatewayKeyId].sort());
    f.clock.now = start + UNFINISHED_CHANGE_GRACE_MS + 5_000;
    expect((await deleteDueGatewayKeys(f.cleanupDeps)).deleted).toEqual([
      expect.objectContaining({ key: { name: stray.name }, tier: 'pro', reason: 'unfinished-change' }),
    ]);
    expect(f.registry.list().map((k) => k.gatewayKeyId)).toEqual([current.gatewayKeyId]);
    expect(await f.call()).toBe(200);
  });

  it('finishes a cleanup that crashed after deleting the key but before dropping its entry, and one that crashed between leaving the plan and deleting the key', async () => {
    const old = f.customer;
    await changeTier(old.customerId, 'enterprise', f.switchDeps);
    f.clock.now = start + retireAfterMs + 5_000;

    const crashingForget: GatewayKeyRetirementStore = {
      schedule: (entry) => f.retirements.schedule(entry),
      switchKey: (input) => f.retirements.switchKey(input),
      due: (now, limit) => f.retirements.due(now, limit),
      forget: async () => {
        throw new Error('crash before forget');
      },
    };
    const first = await deleteDueGatewayKeys({ ...f.cleanupDeps, retirements: crashingForget });
    expect(first.failed).toEqual([{ entry: expect.objectContaining({ key: { gatewayKeyId: old.gatewayKeyId } }), error: 'crash before forget' }]);
    expect(f.registry.findByValue(old.gatewayKeyValue)).toBeUndefined();
    // The entry is still there; the re-run finds the key gone, which is fine, and drops the entry.
    const again = await deleteDueGatewayKeys(f.cleanupDeps);
    expect(again.deleted.map((e) => e.key)).toEqual([{ gatewayKeyId: old.gatewayKeyId }]);
    expect(again.failed).toEqual([]);
    expect(await f.retirements.due(f.clock.now, 10)).toEqual([]);

    // A second change; this time the run dies after taking the key out of its plan.
    const enterprise = (await f.store.getCustomer(old.customerId))!;
    await changeTier(old.customerId, 'free', f.switchDeps);
    await f.registry.removeFromPlan(enterprise.gatewayKeyId, 'enterprise');
    f.clock.now += retireAfterMs + 5_000;
    expect((await deleteDueGatewayKeys(f.cleanupDeps)).deleted.map((e) => e.key)).toEqual([{ gatewayKeyId: enterprise.gatewayKeyId }]);
    const current = (await f.store.getCustomer(old.customerId))!;
    expect(f.registry.list().map((k) => k.gatewayKeyId)).toEqual([current.gatewayKeyId]);
    expect(f.registry.findByValue(current.gatewayKeyValue)?.tier).toBe('free');
  });

  it('never deletes the key a customer uses, and refuses to switch a customer whose key changed meanwhile', async () => {
    const old = f.customer;
    // A stale read: the record moved on before this change could switch it.
    await changeTier(old.customerId, 'pro', f.switchDeps);
    expect(await switchGatewayKey(old, 'enterprise', f.switchDeps)).toBe(false);
    const current = (await f.store.getCustomer(old.customerId))!;
    expect(current.tier).toBe('pro');
    // `tier set` and the webhook its Stripe change fires both read Free: the second to switch finds the work done.
    let reads = 0;
    const staleFirst = Object.assign(Object.create(f.store) as DynamoCustomerStore, {
      getCustomer: async (id: string) => (reads++ === 0 ? old : f.store.getCustomer(id)),
    });
    expect(await changeTier(old.customerId, 'pro', { ...f.switchDeps, registry: staleFirst })).toEqual({ ok: true, from: 'pro', to: 'pro', changed: false });
    expect((await f.store.getCustomer(old.customerId))!.gatewayKeyId).toBe(current.gatewayKeyId);

    // An entry naming the current key (no path writes one; the cleanup guards anyway) is dropped, the key kept.
    await f.retirements.schedule({
      customerId: old.customerId,
      key: { gatewayKeyId: current.gatewayKeyId },
      tier: 'pro',
      deleteAfter: f.clock.now,
      reason: 'replaced',
    });
    f.clock.now += UNFINISHED_CHANGE_GRACE_MS + 5_000;
    const cleanup = await deleteDueGatewayKeys(f.cleanupDeps);
    expect(cleanup.kept.map((e) => e.key)).toEqual([{ gatewayKeyId: current.gatewayKeyId }]);
    // The old Free key and the two refused switches' keys are gone; the current key stays.
    expect(cleanup.deleted.map((e) => e.reason).sort()).toEqual(['replaced', 'unfinished-change', 'unfinished-change']);
    expect(f.registry.list().map((k) => k.gatewayKeyId)).toEqual([current.gatewayKeyId]);
    expect(await f.call()).toBe(200);
  });
});
