/**
 * Stripe webhooks, after the adapter has verified their signature: each event id is processed
 * once; subscription changes move the customer's tier and usage plan (cancelled means Free); a
 * drafted invoice flushes the period's last usage before it finalizes; payments are recorded.
 */
import * as z from 'zod';
import { TierNameSchema, type BillingConfig, type TierName } from './config.ts';
import type { Customer } from './model.ts';
import type { BillingProvider, BillingStateStore, CustomerRegistry, GatewayKeyRegistry, GatewayKeyRetirementStore } from './ports.ts';
import { changeTier } from './subscriptions.ts';
import { syncCustomerMonth, type SyncDeps, type SyncOutcome } from './sync.ts';
import { utcMonth } from './time.ts';
import { estimateBill } from './pricing.ts';
import { feeCreditCents } from './grandfather.ts';

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

export interface WebhookDeps {
  readonly registry: CustomerRegistry & { findByStripeCustomerId(stripeCustomerId: string): Promise<Customer | undefined> };
  readonly gatewayKeys: GatewayKeyRegistry;
  /** Where a tier change records the gateway keys it replaces. */
  readonly retirements: GatewayKeyRetirementStore;
  /** The key cache TTL: how long a replaced gateway key must stay in its plan. */
  readonly config: Pick<BillingConfig, 'keyCacheTtlSeconds'>;
  readonly state: BillingStateStore;
  readonly sync: SyncDeps;
  readonly billing: Pick<BillingProvider, 'cancelSubscription' | 'creditDraftInvoice'>;
  readonly now: () => number;
}

export type WebhookOutcome =
  | { kind: 'duplicate' }
  | { kind: 'ignored'; reason: string }
  | { kind: 'tier-changed'; customerId: string; from: TierName; to: TierName }
  | { kind: 'tier-unchanged'; customerId: string }
  | { kind: 'flushed'; customerId: string; month: string; sync: SyncOutcome; creditCents: number }
  | { kind: 'invoice-recorded'; customerId: string; status: string };

/** The tier a subscription's prices belong to (our prices carry it in metadata). */
function tierOfSubscription(subscription: z.infer<typeof SubscriptionSchema>): TierName | undefined {
  if (['canceled', 'incomplete_expired'].includes(subscription.status)) return 'free';
  const tiers = new Set(subscription.items.data.map((item) => TierNameSchema.safeParse(item.price.metadata?.tier).data).filter(Boolean));
  return tiers.size === 1 ? ([...tiers][0] as TierName) : undefined;
}

export async function handleBillingEvent(event: BillingEvent, deps: WebhookDeps): Promise<WebhookOutcome> {
  if (await deps.state.wasProcessed(event.id)) return { kind: 'duplicate' };
  const outcome = await process(event, deps);
  // Marked after processing: a crash in between means Stripe redelivers, and every step is idempotent.
  await deps.state.markProcessed(event.id, event.type, deps.now());
  return outcome;
}

async function process(event: BillingEvent, deps: WebhookDeps): Promise<WebhookOutcome> {
  switch (event.type) {
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const subscription = SubscriptionSchema.parse(event.object);
      const customer = await deps.registry.findByStripeCustomerId(subscription.customer);
      if (!customer) return { kind: 'ignored', reason: `no customer for ${subscription.customer}` };
      // Out-of-order delivery: an older event must not undo a newer change.
      if ((customer.lastSubscriptionEventAt ?? 0) > event.created) return { kind: 'ignored', reason: 'older than the last applied subscription event' };
      const current = customer.subscriptionId;
      // Only the customer's current subscription speaks for its tier; a new one (from Checkout) replaces it.
      if (event.type !== 'customer.subscription.created' && current && subscription.id !== current) return { kind: 'ignored', reason: 'not the current subscription' };
      const tier = event.type === 'customer.subscription.deleted' ? 'free' : tierOfSubscription(subscription);
      if (!tier) return { kind: 'ignored', reason: 'subscription prices name no single tier' };
      const change = await changeTier(customer.customerId, tier, { registry: deps.registry, gatewayKeys: deps.gatewayKeys, retirements: deps.retirements, config: deps.config, now: deps.now });
      await deps.registry.updateCustomer(customer.customerId, {
        lastSubscriptionEventAt: event.created,
        ...(event.type === 'customer.subscription.deleted' ? { subscriptionId: undefined } : { subscriptionId: subscription.id }),
      });
      // A subscription from Checkout replaces the old one: cancelled only once the new one is on record,
      // so the old one's deletion event finds it is no longer current.
      if (event.type === 'customer.subscription.created' && current && current !== subscription.id && subscription.status === 'active') {
        await deps.billing.cancelSubscription(current);
      }
      if (!change.ok || !change.changed) return { kind: 'tier-unchanged', customerId: customer.customerId };
      return { kind: 'tier-changed', customerId: customer.customerId, from: change.from, to: change.to };
    }
    case 'invoice.created': {
      const invoice = InvoiceSchema.parse(event.object);
      const customer = await deps.registry.findByStripeCustomerId(invoice.customer);
      if (!customer) return { kind: 'ignored', reason: `no customer for ${invoice.customer}` };
      if (invoice.period_end <= invoice.period_start) return { kind: 'ignored', reason: 'not a period invoice' };
      // The draft covers the period that just ended: push what is left of it before Stripe finalizes.
      const month = utcMonth(invoice.period_end * 1000 - 1000);
      const sync = await syncCustomerMonth(customer, month, deps.sync, { flush: true });
      // One credit on the draft, for what Stripe's meter cannot take back: calls voided after their push,
      // and the monthly fee's share for grandfathered days.
      const overPushedCents =
        sync.kind === 'over-pushed' ? estimateBill(customer.tier, sync.billable + sync.excess, deps.sync.config).totalCents - estimateBill(customer.tier, sync.billable, deps.sync.config).totalCents : 0;
      const grandfatherCents = feeCreditCents(customer, invoice.period_start * 1000, invoice.period_end * 1000, deps.sync.config);
      const creditCents = overPushedCents + grandfatherCents;
      if (creditCents > 0) {
        const reasons = [
          ...(overPushedCents > 0 && sync.kind === 'over-pushed' ? [`${sync.excess} calls voided after they were reported (throttled, over quota or failed)`] : []),
          ...(grandfatherCents > 0 ? ['no charge for grandfathered days'] : []),
        ];
        await deps.billing.creditDraftInvoice({ stripeCustomerId: invoice.customer, invoiceId: invoice.id, amountCents: creditCents, description: `Correction: ${reasons.join('; ')}` });
      }
      return { kind: 'flushed', customerId: customer.customerId, month, sync, creditCents };
    }
    case 'invoice.paid':
    case 'invoice.payment_failed':
    case 'invoice.finalized': {
      const invoice = InvoiceSchema.parse(event.object);
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
