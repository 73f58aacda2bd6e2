/**
 * A local Stripe for the endpoints api-billing uses, spoken to by the official SDK over HTTP.
 * It keeps state, rejects what Stripe rejects there (unknown or missing parameters, bad enum
 * values, meter events for an unknown meter, older than 35 days, too far in the future or with an
 * identifier already used), answers with Stripe's error shape, replays Idempotency-Key requests,
 * prices invoices from meter sums and tiers as Stripe does, cancels meter events by identifier within
 * 24 hours, splits credit notes into pre- and post-payment parts, and sends webhooks signed as Stripe
 * signs them. It is a test double of Stripe's HTTP API, not of our code.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Stripe from 'stripe';
import * as z from 'zod';
import { localBillingPortal } from './billing-portal.ts';
import { decodeForm, type FormValue } from './form.ts';

type Obj = Record<string, unknown> & { id: string };

export class StripeError extends Error {
  constructor(
    readonly status: number,
    readonly body: { type: string; code?: string; decline_code?: string; message: string; param?: string },
  ) {
    super(body.message);
  }
}

const invalid = (message: string, extra: { code?: string; param?: string } = {}) => new StripeError(400, { type: 'invalid_request_error', message, ...extra });
const notFound = (kind: string, id: string, param = 'id') =>
  new StripeError(404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, param });

const int = z.coerce.number().int();
const metadata = z.record(z.string(), z.string()).optional();
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const expand = z.array(z.string()).optional();

const TierSchema = z
  .object({
    up_to: z.union([z.literal('inf'), int]),
    unit_amount: int.optional(),
    unit_amount_decimal: z
      .string()
      .regex(/^\d+(\.\d{1,12})?$/)
      .optional(),
    flat_amount: int.optional(),
  })
  .strict();

const schemas = {
  customerCreate: z.object({ name: z.string().optional(), email: z.string().optional(), metadata, expand }).strict(),
  productCreate: z.object({ id: z.string().optional(), name: z.string(), metadata, expand }).strict(),
  priceCreate: z
    .object({
      currency: z.enum(['usd', 'eur', 'gbp']),
      product: z.string(),
      unit_amount: int.optional(),
      unit_amount_decimal: z.string().optional(),
      lookup_key: z.string().optional(),
      transfer_lookup_key: bool.optional(),
      nickname: z.string().optional(),
      metadata,
      billing_scheme: z.enum(['per_unit', 'tiered']).optional(),
      tiers_mode: z.enum(['graduated', 'volume']).optional(),
      tiers: z.array(TierSchema).optional(),
      recurring: z
        .object({
          interval: z.enum(['day', 'week', 'month', 'year']),
          usage_type: z.enum(['licensed', 'metered']).optional(),
          meter: z.string().optional(),
          interval_count: int.optional(),
        })
        .strict(),
      expand,
    })
    .strict(),
  priceList: z
    .object({
      lookup_keys: z.array(z.string()).optional(),
      active: bool.optional(),
      limit: int.optional(),
      product: z.string().optional(),
      starting_after: z.string().optional(),
      expand,
    })
    .strict(),
  meterCreate: z
    .object({
      display_name: z.string(),
      event_name: z.string(),
      default_aggregation: z.object({ formula: z.enum(['sum', 'count', 'last']) }).strict(),
      customer_mapping: z
        .object({ type: z.enum(['by_id']), event_payload_key: z.string() })
        .strict()
        .optional(),
      value_settings: z.object({ event_payload_key: z.string() }).strict().optional(),
      event_time_window: z.enum(['day', 'hour']).optional(),
    })
    .strict(),
  meterList: z.object({ status: z.enum(['active', 'inactive']).optional(), limit: int.optional(), starting_after: z.string().optional() }).strict(),
  meterEvent: z
    .object({ event_name: z.string(), payload: z.record(z.string(), z.string()), identifier: z.string().max(100).optional(), timestamp: int.optional() })
    .strict(),
  meterEventAdjustment: z
    .object({
      event_name: z.string(),
      type: z.enum(['cancel']),
      cancel: z
        .object({ identifier: z.string().max(100) })
        .strict()
        .optional(),
      expand,
    })
    .strict(),
  summaries: z
    .object({
      customer: z.string(),
      start_time: int,
      end_time: int,
      value_grouping_window: z.enum(['day', 'hour']).optional(),
      limit: int.optional(),
      starting_after: z.string().optional(),
    })
    .strict(),
  subscriptionCreate: z
    .object({
      customer: z.string(),
      items: z.array(z.object({ price: z.string(), quantity: int.optional() }).strict()).min(1),
      billing_cycle_anchor: int.optional(),
      backdate_start_date: int.optional(),
      proration_behavior: z.enum(['create_prorations', 'none', 'always_invoice']).optional(),
      collection_method: z.enum(['charge_automatically', 'send_invoice']).optional(),
      days_until_due: int.positive().optional(),
      metadata,
      expand,
    })
    .strict(),
  subscriptionUpdate: z
    .object({
      items: z
        .array(z.object({ id: z.string().optional(), price: z.string().optional(), quantity: int.optional(), deleted: bool.optional() }).strict())
        .optional(),
      proration_behavior: z.enum(['create_prorations', 'none', 'always_invoice']).optional(),
      cancel_at_period_end: bool.optional(),
      collection_method: z.enum(['charge_automatically', 'send_invoice']).optional(),
      days_until_due: int.positive().optional(),
      metadata,
      expand,
    })
    .strict(),
  invoicePreview: z.object({ customer: z.string().optional(), subscription: z.string().optional(), expand }).strict(),
  invoiceList: z
    .object({
      customer: z.string().optional(),
      subscription: z.string().optional(),
      status: z.enum(['draft', 'open', 'paid', 'uncollectible', 'void']).optional(),
      limit: int.min(1).max(100).optional(),
      starting_after: z.string().optional(),
      expand,
    })
    .strict(),
  creditNoteList: z
    .object({
      invoice: z.string().optional(),
      customer: z.string().optional(),
      limit: int.min(1).max(100).optional(),
      starting_after: z.string().optional(),
      expand,
    })
    .strict(),
  page: z.object({ limit: int.min(1).max(100).optional(), starting_after: z.string().optional(), expand }).strict(),
  checkoutCreate: z
    .object({
      mode: z.enum(['payment', 'setup', 'subscription']),
      customer: z.string().optional(),
      line_items: z.array(z.object({ price: z.string(), quantity: int.optional() }).strict()).min(1),
      subscription_data: z.object({ billing_cycle_anchor: int.optional(), metadata }).strict().optional(),
      success_url: z.string().url(),
      cancel_url: z.string().url().optional(),
      expires_at: int.optional(),
      expand,
    })
    .strict(),
  webhookCreate: z
    .object({ url: z.string().url(), enabled_events: z.array(z.string()).min(1), api_version: z.string().optional(), description: z.string().optional() })
    .strict(),
  creditNoteCreate: z
    .object({
      invoice: z.string(),
      amount: int.positive(),
      reason: z.enum(['duplicate', 'fraudulent', 'order_change', 'product_unsatisfactory']).optional(),
      memo: z.string().optional(),
      // How the post-payment part is settled; together they must equal it.
      credit_amount: int.nonnegative().optional(),
      refund_amount: int.nonnegative().optional(),
      out_of_band_amount: int.nonnegative().optional(),
      metadata,
    })
    .strict(),
  invoiceItemCreate: z
    .object({ customer: z.string(), invoice: z.string().optional(), amount: int, currency: z.enum(['usd', 'eur', 'gbp']), description: z.string().optional() })
    .strict(),
  empty: z.object({ expand }).strict(),
};

function stripeParam(path: PropertyKey[]): string {
  return path.map((p, i) => (i === 0 ? String(p) : `[${String(p)}]`)).join('');
}

function parse<S extends z.ZodType>(schema: S, params: unknown): z.infer<S> {
  const result = schema.safeParse(params);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const param = stripeParam([...issue.path, issue.keys[0]!]);
    throw invalid(`Received unknown parameter: ${param}`, { code: 'parameter_unknown', param });
  }
  const param = stripeParam(issue.path);
  let value: unknown = params;
  for (const p of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[p];
  if (value === undefined) throw invalid(`Missing required param: ${param}.`, { code: 'parameter_missing', param });
  throw invalid(`Invalid ${param}: ${issue.message}`, { code: 'parameter_invalid', param });
}

export interface LocalStripeOptions {
  /** @default 0 - any free port */
  readonly port?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * Waits before each re-delivery of a webhook the endpoint did not answer with a 2xx. Stripe backs
   * off exponentially for up to three days; this keeps its shape on a local scale.
   * @default [1000, 2000, 4000, 8000, 16000] - five retries over about half a minute
   */
  readonly webhookRetryDelaysMs?: readonly number[];
}

