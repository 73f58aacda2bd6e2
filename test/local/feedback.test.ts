import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { billingConfig } from '../../lambdas/core/config.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { DynamoFeedbackStore } from '../../lambdas/adapters/feedback-store.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { midMonthClock } from '../harness/clock.ts';

describe('POST /feedback through the local gateway', () => {
  // A stopped clock: the route's token bucket never refills during the test, so which call it refuses is exact.
  const at = midMonthClock()();
  const now = () => at;
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({
      dir: mkdtempSync(join(tmpdir(), 'feedback-')),
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `fb${randomUUID().slice(0, 8)}-`,
      config: { ...billingConfig, survey: { ...billingConfig.survey, throttle: { rateLimit: 1, burstLimit: 3 } } },
      now,
    });
  });
  afterAll(async () => stack?.stop());

  const post = async (body: unknown, key?: string) => {
    const response = await fetch(`${stack.gateway.url}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key && { 'x-api-key': key }) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('takes an answer with the key, refuses a second within 30 days, throttles past the stage limit, and meters none of it', async () => {
    const customer = () => createCustomer({ name: 'Voice Co', tier: 'free' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now });
    const [a, b] = await Promise.all([customer(), customer()]);

    expect(await post({ score: 9, comment: 'Clear' }, a.apiKey.key)).toMatchObject({ status: 201, body: { recorded: 'answer' } });
    expect(await post({ dismissed: true }, a.apiKey.key)).toMatchObject({
      status: 429,
      body: { error: 'too_soon', retryAt: new Date(at + 30 * 86_400_000).toISOString() },
    });
    expect((await post({ score: 9 })).status).toBe(401);
    // The fourth call in the same instant is past the route's burst of 3: the gateway refuses it before the authorizer.
    expect(await post({ score: 2 }, b.apiKey.key)).toMatchObject({ status: 429, body: { error: 'rate_limited' } });

    const feedback = new DynamoFeedbackStore(stack.doc, stack.tables.billing);
    expect(await feedback.answers(at - 1, at + 1)).toEqual([{ customerId: a.customer.customerId, score: 9, comment: 'Clear', at }]);
    expect(await feedback.last(b.customer.customerId)).toBeUndefined();
    await stack.settle();
    const usageEvents = (await stack.doc.send(new ScanCommand({ TableName: stack.tables.usageEvents, ConsistentRead: true }))).Items ?? [];
    expect(usageEvents).toEqual([]);
    const log = readFileSync(stack.accessLogFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    expect(log.map((l) => [l.resourcePath, l.status, l.responseType])).toEqual([
      ['/feedback', '201', '-'],
      ['/feedback', '429', '-'],
      ['/feedback', '401', 'UNAUTHORIZED'],
      ['/feedback', '429', 'THROTTLED'],
    ]);
  });
});
