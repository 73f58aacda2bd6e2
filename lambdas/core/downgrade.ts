/**
 * A paid customer's opt-out to Free (the seed's rollback lever "allow downgrade to free tier"), chosen
 * on the dashboard. It takes effect at the end of the current billing month, never before: the month's
 * calls so far are billed at the tier they were made on, and the Free quota applies from the 1st.
 *
 * The change is made in Stripe, as Stripe's own customer portal makes it: the subscription is set to
 * cancel at the end of its period (the 1st, UTC: periods are calendar months). Stripe then bills the
 * last period's usage and deletes the subscription, and the deletion webhook moves the customer to
 * Free exactly as any cancellation does (#core/webhooks.ts: a new gateway key in the Free plan).
 * Until then the customer can undo it ("Keep Pro"), and an upgrade through Checkout replaces the
 * subscription, so the pending downgrade goes with it.
 */
import { monthlyQuotaOf, type BillingConfig, type TierName } from './config.ts';
import { usd } from './experiment-report.ts';
import type { Customer } from './model.ts';
import type { BillingProvider, CustomerRegistry } from './ports.ts';
import { startOfNextUtcMonth, utcMonth } from './time.ts';

/** Who made a self-service change, as the audit log names them. */
export const CUSTOMER_ACTOR = 'the customer';

/** A change of plan the customer has scheduled: the usage API's `plan.pendingChange`. */
export interface PendingChange {
  readonly to: 'free';
  /** ISO instant at which it takes effect. */
  readonly at: string;
}

/** What opting out changes and when, in figures and in words, shown before the customer confirms. */
export interface DowngradeTerms {
  readonly from: TierName;
  readonly to: 'free';
  /** ISO instant at which Free applies: the start of the next billing month. The confirmation sends it back. */
  readonly takesEffectAt: string;
  /** This month's estimated bill so far, billed at `from` on the month's invoice. */
  readonly billedThisMonthCents: number;
  readonly freeMonthlyQuota: number;
  /** The terms as sentences, in the order the dashboard shows them. */
  readonly summary: readonly string[];
}

const tierLabel = (tier: TierName) => `${tier[0]!.toUpperCase()}${tier.slice(1)}`;
const day = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 10);

/**
 * The customer's scheduled change of plan; `null` when none, or when the customer is on Free already
 * (the payment grace ended first: the date stays on record, and shows again if paying up restores the tier).
 */
export function pendingChange(customer: Pick<Customer, 'tier' | 'downgradeAt'>): PendingChange | null {
  return customer.downgradeAt === undefined || customer.tier === 'free' ? null : { to: 'free', at: new Date(customer.downgradeAt).toISOString() };
}

/** The terms of opting out now; `null` when the customer is on Free already or has opted out. */
export function downgradeTerms(
  customer: Pick<Customer, 'tier' | 'downgradeAt'>,
  estimateSoFarCents: number,
  config: Pick<BillingConfig, 'tiers'>,
  now: number,
): DowngradeTerms | null {
  if (customer.tier === 'free' || customer.downgradeAt !== undefined) return null;
  const at = startOfNextUtcMonth(now);
  const quota = monthlyQuotaOf(config.tiers.free) ?? 0;
  const from = tierLabel(customer.tier);
  return {
    from: customer.tier,
    to: 'free',
    takesEffectAt: new Date(at).toISOString(),
    billedThisMonthCents: estimateSoFarCents,
    freeMonthlyQuota: quota,
    summary: [
      `You stay on ${from} until the end of this billing month: Free starts on ${day(at)} at 00:00 UTC.`,
      `This month (${utcMonth(now)}) is billed at ${from} as usual: ${usd(estimateSoFarCents)} so far, plus any calls you make before ${day(at)}.`,
      `From ${day(at)} you pay nothing and get ${quota.toLocaleString('en-US')} calls a month; call ${(quota + 1).toLocaleString('en-US')} in a month is refused until the next month (or until you upgrade).`,
      `You can undo this until ${day(at)} with "Keep ${from}".`,
    ],
  };
}

export type DowngradeOutcome =
  | { ok: true; at: number }
  | {
      ok: false;
      code: 'ALREADY_FREE' | 'ALREADY_SCHEDULED' | 'NOT_SCHEDULED' | 'NOT_SUBSCRIBED' | 'TERMS_CHANGED' | 'ALREADY_EFFECTIVE';
      message: string;
    };

/** An audit record (the Billing table's audit log, as operators' actions are kept). */
export interface AuditEntry {
  readonly customerId: string;
  readonly action: string;
  readonly by: string;
  readonly reason: string;
  readonly at: number;
  readonly details?: Record<string, unknown>;
}

export interface DowngradeDeps {
  readonly registry: Pick<CustomerRegistry, 'updateCustomer'>;
  readonly billing: Pick<BillingProvider, 'setCancelAtPeriodEnd'>;
  readonly audit: (entry: AuditEntry) => Promise<void>;
  readonly now: () => number;
}

