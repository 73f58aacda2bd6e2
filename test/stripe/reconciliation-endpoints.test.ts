/**
 * What reconciliation reads and corrects in Stripe (meter event cancellation, a period's invoice,
 * credit notes), through the product's adapter and stripe-node against the local Stripe.
 */
import type Stripe from 'stripe';
import { StripeBillingProvider } from '../../lambdas/adapters/stripe-billing.ts';
import { METER_EVENT_NAME, stripeCatalog } from '../../lambdas/core/catalog.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import { ApiBillingError } from '../../lambdas/core/errors.ts';
import type { CatalogIds } from '../../lambdas/core/ports.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { priceIdsOfTier, stripeSetup } from '../../lambdas/core/subscriptions.ts';
import { startLocalStripe, type LocalStripe } from '../../local/stripe/server.ts';

const NOV_25 = Date.UTC(2026, 10, 25, 12, 0);
const NOV = Date.UTC(2026, 10, 1) / 1000;
const DEC = Date.UTC(2026, 11, 1) / 1000;
const JAN = Date.UTC(2027, 0, 1) / 1000;
const HOUR_MS = 3_600_000;

describe('reconciliation endpoints of the local Stripe, through the Stripe adapter', () => {
  let stripe: LocalStripe;
  let client: Stripe;
  let provider: StripeBillingProvider;
  let ids: CatalogIds;
  beforeEach(async () => {
    stripe = await startLocalStripe({ now: () => NOV_25 });
    client = stripe.client();
    provider = new StripeBillingProvider(client);
    ids = await provider.ensureCatalog(stripeCatalog(billingConfig));
  });
  afterEach(async () => stripe.stop());

  /** A Pro customer subscribed for November (the monthly fee plus metered calls). */
  async function proCustomer(name: string, collection?: Pick<Stripe.SubscriptionCreateParams, 'collection_method' | 'days_until_due'>) {
    const priceIds = priceIdsOfTier(stripeSetup(provider, ids, billingConfig), 'pro');
    if (!collection) return provider.createSubscriber({ customerId: name, name, priceIds, periodStartSec: NOV, billingCycleAnchorSec: DEC });
    // An invoice sent to the customer stays open after finalization: the one way to hold an open invoice.
    const customer = await client.customers.create({ name });
    const subscription = await client.subscriptions.create({
      customer: customer.id,
      items: priceIds.map((price) => ({ price })),
      backdate_start_date: NOV,
      billing_cycle_anchor: DEC,
      ...collection,
    });
    return { stripeCustomerId: customer.id, subscriptionId: subscription.id };
  }

  const push = (stripeCustomerId: string, identifier: string, value: number, timestampSec = NOV_25 / 1000 - 60) =>
    provider.pushMeterEvent({ identifier, stripeCustomerId, value, timestampSec });
  const novemberTotal = (stripeCustomerId: string) => provider.meteredTotal(ids.meterId, stripeCustomerId, NOV, DEC);

  /** Moves the clock and lets Stripe draft (at the period end) and finalize (an hour later) invoices. */
  async function advanceTo(epochMs: number) {
    stripe.setNow(epochMs);
    await stripe.advanceBillingPeriods();
  }

  describe('meter event cancellation', () => {
    it('cancels an event within 24 hours of receipt: it leaves the summaries, and a second cancel is harmless', async () => {
      const { stripeCustomerId } = await proCustomer('cancel-ok');
      await push(stripeCustomerId, 'keep', 300);
      await push(stripeCustomerId, 'wrong', 200);
      expect(await novemberTotal(stripeCustomerId)).toBe(500);

      stripe.setNow(NOV_25 + 23 * HOUR_MS);
      await provider.cancelMeterEvent('wrong');
      await provider.cancelMeterEvent('wrong');

      expect(await novemberTotal(stripeCustomerId)).toBe(300);
    });

    it("answers with Stripe's adjustment object, pending as Stripe processes it asynchronously", async () => {
      const { stripeCustomerId } = await proCustomer('cancel-shape');
      await push(stripeCustomerId, 'shape', 7);

      const adjustment = await client.billing.meterEventAdjustments.create({ event_name: METER_EVENT_NAME, type: 'cancel', cancel: { identifier: 'shape' } });

      expect(adjustment).toEqual({
        object: 'billing.meter_event_adjustment',
        event_name: METER_EVENT_NAME,
        livemode: false,
        status: 'pending',
        type: 'cancel',
        cancel: { identifier: 'shape' },
      });
    });

    it('refuses to cancel an event received more than 24 hours ago, and the event still counts', async () => {
      const { stripeCustomerId } = await proCustomer('cancel-late');
      await push(stripeCustomerId, 'late', 40);
      stripe.setNow(NOV_25 + 24 * HOUR_MS + 1_000);

      const refused = provider.cancelMeterEvent('late');

      await expect(refused).rejects.toBeInstanceOf(ApiBillingError);
      await expect(refused).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/more than 24 hours ago/) });
      expect(await novemberTotal(stripeCustomerId)).toBe(40);
    });

    it.each([
      ['an unknown identifier', { event_name: METER_EVENT_NAME, type: 'cancel', cancel: { identifier: 'never-sent' } }, 'resource_missing'],
      ['an event name without a meter', { event_name: 'no_such_meter', type: 'cancel', cancel: { identifier: 'x' } }, 'resource_missing'],
      ['no identifier', { event_name: METER_EVENT_NAME, type: 'cancel' }, 'parameter_missing'],
      ['an unknown parameter', { event_name: METER_EVENT_NAME, type: 'cancel', cancel: { identifier: 'x' }, colour: 'blue' }, 'parameter_unknown'],
    ])('rejects a cancellation with %s', async (_name, params, code) => {
      await expect(client.billing.meterEventAdjustments.create(params as Stripe.Billing.MeterEventAdjustmentCreateParams)).rejects.toMatchObject({
        type: 'StripeInvalidRequestError',
        statusCode: 400,
        code,
      });
    });

    it('rejects an unknown identifier through the adapter as a fault a retry does not fix', async () => {
      await expect(provider.cancelMeterEvent('never-sent')).rejects.toMatchObject({ retryable: false });
    });

    it('keeps a cancelled event out of the invoice', async () => {
      const { stripeCustomerId } = await proCustomer('cancel-invoice');
      await push(stripeCustomerId, 'billed', 15_000);
      await push(stripeCustomerId, 'cancelled', 5_000);
      await provider.cancelMeterEvent('cancelled');

      await advanceTo(Date.UTC(2026, 11, 1, 0, 5));

      const invoice = await provider.periodInvoice(stripeCustomerId, NOV);
      expect(invoice?.totalCents).toBe(estimateBill('pro', 15_000).totalCents);
    });
  });

  describe('periodInvoice', () => {
    it("finds each period's subscription invoice with its lines' kinds, totals and credited amounts", async () => {
      const { stripeCustomerId } = await proCustomer('period');
      await push(stripeCustomerId, 'nov', 15_000);
      expect(await provider.periodInvoice(stripeCustomerId, NOV)).toBeUndefined(); // not drafted yet

      await advanceTo(Date.UTC(2026, 11, 1, 0, 5));
      const { invoiceId } = (await provider.periodInvoice(stripeCustomerId, NOV))!;
      await provider.creditDraftInvoice({ stripeCustomerId, invoiceId, amountCents: 300, description: 'Correction', idempotencyKey: 'draft-credit' });
      const draft = await provider.periodInvoice(stripeCustomerId, NOV);
      const fee = priceIdsOfTier(stripeSetup(provider, ids, billingConfig), 'pro')[0];
      expect(draft).toEqual({
        invoiceId,
        status: 'draft',
        periodStartSec: NOV,
        periodEndSec: DEC,
        lines: expect.arrayContaining([
          { kind: 'subscription', priceId: fee, quantity: 1, amountCents: 4_900, description: null },
          { kind: 'subscription', priceId: expect.stringMatching(/^price_/), quantity: 15_000, amountCents: 1_000, description: null },
          { kind: 'invoice-item', priceId: null, quantity: 1, amountCents: -300, description: 'Correction' },
        ]),
        totalCents: 5_900 - 300,
        creditedCents: 0,
        refundedCents: 0,
        hostedInvoiceUrl: null, // Stripe makes the hosted page at finalization
      });
      expect(draft?.lines).toHaveLength(3);

      await advanceTo(Date.UTC(2026, 11, 1, 1, 10));
      await provider.creditInvoice({ invoiceId, amountCents: 250, memo: 'Lost events', idempotencyKey: 'nov-credit' });
      await advanceTo(Date.UTC(2027, 0, 1, 0, 5));

      expect(await provider.periodInvoice(stripeCustomerId, NOV)).toMatchObject({
        invoiceId,
        status: 'paid',
        totalCents: 5_600,
        creditedCents: 250,
        refundedCents: 0, // a correction, not a refund
        hostedInvoiceUrl: `${stripe.url}/_local/invoices/${invoiceId}`,
      });
      expect(await provider.periodInvoice(stripeCustomerId, DEC)).toMatchObject({ status: 'draft', periodStartSec: DEC, periodEndSec: JAN });
      expect(await provider.periodInvoice(stripeCustomerId, Date.UTC(2026, 9, 1) / 1000)).toBeUndefined();
    });

    it('pages through the lines of an invoice with more than its first page, and through the invoice list', async () => {
      const { stripeCustomerId } = await proCustomer('many-lines');
      await advanceTo(Date.UTC(2026, 11, 1, 0, 5));
      const { invoiceId } = (await provider.periodInvoice(stripeCustomerId, NOV))!;
      for (let i = 0; i < 12; i++) await client.invoiceItems.create({ customer: stripeCustomerId, invoice: invoiceId, amount: -10, currency: 'usd' });

      const invoice = await provider.periodInvoice(stripeCustomerId, NOV);

      expect((await client.invoices.retrieve(invoiceId)).lines).toMatchObject({ has_more: true, url: `/v1/invoices/${invoiceId}/lines` });
      expect(invoice?.lines).toHaveLength(14);
      expect(invoice?.lines.filter((l) => l.kind === 'invoice-item')).toHaveLength(12);
      expect(invoice?.totalCents).toBe(4_900 - 120);
      await advanceTo(Date.UTC(2027, 0, 1, 0, 5));
      const december = await provider.periodInvoice(stripeCustomerId, DEC);
      const all = await client.invoices.list({ customer: stripeCustomerId, limit: 1 }).autoPagingToArray({ limit: 10 });
      expect(all.map((i) => i.id)).toEqual([december?.invoiceId, invoiceId]); // newest first, one per page
    });

    it('shows a planted wrong line (tamperInvoiceLine) and no longer counts a lost event (loseMeterEvent)', async () => {
      const { stripeCustomerId } = await proCustomer('faults');
      await push(stripeCustomerId, 'kept', 12_000);
      await push(stripeCustomerId, 'lost', 3_000);
      stripe.loseMeterEvent('lost');
      expect(await novemberTotal(stripeCustomerId)).toBe(12_000);

      await advanceTo(Date.UTC(2026, 11, 1, 0, 5));
      const { invoiceId } = (await provider.periodInvoice(stripeCustomerId, NOV))!;
      stripe.tamperInvoiceLine(invoiceId, { quantity: 20_000, amount: 2_000 });
      await advanceTo(Date.UTC(2026, 11, 1, 1, 10)); // the wrong line survives finalization

      const invoice = await provider.periodInvoice(stripeCustomerId, NOV);
      expect(invoice?.lines).toContainEqual(expect.objectContaining({ kind: 'subscription', quantity: 20_000, amountCents: 2_000 }));
      expect(invoice).toMatchObject({ status: 'paid', totalCents: 4_900 + 2_000 });
    });

    it('rejects an invoice list with an unknown parameter', async () => {
      await expect(client.invoices.list({ colour: 'blue' } as Stripe.InvoiceListParams)).rejects.toMatchObject({ code: 'parameter_unknown', param: 'colour' });
    });
  });

  describe('credits', () => {
    it('keeps a pending credit item (created without an invoice) on the next invoice through finalization', async () => {
      const { stripeCustomerId } = await proCustomer('pending');
      await client.invoiceItems.create({ customer: stripeCustomerId, amount: -700, currency: 'usd', description: 'Goodwill' });

      await advanceTo(Date.UTC(2026, 11, 1, 0, 5));
      const { invoiceId } = (await provider.periodInvoice(stripeCustomerId, NOV))!;
      await advanceTo(Date.UTC(2026, 11, 1, 1, 10));

      const final = await provider.periodInvoice(stripeCustomerId, NOV);
      expect(final).toMatchObject({ invoiceId, status: 'paid', totalCents: 4_900 - 700 });
      expect(final?.lines).toContainEqual({ kind: 'invoice-item', priceId: null, quantity: 1, amountCents: -700, description: 'Goodwill' });
      // It went on November's invoice only, not again on December's.
      await advanceTo(Date.UTC(2027, 0, 1, 0, 5));
      expect((await provider.periodInvoice(stripeCustomerId, DEC))?.lines.filter((l) => l.kind === 'invoice-item')).toEqual([]);
    });

    it('credits a paid invoice once per idempotency key, to the balance that the next invoice uses', async () => {
      const { stripeCustomerId } = await proCustomer('paid-credit');
      await advanceTo(Date.UTC(2026, 11, 1, 0, 5));
      await advanceTo(Date.UTC(2026, 11, 1, 1, 10));
      const { invoiceId } = (await provider.periodInvoice(stripeCustomerId, NOV))!;

      const credit = { invoiceId, amountCents: 900, memo: 'Over-billed calls', idempotencyKey: 'recon-nov' };
      const first = await provider.creditInvoice(credit);
      const again = await provider.creditInvoice(credit);

      expect(again).toEqual(first);
      expect(await provider.periodInvoice(stripeCustomerId, NOV)).toMatchObject({ creditedCents: 900, refundedCents: 0 });
      // The refund lever's credit note is told apart from a correction: goodwill, not a billing error.
      expect(await provider.creditLatestInvoice({ stripeCustomerId, amountCents: 500, memo: 'goodwill' })).toMatchObject({ invoiceId });
      expect(await provider.periodInvoice(stripeCustomerId, NOV)).toMatchObject({ creditedCents: 1_400, refundedCents: 500 });
      expect((await client.creditNotes.list({ invoice: invoiceId })).data).toEqual([
        expect.objectContaining({ refund_amount: 500, metadata: { purpose: 'refund' } }),
        expect.objectContaining({
          id: first.creditNoteId,
          type: 'post_payment',
          post_payment_amount: 900,
          credit_amount: 900,
          metadata: { purpose: 'correction' },
        }),
      ]);
      expect(stripe.state.invoices.get(invoiceId)).toMatchObject({ pre_payment_credit_notes_amount: 0, post_payment_credit_notes_amount: 1_400 });
      expect((await client.customers.retrieve(stripeCustomerId)) as Stripe.Customer).toMatchObject({ balance: -900 });
      await advanceTo(Date.UTC(2027, 0, 1, 0, 5));
      await advanceTo(Date.UTC(2027, 0, 1, 1, 10));
      const december = await client.invoices.retrieve((await provider.periodInvoice(stripeCustomerId, DEC))!.invoiceId);
      expect(december).toMatchObject({ total: 4_900, starting_balance: -900, amount_paid: 4_000 });
    });

    it('credits an open invoice before payment: what is due goes down, never below zero', async () => {
      const { stripeCustomerId } = await proCustomer('open-credit', { collection_method: 'send_invoice', days_until_due: 30 });
      await advanceTo(Date.UTC(2026, 11, 1, 0, 5));
      await advanceTo(Date.UTC(2026, 11, 1, 1, 10));
      const { invoiceId, status } = (await provider.periodInvoice(stripeCustomerId, NOV))!;
      expect(status).toBe('open');

      await provider.creditInvoice({ invoiceId, amountCents: 1_000, memo: 'Correction', idempotencyKey: 'open-1' });
      expect(await client.invoices.retrieve(invoiceId)).toMatchObject({
        amount_due: 3_900,
        amount_remaining: 3_900,
        pre_payment_credit_notes_amount: 1_000,
        post_payment_credit_notes_amount: 0,
      });

      await provider.creditInvoice({ invoiceId, amountCents: 3_900, memo: 'Correction', idempotencyKey: 'open-2' });
      expect(await provider.periodInvoice(stripeCustomerId, NOV)).toMatchObject({ creditedCents: 4_900 });
      expect(await client.invoices.retrieve(invoiceId)).toMatchObject({ amount_due: 0, amount_remaining: 0 });
      await expect(provider.creditInvoice({ invoiceId, amountCents: 1, memo: 'too much', idempotencyKey: 'open-3' })).rejects.toThrow(
        /exceeds what is left to credit/,
      );
    });

    it('rejects a credit note on a paid invoice that does not say how the paid part is settled, as Stripe does', async () => {
      const { stripeCustomerId } = await proCustomer('unsettled');
      await advanceTo(Date.UTC(2026, 11, 1, 0, 5));
      await advanceTo(Date.UTC(2026, 11, 1, 1, 10));
      const { invoiceId } = (await provider.periodInvoice(stripeCustomerId, NOV))!;

      await expect(client.creditNotes.create({ invoice: invoiceId, amount: 500 })).rejects.toMatchObject({
        statusCode: 400,
        message: expect.stringMatching(/must equal the credit note's post-payment amount \(500\)/),
      });
    });
  });
});
