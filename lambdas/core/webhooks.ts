/**
 * Stripe webhooks, after the adapter has verified their signature and claimed the event id (one
 * delivery of an event acts; see lambdas/stripe-webhook/webhook.ts): subscription changes move the
 * customer's tier and usage plan by the subscription's status (the policy below); a drafted invoice
 * is reconciled (its last usage pushed, its corrections credited) before it finalizes; payments are recorded;
 * a Checkout session that completed or expired is no longer handed out by the upgrade route (#core/checkout-reuse.ts).
 *
 * An event whose object lacks what we read is `ignored` with the names of the missing fields (never
 * values): it is answered 200, because a 5xx would make Stripe retry the same malformed event for days.
 */
import * as z from 'zod';
import { TierNameSchema, type BillingConfig, type TierName } from './config.ts';
import type { Customer } from './model.ts';
import type { CheckoutSessionStore } from './checkout-reuse.ts';
import type { BillingProvider, BillingStateStore, CustomerRegistry, GatewayKeyRegistry, GatewayKeyRetirementStore } from './ports.ts';
import { changeTier, type TierChangeDeps } from './subscriptions.ts';
import type { ReconciliationRecord } from './reconciliation.ts';
import { utcMonth } from './time.ts';

/** The webhook Lambda's timeout (the stack sets it from here), which also bounds how long an event's claim stays in progress. */
export const WEBHOOK_TIMEOUT_MS = 30_000;

/** A verified Stripe event, reduced to what the core reads. */
export interface BillingEvent {
  readonly id: string;
  readonly type: string;
  /** Epoch seconds. */
  readonly created: number;
  readonly object: unknown;
}

const SubscriptionSchema = z.object({
  id: z.string(),
  customer: z.string(),
  status: z.string(),
  metadata: z.record(z.string(), z.string()).optional(),
  items: z.object({ data: z.array(z.object({ price: z.object({ metadata: z.record(z.string(), z.string()).optional() }) })) }),
  cancel_at_period_end: z.boolean().optional(),
  cancel_at: z.number().nullable().optional(),
});

/** A Checkout session (mode subscription: the upgrade route creates them for a Stripe customer). */
const CheckoutSessionSchema = z.object({
  id: z.string(),
  customer: z.string().nullable(),
});

const InvoiceSchema = z.object({
  id: z.string(),
  customer: z.string(),
  status: z.string().nullable(),
  period_start: z.number(),
  period_end: z.number(),
  amount_due: z.number(),
  amount_paid: z.number(),
});

/**
 * Subscription status policy: what each Stripe status means for the customer's tier.
 * - `paid` (active, trialing): the tier its prices name; a new subscription in this state replaces the old one.
 * - `behind` (past_due, unpaid): the customer keeps its current tier (never a higher one) for
 *   `pastDueGraceDays` from the first event that reported it, then goes to Free. The scheduled run
 *   enforces the expiry (enforcePaymentGrace), so it holds whatever Stripe's dunning settings are.
 * - `pending` (incomplete): the first payment has not succeeded; it never grants a paid tier.
 * - `held` (paused: a trial ended without a payment method): Free at once; resuming makes it active again.
 * - `ended` (canceled, incomplete_expired, or a deletion event): Free, and the subscription is forgotten.
 * Only `behind`, `pending` and `held` keep the subscription on record, so its next `active` event restores the tier.
 */
export type SubscriptionStanding = 'paid' | 'behind' | 'pending' | 'held' | 'ended';

const STANDING_OF_STATUS: Readonly<Record<string, SubscriptionStanding>> = {
  active: 'paid',
  trialing: 'paid',
  past_due: 'behind',
  unpaid: 'behind',
  incomplete: 'pending',
  paused: 'held',
  canceled: 'ended',
  incomplete_expired: 'ended',
};

export function subscriptionStanding(status: string): SubscriptionStanding | undefined {
  return STANDING_OF_STATUS[status];
}

