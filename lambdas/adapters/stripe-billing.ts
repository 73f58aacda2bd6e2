/** Stripe through the official SDK, with the API version pinned. Secret keys come from the caller (env or Secrets Manager). */
import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import {
  METER_EVENT_NAME,
  METER_PAYLOAD_KEYS,
  millicentsToDecimalCents,
  productId,
  type BillingPortalSpec,
  type Catalog,
  type CatalogPrice,
} from '#core/catalog.ts';
import { ApiBillingError } from '#core/errors.ts';
import type { BillingProvider, CatalogIds, InvoiceSummary, MeterEventPush, PeriodInvoice } from '#core/ports.ts';

/** The Stripe API version this code was written and tested against. */
export const STRIPE_API_VERSION = '2026-10-28.endive' as const;

export interface StripeConnection {
  readonly secretKey: string;
  /** Base URL of a local Stripe; absent for api.stripe.com. */
  readonly baseUrl?: string;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

export function stripeClient(connection: StripeConnection): Stripe {
  const local = connection.baseUrl ? new URL(connection.baseUrl) : undefined;
  return new Stripe(connection.secretKey, {
    apiVersion: STRIPE_API_VERSION,
    timeout: connection.timeoutMs ?? 10_000,
    // Our own outbox retries across runs; an SDK retry would only hide a time-out from it.
    maxNetworkRetries: 0,
    ...(local && { host: local.hostname, port: Number(local.port), protocol: local.protocol.replace(':', '') as 'http' | 'https' }),
  });
}

/** Stripe faults worth retrying: time-outs, connection errors, 429 and 5xx. */
function asBillingError(error: unknown, what: string): ApiBillingError {
  if (error instanceof ApiBillingError) return error;
  const retryable =
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeAPIError ||
    error instanceof Stripe.errors.StripeRateLimitError ||
    (error instanceof Stripe.errors.StripeError && (error.statusCode ?? 0) >= 500);
  return new ApiBillingError(`Stripe ${what} failed: ${error instanceof Error ? error.message : String(error)}`, { retryable, cause: error });
}

export class StripeBillingProvider implements BillingProvider {
  constructor(private readonly stripe: Stripe) {}

  async ensureCatalog(catalog: Catalog): Promise<CatalogIds> {
    const meterId = await this.ensureMeter();
    for (const product of catalog.products) {
      try {
        await this.stripe.products.retrieve(product.id);
      } catch (error) {
        if (!(error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404)) throw asBillingError(error, 'product lookup');
        await this.stripe.products.create({ id: product.id, name: product.name, metadata: { tier: product.tier } });
      }
    }
    const existing = await this.stripe.prices.list({ lookup_keys: catalog.prices.map((p) => p.lookupKey), active: true, limit: 100 });
    const priceIds: Record<string, string> = Object.fromEntries(existing.data.map((p) => [p.lookup_key ?? '', p.id]));
    for (const price of catalog.prices) {
      if (priceIds[price.lookupKey]) continue;
      const created = await this.stripe.prices.create(this.priceParams(price, meterId), { idempotencyKey: `price-${price.lookupKey}` });
      priceIds[price.lookupKey] = created.id;
    }
    return { meterId, priceIds, portalConfigurationId: await this.ensurePortalConfiguration(catalog.portal) };
  }

