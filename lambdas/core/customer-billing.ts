/**
 * What a customer sees of its Stripe billing and can do about it (issue 14): its invoices with a
 * status in the customer's words (past due included), the banner when a payment failed (the amount,
 * where to pay, and the subscription status policy's date: the paid tier is kept for the grace, then
 * Free), and Stripe's customer portal ("Manage billing": the card, invoices, cancelling at period end).
 */
import type { BillingConfig, TierName } from './config.ts';
import type { Customer } from './model.ts';
import type { BillingProvider, InvoiceSummary } from './ports.ts';
import type { StripeSetup } from './subscriptions.ts';
import { TtlCache } from './ttl-cache.ts';
import { utcMonth } from './time.ts';
import { graceEndsAt } from './webhooks.ts';

/** An invoice's status as the customer reads it: Stripe's, with `past_due` for an open one that is behind. */
export type CustomerInvoiceStatus = 'draft' | 'open' | 'past_due' | 'paid' | 'void' | 'uncollectible';

export interface CustomerInvoice {
  /** The billing month (`YYYY-MM`) the invoice is for: its period's, or the month it was created in for a one-off. */
  readonly month: string;
  readonly invoiceId: string;
  /** Stripe numbers an invoice when it finalizes it; a draft has none. */
  readonly number: string | null;
  readonly status: CustomerInvoiceStatus;
  readonly totalCents: number;
  /** What is still to pay (0 once paid). */
  readonly amountDueCents: number;
  /** Stripe's hosted invoice page (view, download, pay); null for a draft. */
  readonly hostedInvoiceUrl: string | null;
  /** A period's invoice of the subscription; false for a one-off. */
  readonly fromSubscription: boolean;
}

/**
 * The status the customer is shown. An open invoice is past due when its payment was attempted and
 * failed (an invoice Stripe charges automatically has no due date), when its due date has passed
 * (one sent to be paid), or while the subscription it bills is behind (`past_due`, `unpaid`).
 */
export function customerInvoiceStatus(invoice: InvoiceSummary, subscriptionBehind: boolean, now: number): CustomerInvoiceStatus {
  if (invoice.status !== 'open') return invoice.status;
  const overdue = invoice.dueDateSec !== null && invoice.dueDateSec * 1000 < now;
  return invoice.paymentFailed || overdue || (subscriptionBehind && invoice.fromSubscription) ? 'past_due' : 'open';
}

/** A subscription invoice bills the month its period covers (the period ends on the next 1st); a one-off, the month it was created. */
export function invoiceMonth(invoice: Pick<InvoiceSummary, 'periodStartSec' | 'periodEndSec' | 'createdSec'>): string {
  return invoice.periodEndSec > invoice.periodStartSec ? utcMonth(invoice.periodEndSec * 1000 - 1000) : utcMonth(invoice.createdSec * 1000);
}

/** The customer's invoices, newest first, as the usage API and the dashboard show them. */
export function customerInvoices(invoices: readonly InvoiceSummary[], customer: Pick<Customer, 'paymentIssueSince'>, now: number): CustomerInvoice[] {
  const behind = customer.paymentIssueSince !== undefined;
  return [...invoices]
    .sort((a, b) => b.createdSec - a.createdSec)
    .map((invoice) => ({
      month: invoiceMonth(invoice),
      invoiceId: invoice.invoiceId,
      number: invoice.number,
      status: customerInvoiceStatus(invoice, behind, now),
      totalCents: invoice.totalCents,
      amountDueCents: invoice.status === 'open' ? invoice.amountRemainingCents : 0,
      hostedInvoiceUrl: invoice.hostedInvoiceUrl,
      fromSubscription: invoice.fromSubscription,
    }));
}

/** The invoices still to be paid (Stripe's `open`, past due or not, and `uncollectible` ones it gave up collecting), newest period first. */
export function unpaidInvoices(invoices: readonly InvoiceSummary[]): InvoiceSummary[] {
  return invoices.filter((i) => i.status === 'open' || i.status === 'uncollectible').sort((a, b) => b.periodStartSec - a.periodStartSec);
}

/** The past-due banner: what is owed, where to pay it, and what happens when, in words. */
export interface PaymentIssue {
  readonly amountDueCents: number;
  /** When the subscription was first reported behind (ISO); null when only an invoice is past due. */
  readonly since: string | null;
  /** The end of the grace (ISO): the paid tier is kept until then, then the account moves to Free. Null without a grace running. */
  readonly graceEndsAt: string | null;
  /** `grace`: the paid tier is kept until `graceEndsAt`; `moved-to-free`: the grace is over and the account is on Free. */
  readonly state: 'grace' | 'moved-to-free' | 'invoice-overdue';
  /** The oldest past-due invoice's hosted page, to pay it. */
  readonly invoiceUrl: string | null;
  readonly message: string;
}

const money = (cents: number) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(cents / 100);
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const tierName = (tier: TierName) => `${tier[0]!.toUpperCase()}${tier.slice(1)}`;

