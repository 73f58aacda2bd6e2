/**
 * Reconciliation against DynamoDB Local and the local Stripe, through the real adapters: each kind
 * of discrepancy is planted (a meter event Stripe lost, a push Stripe holds twice, a wrong invoice
 * line, calls the counters missed) and the run must find it, correct it once, and say so.
 */
import { estimateBill } from '../../lambdas/core/pricing.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import type { ReconcileOptions } from '../../lambdas/core/reconciliation.ts';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';
import { serveCalls } from '../harness/counters.ts';

const MONTH = '2026-11';
const NOV = Date.UTC(2026, 10, 1) / 1000;
const DEC = Date.UTC(2026, 11, 1) / 1000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('reconciliation (DynamoDB Local, the local Stripe through the adapter)', () => {
  let f: BillingFixture;
  beforeEach(async () => {
    f = await billingFixture(Date.UTC(2026, 10, 25, 12, 0));
  });
  afterEach(async () => f.stop());

  const serve = (customer: Customer, hour: string, n: number, options: { counted?: boolean } = {}) =>
    serveCalls(f.doc, f.tables, customer.customerId, hour, n, options);
  /** Stripe gets the customer's 150 calls a second time, under a re-send's identifier the outbox knows of (or not). */
  async function pushAgain(customer: Customer, options: { recorded: boolean }): Promise<string> {
    const identifier = `${customer.customerId}:${MONTH}:1:r1`;
    await f.services.provider.pushMeterEvent({
      identifier,
      stripeCustomerId: customer.stripeCustomerId!,
      value: 150,
      timestampSec: Math.floor(f.clock.now / 1000),
    });
    const { sync } = await f.services.ready();
    if (options.recorded) await sync.state.recordAttempt(customer.customerId, MONTH, { identifier, value: 150, at: f.clock.now });
    return identifier;
  }
  const reconcile = (options: Partial<ReconcileOptions> = {}) =>
    f.services.reconcile({ alerts: f.alertSink, trigger: 'on-demand', months: [MONTH], ...options });
  const inStripe = async (customer: Customer) => {
    const { catalogIds } = await f.services.ready();
    return f.services.provider.meteredTotal(catalogIds.meterId, customer.stripeCustomerId!, NOV, DEC);
  };
  const later = (ms: number) => setTime(f, f.clock.now + ms);
  const invoiceOf = async (customer: Customer) => (await f.stripe.client().invoices.list({ customer: customer.stripeCustomerId! })).data[0]!;

  it('lines up equal figures for a month billed right: one record, a 0% error rate, no correction and no alert', async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);

    const run = await reconcile();

    const [record] = run.records;
    expect(record?.before).toMatchObject({ servedCalls: null, countedCalls: 150, shouldBeBilledCalls: 150, pushedCalls: 150, stripeCalls: 150 });
    expect(record?.billed).toEqual({ calls: 150, cents: estimateBill('enterprise', 150).totalCents });
    expect(record?.corrections).toEqual([]);
    expect(run.rate).toMatchObject({ customerMonths: 1, discrepancies: 0, rate: { calls: 0, cents: 0 } });
    expect(await f.services.reconciliationRecords.forCustomer(customer.customerId)).toHaveLength(1);
    expect(f.alerts).toEqual([]);
  });

  it("counts the month's unsettled last hour as metered, not yet billed, and not as an error", async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);
    await serve(customer, '2026-11-25T11', 30); // ended at 12:00, settles at 12:15

    const [record] = (await reconcile()).records;

    expect(record?.before).toMatchObject({ countedCalls: 180, settledBillableCalls: 150, shouldBeBilledCalls: 180, stripeCalls: 150 });
    expect(record?.differences.map((d) => [d.kind, d.calls, d.explained])).toEqual([['awaiting-sync', -30, true]]);
    expect(record?.error).toEqual({ calls: 0, cents: 0 });
    expect(record?.discrepancy).toBe(false);
  });

  it('finds a meter event Stripe lost and pushes the shortfall once: a re-run repeats its identifier and pushes nothing more', async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);
    await reconcile(); // syncs: 1,500 in Stripe
    f.stripe.loseMeterEvent(`${customer.customerId}:${MONTH}:1`);
    later(20 * MINUTE); // past the summaries' consistency lag

    const run = await reconcile();

    const [record] = run.records;
    expect(record?.differences.map((d) => [d.kind, d.calls, d.explained])).toEqual([['meter-event-lost', -150, false]]);
    expect(record?.corrections).toEqual([
      expect.objectContaining({ kind: 'push-shortfall', calls: 150, status: 'applied', identifier: `${customer.customerId}:${MONTH}:fix:150:0` }),
    ]);
    expect(await inStripe(customer)).toBe(150);
    expect(record?.error.calls).toBe(150);
    expect(record?.residual).toEqual({ calls: 0, cents: 0 });
    expect(run.rate.rate.calls).toBe(1);
    expect(run.rate.residualRate.calls).toBe(0);
    // Audited with the figures before and after; the operators are paged (the whole month was missing).
    const audit = await f.services.state.auditLog(customer.customerId);
    expect(audit).toContainEqual(
      expect.objectContaining({
        action: 'reconcile-push-shortfall',
        details: expect.objectContaining({ before: expect.objectContaining({ stripeCalls: 0 }), after: expect.objectContaining({ stripeCalls: 150 }) }),
      }),
    );
    expect(f.alerts).toEqual([expect.objectContaining({ severity: 'page', customerId: customer.customerId, subject: expect.stringMatching(/^PAGE: /) })]);

    later(HOUR);
    const again = await reconcile();
    expect(again.records[0]?.corrections).toEqual([]);
    expect(again.records[0]?.discrepancy).toBe(false);
    expect(await inStripe(customer)).toBe(150);
  });

  it('cancels a push Stripe holds twice, while Stripe still allows it (24 hours)', async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);
    await reconcile();
    // A re-send under a fresh identifier, after the first had landed unseen: the outbox knows both.
    const identifier = await pushAgain(customer, { recorded: true });
    expect(await inStripe(customer)).toBe(300);
    later(2 * HOUR);

    const [record] = (await reconcile()).records;

    expect(record?.differences.map((d) => d.kind)).toEqual(['meter-event-duplicated']);
    expect(record?.corrections).toEqual([expect.objectContaining({ kind: 'cancel-meter-event', identifier, calls: 150, status: 'applied' })]);
    expect(await inStripe(customer)).toBe(150);
    expect(record?.residual).toEqual({ calls: 0, cents: 0 });
  });

  it('credits a duplicate found after 24 hours on the draft invoice, so the final invoice equals the bill', async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);
    await reconcile();
    await pushAgain(customer, { recorded: false });
    later(25 * HOUR);

    const open = (await reconcile()).records[0]!;
    expect(open.corrections).toEqual([]); // too late to cancel, too early to credit: the draft does not exist yet
    expect(open.discrepancy).toBe(true);

    setTime(f, Date.UTC(2026, 11, 1, 0, 5));
    await f.stripe.advanceBillingPeriods(); // drafts November's invoice
    const drafted = (await reconcile()).records[0]!;
    const excess = estimateBill('enterprise', 300).totalCents - estimateBill('enterprise', 150).totalCents;
    expect(drafted.corrections).toEqual([expect.objectContaining({ kind: 'credit-draft-invoice', cents: excess, status: 'applied' })]);

    setTime(f, Date.UTC(2026, 11, 1, 1, 10));
    await f.stripe.advanceBillingPeriods(); // finalizes and pays it
    const invoice = await invoiceOf(customer);
    expect([invoice.status, invoice.total]).toEqual(['paid', estimateBill('enterprise', 150).totalCents]);
    const final = (await reconcile()).records[0]!;
    expect(final.corrections).toEqual([]);
    expect(final.discrepancy).toBe(false);
    expect(final.residual.cents).toBe(0);
  });

  it('credits a wrong line on a finalized invoice with a credit note, once', async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);
    await reconcile();
    setTime(f, Date.UTC(2026, 11, 1, 0, 5));
    await f.stripe.advanceBillingPeriods();
    setTime(f, Date.UTC(2026, 11, 1, 1, 10));
    await f.stripe.advanceBillingPeriods();
    const invoice = await invoiceOf(customer);
    const bill = estimateBill('enterprise', 150).totalCents;
    const wrong = estimateBill('enterprise', 200).totalCents - estimateBill('enterprise', 0).totalCents;
    f.stripe.tamperInvoiceLine(invoice.id!, { quantity: 200, amount: wrong });
    expect((await invoiceOf(customer)).total).toBe(estimateBill('enterprise', 200).totalCents);

    const [record] = (await reconcile()).records;

    expect(record?.differences.map((d) => d.kind)).toEqual(['invoice-line-wrong', 'overcharged']);
    const over = estimateBill('enterprise', 200).totalCents - bill;
    expect(record?.corrections).toEqual([expect.objectContaining({ kind: 'credit-note', cents: over, invoiceId: invoice.id, status: 'applied' })]);
    expect(record?.billedAfter.cents).toBe(bill);
    expect(record?.residual.cents).toBe(0);
    const again = (await reconcile()).records[0]!;
    expect(again.corrections).toEqual([]);
    expect((await f.stripe.client().creditNotes.list({ invoice: invoice.id! })).data).toHaveLength(1);
  });

  it('plans the same corrections in a dry run and changes nothing: no push, no record, no audit, no alert', async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);
    await reconcile();
    const recordsBefore = await f.services.reconciliationRecords.forCustomer(customer.customerId);
    f.stripe.loseMeterEvent(`${customer.customerId}:${MONTH}:1`);
    later(20 * MINUTE);

    const [record] = (await reconcile({ dryRun: true })).records;

    expect(record?.corrections).toEqual([expect.objectContaining({ kind: 'push-shortfall', calls: 150, status: 'planned' })]);
    expect(await inStripe(customer)).toBe(0);
    expect(await f.services.reconciliationRecords.forCustomer(customer.customerId)).toEqual(recordsBefore);
    expect(await f.services.state.auditLog(customer.customerId)).toEqual([]);
    expect(f.alerts).toEqual([]);
  });

  it('does not count what a billing pause holds back as an error, and pushes nothing while paused', async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);
    await f.services.state.setPause({ paused: true, by: 'ops', reason: 'checking a price', at: new Date(f.clock.now).toISOString() });

    const [record] = (await reconcile()).records;

    expect(record?.differences.map((d) => [d.kind, d.explained])).toEqual([['held-by-pause', true]]);
    expect(record?.discrepancy).toBe(false);
    expect(record?.error).toEqual({ calls: 0, cents: 0 });
    expect(await inStripe(customer)).toBe(0);
  });

  it('finds served calls the counters missed when asked to read the raw events, and alerts with the remedy', async () => {
    const customer = await f.addCustomer('enterprise');
    await serve(customer, '2026-11-20T10', 150);
    await serve(customer, '2026-11-20T11', 7, { counted: false }); // a batch the aggregator never applied
    await reconcile();

    const [record] = (await reconcile({ deep: true })).records;

    expect(record?.before.servedCalls).toBe(157);
    expect(record?.differences.map((d) => [d.kind, d.calls])).toEqual([['counters-missed-calls', -7]]);
    expect(record?.error.calls).toBe(7);
    expect(f.alerts.at(-1)?.body).toMatch(/dlq replay/);
  });

  it('reconciles a free customer whose month is within its quota: nothing to bill, nothing wrong', async () => {
    const customer = await f.addCustomer('free');
    await serve(customer, '2026-11-20T10', 40);
    const [record] = (await reconcile()).records;
    expect(record?.before).toMatchObject({ countedCalls: 40, pushedCalls: 40, stripeCalls: 40 });
    expect(record?.shouldBeBilled.cents).toBe(0);
    expect(record?.discrepancy).toBe(false);
  });
});