export interface WebhookDeps {
  readonly registry: CustomerRegistry & { findByStripeCustomerId(stripeCustomerId: string): Promise<Customer | undefined> };
  readonly gatewayKeys: GatewayKeyRegistry;
  /** Where a tier change records the gateway keys it replaces. */
  readonly retirements: GatewayKeyRetirementStore;
  readonly state: BillingStateStore;
  /** Reconciles the customer's month when its invoice is drafted (#core/reconciliation.ts, trigger `invoice`). */
  readonly reconcile: (customer: Customer, month: string, options: { paused: boolean }) => Promise<ReconciliationRecord>;
  readonly billing: Pick<BillingProvider, 'cancelSubscription'>;
  /** The upgrade route's kept Checkout sessions: one that completed or expired is dropped. */
  readonly checkouts: Pick<CheckoutSessionStore, 'forget'>;
  /**
   * The subscription status policy's grace, and the key cache TTL: how long a gateway key replaced
   * by a tier change must stay in its plan.
   */
  readonly config: Pick<BillingConfig, 'pastDueGraceDays' | 'keyCacheTtlSeconds'>;
  readonly now: () => number;
}

export type WebhookOutcome =
  | { kind: 'duplicate' }
  | { kind: 'ignored'; reason: string }
  | { kind: 'tier-changed'; customerId: string; from: TierName; to: TierName }
  | { kind: 'tier-unchanged'; customerId: string }
  | { kind: 'reconciled'; customerId: string; month: string; record: ReconciliationRecord }
  | { kind: 'invoice-recorded'; customerId: string; status: string }
  | { kind: 'checkout-closed'; customerId: string; sessionId: string; forgotten: number };

/** The tier a subscription's prices belong to (our prices carry it in metadata). */
function tierOfPrices(subscription: z.infer<typeof SubscriptionSchema>): TierName | undefined {
  const tiers = new Set(subscription.items.data.map((item) => TierNameSchema.safeParse(item.price.metadata?.tier).data).filter(Boolean));
  return tiers.size === 1 ? ([...tiers][0] as TierName) : undefined;
}

/** Parses what we read of an event's object; on a mismatch, names the missing or mistyped fields (paths only: payloads may hold personal data). */
function parseObject<S extends z.ZodType>(schema: S, event: BillingEvent): { ok: true; value: z.infer<S> } | { ok: false; outcome: WebhookOutcome } {
  const parsed = schema.safeParse(event.object);
  if (parsed.success) return { ok: true, value: parsed.data };
  const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(object)'))].join(', ');
  return { ok: false, outcome: { kind: 'ignored', reason: `unexpected ${event.type} object: ${fields}` } };
}

/** When a grace that started at `since` (epoch ms) ends. */
export function graceEndsAt(since: number, config: Pick<BillingConfig, 'pastDueGraceDays'>): number {
  return since + config.pastDueGraceDays * 86_400_000;
}