  /**
   * The customer portal's configuration, found by its metadata marker among the active ones and
   * updated to the spec (so a changed spec, or a change made in Stripe's dashboard, is put back), or
   * created. Run twice, it leaves one configuration.
   */
  private async ensurePortalConfiguration(spec: BillingPortalSpec): Promise<string> {
    const features: Stripe.BillingPortal.ConfigurationCreateParams.Features = {
      payment_method_update: { enabled: spec.paymentMethodUpdate },
      invoice_history: { enabled: spec.invoiceHistory },
      // No prorations: cancelling at the period's end bills the whole month, as used.
      subscription_cancel: { enabled: true, mode: spec.cancel, proration_behavior: 'none' },
      // Tier changes go through our own upgrade (Checkout) and the webhook, not the portal.
      subscription_update: { enabled: false },
      customer_update: { enabled: false },
    };
    try {
      for await (const configuration of this.stripe.billingPortal.configurations.list({ active: true, limit: 100 })) {
        if (configuration.metadata?.api_billing !== spec.marker) continue;
        if (!portalMatches(configuration.features, features)) await this.stripe.billingPortal.configurations.update(configuration.id, { features });
        return configuration.id;
      }
      const created = await this.stripe.billingPortal.configurations.create(
        { features, name: 'api-billing', metadata: { api_billing: spec.marker } },
        // Keyed by the features too: a changed spec within Stripe's 24 hours of key memory is a new request, not a mismatch.
        { idempotencyKey: `portal-configuration-${spec.marker}-${createHash('sha256').update(JSON.stringify(features)).digest('hex').slice(0, 8)}` },
      );
      return created.id;
    } catch (error) {
      throw asBillingError(error, 'customer portal configuration');
    }
  }

  async createPortalSession(input: { stripeCustomerId: string; configurationId: string; returnUrl: string }) {
    try {
      const session = await this.stripe.billingPortal.sessions.create({
        customer: input.stripeCustomerId,
        configuration: input.configurationId,
        return_url: input.returnUrl,
      });
      return { url: session.url };
    } catch (error) {
      throw asBillingError(error, 'customer portal session');
    }
  }

  async listInvoices(stripeCustomerId: string, limit: number): Promise<InvoiceSummary[]> {
    try {
      // One page on purpose: the caller shows the latest few, and each page is one Stripe read.
      const page = await this.stripe.invoices.list({ customer: stripeCustomerId, limit });
      return page.data.filter((invoice) => invoice.id).map((invoice) => toInvoiceSummary(invoice, invoice.id!));
    } catch (error) {
      throw asBillingError(error, 'invoice list');
    }
  }

  private async ensureMeter(): Promise<string> {
    for await (const meter of this.stripe.billing.meters.list({ status: 'active', limit: 100 })) {
      if (meter.event_name === METER_EVENT_NAME) return meter.id;
    }
    const meter = await this.stripe.billing.meters.create(
      {
        display_name: 'API calls',
        event_name: METER_EVENT_NAME,
        default_aggregation: { formula: 'sum' },
        customer_mapping: { type: 'by_id', event_payload_key: METER_PAYLOAD_KEYS.customer },
        value_settings: { event_payload_key: METER_PAYLOAD_KEYS.value },
      },
      { idempotencyKey: `meter-${METER_EVENT_NAME}` },
    );
    return meter.id;
  }

  private priceParams(price: CatalogPrice, meterId: string): Stripe.PriceCreateParams {
    const common = { currency: 'usd', product: productId(price.tier), lookup_key: price.lookupKey, metadata: { tier: price.tier, role: price.role } };
    if (price.role === 'fee') return { ...common, unit_amount: price.unitAmountCents, recurring: { interval: 'month', usage_type: 'licensed' } };
    return {
      ...common,
      billing_scheme: 'tiered',
      tiers_mode: price.tiersMode,
      tiers: price.tiers.map((t) => ({ up_to: t.upTo ?? 'inf', unit_amount_decimal: Stripe.Decimal.from(millicentsToDecimalCents(t.unitMillicents)) })),
      recurring: { interval: 'month', usage_type: 'metered', meter: meterId },
    };
  }