export interface LocalStripe {
  readonly url: string;
  /** A stripe-node client for this server (the API version the product pins). */
  client(apiVersion?: string): Stripe;
  setNow(epochMs: number): void;
  now(): number;
  /**
   * Closes subscription periods that have ended: drafts their invoices (invoice.created), finalizes drafts over an hour old and pays those
   * charged automatically. Expires Checkout sessions past their `expires_at` (checkout.session.expired).
   */
  advanceBillingPeriods(): Promise<void>;
  /** Answers the next `count` requests whose path matches with a fault. */
  failNext(path: RegExp, fault: { status?: number; acceptThenDrop?: boolean; count?: number }): void;
  readonly requests: Array<{ method: string; path: string }>;
  /** Test-only fault planting: Stripe lost the meter event(s) with this identifier, as if never received. */
  loseMeterEvent(identifier: string): void;
  /**
   * Test-only fault planting: a wrong invoice line. The invoice's first metered subscription line
   * gets this quantity and amount, and the invoice's totals follow; it survives finalization.
   */
  tamperInvoiceLine(invoiceId: string, change: { quantity: number; amount: number }): void;
  /** Waits until every webhook sent so far is delivered (a 2xx) or given up after its retries. */
  webhooksDelivered(): Promise<void>;
  readonly state: {
    /** Events received, cancelled ones included (they keep their identifier taken). */
    readonly meterEvents: ReadonlyArray<{ identifier: string; customer: string; value: number; timestamp: number; meter: string; cancelled: boolean }>;
    readonly invoices: ReadonlyMap<string, Obj>;
  };
  stop(): Promise<void>;
}

const DAY = 86_400;

