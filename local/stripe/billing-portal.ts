/**
 * The local Stripe's payment methods, invoice payments and customer portal: what the product's
 * "Manage billing" and past-due handling need of Stripe, with Stripe's effects and webhooks.
 * - Payment methods by Stripe's test tokens: `pm_card_visa` (charges succeed), `pm_card_chargeCustomerFail`
 *   (attaching succeeds, every charge fails: how Stripe's docs simulate a failed subscription payment)
 *   and `pm_card_chargeDeclined` (declined already when attached, a 402 `card_declined`, as Stripe does).
 * - Collecting an invoice charges the customer's default payment method: a failure leaves the invoice
 *   `open` with an attempt counted, makes its subscription `past_due` and sends `invoice.payment_failed`
 *   and `customer.subscription.updated`; a success pays it and makes a past-due subscription `active`.
 *   A customer with no payment method on file pays (the local Stripe's customers come from the API,
 *   not from Checkout's card form: they stand for a card collected elsewhere).
 * - Portal configurations and sessions (`/v1/billing_portal/*`) and the portal page at the session's
 *   URL: update the card, see invoices (with links to their hosted pages) and pay an open one, cancel the
 *   plan as the configuration says (at period end, or at once).
 * Kept apart from server.ts, which hands it its state and helpers.
 */
import * as z from 'zod';
import type { FormValue } from './form.ts';

type Obj = Record<string, unknown> & { id: string };

/** What the server shares with this module: its state, clock, ids, webhooks and validation helpers. */
export interface LocalStripeContext {
  readonly customers: Map<string, Obj>;
  readonly subscriptions: Map<string, Obj>;
  readonly invoices: Map<string, Obj>;
  id(prefix: string): string;
  nowSec(): number;
  emit(type: string, object: unknown): void;
  /** The server's base URL (known once it listens). */
  baseUrl(): string;
  parse<S extends z.ZodType>(schema: S, params: unknown): z.infer<S>;
  invalid(message: string, extra?: { code?: string; param?: string }): Error;
  /** A 404 for an id in the URL path. */
  notFound(kind: string, id: string): Error;
  /** Stripe's card errors are 402s of type `card_error`. */
  cardError(message: string, extra: { code: string; decline_code?: string; param?: string }): Error;
}

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const metadata = z.record(z.string(), z.string()).optional();
const expand = z.array(z.string()).optional();
const emptyable = <T extends z.ZodType>(schema: T) => z.union([schema, z.literal('')]);

const CANCELLATION_REASONS = [
  'customer_service',
  'low_quality',
  'missing_features',
  'other',
  'switched_service',
  'too_complex',
  'too_expensive',
  'unused',
] as const;

/** `features` of a portal configuration; `enabled` is required where Stripe requires it on create. */
const features = (create: boolean) => {
  const enabled = create ? bool : bool.optional();
  return z
    .object({
      customer_update: z
        .object({ enabled, allowed_updates: emptyable(z.array(z.enum(['address', 'email', 'name', 'phone', 'shipping', 'tax_id']))).optional() })
        .strict()
        .optional(),
      invoice_history: z.object({ enabled: bool }).strict().optional(),
      payment_method_update: z
        .object({ enabled: bool, payment_method_configuration: emptyable(z.string()).optional() })
        .strict()
        .optional(),
      subscription_cancel: z
        .object({
          enabled,
          mode: z.enum(['at_period_end', 'immediately']).optional(),
          proration_behavior: z.enum(['always_invoice', 'create_prorations', 'none']).optional(),
          cancellation_reason: z
            .object({ enabled: bool, options: emptyable(z.array(z.enum(CANCELLATION_REASONS))).optional() })
            .strict()
            .optional(),
        })
        .strict()
        .optional(),
      subscription_pause: z.object({ enabled: bool.optional() }).strict().optional(),
      subscription_update: z
        .object({
          enabled,
          default_allowed_updates: emptyable(z.array(z.enum(['price', 'promotion_code', 'quantity']))).optional(),
          proration_behavior: z.enum(['always_invoice', 'create_prorations', 'none']).optional(),
        })
        .strict()
        .optional(),
    })
    .strict();
};

