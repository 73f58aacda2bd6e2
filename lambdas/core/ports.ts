/** The ports the core needs; adapters (DynamoDB, API Gateway, local files) implement them. */
import type { Catalog } from './catalog.ts';
import type { TierName } from './config.ts';
import type { ApiKeyRecord, Customer, UsageEvent } from './model.ts';

export type KeyLookup = { kind: 'found'; key: ApiKeyRecord; customer: Customer } | { kind: 'unknown' };

/** Resolves a key hash to the key and its customer. */
export interface KeyDirectory {
  lookup(keyHash: string): Promise<KeyLookup>;
}

/** The raw usage events: one per metered call. */
export interface UsageEventLog {
  /** Writes the event unless one with the same requestId exists (a retried authorizer). */
  recordOnce(event: UsageEvent): Promise<'recorded' | 'duplicate'>;
}

/** Customers and their keys, as the operator manages them. */
export interface CustomerRegistry {
  /** Writes the customer and its first key together: both or neither. */
  createCustomerWithKey(customer: Customer, key: ApiKeyRecord): Promise<void>;
  getCustomer(customerId: string): Promise<Customer | undefined>;
  listCustomers(): Promise<Customer[]>;
  /** Sets fields of an existing customer; `false` when there is no such customer. */
  updateCustomer(customerId: string, fields: Partial<Omit<Customer, 'customerId'>>): Promise<boolean>;
  listKeys(customerId: string): Promise<ApiKeyRecord[]>;
  addKey(key: ApiKeyRecord): Promise<void>;
  /** Marks the key revoked; `false` when no such key of that customer exists. */
  revokeKey(customerId: string, keyId: string, revokedAt: string): Promise<boolean>;
}

/**
 * Names one gateway key: by id, or, for a key whose creation may have crashed before its id was
 * recorded, by the unique name it was created under.
 */
export type GatewayKeyRef = { readonly gatewayKeyId: string } | { readonly name: string };

/**
 * API Gateway's own API keys, which place a customer in its tier's usage plan. A key may be in only
 * one usage plan per API stage (our plans share one stage), so a key never changes plan: a tier
 * change creates a new key in the new plan and retires the old one (see #core/gateway-keys.ts).
 */
export interface GatewayKeyRegistry {
  /**
   * Creates a gateway key for the customer in the tier's usage plan, under `name` (default: the
   * customer id). Adding a key that is already in that plan (a retried call) is not an error.
   */
  createKey(customerId: string, tier: TierName, name?: string): Promise<{ gatewayKeyId: string; gatewayKeyValue: string }>;
  /** Takes the key out of the tier's usage plan and deletes it; a key or membership already gone is not an error. */
  deleteKey(key: GatewayKeyRef, tier: TierName): Promise<void>;
}

/**
 * A gateway key waiting to be deleted: a customer's previous key (kept while authorizers may
 * still hand it out from their cache), or a key created for a tier change that did not complete.
 */
export interface RetiringGatewayKey {
  readonly customerId: string;
  readonly key: GatewayKeyRef;
  /** The usage plan the key is in. */
  readonly tier: TierName;
  /** Epoch ms from which the key may be deleted. */
  readonly deleteAfter: number;
  readonly reason: 'replaced' | 'unfinished-change';
}

/** The durable record of gateway keys to delete, and the switch of a customer to a new key. */
export interface GatewayKeyRetirementStore {
  /** Records a key to delete once due; recording the same entry twice keeps one. */
  schedule(entry: RetiringGatewayKey): Promise<void>;
  /**
   * In one transaction: the customer's record names the new key, its name and the new tier (only
   * if it still names `fromGatewayKeyId`), the new key's `unfinished` entry is dropped and the old
   * key's `retire` entry recorded. `false` when the customer's key changed meanwhile (nothing written).
   */
  switchKey(input: {
    customerId: string;
    fromGatewayKeyId: string;
    to: { tier: TierName; gatewayKeyId: string; gatewayKeyValue: string; name: string };
    unfinished: RetiringGatewayKey;
    retire: RetiringGatewayKey;
  }): Promise<boolean>;
  /** Entries due at `now`, earliest first, at most `limit`. */
  due(now: number, limit: number): Promise<RetiringGatewayKey[]>;
  /** Drops an entry once its key is deleted; an entry already gone is not an error. */
  forget(entry: RetiringGatewayKey): Promise<void>;
}

/** The Stripe objects the catalog maps to, recorded by the setup command. */
export interface CatalogIds {
  readonly meterId: string;
  /** Stripe price id by catalog lookup key. */
  readonly priceIds: Readonly<Record<string, string>>;
  /** The customer portal's configuration; absent in ids recorded before the setup command created it. */
  readonly portalConfigurationId?: string;
}

export interface MeterEventPush {
  /** Stable per outbox entry: a re-send after a time-out or crash is recognised as a repeat. */
  readonly identifier: string;
  readonly stripeCustomerId: string;
  readonly value: number;
  /** Epoch seconds inside the billing month the usage belongs to. */
  readonly timestampSec: number;
}