/**
 * The banner's figures when a payment is behind: the subscription reported `past_due` or `unpaid`
 * (the webhook recorded `paymentIssueSince`, see #core/webhooks.ts) or an invoice is past due.
 * `null` when nothing is owed late.
 */
export function paymentIssue(
  customer: Pick<Customer, 'tier' | 'paymentIssueSince'>,
  invoices: readonly CustomerInvoice[],
  config: Pick<BillingConfig, 'pastDueGraceDays'>,
  now: number,
): PaymentIssue | null {
  const late = invoices.filter((i) => i.status === 'past_due');
  if (customer.paymentIssueSince === undefined && late.length === 0) return null;
  const amountDueCents = late.reduce((sum, i) => sum + i.amountDueCents, 0);
  const fix = 'Update your payment method in Manage billing and pay the invoice';
  const invoiceUrl = late.at(-1)?.hostedInvoiceUrl ?? null;
  // Only an invoice is late (one sent to be paid, past its due date): no subscription status, so no grace.
  if (customer.paymentIssueSince === undefined)
    return { amountDueCents, since: null, graceEndsAt: null, state: 'invoice-overdue', invoiceUrl, message: `${money(amountDueCents)} is past due. ${fix}.` };
  const owed = amountDueCents > 0 ? `Your payment of ${money(amountDueCents)} failed.` : 'Your last payment failed.';
  const ends = graceEndsAt(customer.paymentIssueSince, config);
  const base = { amountDueCents, since: new Date(customer.paymentIssueSince).toISOString(), graceEndsAt: new Date(ends).toISOString(), invoiceUrl };
  // The grace is over (the scheduled run moved the account) or the account was on Free already: paying restores the paid tier.
  if (now >= ends || customer.tier === 'free')
    return {
      ...base,
      state: 'moved-to-free',
      message: `${owed} Your account moved to Free on ${day(ends)}, ${config.pastDueGraceDays} days after the payment first failed. ${fix}: your plan is restored once it is paid.`,
    };
  return {
    ...base,
    state: 'grace',
    message: `${owed} ${fix} before ${day(ends)}: your ${tierName(customer.tier)} plan stays active until then (${config.pastDueGraceDays} days from the first failed payment); after that your account moves to Free.`,
  };
}

/**
 * The customer's invoices from Stripe (one list request), through a short cache: the usage API is a
 * free route, so without it every page load (or a script's loop) would be a Stripe read, which shares
 * the account's rate limit with the sync. The cache key holds the customer's last subscription event
 * and payment issue, so a failed or recovered payment (whose webhooks update the customer) is shown at
 * once; a newly finalized invoice appears within the cache's TTL.
 */
export function cachedInvoiceSource(
  list: (stripeCustomerId: string) => Promise<InvoiceSummary[]>,
  cache: TtlCache<InvoiceSummary[]>,
): (customer: Pick<Customer, 'customerId' | 'stripeCustomerId' | 'lastSubscriptionEventAt' | 'paymentIssueSince'>) => Promise<InvoiceSummary[]> {
  return async (customer) => {
    if (!customer.stripeCustomerId) return [];
    const key = `${customer.customerId}:${customer.stripeCustomerId}:${customer.lastSubscriptionEventAt ?? ''}:${customer.paymentIssueSince ?? ''}`;
    const cached = cache.get(key);
    if (cached) return cached;
    const invoices = await list(customer.stripeCustomerId);
    cache.set(key, invoices);
    return invoices;
  };
}

/** Invoices the usage API lists: a year of monthly invoices, in one Stripe request. */
export const INVOICE_LIST_LIMIT = 12;
/** How long a customer's invoice list is reused (see cachedInvoiceSource). */
export const INVOICE_CACHE_TTL_MS = 30_000;

/** The usage API's invoice source: one list request per customer at most every INVOICE_CACHE_TTL_MS per process. */
export function invoiceSource(provider: Pick<BillingProvider, 'listInvoices'>, now: () => number = Date.now) {
  return cachedInvoiceSource(
    (stripeCustomerId) => provider.listInvoices(stripeCustomerId, INVOICE_LIST_LIMIT),
    new TtlCache(10_000, INVOICE_CACHE_TTL_MS, now),
  );
}

export type PortalStart = { ok: true; url: string } | { ok: false; code: 'NOT_SUBSCRIBED' | 'PORTAL_NOT_SET_UP'; message: string };

/** Opens Stripe's customer portal for the customer, returning to `returnUrl` (the dashboard). */
export async function startBillingPortal(customer: Pick<Customer, 'stripeCustomerId'>, returnUrl: string, setup: StripeSetup): Promise<PortalStart> {
  if (!customer.stripeCustomerId)
    return { ok: false, code: 'NOT_SUBSCRIBED', message: 'This account has no billing profile yet: there is nothing to manage in Stripe.' };
  const configurationId = setup.catalogIds.portalConfigurationId;
  if (!configurationId)
    return { ok: false, code: 'PORTAL_NOT_SET_UP', message: 'Billing management is not set up yet; please try again later or contact billing support.' };
  return { ok: true, ...(await setup.provider.createPortalSession({ stripeCustomerId: customer.stripeCustomerId, configurationId, returnUrl })) };
}