/** Processes one verified event. Not idempotent by itself: the caller claims the event id first. */
export async function handleBillingEvent(event: BillingEvent, deps: WebhookDeps): Promise<WebhookOutcome> {
  switch (event.type) {
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const parsed = parseObject(SubscriptionSchema, event);
      if (!parsed.ok) return parsed.outcome;
      const subscription = parsed.value;
      const standing = event.type === 'customer.subscription.deleted' ? 'ended' : subscriptionStanding(subscription.status);
      if (!standing) return { kind: 'ignored', reason: `unknown subscription status ${subscription.status}` };
      const customer = await deps.registry.findByStripeCustomerId(subscription.customer);
      if (!customer) return { kind: 'ignored', reason: `no customer for ${subscription.customer}` };
      // Out-of-order delivery: an older event must not undo a newer change.
      if ((customer.lastSubscriptionEventAt ?? 0) > event.created) return { kind: 'ignored', reason: 'older than the last applied subscription event' };
      const current = customer.subscriptionId;
      const isCurrent = subscription.id === current;
      // Only the current subscription speaks for the tier. Another one (from Checkout) replaces it only once
      // it is paid for: an incomplete one must not take over, and the replaced one's own events then no longer count.
      if (!isCurrent && standing !== 'paid') return { kind: 'ignored', reason: `not the current subscription (${subscription.status})` };
      const tier = await tierFor(standing, subscription, customer, event, deps);
      if (!tier) return { kind: 'ignored', reason: 'subscription prices name no single tier' };
      const change = await changeTier(customer.customerId, tier, {
        registry: deps.registry,
        gatewayKeys: deps.gatewayKeys,
        retirements: deps.retirements,
        config: deps.config,
        now: deps.now,
      });
      await deps.registry.updateCustomer(customer.customerId, {
        lastSubscriptionEventAt: event.created,
        subscriptionId: standing === 'ended' ? undefined : subscription.id,
        // The grace is counted from the first event that reported the subscription behind, not the latest.
        paymentIssueSince: standing === 'behind' ? (customer.paymentIssueSince ?? event.created * 1000) : undefined,
        ...downgradeFields(standing, isCurrent, subscription, customer, event),
      });
      // The replaced subscription is cancelled only once the new one is on record, so its deletion event
      // finds it is no longer current.
      if (!isCurrent && current) await deps.billing.cancelSubscription(current);
      if (!change.ok || !change.changed) return { kind: 'tier-unchanged', customerId: customer.customerId };
      return { kind: 'tier-changed', customerId: customer.customerId, from: change.from, to: change.to };
    }
    case 'checkout.session.completed':
    case 'checkout.session.expired': {
      // The session is over: the upgrade route must not hand out its URL again (a paid-for Checkout,
      // or one that would only say it expired). The tier itself moves with the subscription's events.
      const parsed = parseObject(CheckoutSessionSchema, event);
      if (!parsed.ok) return parsed.outcome;
      const session = parsed.value;
      if (!session.customer) return { kind: 'ignored', reason: 'Checkout session without a customer' };
      const customer = await deps.registry.findByStripeCustomerId(session.customer);
      if (!customer) return { kind: 'ignored', reason: `no customer for ${session.customer}` };
      // Only the kept session with this id: a redelivered or late event leaves a newer session alone.
      const forgotten = await deps.checkouts.forget(customer.customerId, session.id);
      return { kind: 'checkout-closed', customerId: customer.customerId, sessionId: session.id, forgotten };
    }
    case 'invoice.created': {
      const parsed = parseObject(InvoiceSchema, event);
      if (!parsed.ok) return parsed.outcome;
      const invoice = parsed.value;
      const customer = await deps.registry.findByStripeCustomerId(invoice.customer);
      if (!customer) return { kind: 'ignored', reason: `no customer for ${invoice.customer}` };
      if (invoice.period_end <= invoice.period_start) return { kind: 'ignored', reason: 'not a period invoice' };
      // The draft covers the period that just ended: reconcile it while it is a draft, which pushes
      // what is left of the period (unless billing is paused) and credits what the meter cannot take
      // back (calls voided after their push, the fee for grandfathered days).
      const month = utcMonth(invoice.period_end * 1000 - 1000);
      const paused = (await deps.state.getPause())?.paused ?? false;
      const record = await deps.reconcile(customer, month, { paused });
      return { kind: 'reconciled', customerId: customer.customerId, month, record };
    }
    case 'invoice.paid':
    case 'invoice.payment_failed':
    case 'invoice.finalized': {
      const parsed = parseObject(InvoiceSchema, event);
      if (!parsed.ok) return parsed.outcome;
      const invoice = parsed.value;
      const customer = await deps.registry.findByStripeCustomerId(invoice.customer);
      if (!customer) return { kind: 'ignored', reason: `no customer for ${invoice.customer}` };
      const status = event.type === 'invoice.payment_failed' ? 'payment_failed' : (invoice.status ?? 'unknown');
      await deps.state.recordInvoice({
        invoiceId: invoice.id,
        customerId: customer.customerId,
        month: utcMonth(invoice.period_end * 1000 - 1000),
        status,
        amountDueCents: invoice.amount_due,
        amountPaidCents: invoice.amount_paid,
        at: deps.now(),
      });
      return { kind: 'invoice-recorded', customerId: customer.customerId, status };
    }
    default:
      return { kind: 'ignored', reason: `event type ${event.type} is not used` };
  }
}