  async createSubscriber(input: { customerId: string; name: string; priceIds: readonly string[]; periodStartSec: number; billingCycleAnchorSec: number }) {
    try {
      // Idempotency keys by our customer id: a retried creation returns the same Stripe objects.
      const customer = await this.stripe.customers.create(
        { name: input.name, metadata: { customerId: input.customerId } },
        { idempotencyKey: `customer-${input.customerId}` },
      );
      const subscription = await this.stripe.subscriptions.create(
        {
          customer: customer.id,
          items: input.priceIds.map((price) => ({ price })),
          backdate_start_date: input.periodStartSec,
          billing_cycle_anchor: input.billingCycleAnchorSec,
          proration_behavior: 'none',
          metadata: { customerId: input.customerId },
        },
        { idempotencyKey: `subscription-${input.customerId}` },
      );
      return { stripeCustomerId: customer.id, subscriptionId: subscription.id };
    } catch (error) {
      throw asBillingError(error, 'subscriber creation');
    }
  }

  async replacePrices(subscriptionId: string, priceIds: readonly string[]) {
    try {
      const subscription = await this.stripe.subscriptions.retrieve(subscriptionId);
      await this.stripe.subscriptions.update(subscriptionId, {
        items: [...subscription.items.data.map((item) => ({ id: item.id, deleted: true })), ...priceIds.map((price) => ({ price }))],
        proration_behavior: 'create_prorations',
      });
    } catch (error) {
      throw asBillingError(error, 'tier change');
    }
  }

  async createCheckoutSession(input: {
    customerId: string;
    stripeCustomerId: string;
    priceIds: readonly string[];
    successUrl: string;
    cancelUrl: string;
    billingCycleAnchorSec: number;
    expiresAtSec?: number;
  }) {
    try {
      const session = await this.stripe.checkout.sessions.create({
        ...(input.expiresAtSec !== undefined && { expires_at: input.expiresAtSec }),
        mode: 'subscription',
        customer: input.stripeCustomerId,
        // Metered prices take no quantity; the licensed fee is one per month.
        line_items: input.priceIds.map((price, i) => (i === 0 ? { price, quantity: 1 } : { price })),
        subscription_data: { billing_cycle_anchor: input.billingCycleAnchorSec, metadata: { customerId: input.customerId } },
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
      });
      if (!session.url) throw new Error('Checkout session has no URL');
      return { url: session.url, sessionId: session.id };
    } catch (error) {
      throw asBillingError(error, 'checkout session');
    }
  }

  async cancelSubscription(subscriptionId: string) {
    try {
      await this.stripe.subscriptions.cancel(subscriptionId);
    } catch (error) {
      throw asBillingError(error, 'subscription cancellation');
    }
  }

