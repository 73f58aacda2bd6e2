import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { utcMonth } from '../../lambdas/core/time.ts';
import { billingConfig, type BillingConfig } from '../../lambdas/core/config.ts';
import { createCustomer, revokeKey } from '../../lambdas/core/customers.ts';
import type { UsageEvent } from '../../lambdas/core/model.ts';
import { ROUTES, type RouteName, type RouteSpec } from '../../lambdas/core/routes.ts';
import { startLocalGateway, type RawAccessLogLine, type RunningLocalGateway } from '../../local/gateway.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { midMonthClock } from '../harness/clock.ts';

/** The stack's clock and the test's: mid-month, so "this month" is the same when acting and when reading. */
const now = midMonthClock();

/** The local stack on the run's DynamoDB Local, with its own tables and files. */
async function localStack(config: BillingConfig = billingConfig, clock: () => number = now): Promise<LocalStack> {
  return startLocalStack({
    dir: mkdtempSync(join(tmpdir(), 'local-stack-')),
    dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
    tablePrefix: `gw${randomUUID().slice(0, 8)}-`,
    config,
    now: clock,
  });
}

async function events(stack: LocalStack): Promise<UsageEvent[]> {
  const result = await stack.doc.send(new ScanCommand({ TableName: stack.tables.usageEvents, ConsistentRead: true }));
  return (result.Items ?? []) as UsageEvent[];
}

function accessLog(stack: LocalStack): Array<Record<string, string>> {
  return readFileSync(stack.accessLogFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, string>);
}

const call = (stack: LocalStack, headers: Record<string, string>, path = '/api/hello') => fetch(`${stack.gateway.url}${path}`, { headers });

