import { billingConfig } from '../../lambdas/core/config.ts';
import { hashApiKey } from '../../lambdas/core/keys.ts';
import { ROUTES } from '../../lambdas/core/routes.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import { authorizerEvent, meteringFixture, type MeteringFixture } from '../harness/metering.ts';

describe('metering authorizer (against DynamoDB Local)', () => {
  let f: MeteringFixture;
  beforeEach(async () => {
    f = await meteringFixture();
  });

  it('allows a call with an issued key, names its gateway key, and writes exactly one usage event', async () => {
    const customer = await f.addCustomer('free');
    const result = await f.authorize(authorizerEvent({ requestId: 'req-1', headers: { 'x-api-key': customer.key }, method: 'POST' }));

    expect(result.policyDocument.Statement).toEqual([expect.objectContaining({ Effect: 'Allow', Action: 'execute-api:Invoke' })]);
    expect(result.usageIdentifierKey).toBe(customer.gatewayKeyValue);
    expect(result.context).toEqual({
      customerId: customer.customerId,
      keyId: customer.keyId,
      tier: 'free',
      // The Free quota as X-RateLimit-* figures: nothing counted yet, this call included.
      rateLimitLimit: '1000',
      rateLimitRemaining: '999',
      rateLimitReset: String(Date.UTC(2026, 11, 1) / 1000),
    });
    const events = await f.events();
    expect(events).toEqual([
      {
        requestId: 'req-1',
        customerId: customer.customerId,
        keyId: customer.keyId,
        method: 'POST',
        route: '/api/{proxy+}',
        at: f.clock.now,
        hour: '2026-11-25T06',
        month: '2026-11',
        expiresAt: Math.floor(f.clock.now / 1000) + billingConfig.usageEventRetentionDays * 86_400,
      },
    ]);
    expect(JSON.stringify(events)).not.toContain(customer.key);
    expect(JSON.stringify(events)).not.toContain(hashApiKey(customer.key));
  });

  it('reads the key only from x-api-key, its identity source: a key sent as Authorization: Bearer is a 401 and no event', async () => {
    const customer = await f.addCustomer('pro');

    await expect(f.authorize(authorizerEvent({ requestId: 'req-b', headers: { Authorization: `Bearer ${customer.key}` } }))).rejects.toThrow('Unauthorized');

    expect(await f.events()).toHaveLength(0);
  });

  it('writes no second event when API Gateway retries the authorizer for the same request', async () => {
    const customer = await f.addCustomer();
    const event = authorizerEvent({ requestId: 'req-retried', headers: { 'x-api-key': customer.key } });
    await f.authorize(event);
    await Promise.all([f.authorize(event), f.authorize(event)]);
    expect((await f.events()).map((e) => e.requestId)).toEqual(['req-retried']);
  });

  it.each([
    ['no key', {}],
    ['a malformed key', { 'x-api-key': 'not-a-key' }],
    ['a well-formed key nobody issued', { 'x-api-key': `ab_live_${'A'.repeat(43)}` }],
  ])('answers 401 (Unauthorized) for %s and writes nothing', async (_name, headers) => {
    await expect(f.authorize(authorizerEvent({ requestId: 'req-401', headers }))).rejects.toThrow(/^Unauthorized$/);
    expect(await f.events()).toEqual([]);
  });

  it('denies a revoked key with its reason and writes nothing', async () => {
    const customer = await f.addCustomer();
    await f.revoke(customer.customerId, customer.keyId);
    const result = await f.authorize(authorizerEvent({ requestId: 'req-revoked', headers: { 'x-api-key': customer.key } }));
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny' });
    expect(result.context).toMatchObject({ reason: 'KEY_REVOKED', message: expect.stringContaining('revoked') });
    expect(result.usageIdentifierKey).toBeUndefined();
    expect(await f.events()).toEqual([]);
  });

  it('denies a suspended customer', async () => {
    const customer = await f.addCustomer();
    await f.setCustomer(customer.customerId, { status: 'suspended' });
    const result = await f.authorize(authorizerEvent({ requestId: 'req-s', headers: { 'x-api-key': customer.key } }));
    expect(result.context).toMatchObject({ reason: 'CUSTOMER_SUSPENDED' });
    expect(await f.events()).toEqual([]);
  });

  it('denies a customer capped this month with "block", serves one with "absorb", and forgets last month\'s cap', async () => {
    const blocked = await f.addCustomer('pro', 'block');
    const absorbed = await f.addCustomer('pro', 'absorb');
    const lastMonth = await f.addCustomer('pro', 'block');
    await f.setCustomer(blocked.customerId, { cappedMonth: '2026-11' });
    await f.setCustomer(absorbed.customerId, { cappedMonth: '2026-11' });
    await f.setCustomer(lastMonth.customerId, { cappedMonth: '2026-10' });

    const denied = await f.authorize(authorizerEvent({ requestId: 'r-block', headers: { 'x-api-key': blocked.key } }));
    expect(denied.context).toMatchObject({ reason: 'BILLING_CAP_REACHED', message: expect.stringContaining('cap') });
    for (const [requestId, c] of [
      ['r-absorb', absorbed],
      ['r-last', lastMonth],
    ] as const) {
      const allowed = await f.authorize(authorizerEvent({ requestId, headers: { 'x-api-key': c.key } }));
      expect(allowed.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    }
    expect((await f.events()).map((e) => e.requestId).sort()).toEqual(['r-absorb', 'r-last']);
  });

  const freeRoutes = Object.values(ROUTES).filter((r) => r.access === 'free');
  it.each(freeRoutes.map((r) => [`${r.method} ${r.resource}`, r] as const))('authenticates but never meters the free route %s', async (_, route) => {
    const customer = await f.addCustomer();
    const result = await f.authorize(
      authorizerEvent({ requestId: 'req-free', resource: route.resource, method: route.method, headers: { 'x-api-key': customer.key } }),
    );
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    expect(await f.events()).toEqual([]);
  });

  it.each(freeRoutes.map((r) => [`${r.method} ${r.resource}`, r] as const))(
    'lets a suspended or capped customer reach the free route %s, and refuses it the metered ones',
    async (_, route) => {
      const suspended = await f.addCustomer();
      await f.setCustomer(suspended.customerId, { status: 'suspended' });
      const capped = await f.addCustomer('pro', 'block');
      await f.setCustomer(capped.customerId, { cappedMonth: utcMonth(f.clock.now) });
      for (const c of [suspended, capped]) {
        const free = await f.authorize(
          authorizerEvent({ requestId: `free-${c.customerId}`, resource: route.resource, method: route.method, headers: { 'x-api-key': c.key } }),
        );
        expect(free.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
        const metered = await f.authorize(authorizerEvent({ requestId: `metered-${c.customerId}`, headers: { 'x-api-key': c.key } }));
        expect(metered.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny' });
      }
      expect(await f.events()).toEqual([]);
    },
  );

  it('still refuses a revoked key on the free routes', async () => {
    const customer = await f.addCustomer();
    await f.revoke(customer.customerId, customer.keyId);
    const result = await f.authorize(
      authorizerEvent({ requestId: 'req-revoked', resource: ROUTES.usage.resource, method: ROUTES.usage.method, headers: { 'x-api-key': customer.key } }),
    );
    expect(result.context).toMatchObject({ reason: 'KEY_REVOKED' });
  });

  it('stops accepting a revoked key within the cache TTL, which is at most 60 s', async () => {
    const customer = await f.addCustomer();
    const call = (requestId: string) => f.authorize(authorizerEvent({ requestId, headers: { 'x-api-key': customer.key } }));
    await call('before');
    await f.revoke(customer.customerId, customer.keyId);
    f.clock.now += billingConfig.keyCacheTtlSeconds * 1000 + 1;
    const after = await call('after');
    expect(after.context).toMatchObject({ reason: 'KEY_REVOKED' });
    expect(billingConfig.keyCacheTtlSeconds).toBeLessThanOrEqual(60);
    expect((await f.events()).map((e) => e.requestId)).toEqual(['before']);
  });

  it('never writes the key or its hash to a log line', async () => {
    const customer = await f.addCustomer();
    const revoked = await f.addCustomer();
    await f.revoke(revoked.customerId, revoked.keyId);
    f.logger.setLogLevel('DEBUG');
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await f.authorize(authorizerEvent({ requestId: 'l1', headers: { 'x-api-key': customer.key } }));
      await f.authorize(authorizerEvent({ requestId: 'l2', headers: { 'x-api-key': revoked.key } }));
      await f.authorize(authorizerEvent({ requestId: 'l3', headers: { authorization: `Bearer ${customer.key}x` } })).catch(() => undefined);
    } finally {
      spy.mockRestore();
    }
    const log = written.join('');
    expect(log).toContain('l2'); // the logger did write: the request ids are there
    for (const secret of [customer.key, revoked.key, hashApiKey(customer.key), customer.key.slice(8)]) expect(log).not.toContain(secret);
  });
});
