import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoBillingStateStore } from '../../lambdas/adapters/billing-state.ts';
import { DynamoCustomerStore } from '../../lambdas/adapters/customer-store.ts';
import { CounterUsageReader } from '../../lambdas/adapters/sync-store.ts';
import type { Alert } from '../../lambdas/core/alerts.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import { checkGuardrails, type GuardrailDeps } from '../../lambdas/core/guardrails.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';
import { testCustomer } from '../harness/customer.ts';

const NOV_20 = Date.UTC(2026, 10, 20, 12);

describe('guardrails (state in DynamoDB Local)', () => {
  let t: TestTables;
  let alerts: Alert[];
  let customers: DynamoCustomerStore;
  beforeEach(async () => {
    t = await freshTables();
    alerts = [];
    customers = new DynamoCustomerStore(t.doc, t.tables);
  });

  async function customer(fields: Partial<Customer> = {}): Promise<Customer> {
    const c = testCustomer({ customerId: `c${Math.random().toString(36).slice(2, 8)}`, ...fields });
    await t.doc.send(new PutCommand({ TableName: t.tables.customers, Item: c }));
    return c;
  }
  const setCalls = (customerId: string, month: string, billable: number) =>
    t.doc.send(new PutCommand({ TableName: t.tables.counters, Item: { pk: `CUSTOMER#${customerId}`, sk: `MONTH#${month}`, billable, voided: 0 } }));

  function deps(now = NOV_20): GuardrailDeps {
    const state = new DynamoBillingStateStore(t.doc, t.tables.billing);
    const counters = new CounterUsageReader(t.doc, t.tables.counters);
    return {
      alerts: { publish: async (a) => void alerts.push(a) },
      markOnce: (id, key, at) => state.markOnce(id, key, at),
      callsInMonth: (id, month) => counters.callsThisMonth(id, month),
      setCappedMonth: async (id, month) => void (await customers.updateCustomer(id, { cappedMonth: month })),
      config: billingConfig,
      now,
    };
  }
  // Pro with a $100 cap: $49 fee + $0.002 a call past 10,000.
  const CALLS_AT = { 79: 25_000, 80: 25_500, 100: 35_500, 120: 45_500 };

  it.each([
    [79, 'block', [], undefined],
    [80, 'block', [80], undefined],
    [100, 'block', [80, 100], '2026-11'],
    [120, 'block', [80, 100], '2026-11'],
    [100, 'absorb', [80, 100], undefined],
    [120, 'absorb', [80, 100], undefined],
  ] as const)('at %i%% of the cap with %s: alerts %j, blocks in %s', async (percent, behaviour, alerted, cappedMonth) => {
    const c = await customer({ capBehaviour: behaviour });
    await setCalls(c.customerId, '2026-10', CALLS_AT[percent]); // no anomaly: last month was the same
    await setCalls(c.customerId, '2026-11', CALLS_AT[percent]);
    const events = await checkGuardrails(c, deps());
    expect(events.filter((e) => e.kind === 'cap-alert').map((e) => (e as { percent: number }).percent)).toEqual(alerted);
    expect(alerts.map((a) => a.subject)).toEqual(alerted.map((p) => `Acme reached ${p}% of its billing cap`));
    if (alerted.length) expect(alerts[0]!.action).toContain(`cap approve --customer ${c.customerId}`);
    expect((await customers.getCustomer(c.customerId))?.cappedMonth).toBe(cappedMonth);
    // Once per month: a second run sends nothing new.
    expect(await checkGuardrails((await customers.getCustomer(c.customerId))!, deps())).toEqual([]);
  });

  it('alerts once when a month is billed over twice the previous one', async () => {
    const c = await customer({ capCents: 1_000_000 });
    await setCalls(c.customerId, '2026-10', 20_000); // $69
    await setCalls(c.customerId, '2026-11', 60_000); // $149 > 2 x $69
    expect(await checkGuardrails(c, deps())).toEqual([{ kind: 'anomaly', billCents: 14_900, baselineCents: 6_900, projected: false }]);
    expect(alerts[0]!.body).toContain('last month (2026-10)');
    expect(await checkGuardrails(c, deps())).toEqual([]);
  });

  it('judges a customer with no previous month against its tier fee, not a division by zero', async () => {
    const c = await customer({ capCents: 1_000_000, createdAt: '2026-11-05T00:00:00Z' });
    await setCalls(c.customerId, '2026-11', 35_000); // $99 > 2 x $49 fee
    expect(await checkGuardrails(c, deps())).toEqual([{ kind: 'anomaly', billCents: 9_900, baselineCents: 4_900, projected: false }]);
    expect(alerts[0]!.body).toContain('tier fee (no previous month)');
    const free = await customer({ tier: 'free', createdAt: '2026-11-05T00:00:00Z' });
    await setCalls(free.customerId, '2026-11', 1_000);
    expect(await checkGuardrails(free, deps())).toEqual([]);
  });

  it('warns early when the run rate projects the month past twice the previous one', async () => {
    const c = await customer({ capCents: 1_000_000 });
    await setCalls(c.customerId, '2026-10', 20_000); // $69
    await setCalls(c.customerId, '2026-11', 25_000); // $79 on Nov 10, on course for ~75,000 calls: $179
    const events = await checkGuardrails(c, deps(Date.UTC(2026, 10, 10, 0)));
    expect(events).toEqual([expect.objectContaining({ kind: 'anomaly', projected: true, baselineCents: 6_900 })]);
    expect(alerts[0]!.subject).toContain('heading to');
  });
});