describe('local gateway (same authorizer, usage plans and gateway responses)', () => {
  let stack: LocalStack;
  afterEach(async () => stack?.stop());

  async function customer(tier: 'free' | 'pro' = 'free') {
    return createCustomer({ name: 'Acme', tier }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now });
  }

  it("serves an issued key's call with 200 and leaves exactly one usage event", async () => {
    stack = await localStack();
    const { customer: c, apiKey } = await customer();
    const response = await call(stack, { 'x-api-key': apiKey.key });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ ok: true });
    const written = await events(stack);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ customerId: c.customerId, route: '/api/{proxy+}', method: 'GET', requestId: response.headers.get('x-amzn-requestid') });
    expect(accessLog(stack)).toEqual([expect.objectContaining({ status: '200', customerId: c.customerId, responseType: '-', resourcePath: '/api/{proxy+}' })]);

    // The month's quota, for clients to slow down before a 429.
    expect(response.headers.get('x-ratelimit-limit')).toBe('1000');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('999');
    expect(Number(response.headers.get('x-ratelimit-reset'))).toBe(Date.UTC(new Date(now()).getUTCFullYear(), new Date(now()).getUTCMonth() + 1, 1) / 1000);

    // Counted within the stack's own pipeline: stream poller -> aggregator -> counters.
    await stack.settle();
    const usage = (await (await call(stack, { 'x-api-key': apiKey.key }, '/usage')).json()) as { calls: number };
    expect(usage.calls).toBe(1);
  });

  it.each([
    ['a malformed key', { 'x-api-key': 'hello' }],
    ['no key', {} as Record<string, string>],
    ['a bearer token that is not a key', { authorization: 'Bearer abc' }],
  ])('answers %s with a JSON 401 and leaves no event', async (_name, headers) => {
    stack = await localStack();
    const response = await call(stack, headers);
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('x-api-key') });
    expect(await events(stack)).toEqual([]);
  });

  it('refuses a valid key sent as Authorization: Bearer (the identity source is x-api-key), leaving no event', async () => {
    stack = await localStack();
    const { apiKey } = await customer();
    const response = await call(stack, { authorization: `Bearer ${apiKey.key}` });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('x-api-key') });
    expect(accessLog(stack)).toEqual([expect.objectContaining({ status: '401', responseType: 'UNAUTHORIZED' })]);
    expect(await events(stack)).toEqual([]);
  });

  it('answers a revoked key with a JSON 403 that gives the reason, and leaves no event', async () => {
    stack = await localStack();
    const { customer: c, apiKey } = await customer();
    await revokeKey(c.customerId, apiKey.keyId, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now: Date.now });
    const response = await call(stack, { 'x-api-key': apiKey.key });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'forbidden', reason: 'KEY_REVOKED', message: expect.stringContaining('revoked') });
    expect(await events(stack)).toEqual([]);
  });

  it("answers the Free tier's 1,001st call of the month with a JSON 429 and the upgrade link", async () => {
    // The real quota; a rate limit high enough that only the quota can refuse.
    stack = await localStack({ ...billingConfig, rateLimit: { requestsPerMinute: 6_000_000, burst: 100_000 } });
    const {
      apiKey,
      customer: { customerId },
    } = await customer('free');
    const statuses: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const responses = await Promise.all(Array.from({ length: 100 }, () => call(stack, { 'x-api-key': apiKey.key })));
      statuses.push(...responses.map((r) => r.status));
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(1_000);
    const over = await call(stack, { 'x-api-key': apiKey.key });
    expect(over.status).toBe(429);
    expect(await over.json()).toMatchObject({ error: 'quota_exceeded', upgradeUrl: `${stack.gateway.url}/pricing` });
    // The authorizer metered it before the usage plan refused it: the access log says QUOTA_EXCEEDED,
    // which is what the outcome path voids it by.
    expect(accessLog(stack).at(-1)).toMatchObject({ status: '429', responseType: 'QUOTA_EXCEEDED' });
    expect(await events(stack)).toHaveLength(1_001);

    // The outcome path voids it and the aggregator takes it back out: 1,000 billable, 1 voided.
    await stack.settle();
    const month = await stack.doc.send(
      new GetCommand({ TableName: stack.tables.counters, Key: { pk: `CUSTOMER#${customerId}`, sk: `MONTH#${utcMonth(now())}` }, ConsistentRead: true }),
    );
    expect(month.Item).toMatchObject({ billable: 1_000, voided: 1 });
    expect((await events(stack)).filter((e) => e.voided)).toEqual([expect.objectContaining({ voidReason: 'QUOTA_EXCEEDED' })]);
  }, 180_000); // 1,001 calls through the authorizer to DynamoDB Local: minutes on a loaded 2-core machine

  it('links the quota 429 to its own pricing page, which it serves publicly from the config, unmetered', async () => {
    const config: BillingConfig = { ...billingConfig, tiers: { ...billingConfig.tiers, free: { pricing: 'free', monthlyQuota: 1 } } };
    stack = await localStack(config);
    const { apiKey } = await customer('free');
    expect((await call(stack, { 'x-api-key': apiKey.key })).status).toBe(200);
    const over = await call(stack, { 'x-api-key': apiKey.key });
    expect(over.status).toBe(429);
    const { upgradeUrl } = (await over.json()) as { upgradeUrl: string };
    expect(upgradeUrl).toBe(`${stack.gateway.url}/pricing`);

    const page = await fetch(upgradeUrl); // no key: a public page
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('<strong data-figure="free-quota">1 call</strong>'); // this stack's config, not the shipped one
    expect(html).toContain('href="/prod/dashboard"');
    expect((await events(stack)).map((e) => e.route)).toEqual(['/api/{proxy+}', '/api/{proxy+}']); // the two API calls only
  });

  it("links the quota 429 to the operator's page when the config names one", async () => {
    stack = await localStack({
      ...billingConfig,
      tiers: { ...billingConfig.tiers, free: { pricing: 'free', monthlyQuota: 1 } },
      upgradeUrl: 'https://billing.example.com/plans',
    });
    const { apiKey } = await customer('free');
    await call(stack, { 'x-api-key': apiKey.key });
    const over = await call(stack, { 'x-api-key': apiKey.key });
    expect(await over.json()).toMatchObject({ error: 'quota_exceeded', upgradeUrl: 'https://billing.example.com/plans' });
  });

  it('does not hold a Pro customer to the Free quota', async () => {
    stack = await localStack({ ...billingConfig, tiers: { ...billingConfig.tiers, free: { pricing: 'free', monthlyQuota: 1 } } });
    const { apiKey } = await customer('pro');
    const first = await call(stack, { 'x-api-key': apiKey.key });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBeNull(); // no quota, no quota headers
    expect((await call(stack, { 'x-api-key': apiKey.key })).status).toBe(200);
  });

  it('throttles a key past its burst with a JSON 429', async () => {
    // A stopped clock: the bucket cannot refill between the calls, however slow the machine is.
    const stopped = now();
    stack = await localStack({ ...billingConfig, rateLimit: { requestsPerMinute: 60, burst: 2 } }, () => stopped);
    const { apiKey } = await customer('pro');
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(stack, { 'x-api-key': apiKey.key })).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(accessLog(stack).at(-1)).toMatchObject({ status: '429', responseType: 'THROTTLED' });
  });

  it('serves the usage API to the key holder without metering it, and refuses it without a key', async () => {
    stack = await localStack();
    const { customer: c, apiKey } = await customer('free');
    const response = await call(stack, { 'x-api-key': apiKey.key }, '/usage');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      customerId: c.customerId,
      tier: 'free',
      calls: 0,
      quota: { limit: 1_000, remaining: 1_000 },
      estimate: { totalCents: 0 },
    });
    expect((await call(stack, {}, '/usage')).status).toBe(401);
    expect(await events(stack)).toEqual([]);
  });

  it('answers an unknown route as API Gateway does, with JSON', async () => {
    stack = await localStack();
    const response = await call(stack, {}, '/nope');
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'bad_request', message: 'Missing Authentication Token' });
  });
});

