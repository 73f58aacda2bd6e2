import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { startOfNextUtcMonth, utcHour, utcMonth } from '../../lambdas/core/time.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';
import { cliAt } from '../harness/cli.ts';
import { midMonthClock } from '../harness/clock.ts';
import { addHourCounts } from '../harness/counters.ts';

const HOUR = 3_600_000;

describe('customers show: what an operator sees of self-service (child process against the local stack with the local Stripe)', () => {
  let stack: LocalStack;
  let cli: ReturnType<typeof cliAt>;
  const clock = { skewMs: 0 };
  const midMonth = midMonthClock();
  const now = () => midMonth() + clock.skewMs;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-show-'));
    cli = cliAt(dir, { API_BILLING_OPERATOR: 'ops-test' });
    stack = await startLocalStack({
      dir,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `cs${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000,
      now,
    });
    writeLocalState(stack.state(), dir);
  });
  afterAll(async () => stack.stop());

  it("lists the customer's pending downgrade and its unpaid invoice, and the audit log says the customer opted out", async () => {
    const localStripe = stack.billing!.localStripe!;
    const { stripe } = await stack.billing!.services.ready();
    const { customer, apiKey } = await createCustomer(
      { name: 'Owing Co', tier: 'pro' },
      { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe },
    );
    // Invoiced rather than charged: last month's invoice stays open until the customer pays it.
    await localStripe.client().subscriptions.update(customer.subscriptionId!, { collection_method: 'send_invoice', days_until_due: 30 });
    await addHourCounts(stack.doc, stack.tables.counters, customer.customerId, [{ hour: utcHour(now() - 2 * HOUR), billable: 12_000 }]);
    const billedMonth = utcMonth(now());
    clock.skewMs += startOfNextUtcMonth(now()) - now() + 30_000;
    await localStripe.advanceBillingPeriods(); // drafts the month's invoice; its webhook pushes the last usage
    await localStripe.webhooksDelivered();
    clock.skewMs += HOUR + 60_000;
    await localStripe.advanceBillingPeriods(); // finalizes it, open
    await localStripe.webhooksDelivered();

    // The customer opts out (the dashboard's confirmation, through the gateway's free route).
    const takesEffectAt = new Date(startOfNextUtcMonth(now())).toISOString();
    const optOut = await fetch(`${stack.gateway.url}/billing/downgrade`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey.key, 'content-type': 'application/json' },
      body: JSON.stringify({ takesEffectAt }),
    });
    expect(optOut.status).toBe(200);

    const shown = await cli('customers', 'show', customer.customerId, '--json');
    expect(shown.code).toBe(0);
    const json = JSON.parse(shown.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({
      customerId: customer.customerId,
      tier: 'pro',
      pendingDowngrade: { to: 'free', at: takesEffectAt },
      unpaidInvoices: [
        {
          invoiceId: expect.stringMatching(/^in_/),
          status: 'open',
          periodStartSec: Date.parse(`${billedMonth}-01T00:00:00Z`) / 1000,
          amountRemainingCents: 5_300,
          hostedInvoiceUrl: expect.stringContaining('/_local/invoices/'),
        },
      ],
    });
    expect(shown.stdout).not.toContain('gatewayKeyValue');

    const text = (await cli('customers', 'show', customer.customerId)).stdout;
    expect(text).toMatch(new RegExp(`^pendingDowngrade:\\s+to free at ${takesEffectAt} \\(the customer's opt-out; undoable until then\\)$`, 'm'));
    expect(text).toMatch(new RegExp(`^unpaidInvoices:\\s+in_\\w+ open \\$53\\.00 for ${billedMonth} http`, 'm'));

    expect((await cli('usage', 'show', '--customer', customer.customerId)).stdout).toMatch(
      new RegExp(`^plan:\\s+moving to free at ${takesEffectAt} \\(the customer's opt-out\\)$`, 'm'),
    );
    const audit = await cli('audit', '--customer', customer.customerId);
    expect(audit.stdout).toMatch(/downgrade-scheduled-pro-to-free\s+the customer\s+opted out to Free from the dashboard/);
  }, 120_000);

  it('says none when nothing is pending or unpaid', async () => {
    const { stripe } = await stack.billing!.services.ready();
    const { customer } = await createCustomer({ name: 'Settled Co', tier: 'pro' }, { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe });
    const text = (await cli('customers', 'show', customer.customerId)).stdout;
    expect(text).toMatch(/^pendingDowngrade:\s+none$/m);
    expect(text).toMatch(/^unpaidInvoices:\s+none$/m);
  });
});