/**
 * Schedules the customer's move to Free at the end of the billing month, on the terms it confirmed
 * (their `takesEffectAt`, from `downgradeTerms`): when the month has turned since, or Stripe would end the
 * subscription at another time, nothing is changed and the customer is shown the new terms.
 * Stripe first, then the record: a crash between the two is healed by confirming again (Stripe's
 * change repeats harmlessly), and the deletion at period end moves the customer either way.
 */
export async function scheduleDowngrade(customer: Customer, confirmedTakesEffectAt: string, deps: DowngradeDeps): Promise<DowngradeOutcome> {
  if (customer.tier === 'free') return { ok: false, code: 'ALREADY_FREE', message: 'You are on Free already.' };
  if (customer.downgradeAt !== undefined)
    return { ok: false, code: 'ALREADY_SCHEDULED', message: `Your move to Free is already scheduled for ${day(customer.downgradeAt)}.` };
  if (!customer.subscriptionId) return { ok: false, code: 'NOT_SUBSCRIBED', message: 'This account has no subscription to end; contact support.' };
  const at = startOfNextUtcMonth(deps.now());
  const termsChanged: DowngradeOutcome = {
    ok: false,
    code: 'TERMS_CHANGED',
    message: 'The billing month has changed since these terms were shown; nothing was changed. Review the new terms and confirm again.',
  };
  if (Date.parse(confirmedTakesEffectAt) !== at) return termsChanged;
  const { cancelAtSec } = await deps.billing.setCancelAtPeriodEnd(customer.subscriptionId, true);
  if (cancelAtSec === null || cancelAtSec * 1000 !== at) {
    // Stripe's period is not the month the customer agreed to end with (its period rolled before ours):
    // take the change back rather than end the subscription at a time the customer was not shown.
    await deps.billing.setCancelAtPeriodEnd(customer.subscriptionId, false);
    return termsChanged;
  }
  await deps.registry.updateCustomer(customer.customerId, { downgradeAt: at, downgradeChangedAt: deps.now() });
  await deps.audit({
    customerId: customer.customerId,
    action: `downgrade-scheduled-${customer.tier}-to-free`,
    by: CUSTOMER_ACTOR,
    reason: `opted out to Free from the dashboard, effective ${new Date(at).toISOString()}`,
    at: deps.now(),
    details: { from: customer.tier, to: 'free', takesEffectAt: new Date(at).toISOString() },
  });
  return { ok: true, at };
}

/** Undoes a scheduled move to Free ("Keep Pro") while it has not taken effect. */
export async function cancelDowngrade(customer: Customer, deps: DowngradeDeps): Promise<DowngradeOutcome> {
  if (pendingChange(customer) === null || customer.downgradeAt === undefined || !customer.subscriptionId)
    return { ok: false, code: 'NOT_SCHEDULED', message: 'No move to Free is scheduled.' };
  if (deps.now() >= customer.downgradeAt)
    return { ok: false, code: 'ALREADY_EFFECTIVE', message: 'Your move to Free has taken effect; upgrade to get a paid tier back.' };
  await deps.billing.setCancelAtPeriodEnd(customer.subscriptionId, false);
  await deps.registry.updateCustomer(customer.customerId, { downgradeAt: undefined, downgradeChangedAt: deps.now() });
  await deps.audit({
    customerId: customer.customerId,
    action: `downgrade-cancelled-stays-${customer.tier}`,
    by: CUSTOMER_ACTOR,
    reason: `kept ${tierLabel(customer.tier)} from the dashboard: the move to Free on ${day(customer.downgradeAt)} is undone`,
    at: deps.now(),
    details: { tier: customer.tier, cancelledDowngradeAt: new Date(customer.downgradeAt).toISOString() },
  });
  return { ok: true, at: customer.downgradeAt };
}

/**
 * The tier a month is billed at. A customer moved to Free after the month ended (an opt-out takes
 * effect on the 1st; its webhook arrives after midnight) is on Free now, but that month's invoice bills
 * the paid tier it left: reconciliation, the sync's cap and the month's estimate must price it so.
 */
export function tierBilledIn(customer: Pick<Customer, 'tier' | 'downgradedFrom' | 'downgradedAt' | 'upgradedAt'>, month: string): TierName {
  const end = startOfNextUtcMonth(Date.parse(`${month}-01T00:00:00Z`));
  const paidAtMonthEnd =
    customer.tier === 'free' &&
    customer.downgradedFrom !== undefined &&
    customer.downgradedAt !== undefined &&
    end <= customer.downgradedAt &&
    // A month that ended before the customer's last upgrade from Free was a Free month.
    (customer.upgradedAt === undefined || customer.upgradedAt < end);
  return paidAtMonthEnd ? customer.downgradedFrom! : customer.tier;
}