export async function startLocalStripe(options: LocalStripeOptions = {}): Promise<LocalStripe> {
  let clock = options.now ?? Date.now;
  const retryDelays = options.webhookRetryDelaysMs ?? [1_000, 2_000, 4_000, 8_000, 16_000];
  const nowSec = () => Math.floor(clock() / 1000);
  const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
  const customers = new Map<string, Obj>();
  const products = new Map<string, Obj>();
  const prices = new Map<string, Obj>();
  const meters = new Map<string, Obj>();
  const subscriptions = new Map<string, Obj>();
  const invoices = new Map<string, Obj>();
  const checkoutSessions = new Map<string, Obj>();
  const webhookEndpoints = new Map<string, Obj & { secret: string; url: string; enabled_events: string[] }>();
  const events = new Map<string, Obj>();
  const meterEvents: Array<{ identifier: string; customer: string; value: number; timestamp: number; meter: string; receivedAt: number; cancelled: boolean }> =
    [];
  /** Planted wrong lines (tamperInvoiceLine), re-applied when a draft is finalized. */
  const tampers = new Map<string, { quantity: number; amount: number }>();
  const idempotency = new Map<string, { params: string; status: number; body: string }>();
  const faults: Array<{ path: RegExp; status?: number; acceptThenDrop?: boolean; count: number }> = [];
  const requests: Array<{ method: string; path: string }> = [];
  const deliveries = new Set<Promise<void>>();
  let url = '';
  let invoiceSequence = 0;
  // Payment methods, invoice payments and the customer portal (billing-portal.ts).
  const portal = localBillingPortal({
    customers,
    subscriptions,
    invoices,
    id,
    nowSec,
    emit,
    baseUrl: () => url,
    parse,
    invalid,
    notFound,
    cardError: (message, extra) => new StripeError(402, { type: 'card_error', message, ...extra }),
  });

  const list = (data: unknown[], path: string) => ({ object: 'list', data, has_more: false, url: path });
  /** One page of a list, as Stripe pages: `limit` (default 10) objects after the `starting_after` cursor. */
  const page = (data: Obj[], path: string, kind: string, p: { limit?: number; starting_after?: string }) => {
    let from = 0;
    if (p.starting_after) {
      from = data.findIndex((x) => x.id === p.starting_after) + 1;
      if (from === 0) throw notFound(kind, p.starting_after, 'starting_after');
    }
    const limit = p.limit ?? 10;
    return { object: 'list', data: data.slice(from, from + limit), has_more: from + limit < data.length, url: path };
  };
  /**
   * An invoice as Stripe shows it: its first lines only (the page size is our choice; Stripe says
   * "the first handful"), the rest through GET /v1/invoices/:id/lines.
   */
  const shown = (invoice: Obj): Obj => ({
    ...invoice,
    lines: page((invoice.lines as { data: Obj[] }).data, `/v1/invoices/${invoice.id}/lines`, 'line_item', {}),
  });
  const get = <T extends Obj>(map: Map<string, T>, kind: string, key: string, param = 'id'): T => {
    const found = map.get(key);
    if (!found) throw notFound(kind, key, param);
    return found;
  };

  function emit(type: string, object: unknown) {
    const event: Obj = {
      id: id('evt'),
      object: 'event',
      type,
      created: nowSec(),
      api_version: Stripe.API_VERSION,
      livemode: false,
      data: { object: structuredClone((object as Obj).object === 'invoice' ? shown(object as Obj) : object) },
      pending_webhooks: 0,
    };
    events.set(event.id, event);
    for (const endpoint of webhookEndpoints.values()) {
      if (!endpoint.enabled_events.includes('*') && !endpoint.enabled_events.includes(type)) continue;
      const payload = JSON.stringify(event);
      const delivery = (async () => {
        for (let attempt = 0; ; attempt++) {
          // Stripe signs each delivery with the time it is sent, not the time of the billing
          // objects (the simulated clock): stripe-node rejects a signature more than 300 s old.
          const t = Math.floor(Date.now() / 1000);
          const signature = createHmac('sha256', endpoint.secret).update(`${t}.${payload}`).digest('hex');
          try {
            const response = await fetch(endpoint.url, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${signature}` },
              body: payload,
            });
            if (response.ok) return;
          } catch {
            /* retried */
          }
          const delay = retryDelays[attempt];
          if (delay === undefined) return; // given up, as Stripe gives up after its last retry
          await new Promise((r) => setTimeout(r, delay));
        }
      })();
      deliveries.add(delivery);
      void delivery.finally(() => deliveries.delete(delivery));
    }
  }

  const addMonth = (sec: number, months = 1) => {
    const d = new Date(sec * 1000);
    return Math.floor(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) / 1000);
  };

  function subscriptionItem(priceId: string, quantity: number | undefined, periodStart: number, periodEnd: number): Obj {
    const price = get(prices, 'price', priceId, 'items[0][price]');
    const usage = (price.recurring as { usage_type: string }).usage_type;
    if (usage === 'metered' && quantity !== undefined)
      throw invalid('Quantity should not be specified where usage_type is `metered`.', { param: 'items[0][quantity]' });
    return {
      id: id('si'),
      object: 'subscription_item',
      price,
      quantity: usage === 'metered' ? undefined : (quantity ?? 1),
      current_period_start: periodStart,
      current_period_end: periodEnd,
    };
  }

  function createSubscription(params: z.infer<typeof schemas.subscriptionCreate>): Obj {
    get(customers, 'customer', params.customer, 'customer');
    const now = nowSec();
    if (params.billing_cycle_anchor !== undefined && params.billing_cycle_anchor < now)
      throw invalid('billing_cycle_anchor cannot be in the past.', { param: 'billing_cycle_anchor' });
    if (params.backdate_start_date !== undefined && params.backdate_start_date > now)
      throw invalid('backdate_start_date cannot be in the future.', { param: 'backdate_start_date' });
    const collection = params.collection_method ?? 'charge_automatically';
    if (collection === 'send_invoice' && params.days_until_due === undefined)
      throw invalid('Missing required param: days_until_due.', { code: 'parameter_missing', param: 'days_until_due' });
    const start = params.backdate_start_date ?? now;
    const end = params.billing_cycle_anchor ?? addMonth(start);
    const subscription: Obj = {
      id: id('sub'),
      object: 'subscription',
      customer: params.customer,
      status: 'active',
      created: now,
      start_date: start,
      billing_cycle_anchor: end,
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      ended_at: null,
      collection_method: collection,
      days_until_due: params.days_until_due ?? null,
      metadata: params.metadata ?? {},
      items: { object: 'list', data: params.items.map((item) => subscriptionItem(item.price, item.quantity, start, end)), has_more: false },
    };
    subscriptions.set(subscription.id, subscription);
    emit('customer.subscription.created', subscription);
    return subscription;
  }

  /** Cents for a price over a period, from the meter's summed usage: per tier, each line rounded to the cent. */
  function priceAmount(price: Obj, quantity: number): number {
    const decimal = (tier: { unit_amount?: number | null; unit_amount_decimal?: string | null }) => Number(tier.unit_amount_decimal ?? tier.unit_amount ?? 0);
    if (price.billing_scheme !== 'tiered') return Math.round(quantity * decimal(price as { unit_amount?: number; unit_amount_decimal?: string }));
    const tiers = price.tiers as Array<{ up_to: number | null; unit_amount: number | null; unit_amount_decimal: string | null; flat_amount: number | null }>;
    if (price.tiers_mode === 'volume') {
      const tier = tiers.find((t) => t.up_to === null || quantity <= t.up_to)!;
      return Math.round(quantity * decimal(tier)) + (quantity > 0 ? (tier.flat_amount ?? 0) : 0);
    }
    let amount = 0;
    let floor = 0;
    for (const tier of tiers) {
      const inTier = Math.max(0, Math.min(quantity, tier.up_to ?? Infinity) - floor);
      if (inTier > 0) amount += Math.round(inTier * decimal(tier)) + (tier.flat_amount ?? 0);
      floor = tier.up_to ?? Infinity;
    }
    return amount;
  }

  function usage(customer: string, meter: string, from: number, to: number): number {
    return meterEvents
      .filter((e) => !e.cancelled && e.customer === customer && e.meter === meter && e.timestamp >= from && e.timestamp < to)
      .reduce((s, e) => s + e.value, 0);
  }

  /** The line an invoice item makes on an invoice; `parent` says it came from an invoice item, not a subscription item. */
  function invoiceItemLine(item: Obj, invoiceId: string | null): Obj {
    return {
      id: id('il'),
      object: 'line_item',
      invoice: invoiceId,
      amount: item.amount,
      currency: item.currency,
      quantity: 1,
      description: item.description,
      parent: {
        type: 'invoice_item_details',
        invoice_item_details: { invoice_item: item.id, proration: false, proration_details: { credited_items: null }, subscription: null },
        subscription_item_details: null,
      },
      // An amount without a price: Stripe keeps only its unit amount.
      pricing: { type: 'price_details', unit_amount_decimal: String(item.amount) },
      period: { start: item.created, end: item.created },
    };
  }

  /** The customer's pending invoice items: created without an invoice, they go on the next one drafted. */
  const pendingItems = (customer: string) => [...invoices.values()].filter((i) => i.object === 'invoiceitem' && i.customer === customer && !i.invoice);

  function invoiceFor(subscription: Obj, periodStart: number, periodEnd: number, status: string, invoiceId?: string): Obj {
    const customer = subscription.customer as string;
    const items = (subscription.items as { data: Obj[] }).data;
    const newId = status === 'preview' ? `upcoming_${subscription.id}` : id('in');
    const lines: Obj[] = items.map((item) => {
      const price = item.price as Obj & { recurring: { usage_type: string; meter?: string } };
      const quantity =
        price.recurring.usage_type === 'metered' ? usage(customer, price.recurring.meter!, periodStart, periodEnd) : ((item.quantity as number) ?? 1);
      return {
        id: id('il'),
        object: 'line_item',
        invoice: invoiceId ?? newId,
        amount: priceAmount(price, quantity),
        currency: price.currency,
        quantity,
        description: null,
        parent: {
          type: 'subscription_item_details',
          subscription_item_details: {
            invoice_item: null,
            proration: false,
            proration_details: { credited_items: null },
            subscription: subscription.id,
            subscription_item: item.id,
          },
          invoice_item_details: null,
        },
        pricing: { type: 'price_details', price_details: { price: price.id, product: price.product }, unit_amount_decimal: price.unit_amount_decimal },
        period: { start: periodStart, end: periodEnd },
      };
    });
    // Invoice items: those attached to this invoice, or (a new draft, a preview) the customer's pending ones.
    const extra = invoiceId ? [...invoices.values()].filter((i) => i.object === 'invoiceitem' && i.invoice === invoiceId) : pendingItems(customer);
    const total = lines.reduce((s, l) => s + (l.amount as number), 0) + extra.reduce((s, i) => s + (i.amount as number), 0);
    return {
      id: newId,
      object: 'invoice',
      customer,
      status: status === 'preview' ? 'draft' : status,
      parent: { type: 'subscription_details', subscription_details: { subscription: subscription.id, metadata: subscription.metadata } },
      period_start: periodStart,
      period_end: periodEnd,
      created: nowSec(),
      currency: 'usd',
      lines: { object: 'list', data: [...lines, ...extra.map((i) => invoiceItemLine(i, invoiceId ?? newId))], has_more: false },
      subtotal: total,
      total,
      amount_due: Math.max(0, total),
      amount_paid: 0,
      amount_remaining: Math.max(0, total),
      starting_balance: 0,
      ending_balance: null,
      pre_payment_credit_notes_amount: 0,
      post_payment_credit_notes_amount: 0,
      // Stripe gives an invoice its hosted page when it is finalized; a draft has none.
      hosted_invoice_url: status === 'open' || status === 'paid' ? `${url}/_local/invoices/${invoiceId ?? newId}` : null,
    };
  }

  /** Finalization applies the customer's balance (a credit is negative) to what the invoice asks for, as Stripe does. */
  function applyBalance(invoice: Obj) {
    const customer = get(customers, 'customer', invoice.customer as string);
    const balance = (customer.balance as number | undefined) ?? 0;
    // Only credits are modelled (what a credit note's credit_amount makes); a debit balance is not.
    const applied = balance < 0 ? Math.min(invoice.amount_due as number, -balance) : 0;
    Object.assign(invoice, {
      starting_balance: balance,
      ending_balance: balance + applied,
      amount_due: (invoice.amount_due as number) - applied,
      amount_remaining: (invoice.amount_remaining as number) - applied,
    });
    customer.balance = balance + applied;
  }

  /** A planted wrong line (tamperInvoiceLine): the first metered subscription line and the totals move by the difference. */
  function applyTamper(invoice: Obj) {
    const change = tampers.get(invoice.id);
    if (!change) return;
    const line = (invoice.lines as { data: Obj[] }).data.find((l) => {
      const priceId =
        (l.parent as { type: string }).type === 'subscription_item_details' && (l.pricing as { price_details: { price: string } }).price_details.price;
      return priceId && (prices.get(priceId)?.recurring as { usage_type?: string } | undefined)?.usage_type === 'metered';
    });
    if (!line) throw new Error(`Invoice ${invoice.id} has no metered subscription line to tamper with`);
    const delta = change.amount - (line.amount as number);
    Object.assign(line, { quantity: change.quantity, amount: change.amount });
    const settled = invoice.status === 'paid' ? 'amount_paid' : 'amount_remaining';
    for (const k of ['subtotal', 'total', 'amount_due', settled]) (invoice as Record<string, number>)[k]! += delta;
  }

  const periodOf = (subscription: Obj) => {
    const item = (subscription.items as { data: Obj[] }).data[0]!;
    return { start: item.current_period_start as number, end: item.current_period_end as number };
  };

  async function route(method: string, path: string, params: Record<string, FormValue>, query: Record<string, FormValue>): Promise<[number, unknown]> {
    let m: RegExpExecArray | null;
    // customers
    if (method === 'POST' && path === '/v1/customers') {
      const p = parse(schemas.customerCreate, params);
      const customer: Obj = {
        id: id('cus'),
        object: 'customer',
        name: p.name ?? null,
        email: p.email ?? null,
        metadata: p.metadata ?? {},
        balance: 0,
        invoice_settings: { default_payment_method: null },
        created: nowSec(),
        livemode: false,
      };
      customers.set(customer.id, customer);
      return [200, customer];
    }
    if (method === 'GET' && (m = /^\/v1\/customers\/([^/]+)$/.exec(path))) return [200, get(customers, 'customer', m[1]!)];
    // products
    if (method === 'POST' && path === '/v1/products') {
      const p = parse(schemas.productCreate, params);
      if (p.id && products.has(p.id)) throw invalid(`Product already exists.`, { code: 'resource_already_exists', param: 'id' });
      const product: Obj = { id: p.id ?? id('prod'), object: 'product', name: p.name, active: true, metadata: p.metadata ?? {}, created: nowSec() };
      products.set(product.id, product);
      return [200, product];
    }
    if (method === 'GET' && (m = /^\/v1\/products\/([^/]+)$/.exec(path))) return [200, get(products, 'product', m[1]!)];
    // prices
    if (method === 'POST' && path === '/v1/prices') {
      const p = parse(schemas.priceCreate, params);
      get(products, 'product', p.product, 'product');
      const scheme = p.billing_scheme ?? 'per_unit';
      if (scheme === 'tiered') {
        if (!p.tiers?.length) throw invalid('Missing required param: tiers.', { code: 'parameter_missing', param: 'tiers' });
        if (!p.tiers_mode) throw invalid('Missing required param: tiers_mode.', { code: 'parameter_missing', param: 'tiers_mode' });
        if (p.tiers.at(-1)!.up_to !== 'inf') throw invalid('The last tier must have up_to set to inf.', { param: 'tiers' });
        if (p.unit_amount !== undefined || p.unit_amount_decimal !== undefined)
          throw invalid('You cannot set unit_amount with billing_scheme=tiered.', { param: 'unit_amount' });
      } else if (p.unit_amount === undefined && p.unit_amount_decimal === undefined) {
        throw invalid('Missing required param: unit_amount.', { code: 'parameter_missing', param: 'unit_amount' });
      }
      const usageType = p.recurring.usage_type ?? 'licensed';
      if (usageType === 'metered') {
        if (!p.recurring.meter) throw invalid('A metered price must specify a meter.', { code: 'parameter_missing', param: 'recurring[meter]' });
        get(meters, 'billing.meter', p.recurring.meter, 'recurring[meter]');
      }
      if (p.lookup_key) {
        const holder = [...prices.values()].find((x) => x.lookup_key === p.lookup_key && x.active);
        if (holder && !p.transfer_lookup_key)
          throw invalid(`A price (\`${holder.id}\`) already uses that lookup key.`, { code: 'lookup_key_already_exists', param: 'lookup_key' });
        if (holder) holder.lookup_key = null;
      }
      const price: Obj = {
        id: id('price'),
        object: 'price',
        active: true,
        currency: p.currency,
        product: p.product,
        lookup_key: p.lookup_key ?? null,
        nickname: p.nickname ?? null,
        metadata: p.metadata ?? {},
        billing_scheme: scheme,
        tiers_mode: p.tiers_mode ?? null,
        tiers: p.tiers?.map((t) => ({
          up_to: t.up_to === 'inf' ? null : t.up_to,
          unit_amount: t.unit_amount ?? null,
          unit_amount_decimal: t.unit_amount_decimal ?? (t.unit_amount !== undefined ? String(t.unit_amount) : null),
          flat_amount: t.flat_amount ?? null,
        })),
        unit_amount: p.unit_amount ?? null,
        unit_amount_decimal: p.unit_amount_decimal ?? (p.unit_amount !== undefined ? String(p.unit_amount) : null),
        recurring: { interval: p.recurring.interval, interval_count: p.recurring.interval_count ?? 1, usage_type: usageType, meter: p.recurring.meter ?? null },
        type: 'recurring',
        created: nowSec(),
      };
      prices.set(price.id, price);
      return [200, price];
    }
    if (method === 'GET' && path === '/v1/prices') {
      const p = parse(schemas.priceList, query);
      const data = [...prices.values()].filter(
        (x) => (!p.lookup_keys || p.lookup_keys.includes(x.lookup_key as string)) && (p.active === undefined || x.active === p.active),
      );
      return [200, list(data.slice(0, p.limit ?? 10), path)];
    }
    if (method === 'GET' && (m = /^\/v1\/prices\/([^/]+)$/.exec(path))) return [200, get(prices, 'price', m[1]!)];
    // billing meters
    if (method === 'POST' && path === '/v1/billing/meters') {
      const p = parse(schemas.meterCreate, params);
      if ([...meters.values()].some((x) => x.event_name === p.event_name && x.status === 'active'))
        throw invalid('An active meter with this event_name already exists.', { code: 'resource_already_exists', param: 'event_name' });
      const meter: Obj = {
        id: id('mtr'),
        object: 'billing.meter',
        status: 'active',
        display_name: p.display_name,
        event_name: p.event_name,
        default_aggregation: p.default_aggregation,
        customer_mapping: p.customer_mapping ?? { type: 'by_id', event_payload_key: 'stripe_customer_id' },
        value_settings: p.value_settings ?? { event_payload_key: 'value' },
        created: nowSec(),
      };
      meters.set(meter.id, meter);
      return [200, meter];
    }
    if (method === 'GET' && path === '/v1/billing/meters') {
      const p = parse(schemas.meterList, query);
      return [
        200,
        list(
          [...meters.values()].filter((x) => !p.status || x.status === p.status),
          path,
        ),
      ];
    }
    if (method === 'GET' && (m = /^\/v1\/billing\/meters\/([^/]+)\/event_summaries$/.exec(path))) {
      const meter = get(meters, 'billing.meter', m[1]!);
      const p = parse(schemas.summaries, query);
      for (const [name, value] of [
        ['start_time', p.start_time],
        ['end_time', p.end_time],
      ] as const) {
        if (value % 60 !== 0) throw invalid(`${name} must be aligned to minute boundaries.`, { param: name });
      }
      if (p.end_time <= p.start_time) throw invalid('end_time must be after start_time.', { param: 'end_time' });
      const total = usage(p.customer, meter.id, p.start_time, p.end_time);
      return [
        200,
        list(
          [
            {
              id: id('mtrusg'),
              object: 'billing.meter_event_summary',
              meter: meter.id,
              aggregated_value: total,
              start_time: p.start_time,
              end_time: p.end_time,
              livemode: false,
            },
          ],
          path,
        ),
      ];
    }
    if (method === 'GET' && (m = /^\/v1\/billing\/meters\/([^/]+)$/.exec(path))) return [200, get(meters, 'billing.meter', m[1]!)];
    // meter events
    if (method === 'POST' && path === '/v1/billing/meter_events') {
      const p = parse(schemas.meterEvent, params);
      const meter = [...meters.values()].find((x) => x.event_name === p.event_name && x.status === 'active');
      if (!meter) throw invalid(`No active meter was found for event_name ${p.event_name}.`, { code: 'resource_missing', param: 'event_name' });
      const customerKey = (meter.customer_mapping as { event_payload_key: string }).event_payload_key;
      const valueKey = (meter.value_settings as { event_payload_key: string }).event_payload_key;
      const customer = p.payload[customerKey];
      if (!customer) throw invalid(`Missing required param: payload[${customerKey}].`, { code: 'parameter_missing', param: `payload[${customerKey}]` });
      get(customers, 'customer', customer, `payload[${customerKey}]`);
      const raw = p.payload[valueKey] ?? '1';
      if (!/^\d+$/.test(raw) || Number(raw) <= 0)
        throw invalid(`payload[${valueKey}] must be a positive integer.`, { code: 'parameter_invalid', param: `payload[${valueKey}]` });
      const now = nowSec();
      const timestamp = p.timestamp ?? now;
      if (timestamp < now - 35 * DAY)
        throw invalid('Timestamp must be within the past 35 calendar days.', { code: 'timestamp_too_far_in_past', param: 'timestamp' });
      if (timestamp > now + 5 * 60)
        throw invalid('Timestamp must not be more than 5 minutes in the future.', { code: 'timestamp_in_future', param: 'timestamp' });
      const identifier = p.identifier ?? id('mev');
      if (meterEvents.some((e) => e.identifier === identifier && e.receivedAt > now - DAY)) {
        throw invalid(`An event already exists with identifier ${identifier}.`, { code: 'resource_already_exists', param: 'identifier' });
      }
      meterEvents.push({ identifier, customer, value: Number(raw), timestamp, meter: meter.id, receivedAt: now, cancelled: false });
      return [200, { object: 'billing.meter_event', event_name: p.event_name, identifier, payload: p.payload, timestamp, created: now, livemode: false }];
    }
    // meter event adjustments: Stripe applies them asynchronously (status pending); here at once.
    if (method === 'POST' && path === '/v1/billing/meter_event_adjustments') {
      const p = parse(schemas.meterEventAdjustment, params);
      const meter = [...meters.values()].find((x) => x.event_name === p.event_name && x.status === 'active');
      if (!meter) throw invalid(`No active meter was found for event_name ${p.event_name}.`, { code: 'resource_missing', param: 'event_name' });
      const identifier = p.cancel?.identifier;
      if (identifier === undefined) throw invalid('Missing required param: cancel[identifier].', { code: 'parameter_missing', param: 'cancel[identifier]' });
      // The latest event with the identifier: an identifier may be reused once the first is 24 hours old.
      const event = meterEvents.filter((e) => e.identifier === identifier && e.meter === meter.id).at(-1);
      if (!event) throw invalid(`No meter event was found with identifier ${identifier}.`, { code: 'resource_missing', param: 'cancel[identifier]' });
      if (event.receivedAt <= nowSec() - DAY)
        throw invalid(`The meter event with identifier ${identifier} was received more than 24 hours ago and can no longer be cancelled.`, {
          param: 'cancel[identifier]',
        });
      event.cancelled = true; // cancelling it again changes nothing
      return [
        200,
        { object: 'billing.meter_event_adjustment', event_name: p.event_name, livemode: false, status: 'pending', type: 'cancel', cancel: { identifier } },
      ];
    }
    // subscriptions
    if (method === 'POST' && path === '/v1/subscriptions') return [200, createSubscription(parse(schemas.subscriptionCreate, params))];
    if (method === 'GET' && (m = /^\/v1\/subscriptions\/([^/]+)$/.exec(path))) return [200, get(subscriptions, 'subscription', m[1]!)];
    if (method === 'POST' && (m = /^\/v1\/subscriptions\/([^/]+)$/.exec(path))) {
      const subscription = get(subscriptions, 'subscription', m[1]!);
      if (subscription.status === 'canceled') throw invalid('A canceled subscription can only update its cancellation_details and metadata.');
      const p = parse(schemas.subscriptionUpdate, params);
      const period = periodOf(subscription);
      let items = [...(subscription.items as { data: Obj[] }).data];
      for (const [i, change] of (p.items ?? []).entries()) {
        if (change.id) {
          if (!items.some((x) => x.id === change.id)) throw notFound('subscription item', change.id, `items[${i}][id]`);
          if (change.deleted) items = items.filter((x) => x.id !== change.id);
          else if (change.price)
            items = items.map((x) => (x.id === change.id ? { ...subscriptionItem(change.price!, change.quantity, period.start, period.end), id: x.id } : x));
        } else if (change.price) items.push(subscriptionItem(change.price, change.quantity, period.start, period.end));
        else throw invalid('Each item needs an id or a price.', { param: `items[${i}]` });
      }
      if (items.length === 0) throw invalid('A subscription must have at least one active plan.', { param: 'items' });
      const collection = p.collection_method ?? (subscription.collection_method as string);
      if (collection === 'send_invoice' && (p.days_until_due ?? subscription.days_until_due ?? null) === null)
        throw invalid('Missing required param: days_until_due.', { code: 'parameter_missing', param: 'days_until_due' });
      Object.assign(subscription, {
        items: { object: 'list', data: items, has_more: false },
        ...(p.metadata && { metadata: { ...(subscription.metadata as object), ...p.metadata } }),
        // Stripe shows a cancellation at period end as `cancel_at` (the period's end) and `canceled_at`
        // (when it was asked for), and clears both when it is lifted.
        ...(p.cancel_at_period_end !== undefined && {
          cancel_at_period_end: p.cancel_at_period_end,
          cancel_at: p.cancel_at_period_end ? period.end : null,
          canceled_at: p.cancel_at_period_end ? nowSec() : null,
        }),
        ...(p.collection_method && { collection_method: p.collection_method }),
        ...(p.days_until_due !== undefined && { days_until_due: p.days_until_due }),
      });
      emit('customer.subscription.updated', subscription);
      return [200, subscription];
    }
    if (method === 'DELETE' && (m = /^\/v1\/subscriptions\/([^/]+)$/.exec(path))) {
      const subscription = get(subscriptions, 'subscription', m[1]!);
      if (subscription.status === 'canceled') throw invalid('This subscription is already canceled.', { code: 'resource_missing' });
      Object.assign(subscription, { status: 'canceled', canceled_at: nowSec(), ended_at: nowSec() });
      emit('customer.subscription.deleted', subscription);
      return [200, subscription];
    }
    // invoices
    if (method === 'POST' && path === '/v1/invoices/create_preview') {
      const p = parse(schemas.invoicePreview, params);
      const subscription = p.subscription
        ? get(subscriptions, 'subscription', p.subscription, 'subscription')
        : [...subscriptions.values()].find((s) => s.customer === p.customer && s.status === 'active');
      if (!subscription) throw invalid('No upcoming invoices for customer.', { code: 'invoice_upcoming_none' });
      const period = periodOf(subscription);
      return [200, shown(invoiceFor(subscription, period.start, period.end, 'preview'))];
    }
    if (method === 'GET' && path === '/v1/invoices') {
      const p = parse(schemas.invoiceList, query);
      // Newest first, as Stripe lists them (insertion order breaks ties of the same second).
      const found = [...invoices.values()]
        .filter(
          (i) =>
            i.object === 'invoice' &&
            (!p.customer || i.customer === p.customer) &&
            (!p.status || i.status === p.status) &&
            (!p.subscription || (i.parent as { subscription_details: { subscription: string } }).subscription_details.subscription === p.subscription),
        )
        .reverse()
        .sort((a, b) => (b.created as number) - (a.created as number));
      const result = page(found, path, 'invoice', p);
      return [200, { ...result, data: result.data.map(shown) }];
    }
    if (method === 'GET' && (m = /^\/v1\/invoices\/([^/]+)\/lines$/.exec(path))) {
      const invoice = get(invoices, 'invoice', m[1]!, 'invoice');
      return [200, page((invoice.lines as { data: Obj[] }).data, path, 'line_item', parse(schemas.page, query))];
    }
    if (method === 'GET' && (m = /^\/v1\/invoices\/([^/]+)$/.exec(path))) return [200, shown(get(invoices, 'invoice', m[1]!))];
    if (method === 'POST' && path === '/v1/invoiceitems') {
      const p = parse(schemas.invoiceItemCreate, params);
      get(customers, 'customer', p.customer, 'customer');
      const draft = p.invoice ? get(invoices, 'invoice', p.invoice, 'invoice') : undefined;
      if (draft && draft.status !== 'draft') throw invalid('You can only add invoice items to draft invoices.', { param: 'invoice' });
      const item: Obj = {
        id: id('ii'),
        object: 'invoiceitem',
        customer: p.customer,
        invoice: p.invoice ?? null,
        amount: p.amount,
        currency: p.currency,
        description: p.description ?? null,
        created: nowSec(),
      };
      invoices.set(item.id, item);
      if (draft) {
        (draft.lines as { data: unknown[] }).data.push(invoiceItemLine(item, draft.id));
        for (const k of ['subtotal', 'total', 'amount_due', 'amount_remaining'])
          (draft as Record<string, number>)[k] = Math.max(k === 'subtotal' || k === 'total' ? -Infinity : 0, (draft as Record<string, number>)[k]! + p.amount);
      }
      return [200, item];
    }
    if (method === 'GET' && path === '/v1/credit_notes') {
      const p = parse(schemas.creditNoteList, query);
      const notes = [...invoices.values()]
        .filter((n) => n.object === 'credit_note' && (!p.invoice || n.invoice === p.invoice) && (!p.customer || n.customer === p.customer))
        .reverse(); // newest first
      return [200, page(notes, path, 'credit_note', p)];
    }
    if (method === 'GET' && (m = /^\/v1\/credit_notes\/([^/]+)$/.exec(path))) {
      const note = invoices.get(m[1]!);
      if (note?.object !== 'credit_note') throw notFound('credit_note', m[1]!);
      return [200, note];
    }
    if (method === 'POST' && path === '/v1/credit_notes') {
      const p = parse(schemas.creditNoteCreate, params);
      const invoice = get(invoices, 'invoice', p.invoice, 'invoice');
      if (invoice.status !== 'paid' && invoice.status !== 'open')
        throw invalid('Credit notes can only be created for open or paid invoices.', { param: 'invoice' });
      const credited = (invoice.pre_payment_credit_notes_amount as number) + (invoice.post_payment_credit_notes_amount as number);
      if (credited + p.amount > (invoice.total as number))
        throw invalid(`The credit note amount (${p.amount}) exceeds what is left to credit on the invoice (${(invoice.total as number) - credited}).`, {
          param: 'amount',
        });
      // First what is left to pay goes down (not below zero); the rest was paid already and must be
      // settled as a refund, a balance credit or out of band, adding up to it exactly.
      const prePayment = Math.min(p.amount, invoice.amount_remaining as number);
      const postPayment = p.amount - prePayment;
      const settled = (p.credit_amount ?? 0) + (p.refund_amount ?? 0) + (p.out_of_band_amount ?? 0);
      if (settled !== postPayment)
        throw invalid(
          `The sum of credit_amount, refund_amount and out_of_band_amount (${settled}) must equal the credit note's post-payment amount (${postPayment}): the invoice has ${invoice.amount_remaining as number} left to pay.`,
          { param: 'amount' },
        );
      const refunded = [...invoices.values()]
        .filter((n) => n.object === 'credit_note' && n.invoice === invoice.id)
        .reduce((sum, n) => sum + ((n.refund_amount as number | null) ?? 0), 0);
      if ((p.refund_amount ?? 0) > (invoice.amount_paid as number) - refunded)
        throw invalid(`The refund amount (${p.refund_amount}) exceeds what is left to refund of the invoice's payment.`, { param: 'refund_amount' });
      Object.assign(invoice, {
        amount_due: (invoice.amount_due as number) - prePayment,
        amount_remaining: (invoice.amount_remaining as number) - prePayment,
        pre_payment_credit_notes_amount: (invoice.pre_payment_credit_notes_amount as number) + prePayment,
        post_payment_credit_notes_amount: (invoice.post_payment_credit_notes_amount as number) + postPayment,
      });
      if (p.credit_amount) {
        const customer = get(customers, 'customer', invoice.customer as string);
        customer.balance = (customer.balance as number) - p.credit_amount;
      }
      const note: Obj = {
        id: id('cn'),
        object: 'credit_note',
        invoice: invoice.id,
        customer: invoice.customer,
        currency: invoice.currency,
        amount: p.amount,
        total: p.amount,
        pre_payment_amount: prePayment,
        post_payment_amount: postPayment,
        type: prePayment > 0 && postPayment > 0 ? 'mixed' : postPayment > 0 ? 'post_payment' : 'pre_payment',
        credit_amount: p.credit_amount ?? null,
        refund_amount: p.refund_amount ?? null,
        out_of_band_amount: p.out_of_band_amount ?? null,
        reason: p.reason ?? null,
        memo: p.memo ?? null,
        metadata: p.metadata ?? {},
        status: 'issued',
        created: nowSec(),
      };
      invoices.set(note.id, note);
      return [200, note];
    }
    // checkout
    if (method === 'POST' && path === '/v1/checkout/sessions') {
      const p = parse(schemas.checkoutCreate, params);
      if (p.customer) get(customers, 'customer', p.customer, 'customer');
      for (const [i, item] of p.line_items.entries()) get(prices, 'price', item.price, `line_items[${i}][price]`);
      // Stripe takes an expiry from 30 minutes to 24 hours ahead, and defaults to 24 hours.
      if (p.expires_at !== undefined && p.expires_at < nowSec() + 30 * 60)
        throw invalid('The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.', { param: 'expires_at' });
      if (p.expires_at !== undefined && p.expires_at > nowSec() + DAY)
        throw invalid('The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.', { param: 'expires_at' });
      const session: Obj = {
        id: id('cs_test'),
        object: 'checkout.session',
        mode: p.mode,
        customer: p.customer ?? null,
        status: 'open',
        success_url: p.success_url,
        cancel_url: p.cancel_url ?? null,
        subscription: null,
        created: nowSec(),
        expires_at: p.expires_at ?? nowSec() + DAY,
        line_items: p.line_items,
        subscription_data: p.subscription_data ?? {},
      };
      session.url = `${url}/_local/checkout/${session.id}`;
      checkoutSessions.set(session.id, session);
      const { line_items: _l, subscription_data: _s, ...shown } = session;
      return [200, shown];
    }
    if (method === 'GET' && (m = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path))) return [200, checkoutSession(m[1]!)];
    // webhook endpoints and events
    if (method === 'POST' && path === '/v1/webhook_endpoints') {
      const p = parse(schemas.webhookCreate, params);
      const endpoint = {
        id: id('we'),
        object: 'webhook_endpoint',
        url: p.url,
        enabled_events: p.enabled_events,
        secret: `whsec_${randomBytes(24).toString('hex')}`,
        status: 'enabled',
        created: nowSec(),
      };
      webhookEndpoints.set(endpoint.id, endpoint);
      return [200, endpoint];
    }
    if (method === 'GET' && (m = /^\/v1\/events\/([^/]+)$/.exec(path))) return [200, get(events, 'event', m[1]!)];
    const served = portal.route(method, path, params, query);
    if (served) return served;
    throw new StripeError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` });
  }

  /** A Checkout session as it stands now: an open one past its `expires_at` has expired. */
  function checkoutSession(sessionId: string): Obj {
    const session = get(checkoutSessions, 'checkout.session', sessionId);
    expireIfDue(session);
    return session;
  }

  /** Expires an open session past its `expires_at`, with the `checkout.session.expired` event Stripe sends then. */
  function expireIfDue(session: Obj) {
    if (session.status !== 'open' || nowSec() < (session.expires_at as number)) return;
    session.status = 'expired';
    emit('checkout.session.expired', session);
  }

  /** The hosted Checkout page, completed at once: subscribes the customer and returns to the success URL. */
  function completeCheckout(sessionId: string): string {
    const session = checkoutSession(sessionId);
    if (session.status === 'complete') return session.success_url as string;
    if (session.status === 'expired') throw new Error(`Checkout session ${sessionId} has expired`);
    const items = session.line_items as Array<{ price: string; quantity?: number }>;
    const data = session.subscription_data as { billing_cycle_anchor?: number; metadata?: Record<string, string> };
    const now = nowSec();
    const d = new Date(now * 1000);
    const subscription = createSubscription({
      customer: session.customer as string,
      items: items.map((i) => ({
        price: i.price,
        ...((get(prices, 'price', i.price).recurring as { usage_type: string }).usage_type === 'licensed' && { quantity: i.quantity ?? 1 }),
      })),
      billing_cycle_anchor: data.billing_cycle_anchor && data.billing_cycle_anchor > now ? data.billing_cycle_anchor : undefined,
      backdate_start_date: Math.floor(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000),
      metadata: data.metadata,
    });
    Object.assign(session, { status: 'complete', subscription: subscription.id });
    emit('checkout.session.completed', session);
    return session.success_url as string;
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const parsedUrl = new URL(req.url ?? '/', 'http://localhost');
        const method = req.method ?? 'GET';
        const path = parsedUrl.pathname;
        const body = Buffer.concat(chunks).toString('utf8');
        const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req'), ...headers });
          res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
        };
        if (path.startsWith('/_local/checkout/')) {
          try {
            res.writeHead(302, { location: completeCheckout(path.slice('/_local/checkout/'.length)) });
          } catch {
            res.writeHead(404);
          }
          return void res.end();
        }
        const portalPage = path.startsWith('/_local/portal/') && portal.page(method, path, decodeForm(method === 'POST' ? body : parsedUrl.search.slice(1)));
        if (portalPage) {
          res.writeHead(portalPage.status, portalPage.headers);
          return void res.end(portalPage.body);
        }
        if (path.startsWith('/_local/invoices/')) {
          const invoice = invoices.get(path.slice('/_local/invoices/'.length));
          if (invoice?.object !== 'invoice' || !invoice.hosted_invoice_url) {
            res.writeHead(404);
            return void res.end();
          }
          const dollars = (cents: unknown) => `$${((cents as number) / 100).toFixed(2)}`;
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          return void res.end(
            `<!doctype html><title>Invoice ${invoice.id}</title><h1>Invoice ${invoice.id}</h1><p>Status: ${invoice.status as string}</p>` +
              `<p>Total: ${dollars(invoice.total)}</p><p>Amount due: ${dollars(invoice.amount_due)}</p><p>Paid: ${dollars(invoice.amount_paid)}</p>`,
          );
        }
        requests.push({ method, path });
        // A test-mode secret or restricted key; a restricted key's permissions are not modelled here (any key may call anything).
        if (!/^Bearer [sr]k_test_\w+/.test(req.headers.authorization ?? '')) {
          return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } });
        }
        const fault = faults.find((f) => f.path.test(path) && f.count > 0);
        if (fault) fault.count -= 1;
        if (fault && !fault.acceptThenDrop)
          return send(fault.status ?? 500, { error: { type: 'api_error', message: 'An error occurred with our connection to Stripe. Request was retried.' } });
        // Applied, but the answer never arrives: the connection drops, as when a time-out or a network
        // fault loses Stripe's reply. stripe-node re-sends a POST once on a closed connection, even with
        // retries off, under the idempotency key it adds to every POST: a fault with count 2 loses both.
        const reply = (status: number, payload: unknown, headers?: Record<string, string>) =>
          fault?.acceptThenDrop ? void res.destroy() : send(status, payload, headers);

        const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
        const fingerprint = `${method} ${path} ${body}`;
        if (idempotencyKey && method === 'POST') {
          const previous = idempotency.get(idempotencyKey);
          if (previous && previous.params !== fingerprint) {
            return send(400, {
              error: {
                type: 'idempotency_error',
                message: `Keys for idempotent requests can only be used with the same parameters they were first used with.`,
              },
            });
          }
          if (previous) return reply(previous.status, previous.body, { 'idempotent-replayed': 'true' });
        }
        let status: number;
        let payload: unknown;
        try {
          [status, payload] = await route(method, path, decodeForm(body), decodeForm(parsedUrl.search.slice(1)));
        } catch (error) {
          if (!(error instanceof StripeError)) throw error;
          [status, payload] = [error.status, { error: error.body }];
        }
        // Stripe saves idempotent results, errors included (but not 5xx).
        if (idempotencyKey && method === 'POST') idempotency.set(idempotencyKey, { params: fingerprint, status, body: JSON.stringify(payload) });
        reply(status, payload);
      })().catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: error instanceof Error ? error.message : String(error) } }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  return {
    url,
    client(apiVersion) {
      const { port } = new URL(url);
      return new Stripe('sk_test_local', {
        apiVersion: (apiVersion ?? Stripe.API_VERSION) as Stripe.StripeConfig['apiVersion'],
        host: '127.0.0.1',
        port: Number(port),
        protocol: 'http',
        maxNetworkRetries: 0,
        timeout: 10_000,
      }); // the product's own settings (lambdas/adapters/stripe-billing.ts)
    },
    setNow(epochMs) {
      clock = () => epochMs;
    },
    now: () => clock(),
    async advanceBillingPeriods() {
      const now = nowSec();
      // Stripe expires Checkout sessions on its own clock too, not only when one is read.
      for (const session of checkoutSessions.values()) expireIfDue(session);
      // Its dunning retries failed payments on its own clock as well.
      portal.retryDueInvoices();
      for (const invoice of [...invoices.values()]) {
        if (invoice.object === 'invoice' && invoice.status === 'draft' && (invoice.created as number) <= now - 3600) {
          // Finalized with whatever usage has reached Stripe by now; then paid, when charged automatically.
          const subscription = subscriptions.get((invoice.parent as { subscription_details: { subscription: string } }).subscription_details.subscription)!;
          const final = {
            ...invoiceFor(subscription, invoice.period_start as number, invoice.period_end as number, 'open', invoice.id),
            id: invoice.id,
            created: invoice.created,
          };
          Object.assign(invoice, final);
          // Stripe numbers an invoice when it finalizes it: the customer's prefix and a sequence.
          invoice.number = `${(invoice.customer as string).slice(-8).toUpperCase()}-${String(++invoiceSequence).padStart(4, '0')}`;
          applyTamper(invoice);
          applyBalance(invoice);
          emit('invoice.finalized', invoice);
          // Charged at once; an invoice sent to the customer stays open until they pay it.
          if (subscription.collection_method === 'send_invoice') continue;
          // Charged to the default payment method: a failure leaves it open and the subscription past_due.
          portal.collect(invoice);
        }
      }
      for (const subscription of subscriptions.values()) {
        // Stripe keeps renewing a past-due subscription while its dunning retries the open invoice.
        if (subscription.status !== 'active' && subscription.status !== 'past_due') continue;
        let period = periodOf(subscription);
        while (period.end <= now) {
          const draft = invoiceFor(subscription, period.start, period.end, 'draft');
          draft.created = period.end;
          invoices.set(draft.id, draft);
          // The pending items it took now belong to it, so finalization (which reads the invoice's own items) keeps them.
          for (const item of pendingItems(subscription.customer as string)) item.invoice = draft.id;
          emit('invoice.created', draft);
          // Set to cancel at period end: the period's invoice (its usage) was the last; the subscription ends with it.
          if (subscription.cancel_at_period_end) {
            Object.assign(subscription, { status: 'canceled', ended_at: period.end });
            emit('customer.subscription.deleted', subscription);
            break;
          }
          const next = { start: period.end, end: addMonth(period.end) };
          for (const item of (subscription.items as { data: Obj[] }).data)
            Object.assign(item, { current_period_start: next.start, current_period_end: next.end });
          period = next;
        }
      }
    },
    failNext(path, fault) {
      faults.push({ path, ...fault, count: fault.count ?? 1 });
    },
    requests,
    loseMeterEvent(identifier) {
      for (let i = meterEvents.length - 1; i >= 0; i--) if (meterEvents[i]!.identifier === identifier) meterEvents.splice(i, 1);
    },
    tamperInvoiceLine(invoiceId, change) {
      const invoice = get(invoices, 'invoice', invoiceId);
      tampers.set(invoiceId, change);
      applyTamper(invoice);
    },
    async webhooksDelivered() {
      while (deliveries.size) await Promise.all([...deliveries]);
    },
    state: { meterEvents, invoices },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
