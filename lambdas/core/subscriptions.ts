/** Customers' Stripe subscriptions and tier changes: Stripe, the usage plan and our record agree. */
import { stripeCatalog, pricesOfTier, type Catalog } from './catalog.ts';
import type { BillingConfig, TierName } from './config.ts';
import type { Customer } from './model.ts';
import { switchGatewayKey, type GatewayKeySwitchDeps } from './gateway-keys.ts';
import type { BillingProvider, CatalogIds, CustomerRegistry } from './ports.ts';
import { startOfNextUtcMonth } from './time.ts';

export interface StripeSetup {
  readonly provider: BillingProvider;
  readonly catalogIds: CatalogIds;
  readonly catalog: Catalog;
}

export function stripeSetup(provider: BillingProvider, catalogIds: CatalogIds, config: Pick<BillingConfig, 'tiers'>): StripeSetup {
  return { provider, catalogIds, catalog: stripeCatalog(config) };
}

/** Stripe price ids of a tier's subscription items; throws when the setup command has not created them. */
export function priceIdsOfTier(setup: StripeSetup, tier: TierName): string[] {
  return pricesOfTier(setup.catalog, tier).map((price) => {
    const id = setup.catalogIds.priceIds[price.lookupKey];
    if (!id) throw new Error(`Stripe price ${price.lookupKey} is missing: run the setup command (npm run cli -- stripe setup)`);
    return id;
  });
}

/** Subscribes a customer to its tier, billed monthly from the 1st of next month (UTC); this month is prorated. */
export async function subscribe(customer: Pick<Customer, 'customerId' | 'name' | 'tier'>, setup: StripeSetup, now: number) {
  return setup.provider.createSubscriber({
    customerId: customer.customerId,
    name: customer.name,
    priceIds: priceIdsOfTier(setup, customer.tier),
    periodStartSec: Math.floor(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1) / 1000),
    billingCycleAnchorSec: Math.floor(startOfNextUtcMonth(now) / 1000),
  });
}

export interface TierChangeDeps extends GatewayKeySwitchDeps {
  readonly registry: CustomerRegistry;
  /** Absent when Stripe already made the change (a webhook from Checkout or the billing portal). */
  readonly stripe?: StripeSetup;
}

export type TierChange = { ok: true; from: TierName; to: TierName; changed: boolean } | { ok: false; code: 'UNKNOWN_CUSTOMER' | 'NOT_SUBSCRIBED' };

/**
 * Moves a customer to `tier`: its subscription's prices, then a new gateway key in the tier's usage
 * plan and its record naming both, in one write (the old key is retired later, see #core/gateway-keys.ts).
 * A crash part-way is finished by running it again: Stripe's price change repeats harmlessly, and
 * until the record switches the customer keeps its old key and tier.
 */
export async function changeTier(customerId: string, tier: TierName, deps: TierChangeDeps): Promise<TierChange> {
  const customer = await deps.registry.getCustomer(customerId);
  if (!customer) return { ok: false, code: 'UNKNOWN_CUSTOMER' };
  if (customer.tier === tier) return { ok: true, from: tier, to: tier, changed: false };
  if (deps.stripe) {
    if (!customer.subscriptionId) return { ok: false, code: 'NOT_SUBSCRIBED' };
    await deps.stripe.provider.replacePrices(customer.subscriptionId, priceIdsOfTier(deps.stripe, tier));
    // An operator's change replaces the customer's own pending opt-out: the subscription no longer ends with the month.
    if (customer.downgradeAt !== undefined) {
      await deps.stripe.provider.setCancelAtPeriodEnd(customer.subscriptionId, false);
      await deps.registry.updateCustomer(customerId, { downgradeAt: undefined, downgradeChangedAt: deps.now() });
    }
  }
  if (!(await switchGatewayKey(customer, tier, deps))) {
    // A concurrent change of the same customer switched first (`tier set` and the webhook its Stripe
    // change fires): done if it went to the same tier; otherwise the caller retries (a webhook is redelivered).
    const now = await deps.registry.getCustomer(customerId);
    if (now?.tier === tier) return { ok: true, from: tier, to: tier, changed: false };
    throw new Error(`customer ${customerId} changed gateway keys during the tier change; run it again`);
  }
  // The experiment's upgrades and churn are read from these (#core/experiment.ts).
  const at = deps.now();
  if (customer.tier === 'free') await deps.registry.updateCustomer(customerId, { upgradedAt: at, paidSince: at });
  // When Stripe made the change (a subscription that ended with its period: the opt-out), the
  // period that just ended was invoiced at the tier left, and #core/downgrade.ts tierBilledIn prices
  // it so. An operator's change replaces the prices of the running period: it is priced at the new tier.
  else if (tier === 'free')
    await deps.registry.updateCustomer(customerId, { downgradedAt: at, downgradedFrom: deps.stripe ? undefined : customer.tier, paidSince: undefined });
  return { ok: true, from: customer.tier, to: tier, changed: true };
}

const TIER_ORDER: readonly TierName[] = ['free', 'pro', 'enterprise'];

export type UpgradeStart = { ok: true; url: string } | { ok: false; code: 'NOT_AN_UPGRADE' | 'NOT_SUBSCRIBED'; message: string };

/** Sends the customer to Stripe Checkout for a higher tier; the webhook applies the change when it completes. */
export async function startUpgrade(customer: Customer, tier: TierName, returnUrl: string, setup: StripeSetup, now: number): Promise<UpgradeStart> {
  if (TIER_ORDER.indexOf(tier) <= TIER_ORDER.indexOf(customer.tier))
    return { ok: false, code: 'NOT_AN_UPGRADE', message: `You are on ${customer.tier}; ${tier} is not an upgrade.` };
  if (!customer.stripeCustomerId) return { ok: false, code: 'NOT_SUBSCRIBED', message: 'This account has no billing profile yet; contact support to upgrade.' };
  const { url } = await setup.provider.createCheckoutSession({
    customerId: customer.customerId,
    stripeCustomerId: customer.stripeCustomerId,
    priceIds: priceIdsOfTier(setup, tier),
    successUrl: `${returnUrl}?upgraded=${tier}`,
    cancelUrl: returnUrl,
    billingCycleAnchorSec: Math.floor(startOfNextUtcMonth(now) / 1000),
  });
  return { ok: true, url };
}
