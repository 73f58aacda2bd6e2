import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { syncCustomerMonth } from '../../lambdas/core/sync.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import type { UsageReport } from '../../lambdas/core/usage-report.ts';
import { midMonthClock } from '../harness/clock.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';

// The stack's clock and the test's: calls, the push and the usage report fall in one month on any date.
const now = midMonthClock();

describe('local stack with the local Stripe, end to end', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({
      dir: mkdtempSync(join(tmpdir(), 'e2e-')),
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `e${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000, // runs are driven by the test
      now,
    });
  });
  afterAll(async () => stack.stop());

  it("turns a customer's calls into meter events and an invoice preview equal to the dashboard's estimate, to the cent", async () => {
    const { stripe } = await stack.billing!.services.ready();
    const { customer, apiKey } = await createCustomer({ name: 'Pro Co', tier: 'pro' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe });
    const statuses = [];
    for (let i = 0; i < 40; i++) statuses.push((await fetch(`${stack.gateway.url}/api/work/${i}`, { headers: { 'x-api-key': apiKey.key } })).status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    await stack.settle();

    const { sync } = await stack.billing!.services.ready();
    expect(await syncCustomerMonth((await stack.store.getCustomer(customer.customerId))!, utcMonth(now()), sync, { flush: true })).toMatchObject({
      kind: 'pushed',
    });
    const report = (await (await fetch(`${stack.gateway.url}/usage`, { headers: { 'x-api-key': apiKey.key } })).json()) as UsageReport;
    expect(report.calls).toBe(statuses.filter((s) => s === 200).length);

    const client = stack.billing!.localStripe!.client();
    const preview = await client.invoices.createPreview({ subscription: customer.subscriptionId! });
    expect(preview.total).toBe(report.estimate.totalCents);
    expect(stack.billing!.localStripe!.state.meterEvents.reduce((s, e) => s + e.value, 0)).toBe(report.calls);
  });
});
