import { billingConfig } from '../../lambdas/core/config.ts';
import { generateApiKey } from '../../lambdas/core/keys.ts';
import {
  authorizeCall,
  cachedKeyDirectory,
  cachedMonthlyCallCounter,
  type CallRequest,
  type MeteringDeps,
  type MonthlyCallCounter,
} from '../../lambdas/core/metering.ts';
import type { ApiKeyRecord, Customer, UsageEvent } from '../../lambdas/core/model.ts';
import type { KeyDirectory, KeyLookup, UsageEventLog } from '../../lambdas/core/ports.ts';
import { TtlCache } from '../../lambdas/core/ttl-cache.ts';
import { testCustomer } from '../harness/customer.ts';

const NOW = Date.UTC(2026, 10, 24, 13, 30, 15, 500);

/** In-memory ports of the hot path: a key directory and an event log that writes each requestId once. */
function world(customerFields: Partial<Customer> = {}, keyFields: Partial<ApiKeyRecord> = {}) {
  const issued = generateApiKey();
  const customer: Customer = testCustomer({ gatewayKeyValue: 'gv', capCents: undefined, ...customerFields });
  const key: ApiKeyRecord = {
    keyHash: issued.keyHash,
    keyId: 'k1',
    customerId: 'c1',
    keyPrefix: issued.keyPrefix,
    status: 'active',
    createdAt: '2026-10-01T00:00:00Z',
    ...keyFields,
  };
  const lookups: string[] = [];
  const directory: KeyDirectory = {
    async lookup(hash) {
      lookups.push(hash);
      return hash === key.keyHash ? { kind: 'found', key, customer } : { kind: 'unknown' };
    },
  };
  const events = new Map<string, UsageEvent>();
  const log: UsageEventLog = {
    async recordOnce(event) {
      if (events.has(event.requestId)) return 'duplicate';
      events.set(event.requestId, event);
      return 'recorded';
    },
  };
  const deps = (extra: Partial<MeteringDeps> = {}): MeteringDeps => ({ directory, events: log, config: billingConfig, ...extra });
  const call = (fields: Partial<CallRequest> = {}): CallRequest => ({
    headers: { 'x-api-key': issued.key },
    requestId: 'req-1',
    method: 'GET',
    route: '/api/{proxy+}',
    now: NOW,
    ...fields,
  });
  return { issued, customer, key, lookups, events, deps, call };
}