/**
 * The customer's pending move to Free, as a subscription event leaves it. It ends with the subscription
 * it was set on: done when that one ends (at period end), dropped when another replaces it (an upgrade
 * through Checkout while it was pending). On the current subscription it follows Stripe's cancellation
 * at period end, set or lifted in Stripe itself (its billing portal, its dashboard), unless the event is
 * older than the customer's last opt-out or undo on our dashboard, which wrote the record itself.
 */
function downgradeFields(
  standing: SubscriptionStanding,
  isCurrent: boolean,
  subscription: z.infer<typeof SubscriptionSchema>,
  customer: Customer,
  event: BillingEvent,
): Pick<Customer, 'downgradeAt'> | Record<string, never> {
  if (standing === 'ended' || !isCurrent) return { downgradeAt: undefined };
  if (standing !== 'paid' || subscription.cancel_at_period_end === undefined || event.created * 1000 <= (customer.downgradeChangedAt ?? 0)) return {};
  const cancelAt = subscription.cancel_at_period_end && subscription.cancel_at ? subscription.cancel_at * 1000 : undefined;
  return cancelAt === customer.downgradeAt ? {} : { downgradeAt: cancelAt };
}

/** The tier a subscription event puts the customer on, by the status policy above. */
async function tierFor(
  standing: SubscriptionStanding,
  subscription: z.infer<typeof SubscriptionSchema>,
  customer: Customer,
  event: BillingEvent,
  deps: WebhookDeps,
): Promise<TierName | undefined> {
  switch (standing) {
    case 'paid':
      return tierOfPrices(subscription);
    case 'behind': {
      const since = customer.paymentIssueSince ?? event.created * 1000;
      return deps.now() >= graceEndsAt(since, deps.config) ? 'free' : customer.tier;
    }
    case 'pending':
    case 'held':
    case 'ended':
      return 'free';
  }
}

export type GraceOutcome =
  | { customerId: string; since: number; change: 'moved-to-free' }
  | { customerId: string; since: number; change: 'failed'; error: string };

export interface PaymentGraceDeps extends Omit<TierChangeDeps, 'stripe' | 'config'> {
  readonly config: Pick<BillingConfig, 'pastDueGraceDays' | 'keyCacheTtlSeconds'>;
}

/**
 * The scheduled run's half of the policy: a customer whose subscription has been behind on payment
 * for longer than the grace goes to Free, even if Stripe sends no further event (its dunning can be
 * set to leave a subscription past_due indefinitely). A later `active` event restores the tier.
 * The move is an ordinary tier change (a new gateway key in the Free plan, the old one retired by the
 * cleanup; see #core/gateway-keys.ts) without touching Stripe's prices. A customer whose change fails
 * is reported and tried again on the next run; the others are still moved.
 */
export async function enforcePaymentGrace(customers: readonly Customer[], deps: PaymentGraceDeps): Promise<GraceOutcome[]> {
  const outcomes: GraceOutcome[] = [];
  const now = deps.now();
  for (const customer of customers) {
    if (customer.paymentIssueSince === undefined || customer.tier === 'free' || now < graceEndsAt(customer.paymentIssueSince, deps.config)) continue;
    const since = customer.paymentIssueSince;
    try {
      // The list was read at the start of the run: a webhook may have cleared the issue since (paid up).
      const current = await deps.registry.getCustomer(customer.customerId);
      if (current?.paymentIssueSince === undefined || current.tier === 'free' || now < graceEndsAt(current.paymentIssueSince, deps.config)) continue;
      const change = await changeTier(customer.customerId, 'free', deps);
      outcomes.push(
        change.ok
          ? { customerId: customer.customerId, since, change: 'moved-to-free' }
          : { customerId: customer.customerId, since, change: 'failed', error: change.code },
      );
    } catch (error) {
      outcomes.push({ customerId: customer.customerId, since, change: 'failed', error: error instanceof Error ? error.message : String(error) });
    }
  }
  return outcomes;
}