describe("the authorizer's identity source, as API Gateway checks it", () => {
  let gateway: RunningLocalGateway;
  afterEach(async () => gateway?.stop());

  /** A gateway whose authorizer counts its invocations and refuses every key. */
  async function countingGateway() {
    const invocations: string[] = [];
    const lines: RawAccessLogLine[] = [];
    gateway = await startLocalGateway({
      authorizer: async (event) => {
        invocations.push(event.requestContext.requestId);
        throw new Error('Unauthorized');
      },
      routes: [{ route: ROUTES.usage, handler: async () => ({ statusCode: 200, body: '{}' }) }],
      gatewayKeys: { findByValue: () => undefined },
      config: billingConfig,
      accessLog: (line) => lines.push(line),
    });
    return { invocations, lines };
  }

  it.each([
    ['no header at all', {} as Record<string, string>],
    ['an empty x-api-key', { 'x-api-key': '' }],
    ['only Authorization: Bearer', { authorization: 'Bearer abc' }],
  ])('answers %s with the JSON 401 and never invokes the authorizer', async (_name, headers) => {
    const { invocations, lines } = await countingGateway();

    const response = await fetch(`${gateway.url}/usage`, { headers });

    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toMatchObject({ error: 'unauthorized', requestId: expect.any(String) });
    expect(invocations).toEqual([]);
    expect(lines).toEqual([expect.objectContaining({ status: '401', responseType: 'UNAUTHORIZED' })]);
  });

  it('invokes the authorizer once for a call that carries x-api-key', async () => {
    const { invocations } = await countingGateway();

    const response = await fetch(`${gateway.url}/usage`, { headers: { 'x-api-key': 'anything' } });

    expect(response.status).toBe(401);
    expect(invocations).toHaveLength(1);
  });
});

describe('which routes write usage events, through the local gateway', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({
      dir: mkdtempSync(join(tmpdir(), 'routes-')),
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `rt${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000,
    });
  });
  afterAll(async () => stack?.stop());

  // One call per route of the table, each answered by its handler (not refused by the gateway).
  const CALLS: Record<RouteName, { path: string; init?: RequestInit; status: number }> = {
    api: { path: '/api', status: 200 },
    apiProxy: { path: '/api/anything', status: 200 },
    usage: { path: '/usage', status: 200 },
    supportTickets: { path: '/support/tickets', init: { method: 'POST', body: JSON.stringify({ message: 'route check' }) }, status: 201 },
    feedback: { path: '/feedback', init: { method: 'POST', body: JSON.stringify({ score: 9 }) }, status: 201 },
    billingUpgrade: { path: '/billing/upgrade', init: { method: 'POST', body: JSON.stringify({ tier: 'enterprise' }) }, status: 200 },
    billingDowngrade: { path: '/billing/downgrade', init: { method: 'POST', body: '{}' }, status: 400 }, // the confirmed terms are missing
    billingDowngradeUndo: { path: '/billing/downgrade', init: { method: 'DELETE' }, status: 409 }, // nothing to undo
    billingPortal: { path: '/billing/portal', init: { method: 'POST' }, status: 200 },
    dashboard: { path: '/dashboard', status: 200 },
    dashboardAsset: { path: '/dashboard/app.js', status: 200 },
    pricing: { path: '/pricing', status: 200 },
    stripeWebhook: { path: '/webhooks/stripe', init: { method: 'POST', body: '{}' }, status: 400 }, // no Stripe signature
  };

  it.each(Object.entries(ROUTES) as Array<[RouteName, RouteSpec]>)('%s writes a usage event only when the table says it is metered', async (name, route) => {
    const { stripe } = await stack.billing!.services.ready();
    const { customer, apiKey } = await createCustomer(
      { name: `Route ${name}`, tier: 'pro' },
      { registry: stack.store, gatewayKeys: stack.gatewayKeys, now: Date.now, stripe },
    );
    const { path, init, status } = CALLS[name];
    const response = await fetch(`${stack.gateway.url}${path}`, { ...init, headers: { 'x-api-key': apiKey.key, 'content-type': 'application/json' } });
    expect(response.status).toBe(status);
    const written = (await events(stack)).filter((e) => e.customerId === customer.customerId);
    expect(written.map((e) => e.route)).toEqual(route.access === 'metered' ? [route.resource] : []);
  });

  it('answers a path outside the stage with 403, as the default invoke URL does', async () => {
    const { apiKey } = await createCustomer({ name: 'No stage', tier: 'pro' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now: Date.now });
    const outside = await fetch(`${new URL(stack.gateway.url).origin}/api/hello`, { headers: { 'x-api-key': apiKey.key } });
    expect(outside.status).toBe(403);
    expect(new URL(stack.gateway.url).pathname).toBe('/prod');
  });
});