/** Stripe, as the billing core needs it (the adapter speaks stripe-node with a pinned API version). */
export interface BillingProvider {
  /** Creates whatever of the catalog is missing (found by lookup key / meter event name) and returns all ids. */
  ensureCatalog(catalog: Catalog): Promise<CatalogIds>;
  /**
   * A Stripe customer and its subscription to `prices`, billed monthly on the 1st (UTC): the first
   * period starts at the month's start (backdated), so every period is a whole calendar month.
   */
  createSubscriber(input: {
    customerId: string;
    name: string;
    priceIds: readonly string[];
    periodStartSec: number;
    billingCycleAnchorSec: number;
  }): Promise<{ stripeCustomerId: string; subscriptionId: string }>;
  /** Replaces the subscription's prices (a tier change). */
  replacePrices(subscriptionId: string, priceIds: readonly string[]): Promise<void>;
  /** A hosted Checkout page that subscribes the customer to `priceIds`; returns its URL. */
  createCheckoutSession(input: {
    customerId: string;
    stripeCustomerId: string;
    priceIds: readonly string[];
    successUrl: string;
    cancelUrl: string;
    billingCycleAnchorSec: number;
    /** When Stripe expires the session (30 minutes to 24 hours ahead). @default - Stripe's: 24 hours */
    expiresAtSec?: number;
  }): Promise<{ url: string; sessionId: string }>;
  /** Cancels a subscription at once (the one Checkout replaced). */
  cancelSubscription(subscriptionId: string): Promise<void>;
  /**
   * Sets (or, with `false`, lifts) the subscription's cancellation at the end of its current billing
   * period (a customer's opt-out to Free); returns when it will end, `null` once lifted. Repeating it is harmless.
   */
  setCancelAtPeriodEnd(subscriptionId: string, cancel: boolean): Promise<{ cancelAtSec: number | null }>;
  /**
   * Takes `amountCents` off a draft invoice (a correction Stripe's meter cannot make: no negative
   * events). The same `idempotencyKey` never credits twice.
   */
  creditDraftInvoice(input: { stripeCustomerId: string; invoiceId: string; amountCents: number; description: string; idempotencyKey: string }): Promise<void>;
  /** A credit note of `amountCents` on a finalized (open or paid) invoice; the same `idempotencyKey` never credits twice. */
  creditInvoice(input: { invoiceId: string; amountCents: number; memo: string; idempotencyKey: string }): Promise<{ creditNoteId: string }>;
  /** A credit note on the customer's latest finalized invoice (the refund lever); `undefined` when it has none. */
  creditLatestInvoice(input: { stripeCustomerId: string; amountCents: number; memo: string }): Promise<{ creditNoteId: string; invoiceId: string } | undefined>;
  /** `duplicate` when Stripe already holds an event with this identifier. */
  pushMeterEvent(event: MeterEventPush): Promise<'accepted' | 'duplicate'>;
  /** Sum of the meter's events for the customer in [fromSec, toSec), minute-aligned. */
  meteredTotal(meterId: string, stripeCustomerId: string, fromSec: number, toSec: number): Promise<number>;
  /** Cancels one meter event by its identifier (a meter event adjustment): Stripe allows it within 24 hours of receiving the event. */
  cancelMeterEvent(identifier: string): Promise<void>;
  /** The customer's subscription invoice for the billing period that starts at `periodStartSec`; `undefined` until Stripe drafts it. */
  periodInvoice(stripeCustomerId: string, periodStartSec: number): Promise<PeriodInvoice | undefined>;
  /** The customer's latest invoices, newest first, at most `limit` (one list request: no paging, no lines). */
  listInvoices(stripeCustomerId: string, limit: number): Promise<InvoiceSummary[]>;
  /** A customer portal session ("Manage billing") with the product's configuration; returns its URL. */
  createPortalSession(input: { stripeCustomerId: string; configurationId: string; returnUrl: string }): Promise<{ url: string }>;
}

/** A subscription's invoice for one billing period, as reconciliation reads it. */
export interface PeriodInvoice {
  readonly invoiceId: string;
  readonly status: 'draft' | 'open' | 'paid' | 'uncollectible' | 'void';
  readonly periodStartSec: number;
  readonly periodEndSec: number;
  /** A subscription item's line carries its price; an invoice item's (a credit we added) has none. */
  readonly lines: ReadonlyArray<{
    readonly kind: 'subscription' | 'invoice-item';
    readonly priceId: string | null;
    readonly quantity: number;
    readonly amountCents: number;
    readonly description: string | null;
  }>;
  readonly totalCents: number;
  /** Credit notes issued on the invoice, before and after payment. */
  readonly creditedCents: number;
  /** Of those, refunds an operator gave (the refund lever): goodwill, not a correction of the bill. */
  readonly refundedCents: number;
  readonly hostedInvoiceUrl: string | null;
}

/** An invoice as the customer's invoice list shows it (the same header fields a period invoice has, plus payment state). */
export interface InvoiceSummary extends Pick<PeriodInvoice, 'invoiceId' | 'status' | 'periodStartSec' | 'periodEndSec' | 'totalCents' | 'hostedInvoiceUrl'> {
  readonly number: string | null;
  readonly createdSec: number;
  readonly amountRemainingCents: number;
  /** Only an invoice sent to be paid has a due date; one charged automatically has none. */
  readonly dueDateSec: number | null;
  /** An open invoice whose payment was attempted and failed (Stripe retries it on its own schedule). */
  readonly paymentFailed: boolean;
  /** Billed by a subscription (a period's invoice), not a one-off. */
  readonly fromSubscription: boolean;
}

/** Who paused billing, when and why: the global switch that stops pushes while counting goes on. */
export interface PauseState {
  readonly paused: boolean;
  readonly by: string;
  readonly reason: string;
  readonly at: string;
}

/** Product-wide billing state: the Stripe catalog ids, the pause switch, invoices (webhook event claims are the webhook adapter's). */
export interface BillingStateStore {
  getCatalogIds(): Promise<CatalogIds | undefined>;
  putCatalogIds(ids: CatalogIds): Promise<void>;
  getPause(): Promise<PauseState | undefined>;
  setPause(state: PauseState): Promise<void>;
  recordInvoice(invoice: {
    invoiceId: string;
    customerId: string;
    month: string;
    status: string;
    amountDueCents: number;
    amountPaidCents: number;
    at: number;
  }): Promise<void>;
}
