/**
 * Guardrails across months and at the anomaly projection's day-3 edge, through the adapters the
 * scheduled run uses (billingServices' guardrails: hour counters, alert marks and the customer
 * record in DynamoDB Local), on a controlled clock.
 */
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';
import { addHourCounts } from '../harness/counters.ts';
import type { Alert } from '../../lambdas/core/alerts.ts';
import type { Customer } from '../../lambdas/core/model.ts';

describe('guardrails over months (DynamoDB Local, through the adapters)', () => {
  let f: BillingFixture;
  let alerts: Alert[];
  afterEach(async () => f?.stop());

  async function proCustomer(fields: Partial<Customer>): Promise<Customer> {
    const c = await f.addCustomer('pro');
    await f.services.customers.updateCustomer(c.customerId, fields);
    return (await f.services.customers.getCustomer(c.customerId))!;
  }
  /** One scheduled run's guardrail check at `at`, on the customer as stored. */
  async function runAt(at: number, customerId: string) {
    setTime(f, at);
    alerts = [];
    const customer = (await f.services.customers.getCustomer(customerId))!;
    const events = await f.services.guardrails({ publish: async (a) => void alerts.push(a) })(customer);
    return { events, subjects: alerts.map((a) => a.subject) };
  }

  it('sends the 80% and 100% cap alerts once a month each, and again the next month', async () => {
    f = await billingFixture(Date.UTC(2026, 10, 1, 12));
    // Pro with a $100 cap: $49 fee + $0.002 a call past 10,000, so 25,500 calls are $80 and 35,500 are $100.
    // A customer since September with October at 80%: no anomaly alert muddles the cap alerts.
    const c = await proCustomer({ name: 'Acme', capCents: 10_000, capBehaviour: 'block', createdAt: '2026-09-01T00:00:00.000Z' });
    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: '2026-10-10T10', billable: 25_500 }]);

    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: '2026-11-24T10', billable: 25_500 }]);
    expect(await runAt(Date.UTC(2026, 10, 25, 12), c.customerId)).toEqual({
      events: [{ kind: 'cap-alert', percent: 80, billCents: 8_000, capCents: 10_000 }],
      subjects: ['Acme reached 80% of its billing cap'],
    });
    expect((await runAt(Date.UTC(2026, 10, 25, 12, 5), c.customerId)).events).toEqual([]);

    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: '2026-11-26T10', billable: 10_000 }]);
    expect(await runAt(Date.UTC(2026, 10, 27, 12), c.customerId)).toEqual({
      events: [
        { kind: 'cap-alert', percent: 100, billCents: 10_000, capCents: 10_000 },
        { kind: 'blocked', month: '2026-11' },
      ],
      subjects: ['Acme reached 100% of its billing cap'],
    });
    expect((await runAt(Date.UTC(2026, 10, 30, 23, 55), c.customerId)).events).toEqual([]);

    // December: the same figures alert again, each once, and block for December.
    expect((await runAt(Date.UTC(2026, 11, 1, 0, 0), c.customerId)).events).toEqual([]);
    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: '2026-12-27T10', billable: 25_500 }]);
    expect(await runAt(Date.UTC(2026, 11, 28, 12), c.customerId)).toEqual({
      events: [{ kind: 'cap-alert', percent: 80, billCents: 8_000, capCents: 10_000 }],
      subjects: ['Acme reached 80% of its billing cap'],
    });
    expect((await runAt(Date.UTC(2026, 11, 28, 12, 5), c.customerId)).events).toEqual([]);
    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: '2026-12-28T13', billable: 10_000 }]);
    expect(await runAt(Date.UTC(2026, 11, 29, 12), c.customerId)).toEqual({
      events: [
        { kind: 'cap-alert', percent: 100, billCents: 10_000, capCents: 10_000 },
        { kind: 'blocked', month: '2026-12' },
      ],
      subjects: ['Acme reached 100% of its billing cap'],
    });
    expect((await runAt(Date.UTC(2026, 11, 29, 12, 5), c.customerId)).events).toEqual([]);
    expect((await f.services.customers.getCustomer(c.customerId))?.cappedMonth).toBe('2026-12');
  });

  it('projects the anomaly from day 3 of the month, not before (a bill already over the limit alerts on any day)', async () => {
    f = await billingFixture(Date.UTC(2026, 10, 1, 12));
    // October billed $69 (20,000 calls): the limit is 2 x $69 = $138. By day 3, 10,000 calls ($49, under
    // the limit) run at 5,000 a day: about 150,000 calls ($329) for November.
    const projected = await proCustomer({ name: 'Steady', capCents: 1_000_000, createdAt: '2026-09-01T00:00:00.000Z' });
    const over = await proCustomer({ name: 'Spiking', capCents: 1_000_000, createdAt: '2026-09-01T00:00:00.000Z' });
    await addHourCounts(f.doc, f.tables.counters, projected.customerId, [
      { hour: '2026-10-10T10', billable: 20_000 },
      { hour: '2026-11-01T10', billable: 10_000 },
    ]);
    await addHourCounts(f.doc, f.tables.counters, over.customerId, [
      { hour: '2026-10-10T10', billable: 20_000 },
      { hour: '2026-11-01T10', billable: 55_000 },
    ]);

    const DAY_3 = Date.UTC(2026, 10, 3, 0, 0);
    // The last millisecond of day 2: no projection yet, however far it points.
    expect(await runAt(DAY_3 - 1, projected.customerId)).toEqual({ events: [], subjects: [] });
    // ...but a month already billed over twice the last alerts on day 2: $139 > $138.
    expect(await runAt(DAY_3 - 1, over.customerId)).toEqual({
      events: [{ kind: 'anomaly', billCents: 13_900, baselineCents: 6_900, projected: false }],
      subjects: ["Spiking: this month's bill is over 2x last month"],
    });

    // Day 3 from its first millisecond: the projection alerts, once.
    const day3 = await runAt(DAY_3, projected.customerId);
    expect(day3.events).toEqual([{ kind: 'anomaly', billCents: 4_900 + 0.2 * (150_000 - 10_000), baselineCents: 6_900, projected: true }]);
    expect(day3.subjects).toEqual(["Steady: this month's bill is heading to over 2x last month"]);
    expect(alerts[0]!.body).toContain('is on course for $329.00 ($49.00 so far, 10000 calls) this month, against $69.00 last month (2026-10)');
    expect((await runAt(DAY_3 + 60_000, projected.customerId)).events).toEqual([]);
  });

  it('holds a new customer to the same day-3 edge against its tier fee', async () => {
    f = await billingFixture(Date.UTC(2026, 10, 1, 0, 30));
    // Created this month: the baseline is the Pro fee, $49, so the limit is $98. 6,000 calls on
    // day 1-2 ($49) project to 90,000 ($209).
    const c = await proCustomer({ name: 'Newco', capCents: 1_000_000 });
    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: '2026-11-01T10', billable: 6_000 }]);
    const DAY_3 = Date.UTC(2026, 10, 3);
    expect((await runAt(DAY_3 - 1, c.customerId)).events).toEqual([]);
    expect(await runAt(DAY_3, c.customerId)).toEqual({
      events: [{ kind: 'anomaly', billCents: 20_900, baselineCents: 4_900, projected: true }],
      subjects: ["Newco: this month's bill is heading to over 2x its tier fee"],
    });
  });
});