  async setCancelAtPeriodEnd(subscriptionId: string, cancel: boolean) {
    try {
      const subscription = await this.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: cancel });
      return { cancelAtSec: subscription.cancel_at };
    } catch (error) {
      throw asBillingError(error, cancel ? 'cancellation at period end' : 'lifting the cancellation at period end');
    }
  }

  async creditDraftInvoice(input: { stripeCustomerId: string; invoiceId: string; amountCents: number; description: string; idempotencyKey: string }) {
    try {
      await this.stripe.invoiceItems.create(
        { customer: input.stripeCustomerId, invoice: input.invoiceId, amount: -input.amountCents, currency: 'usd', description: input.description },
        // The caller's key: a redelivered webhook or a re-run correction replays the first credit instead of adding a second.
        { idempotencyKey: input.idempotencyKey },
      );
    } catch (error) {
      throw asBillingError(error, 'invoice credit');
    }
  }

  async creditInvoice(input: { invoiceId: string; amountCents: number; memo: string; idempotencyKey: string }) {
    try {
      const invoice = await this.stripe.invoices.retrieve(input.invoiceId);
      // A correction of what we billed: what the customer has paid already goes to their balance,
      // which Stripe applies to their next invoice (no refund of a card charge).
      const note = await this.createCreditNote(invoice, input.amountCents, input.memo, 'credit_amount', 'correction', input.idempotencyKey);
      return { creditNoteId: note.id };
    } catch (error) {
      throw asBillingError(error, 'credit note');
    }
  }

  async creditLatestInvoice(input: { stripeCustomerId: string; amountCents: number; memo: string }) {
    try {
      const invoices = await this.stripe.invoices.list({ customer: input.stripeCustomerId, limit: 20 });
      const latest = invoices.data.filter((i) => i.status === 'paid' || i.status === 'open').sort((a, b) => b.created - a.created)[0];
      if (!latest?.id) return undefined;
      // The refund lever: what has been paid already goes back as a refund of the payment.
      const note = await this.createCreditNote(latest, input.amountCents, input.memo, 'refund_amount', 'refund');
      return { creditNoteId: note.id, invoiceId: latest.id };
    } catch (error) {
      throw asBillingError(error, 'credit note');
    }
  }

  /**
   * A credit note first lowers what is left to pay on the invoice (its pre-payment part); Stripe
   * requires the rest (the post-payment part) to be given as a refund, a balance credit or an
   * out-of-band amount that add up to it exactly, so it is computed from the invoice as it stands.
   */
  private createCreditNote(
    invoice: Stripe.Invoice,
    amountCents: number,
    memo: string,
    postPaymentAs: 'credit_amount' | 'refund_amount',
    /** Reconciliation tells a refund (an operator's goodwill: not a billing error) from its own corrections by it. */
    purpose: 'refund' | 'correction',
    idempotencyKey?: string,
  ): Promise<Stripe.CreditNote> {
    const prePayment = invoice.status === 'open' ? Math.min(amountCents, invoice.amount_remaining) : 0;
    const postPayment = amountCents - prePayment;
    return this.stripe.creditNotes.create(
      {
        invoice: invoice.id!,
        amount: amountCents,
        memo,
        reason: 'product_unsatisfactory',
        metadata: { purpose },
        ...(postPayment > 0 && { [postPaymentAs]: postPayment }),
      },
      idempotencyKey ? { idempotencyKey } : undefined,
    );
  }

  async pushMeterEvent(event: MeterEventPush): Promise<'accepted' | 'duplicate'> {
    try {
      await this.stripe.billing.meterEvents.create({
        event_name: METER_EVENT_NAME,
        identifier: event.identifier,
        timestamp: event.timestampSec,
        payload: { [METER_PAYLOAD_KEYS.customer]: event.stripeCustomerId, [METER_PAYLOAD_KEYS.value]: String(event.value) },
      });
      return 'accepted';
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_already_exists') return 'duplicate';
      throw asBillingError(error, 'meter event');
    }
  }

  async meteredTotal(meterId: string, stripeCustomerId: string, fromSec: number, toSec: number): Promise<number> {
    let total = 0;
    try {
      for await (const summary of this.stripe.billing.meters.listEventSummaries(meterId, {
        customer: stripeCustomerId,
        start_time: fromSec,
        end_time: toSec,
      })) {
        total += summary.aggregated_value;
      }
    } catch (error) {
      throw asBillingError(error, 'meter summary');
    }
    return total;
  }

  async cancelMeterEvent(identifier: string): Promise<void> {
    try {
      await this.stripe.billing.meterEventAdjustments.create({ event_name: METER_EVENT_NAME, type: 'cancel', cancel: { identifier } });
    } catch (error) {
      throw asBillingError(error, 'meter event cancellation');
    }
  }

  async periodInvoice(stripeCustomerId: string, periodStartSec: number): Promise<PeriodInvoice | undefined> {
    try {
      // Newest first; a customer has one subscription invoice per period, plus any one-off invoices.
      for await (const invoice of this.stripe.invoices.list({ customer: stripeCustomerId, limit: 100 })) {
        if (invoice.parent?.type !== 'subscription_details' || invoice.period_start !== periodStartSec || !invoice.id) continue;
        // The invoice carries only its first lines; the rest are a separate, paged list.
        const lines = invoice.lines.has_more
          ? await this.stripe.invoices.listLineItems(invoice.id, { limit: 100 }).autoPagingToArray({ limit: 10_000 })
          : invoice.lines.data;
        // Refunds are read only when the invoice has credit notes at all: one more request, for few invoices.
        const credited = invoice.pre_payment_credit_notes_amount + invoice.post_payment_credit_notes_amount;
        const refundedCents =
          credited === 0
            ? 0
            : (await this.stripe.creditNotes.list({ invoice: invoice.id, limit: 100 }).autoPagingToArray({ limit: 1_000 }))
                .filter((note) => note.status !== 'void' && note.metadata?.purpose === 'refund')
                .reduce((sum, note) => sum + note.amount, 0);
        return { ...toPeriodInvoice(invoice, invoice.id, lines), refundedCents };
      }
      return undefined;
    } catch (error) {
      throw asBillingError(error, 'period invoice lookup');
    }
  }
}

