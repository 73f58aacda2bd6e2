/**
 * A Free customer's final invoice has no metered line (Free has no usage price): its calls are billed
 * at $0 by the meter alone, which is not a billing error. Found by the month benchmark (bench/month.ts),
 * where every Free customer counted its calls as errors once its invoice was final.
 */
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';
import { addHourCounts } from '../harness/counters.ts';
import { usageEvent } from '../harness/stream-records.ts';

describe('reconciliation of a Free customer (DynamoDB Local, the local Stripe)', () => {
  let f: BillingFixture;
  beforeEach(async () => {
    f = await billingFixture(Date.UTC(2026, 10, 25, 12, 0));
  });
  afterEach(async () => f.stop());

  it('finds no error in a finalized $0 invoice without a metered line', async () => {
    const customer = await f.addCustomer('free');
    const hour = '2026-11-20T10';
    const events = Array.from({ length: 300 }, (_, i) => usageEvent(`free-${i}`, customer.customerId, hour));
    for (let i = 0; i < events.length; i += 25)
      await f.doc.send(new BatchWriteCommand({ RequestItems: { [f.tables.usageEvents]: events.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour, billable: 300 }]);
    await f.services.reconcile({ alerts: f.alertSink, trigger: 'daily', months: ['2026-11'] }); // pushes the 300 calls
    setTime(f, Date.UTC(2026, 11, 1, 0, 10));
    await f.stripe.advanceBillingPeriods(); // drafts the invoice
    setTime(f, Date.UTC(2026, 11, 1, 1, 20));
    await f.stripe.advanceBillingPeriods(); // finalizes it

    const run = await f.services.reconcile({ alerts: f.alertSink, trigger: 'on-demand', months: ['2026-11'] });

    const [record] = run.records;
    expect(record?.before).toMatchObject({ stripeCalls: 300, invoice: expect.objectContaining({ status: 'paid', meteredCalls: 300, totalCents: 0 }) });
    expect(record?.differences).toEqual([]);
    expect(record?.error).toEqual({ calls: 0, cents: 0 });
    expect(run.rate).toMatchObject({ discrepancies: 0, rate: { calls: 0, cents: 0 } });
  });
});