const businessProfile = z
  .object({ headline: emptyable(z.string()).optional(), privacy_policy_url: z.string().url().optional(), terms_of_service_url: z.string().url().optional() })
  .strict()
  .optional();

/** What a portal configuration's create and update both take (they differ in `active` and in which features are required). */
const configurationFields = {
  business_profile: businessProfile,
  default_return_url: emptyable(z.string().url()).optional(),
  login_page: z.object({ enabled: bool }).strict().optional(),
  metadata,
  name: emptyable(z.string()).optional(),
  expand,
};

const schemas = {
  customerUpdate: z
    .object({
      name: z.string().optional(),
      email: z.string().optional(),
      metadata,
      invoice_settings: z.object({ default_payment_method: z.string().optional() }).strict().optional(),
      expand,
    })
    .strict(),
  attach: z.object({ customer: z.string(), expand }).strict(),
  invoicePay: z.object({ payment_method: z.string().optional(), expand }).strict(),
  configurationCreate: z.object({ features: features(true), ...configurationFields }).strict(),
  configurationUpdate: z.object({ active: bool.optional(), features: features(false).optional(), ...configurationFields }).strict(),
  configurationList: z
    .object({
      active: bool.optional(),
      is_default: bool.optional(),
      limit: z.coerce.number().int().min(1).max(100).optional(),
      starting_after: z.string().optional(),
      expand,
    })
    .strict(),
  sessionCreate: z
    .object({
      customer: z.string(),
      configuration: z.string().optional(),
      return_url: z.string().url().optional(),
      locale: z.string().optional(),
      expand,
    })
    .strict(),
};

/** Stripe's dunning, as a custom retry schedule of the account: four attempts in all, three days apart. */
const RETRY_ATTEMPTS = 4;
const RETRY_EVERY_SEC = 3 * 86_400;

/** Stripe's test tokens, by what a charge to them does. */
const TEST_CARDS: Readonly<Record<string, { brand: string; last4: string; charges: 'succeed' | 'fail' | 'declined-on-attach' }>> = {
  pm_card_visa: { brand: 'visa', last4: '4242', charges: 'succeed' },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', charges: 'succeed' },
  pm_card_chargeCustomerFail: { brand: 'visa', last4: '0341', charges: 'fail' },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002', charges: 'declined-on-attach' },
};

/** The cards the local portal page offers (Stripe's own page takes a card number; these are its test cards). */
const PORTAL_CARDS: ReadonlyArray<{ token: string; label: string }> = [
  { token: 'pm_card_visa', label: 'Visa ending 4242 (payments succeed)' },
  { token: 'pm_card_chargeCustomerFail', label: 'Visa ending 0341 (payments fail)' },
];

type Features = {
  customer_update: { enabled: boolean; allowed_updates: string[] };
  invoice_history: { enabled: boolean };
  payment_method_update: { enabled: boolean; payment_method_configuration: string | null };
  subscription_cancel: { enabled: boolean; mode: string; proration_behavior: string; cancellation_reason: { enabled: boolean; options: string[] } };
  subscription_pause: { enabled: boolean };
  subscription_update: { enabled: boolean; default_allowed_updates: string[]; proration_behavior: string; products: unknown[] };
};

const DEFAULT_FEATURES: Features = {
  customer_update: { enabled: false, allowed_updates: [] },
  invoice_history: { enabled: false },
  payment_method_update: { enabled: false, payment_method_configuration: null },
  subscription_cancel: {
    enabled: false,
    mode: 'at_period_end',
    proration_behavior: 'none',
    cancellation_reason: { enabled: false, options: [] },
  },
  subscription_pause: { enabled: false },
  subscription_update: { enabled: false, default_allowed_updates: [], proration_behavior: 'none', products: [] },
};

const escapeHtml = (text: unknown) => String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const dollars = (cents: unknown) => `$${((cents as number) / 100).toFixed(2)}`;
const day = (sec: unknown) => new Date((sec as number) * 1000).toISOString().slice(0, 10);