/** Whether a configuration already has the features we set (then the setup command changes nothing). */
function portalMatches(actual: Stripe.BillingPortal.Configuration.Features, wanted: Stripe.BillingPortal.ConfigurationCreateParams.Features): boolean {
  const cancel = wanted.subscription_cancel!;
  return (
    actual.payment_method_update.enabled === wanted.payment_method_update?.enabled &&
    actual.invoice_history.enabled === wanted.invoice_history?.enabled &&
    actual.subscription_cancel.enabled === cancel.enabled &&
    actual.subscription_cancel.mode === cancel.mode &&
    actual.subscription_cancel.proration_behavior === cancel.proration_behavior &&
    actual.subscription_update.enabled === wanted.subscription_update?.enabled &&
    actual.customer_update.enabled === wanted.customer_update?.enabled
  );
}

const INVOICE_STATUSES: ReadonlyArray<PeriodInvoice['status']> = ['draft', 'open', 'paid', 'uncollectible', 'void'];

/** The fields every view of an invoice shares (reconciliation's period invoice, the customer's invoice list). */
function invoiceHeader(
  invoice: Stripe.Invoice,
  invoiceId: string,
): Pick<PeriodInvoice, 'invoiceId' | 'status' | 'periodStartSec' | 'periodEndSec' | 'totalCents' | 'hostedInvoiceUrl'> {
  const status = INVOICE_STATUSES.find((s) => s === invoice.status);
  if (!status) throw new ApiBillingError(`Stripe invoice ${invoiceId} has an unexpected status: ${String(invoice.status)}`, { retryable: false });
  return {
    invoiceId,
    status,
    periodStartSec: invoice.period_start,
    periodEndSec: invoice.period_end,
    totalCents: invoice.total,
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
  };
}

/** An invoice as the customer's list shows it: its header and where its payment stands. */
function toInvoiceSummary(invoice: Stripe.Invoice, invoiceId: string): InvoiceSummary {
  return {
    ...invoiceHeader(invoice, invoiceId),
    number: invoice.number ?? null,
    createdSec: invoice.created,
    amountRemainingCents: invoice.amount_remaining,
    dueDateSec: invoice.due_date ?? null,
    paymentFailed: invoice.status === 'open' && invoice.attempted === true && invoice.attempt_count > 0,
    fromSubscription: invoice.parent?.type === 'subscription_details',
  };
}

/** What reconciliation needs of an invoice; a line's kind is the object that generated it (its `parent`). */
function toPeriodInvoice(invoice: Stripe.Invoice, invoiceId: string, lines: readonly Stripe.InvoiceLineItem[]): Omit<PeriodInvoice, 'refundedCents'> {
  return {
    ...invoiceHeader(invoice, invoiceId),
    lines: lines.map((line) => {
      const price = line.pricing?.price_details?.price;
      return {
        kind: line.parent?.type === 'subscription_item_details' ? 'subscription' : 'invoice-item',
        priceId: price === undefined ? null : typeof price === 'string' ? price : price.id,
        quantity: line.quantity ?? 0,
        amountCents: line.amount,
        description: line.description,
      };
    }),
    creditedCents: invoice.pre_payment_credit_notes_amount + invoice.post_payment_credit_notes_amount,
  };
}