describe('metering decisions (in-memory ports)', () => {
  it('meters an allowed call once, with the hour, month and expiry of its event', async () => {
    const w = world();
    expect(await authorizeCall(w.call(), w.deps())).toEqual({ ok: true, customer: w.customer, key: w.key, metering: 'recorded' });
    expect([...w.events.values()]).toEqual([
      {
        requestId: 'req-1',
        customerId: 'c1',
        keyId: 'k1',
        method: 'GET',
        route: '/api/{proxy+}',
        at: NOW,
        hour: '2026-11-24T13',
        month: '2026-11',
        expiresAt: Math.floor(NOW / 1000) + 40 * 86_400,
      },
    ]);
    // A retried authorizer invocation of the same call: allowed, not metered twice.
    expect(await authorizeCall(w.call(), w.deps())).toMatchObject({ ok: true, metering: 'duplicate' });
    expect(w.events.size).toBe(1);
  });

  it.each([
    ['no key', {}, 'MISSING_KEY', 401, 'Missing API key: send it in the x-api-key header.'],
    ['a malformed key', { 'x-api-key': 'ab_live_short' }, 'MALFORMED_KEY', 401, 'Malformed API key.'],
    ['an unknown key', { 'x-api-key': `ab_live_${'Z'.repeat(43)}` }, 'UNKNOWN_KEY', 401, 'Invalid API key.'],
  ])('refuses %s, writing nothing', async (_name, headers, code, status, message) => {
    const w = world();
    expect(await authorizeCall(w.call({ headers }), w.deps())).toEqual({ ok: false, code, status, message });
    expect(w.events.size).toBe(0);
  });

  it('refuses a revoked key, on metered and free routes', async () => {
    const w = world({}, { status: 'revoked' });
    const revoked = { ok: false, code: 'KEY_REVOKED', status: 403, message: 'This API key has been revoked.' };
    expect(await authorizeCall(w.call(), w.deps())).toEqual(revoked);
    expect(await authorizeCall(w.call({ route: '/usage' }), w.deps())).toEqual(revoked);
    expect(w.events.size).toBe(0);
  });

  it('refuses a suspended customer on metered routes and lets it read its usage, unmetered', async () => {
    const w = world({ status: 'suspended' });
    expect(await authorizeCall(w.call(), w.deps())).toEqual({
      ok: false,
      code: 'CUSTOMER_SUSPENDED',
      status: 403,
      message: 'This account is suspended; contact support.',
    });
    expect(await authorizeCall(w.call({ route: '/usage' }), w.deps())).toEqual({ ok: true, customer: w.customer, key: w.key, metering: 'free-route' });
    expect(w.events.size).toBe(0);
  });

  it('refuses a block customer capped this month, not one capped last month nor an absorb one', async () => {
    const capped = world({ cappedMonth: '2026-11' });
    expect(await authorizeCall(capped.call(), capped.deps())).toEqual({
      ok: false,
      code: 'BILLING_CAP_REACHED',
      status: 403,
      message: 'This account has reached its monthly billing cap; calls resume next month or when the operator raises the cap.',
    });
    expect(await authorizeCall(capped.call({ method: 'POST', route: '/billing/upgrade' }), capped.deps())).toMatchObject({ ok: true, metering: 'free-route' });
    expect(capped.events.size).toBe(0);
    const lastMonth = world({ cappedMonth: '2026-10' });
    expect(await authorizeCall(lastMonth.call(), lastMonth.deps())).toMatchObject({ ok: true, metering: 'recorded' });
    const absorbing = world({ capBehaviour: 'absorb', cappedMonth: '2026-11' });
    expect(await authorizeCall(absorbing.call(), absorbing.deps())).toMatchObject({ ok: true, metering: 'recorded' });
  });

  describe('quota figures for a tier with a quota', () => {
    const counter = (calls: number): MonthlyCallCounter & { asked: string[] } => {
      const asked: string[] = [];
      return {
        asked,
        callsThisMonth: async (customerId, month) => {
          asked.push(`${customerId}|${month}`);
          return calls;
        },
      };
    };
    const resetAt = Date.UTC(2026, 11, 1) / 1000;

    it.each([
      [0, 999], // this call is the first
      [834, 165],
      [998, 1], // the 999th and 1,000th calls
      [999, 0],
      [1_500, 0], // never negative
    ])('with %i counted calls, %i remain', async (counted, remaining) => {
      const w = world({ tier: 'free' });
      const c = counter(counted);
      expect(await authorizeCall(w.call(), w.deps({ counter: c }))).toEqual({
        ok: true,
        customer: w.customer,
        key: w.key,
        metering: 'recorded',
        quota: { limit: 1_000, remaining, resetAt },
      });
      expect(c.asked).toEqual(['c1|2026-11']);
    });

    it('gives none for a tier without a quota, or without a counter', async () => {
      const pro = world();
      const c = counter(5);
      expect(await authorizeCall(pro.call(), pro.deps({ counter: c }))).not.toHaveProperty('quota');
      expect(c.asked).toEqual([]);
      const free = world({ tier: 'free' });
      expect(await authorizeCall(free.call(), free.deps())).not.toHaveProperty('quota');
    });
  });
});

describe('the hot path caches (in-memory ports, controlled clock)', () => {
  it('reads a month count at most once per customer and month within the TTL', async () => {
    let now = 0;
    const asked: string[] = [];
    const counter = cachedMonthlyCallCounter({ callsThisMonth: async (c, m) => asked.push(`${c}|${m}`) * 10 }, new TtlCache<number>(10, 5_000, () => now));
    expect(await counter.callsThisMonth('c1', '2026-11')).toBe(10);
    expect(await counter.callsThisMonth('c1', '2026-11')).toBe(10);
    expect(await counter.callsThisMonth('c2', '2026-11')).toBe(20);
    expect(await counter.callsThisMonth('c1', '2026-12')).toBe(30);
    now = 5_000;
    expect(await counter.callsThisMonth('c1', '2026-11')).toBe(40);
    expect(asked).toEqual(['c1|2026-11', 'c2|2026-11', 'c1|2026-12', 'c1|2026-11']);
  });

  it('caches a zero count too', async () => {
    let reads = 0;
    const counter = cachedMonthlyCallCounter({ callsThisMonth: async () => 0 * ++reads }, new TtlCache<number>(10, 5_000, () => 0));
    await counter.callsThisMonth('c1', '2026-11');
    expect(await counter.callsThisMonth('c1', '2026-11')).toBe(0);
    expect(reads).toBe(1);
  });

  it('resolves a key once within the TTL, unknown keys included', async () => {
    const resolved: string[] = [];
    const found = { kind: 'found' } as unknown as KeyLookup;
    const directory = cachedKeyDirectory(
      { lookup: async (hash) => (resolved.push(hash) && hash === 'known' ? found : { kind: 'unknown' }) },
      { found: new TtlCache(10, 30_000, () => 0), unknown: new TtlCache(10, 30_000, () => 0) },
    );
    expect(await directory.lookup('known')).toBe(found);
    expect(await directory.lookup('known')).toBe(found);
    expect(await directory.lookup('nope')).toEqual({ kind: 'unknown' });
    expect(await directory.lookup('nope')).toEqual({ kind: 'unknown' });
    expect(resolved).toEqual(['known', 'nope']);
  });
});