export interface LocalBillingPortal {
  /** Answers the API requests this module serves; `undefined` for any other. */
  route(method: string, path: string, params: Record<string, FormValue>, query: Record<string, FormValue>): [number, unknown] | undefined;
  /**
   * Charges a finalized invoice to the customer's default payment method, as Stripe does when it
   * collects automatically; `false` (and the failure's effects) when the charge fails.
   */
  collect(invoice: Obj): boolean;
  /** Stripe's automatic retries: charges again each open invoice whose next payment attempt is due. */
  retryDueInvoices(): void;
  /** The portal page and its forms (`/_local/portal/...`); `undefined` for other paths. */
  page(method: string, path: string, form: Record<string, FormValue>): { status: number; headers: Record<string, string>; body: string } | undefined;
}

export function localBillingPortal(ctx: LocalStripeContext): LocalBillingPortal {
  const paymentMethods = new Map<string, Obj>();
  const configurations = new Map<string, Obj>();
  const sessions = new Map<string, Obj>();

  const getOr404 = (map: Map<string, Obj>, kind: string, key: string) => {
    const found = map.get(key);
    if (!found) throw ctx.notFound(kind, key);
    return found;
  };
  /** An id passed as a parameter that names nothing: Stripe answers 400 `resource_missing` naming the parameter. */
  const getParam = (map: Map<string, Obj>, kind: string, key: string, param: string) => {
    const found = map.get(key);
    if (!found) throw ctx.invalid(`No such ${kind}: '${key}'`, { code: 'resource_missing', param });
    return found;
  };

  function attach(token: string, customerId: string): Obj {
    const customer = getParam(ctx.customers, 'customer', customerId, 'customer');
    const card = TEST_CARDS[token];
    const existing = paymentMethods.get(token);
    if (!card && !existing) throw ctx.notFound('payment_method', token);
    if (card?.charges === 'declined-on-attach') throw ctx.cardError('Your card was declined.', { code: 'card_declined', decline_code: 'generic_decline' });
    if (existing?.customer && existing.customer !== customerId)
      throw ctx.invalid('The payment method you provided has already been attached to a customer.', { param: 'payment_method' });
    // A test token stands for a new card each time: Stripe creates a new PaymentMethod from it.
    const pm: Obj = existing ?? {
      id: ctx.id('pm'),
      object: 'payment_method',
      type: 'card',
      card: { brand: card!.brand, last4: card!.last4, exp_month: 12, exp_year: new Date(ctx.nowSec() * 1000).getUTCFullYear() + 3 },
      created: ctx.nowSec(),
      livemode: false,
      metadata: {},
      failsCharges: card!.charges === 'fail',
    };
    pm.customer = customer.id;
    paymentMethods.set(pm.id, pm);
    ctx.emit('payment_method.attached', shownPaymentMethod(pm));
    return pm;
  }

  const shownPaymentMethod = (pm: Obj): Obj => {
    const { failsCharges: _f, ...shown } = pm;
    return shown as Obj;
  };

  function setDefaultPaymentMethod(customer: Obj, pmId: string, param: string) {
    const pm = paymentMethods.get(pmId);
    if (!pm) throw ctx.invalid(`No such PaymentMethod: '${pmId}'`, { code: 'resource_missing', param });
    if (pm.customer !== customer.id)
      throw ctx.invalid(`The customer does not have a payment method with the ID ${pmId}. The payment method must be attached to the customer.`, {
        code: 'resource_missing',
        param,
      });
    customer.invoice_settings = { ...(customer.invoice_settings as object | undefined), default_payment_method: pmId };
    ctx.emit('customer.updated', customer);
  }

  const subscriptionOf = (invoice: Obj) =>
    ctx.subscriptions.get((invoice.parent as { subscription_details?: { subscription?: string } } | null)?.subscription_details?.subscription ?? '');

  function collect(invoice: Obj, paymentMethodId?: string): boolean {
    const customer = ctx.customers.get(invoice.customer as string);
    const pmId = paymentMethodId ?? (customer?.invoice_settings as { default_payment_method?: string | null } | undefined)?.default_payment_method;
    const pm = pmId ? paymentMethods.get(pmId) : undefined;
    const subscription = subscriptionOf(invoice);
    invoice.attempt_count = ((invoice.attempt_count as number | undefined) ?? 0) + 1;
    invoice.attempted = true;
    if (pm?.failsCharges) {
      // Stripe's dunning tries again on its schedule (retryDueInvoices); after the last attempt the
      // subscription is left past_due (one of the account's dunning settings): our grace decides.
      invoice.next_payment_attempt = (invoice.attempt_count as number) < RETRY_ATTEMPTS ? ctx.nowSec() + RETRY_EVERY_SEC : null;
      ctx.emit('invoice.payment_failed', invoice);
      if (subscription && subscription.status === 'active') {
        subscription.status = 'past_due';
        ctx.emit('customer.subscription.updated', subscription);
      }
      return false;
    }
    Object.assign(invoice, { status: 'paid', amount_paid: invoice.amount_due, amount_remaining: 0, next_payment_attempt: null });
    ctx.emit('invoice.paid', invoice);
    // Paying the last open invoice brings a past-due subscription back to active.
    const stillOpen = [...ctx.invoices.values()].some((i) => i.object === 'invoice' && i.status === 'open' && subscriptionOf(i) === subscription);
    if (subscription && (subscription.status === 'past_due' || subscription.status === 'unpaid') && !stillOpen) {
      subscription.status = 'active';
      ctx.emit('customer.subscription.updated', subscription);
    }
    return true;
  }

  function payInvoice(invoice: Obj, paymentMethodId?: string) {
    if (invoice.status === 'paid') throw ctx.invalid('Invoice is already paid', { code: 'invoice_already_paid' });
    if (invoice.status !== 'open') throw ctx.invalid(`This invoice cannot be paid because it is ${invoice.status as string}.`, { code: 'invoice_not_open' });
    if (paymentMethodId) {
      const pm = paymentMethods.get(paymentMethodId);
      if (!pm || pm.customer !== invoice.customer)
        throw ctx.invalid(`No such PaymentMethod: '${paymentMethodId}'`, { code: 'resource_missing', param: 'payment_method' });
    }
    if (!collect(invoice, paymentMethodId)) throw ctx.cardError('Your card was declined.', { code: 'card_declined', decline_code: 'generic_decline' });
  }

  function configuration(p: z.infer<typeof schemas.configurationCreate> | z.infer<typeof schemas.configurationUpdate>, base: Obj | undefined): Obj {
    const merged = structuredClone((base?.features as Features | undefined) ?? DEFAULT_FEATURES);
    for (const [name, value] of Object.entries(p.features ?? {})) {
      if (value === undefined) continue;
      const target = merged[name as keyof Features] as Record<string, unknown>;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v === undefined) continue;
        target[k] = v === '' ? (Array.isArray(target[k]) ? [] : null) : k === 'cancellation_reason' ? { ...(target[k] as object), ...(v as object) } : v;
      }
    }
    const cancel = merged.subscription_cancel;
    if (cancel.proration_behavior === 'always_invoice')
      throw ctx.invalid('Invalid features[subscription_cancel][proration_behavior]: always_invoice is not allowed.', {
        code: 'parameter_invalid',
        param: 'features[subscription_cancel][proration_behavior]',
      });
    if (cancel.mode === 'at_period_end' && cancel.proration_behavior === 'create_prorations')
      throw ctx.invalid('proration_behavior create_prorations is only compatible with mode immediately.', {
        param: 'features[subscription_cancel][proration_behavior]',
      });
    if (merged.customer_update.enabled && merged.customer_update.allowed_updates.length === 0 && p.features?.customer_update)
      throw ctx.invalid('features[customer_update][allowed_updates] must be set when customer_update is enabled.', {
        param: 'features[customer_update][allowed_updates]',
      });
    const now = ctx.nowSec();
    return {
      id: base?.id ?? ctx.id('bpc'),
      object: 'billing_portal.configuration',
      active: ('active' in p && p.active !== undefined ? p.active : base?.active) ?? true,
      application: null,
      business_profile: { headline: null, privacy_policy_url: null, terms_of_service_url: null, ...(base?.business_profile as object), ...p.business_profile },
      created: base?.created ?? now,
      updated: now,
      default_return_url: p.default_return_url === undefined ? (base?.default_return_url ?? null) : p.default_return_url || null,
      features: merged,
      is_default: base?.is_default ?? false,
      livemode: false,
      login_page: { enabled: p.login_page?.enabled ?? (base?.login_page as { enabled: boolean } | undefined)?.enabled ?? false, url: null },
      metadata: { ...(base?.metadata as object), ...p.metadata },
      name: p.name === undefined ? (base?.name ?? null) : p.name || null,
    };
  }

  function route(method: string, path: string, params: Record<string, FormValue>, query: Record<string, FormValue>): [number, unknown] | undefined {
    let m: RegExpExecArray | null;
    if (method === 'POST' && (m = /^\/v1\/customers\/([^/]+)$/.exec(path))) {
      const customer = getOr404(ctx.customers, 'customer', m[1]!);
      const p = ctx.parse(schemas.customerUpdate, params);
      if (p.name !== undefined) customer.name = p.name;
      if (p.email !== undefined) customer.email = p.email;
      if (p.metadata) customer.metadata = { ...(customer.metadata as object), ...p.metadata };
      const pmId = p.invoice_settings?.default_payment_method;
      if (pmId) setDefaultPaymentMethod(customer, pmId, 'invoice_settings[default_payment_method]');
      else if (p.name !== undefined || p.email !== undefined || p.metadata) ctx.emit('customer.updated', customer);
      return [200, customer];
    }
    if (method === 'POST' && (m = /^\/v1\/payment_methods\/([^/]+)\/attach$/.exec(path))) {
      const p = ctx.parse(schemas.attach, params);
      return [200, shownPaymentMethod(attach(m[1]!, p.customer))];
    }
    if (method === 'GET' && (m = /^\/v1\/payment_methods\/([^/]+)$/.exec(path)))
      return [200, shownPaymentMethod(getOr404(paymentMethods, 'payment_method', m[1]!))];
    if (method === 'POST' && (m = /^\/v1\/invoices\/([^/]+)\/pay$/.exec(path))) {
      const invoice = ctx.invoices.get(m[1]!);
      if (invoice?.object !== 'invoice') throw ctx.notFound('invoice', m[1]!);
      payInvoice(invoice, ctx.parse(schemas.invoicePay, params).payment_method);
      return [200, invoice];
    }
    if (method === 'POST' && path === '/v1/billing_portal/configurations') {
      const created = configuration(ctx.parse(schemas.configurationCreate, params), undefined);
      configurations.set(created.id, created);
      return [200, created];
    }
    if (method === 'GET' && path === '/v1/billing_portal/configurations') {
      const p = ctx.parse(schemas.configurationList, query);
      const found = [...configurations.values()]
        .filter((c) => (p.active === undefined || c.active === p.active) && (p.is_default === undefined || c.is_default === p.is_default))
        .reverse(); // newest first
      let from = 0;
      if (p.starting_after) {
        from = found.findIndex((c) => c.id === p.starting_after) + 1;
        if (from === 0) throw ctx.invalid(`No such billing_portal.configuration: '${p.starting_after}'`, { code: 'resource_missing', param: 'starting_after' });
      }
      const limit = p.limit ?? 10;
      return [200, { object: 'list', data: found.slice(from, from + limit), has_more: from + limit < found.length, url: path }];
    }
    if ((m = /^\/v1\/billing_portal\/configurations\/([^/]+)$/.exec(path))) {
      const existing = getOr404(configurations, 'billing_portal.configuration', m[1]!);
      if (method === 'GET') return [200, existing];
      if (method === 'POST') {
        const updated = configuration(ctx.parse(schemas.configurationUpdate, params), existing);
        configurations.set(updated.id, updated);
        return [200, updated];
      }
    }
    if (method === 'POST' && path === '/v1/billing_portal/sessions') {
      const p = ctx.parse(schemas.sessionCreate, params);
      const customer = getParam(ctx.customers, 'customer', p.customer, 'customer');
      let config: Obj | undefined;
      if (p.configuration) {
        config = getParam(configurations, 'billing_portal.configuration', p.configuration, 'configuration');
        if (!config.active) throw ctx.invalid('The configuration is not active; activate it or use another.', { param: 'configuration' });
      } else {
        config = [...configurations.values()].find((c) => c.is_default && c.active);
        // A Stripe account has a default configuration only once its portal settings are saved in the dashboard.
        if (!config)
          throw ctx.invalid(
            "You can't create a portal session in test mode until you save your customer portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal.",
          );
      }
      const returnUrl = p.return_url ?? (config.default_return_url as string | null);
      const session: Obj = {
        id: ctx.id('bps'),
        object: 'billing_portal.session',
        configuration: config.id,
        created: ctx.nowSec(),
        customer: customer.id,
        customer_account: null,
        flow: null,
        livemode: false,
        locale: p.locale ?? null,
        on_behalf_of: null,
        return_url: returnUrl,
      };
      session.url = `${ctx.baseUrl()}/_local/portal/${session.id}`;
      sessions.set(session.id, session);
      return [200, session];
    }
    return undefined;
  }

  function renderPortal(session: Obj, notice: string | undefined): string {
    const customer = ctx.customers.get(session.customer as string)!;
    const config = configurations.get(session.configuration as string)!;
    const f = config.features as Features;
    const base = `/_local/portal/${session.id}`;
    const subscriptions = [...ctx.subscriptions.values()].filter((s) => s.customer === customer.id && s.status !== 'canceled');
    const pmId = (customer.invoice_settings as { default_payment_method?: string | null } | undefined)?.default_payment_method;
    const card = pmId ? (paymentMethods.get(pmId)?.card as { brand: string; last4: string } | undefined) : undefined;
    const parts: string[] = [
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Billing portal</title></head><body>`,
      `<h1>Billing portal</h1><p>${escapeHtml(customer.name ?? customer.id)}</p>`,
    ];
    if (notice) parts.push(`<p role="status">${escapeHtml(notice)}</p>`);
    parts.push('<section aria-labelledby="plan"><h2 id="plan">Current plan</h2>');
    if (subscriptions.length === 0) parts.push('<p>No active plan.</p>');
    for (const s of subscriptions) {
      const item = (s.items as { data: Obj[] }).data[0];
      const end = item?.current_period_end;
      parts.push(`<p data-subscription="${escapeHtml(s.id)}">Status: <span class="status">${escapeHtml(s.status)}</span></p>`);
      if (s.cancel_at_period_end) parts.push(`<p class="cancel-notice">Your plan will be canceled on ${escapeHtml(day(end))}.</p>`);
      else if (f.subscription_cancel.enabled)
        parts.push(
          `<form method="post" action="${base}/cancel"><input type="hidden" name="subscription" value="${escapeHtml(s.id)}"><button type="submit">Cancel plan</button></form>`,
        );
    }
    parts.push('</section>');
    if (f.payment_method_update.enabled) {
      parts.push(
        '<section aria-labelledby="pm"><h2 id="pm">Payment method</h2>',
        `<p class="card">${card ? `${escapeHtml(card.brand)} ending ${escapeHtml(card.last4)}` : 'No card on file'}</p>`,
        `<form method="post" action="${base}/payment-method"><label for="card">New card</label> <select id="card" name="card">`,
        ...PORTAL_CARDS.map((c) => `<option value="${c.token}">${escapeHtml(c.label)}</option>`),
        '</select> <button type="submit">Update payment method</button></form></section>',
      );
    }
    if (f.invoice_history.enabled) {
      const rows = [...ctx.invoices.values()]
        .filter((i) => i.object === 'invoice' && i.customer === customer.id && i.status !== 'draft')
        .sort((a, b) => (b.created as number) - (a.created as number));
      parts.push('<section aria-labelledby="invoices"><h2 id="invoices">Invoice history</h2>');
      if (rows.length === 0) parts.push('<p>No invoices yet.</p>');
      else {
        parts.push('<table><thead><tr><th>Number</th><th>Date</th><th>Amount</th><th>Status</th><th></th></tr></thead><tbody>');
        for (const i of rows) {
          const pay =
            i.status === 'open'
              ? `<form method="post" action="${base}/pay"><input type="hidden" name="invoice" value="${escapeHtml(i.id)}"><button type="submit">Pay ${dollars(i.amount_remaining)}</button></form>`
              : '';
          parts.push(
            `<tr data-invoice="${escapeHtml(i.id)}"><td>${escapeHtml(i.number ?? i.id)}</td><td>${day(i.created)}</td><td>${dollars(i.total)}</td><td>${escapeHtml(i.status)}</td>` +
              `<td><a href="${escapeHtml(i.hosted_invoice_url)}">View invoice</a>${pay}</td></tr>`,
          );
        }
        parts.push('</tbody></table>');
      }
      parts.push('</section>');
    }
    if (session.return_url)
      parts.push(`<p><a href="${escapeHtml(session.return_url)}">Return to ${escapeHtml(new URL(session.return_url as string).host)}</a></p>`);
    parts.push('</body></html>');
    return parts.join('');
  }

  function page(method: string, path: string, form: Record<string, FormValue>) {
    const m = /^\/_local\/portal\/([^/]+)(?:\/([a-z-]+))?$/.exec(path);
    if (!m) return undefined;
    const session = sessions.get(m[1]!);
    if (!session) return { status: 404, headers: { 'content-type': 'text/plain' }, body: 'This portal session does not exist.' };
    const base = `/_local/portal/${session.id}`;
    const html = (body: string, status = 200) => ({ status, headers: { 'content-type': 'text/html; charset=utf-8' }, body });
    const done = (notice: string) => ({ status: 303, headers: { location: `${base}?notice=${encodeURIComponent(notice)}` }, body: '' });
    if (method === 'GET' && !m[2]) return html(renderPortal(session, typeof form.notice === 'string' ? form.notice : undefined));
    if (method !== 'POST') return html('Method not allowed', 405);
    const allowed = configurations.get(session.configuration as string)!.features as Features;
    const customer = ctx.customers.get(session.customer as string)!;
    try {
      if (m[2] === 'payment-method' && allowed.payment_method_update.enabled) {
        const pm = attach(String(form.card ?? ''), customer.id);
        setDefaultPaymentMethod(customer, pm.id, 'payment_method');
        return done('Payment method updated.');
      }
      if (m[2] === 'cancel' && allowed.subscription_cancel.enabled) {
        const subscription = ctx.subscriptions.get(String(form.subscription ?? ''));
        if (subscription?.customer !== customer.id || subscription.status === 'canceled') return html('No such subscription.', 404);
        if (allowed.subscription_cancel.mode === 'immediately') {
          Object.assign(subscription, { status: 'canceled', canceled_at: ctx.nowSec(), ended_at: ctx.nowSec() });
          ctx.emit('customer.subscription.deleted', subscription);
          return done('Your plan is canceled.');
        }
        const end = (subscription.items as { data: Obj[] }).data[0]?.current_period_end as number;
        Object.assign(subscription, {
          cancel_at_period_end: true,
          cancel_at: end,
          canceled_at: ctx.nowSec(),
          cancellation_details: { comment: null, feedback: null, reason: 'cancellation_requested' },
        });
        ctx.emit('customer.subscription.updated', subscription);
        return done(`Your plan will be canceled on ${day(end)}.`);
      }
      if (m[2] === 'pay' && allowed.invoice_history.enabled) {
        const invoice = ctx.invoices.get(String(form.invoice ?? ''));
        if (invoice?.object !== 'invoice' || invoice.customer !== customer.id) return html('No such invoice.', 404);
        payInvoice(invoice);
        return done('Invoice paid.');
      }
    } catch (error) {
      return done(error instanceof Error ? error.message : String(error));
    }
    return html('This portal does not allow that.', 403);
  }

  function retryDueInvoices() {
    for (const invoice of [...ctx.invoices.values()]) {
      const next = invoice.next_payment_attempt as number | null | undefined;
      if (invoice.object === 'invoice' && invoice.status === 'open' && next != null && next <= ctx.nowSec()) collect(invoice);
    }
  }

  return { route, collect: (invoice) => collect(invoice), retryDueInvoices, page };
}
