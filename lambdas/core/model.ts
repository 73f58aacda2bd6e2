/** The records the product keeps, shared by the core, the adapters and the local stack. */
import type { TierName } from './config.ts';

export type CustomerStatus = 'active' | 'suspended';
/** What happens when a customer reaches its billing cap: deny calls, or serve them uncharged. */
export type CapBehaviour = 'block' | 'absorb';

export interface Customer {
  readonly customerId: string;
  readonly name: string;
  readonly tier: TierName;
  readonly status: CustomerStatus;
  readonly capBehaviour: CapBehaviour;
  /** Month (`YYYY-MM`) in which the customer reached its cap; with `block` its calls are denied. */
  readonly cappedMonth?: string;
  /** The API Gateway key that puts the customer in its tier's usage plan. Never shown to the customer. */
  readonly gatewayKeyId: string;
  readonly gatewayKeyValue: string;
  /** The name the gateway key was created under, when it came from a tier change (see #core/gateway-keys.ts). */
  readonly gatewayKeyName?: string;
  readonly createdAt: string;
  /** Monthly billing cap in cents; absent means the configured default. Raised only by an operator's approval. */
  readonly capCents?: number;
  /** Stripe customer and subscription, set when the customer is subscribed. */
  readonly stripeCustomerId?: string;
  readonly subscriptionId?: string;
  /** The grandfathering lever: calls in [from, until) (epoch ms) are counted but not charged, and the fee for those days is credited. */
  readonly grandfatheredFrom?: number;
  readonly grandfatheredUntil?: number;
  /** `created` (epoch s) of the last subscription webhook applied: older ones arrive late and are ignored. */
  readonly lastSubscriptionEventAt?: number;
  /**
   * Epoch ms since which the current subscription has been behind on payment (`past_due`/`unpaid`),
   * from the `created` of the first webhook that said so; cleared when it is paid up again. The
   * scheduled run moves the customer to Free once the configured grace has passed.
   */
  readonly paymentIssueSince?: number;
  /** The tier the customer started on (the experiment's upgrade rate counts customers who started on Free). */
  readonly initialTier?: TierName;
  /** Epoch ms of the last move from Free to a paid tier. */
  readonly upgradedAt?: number;
  /** Epoch ms of the last move from a paid tier to Free (a cancellation, an opt-out, an operator's downgrade): churn. */
  readonly downgradedAt?: number;
  /** Epoch ms since which the customer has been on a paid tier, without a break. */
  readonly paidSince?: number;
  /** The paid tier of the last move to Free: the months that ended before `downgradedAt` were billed at it (#core/downgrade.ts). */
  readonly downgradedFrom?: TierName;
  /**
   * Epoch ms at which a downgrade to Free the customer chose (an opt-out) takes effect: the end of the
   * Stripe billing period, where its subscription is set to cancel. Cleared when undone, replaced or done.
   */
  readonly downgradeAt?: number;
  /**
   * Epoch ms of the customer's last opt-out or undo on the dashboard. A subscription event created
   * before it (a late delivery) does not change `downgradeAt`; a later one (a cancellation made or
   * lifted in Stripe itself: its billing portal, its dashboard) does.
   */
  readonly downgradeChangedAt?: number;
}

export type ApiKeyStatus = 'active' | 'revoked';

/** An issued API key. Only the SHA-256 hash of the key is ever stored. */
export interface ApiKeyRecord {
  readonly keyHash: string;
  readonly keyId: string;
  readonly customerId: string;
  /** The first characters of the key, enough for a person to recognise it, too few to use it. */
  readonly keyPrefix: string;
  readonly status: ApiKeyStatus;
  readonly createdAt: string;
  readonly revokedAt?: string;
}

/**
 * Why a metered call is taken back out of the bill: the usage plan refused it, the gateway
 * refused it for another reason after the authorizer allowed it, or it was answered with a 5xx.
 */
export type VoidReason = 'THROTTLED' | 'QUOTA_EXCEEDED' | 'GATEWAY_REFUSED' | 'SERVER_ERROR';

/** One metered call, written by the authorizer, keyed by API Gateway's requestId. */
export interface UsageEvent {
  readonly requestId: string;
  readonly customerId: string;
  readonly keyId: string;
  readonly method: string;
  readonly route: string;
  /** Epoch ms at which the authorizer allowed the call. */
  readonly at: number;
  /** `YYYY-MM-DDTHH`, UTC. */
  readonly hour: string;
  /** `YYYY-MM`, UTC. */
  readonly month: string;
  /** Epoch seconds after which DynamoDB's TTL removes the raw event. */
  readonly expiresAt: number;
  readonly voided?: boolean;
  readonly voidReason?: VoidReason;
}
