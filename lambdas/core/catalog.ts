/**
 * The Stripe catalog the configuration implies: one meter for calls, one product per tier, and
 * per tier a licensed price for the monthly fee and a metered price for calls. Prices are
 * immutable in Stripe, so each lookup key carries a digest of its figures: changing a figure
 * creates new prices instead of silently repricing old subscriptions.
 */
import { createHash } from 'node:crypto';
import { TIER_NAMES, type BillingConfig, type TierName } from './config.ts';

export const METER_EVENT_NAME = 'api_billing_calls';
/** The meter event payload keys: Stripe finds the customer and the value by these names. */
export const METER_PAYLOAD_KEYS = { customer: 'stripe_customer_id', value: 'value' } as const;

export interface PriceTier {
  /** `null` is Stripe's `inf`. */
  readonly upTo: number | null;
  readonly unitMillicents: number;
}

export type CatalogPrice =
  | { readonly lookupKey: string; readonly tier: TierName; readonly role: 'fee'; readonly unitAmountCents: number }
  | {
      readonly lookupKey: string;
      readonly tier: TierName;
      readonly role: 'usage';
      readonly tiersMode: 'graduated' | 'volume';
      readonly tiers: readonly PriceTier[];
    };

export interface Catalog {
  readonly products: ReadonlyArray<{ readonly id: string; readonly tier: TierName; readonly name: string }>;
  readonly prices: readonly CatalogPrice[];
  /** Stripe's customer portal ("Manage billing"), one configuration found by this marker in its metadata. */
  readonly portal: BillingPortalSpec;
}

/** What customers may do in Stripe's customer portal. */
export interface BillingPortalSpec {
  /** Metadata value (key `api_billing`) that finds the product's configuration again: the setup command is idempotent. */
  readonly marker: string;
  readonly paymentMethodUpdate: boolean;
  readonly invoiceHistory: boolean;
  /**
   * Cancelling in the portal: at the end of the billing month, never at once, so the month's usage
   * is billed at the tier it was used on and the customer keeps the tier until the 1st.
   */
  readonly cancel: 'at_period_end';
}

export const BILLING_PORTAL: BillingPortalSpec = { marker: 'customer-portal', paymentMethodUpdate: true, invoiceHistory: true, cancel: 'at_period_end' };

export function productId(tier: TierName): string {
  return `api_billing_${tier}`;
}

function lookupKey(tier: TierName, role: string, figures: unknown): string {
  return `api_billing_${tier}_${role}_${createHash('sha256').update(JSON.stringify(figures)).digest('hex').slice(0, 8)}`;
}

/** Millicents as Stripe's `unit_amount_decimal` (a decimal string of cents). */
export function millicentsToDecimalCents(millicents: number): string {
  return (millicents / 1000).toFixed(3).replace(/\.?0+$/, '') || '0';
}

export function stripeCatalog(config: Pick<BillingConfig, 'tiers'>): Catalog {
  const prices: CatalogPrice[] = [];
  for (const tier of TIER_NAMES) {
    const t = config.tiers[tier];
    const fee = t.pricing === 'free' ? 0 : t.monthlyFeeCents;
    prices.push({ lookupKey: lookupKey(tier, 'fee', fee), tier, role: 'fee', unitAmountCents: fee });
    if (t.pricing === 'included-plus-overage') {
      const tiers: PriceTier[] = [
        { upTo: t.includedCalls, unitMillicents: 0 },
        { upTo: null, unitMillicents: t.overageUnitMillicents },
      ];
      prices.push({ lookupKey: lookupKey(tier, 'usage', tiers), tier, role: 'usage', tiersMode: 'graduated', tiers });
    } else if (t.pricing === 'volume') {
      const tiers: PriceTier[] = t.bands.map((b) => ({ upTo: b.upTo, unitMillicents: b.unitMillicents }));
      prices.push({ lookupKey: lookupKey(tier, 'usage', tiers), tier, role: 'usage', tiersMode: 'volume', tiers });
    }
  }
  return {
    products: TIER_NAMES.map((tier) => ({ id: productId(tier), tier, name: `API ${tier[0]!.toUpperCase()}${tier.slice(1)}` })),
    prices,
    portal: BILLING_PORTAL,
  };
}

/** The prices a subscription on `tier` holds. */
export function pricesOfTier(catalog: Catalog, tier: TierName): CatalogPrice[] {
  return catalog.prices.filter((p) => p.tier === tier);
}
