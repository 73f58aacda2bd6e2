/**
 * One open Stripe Checkout session per customer and offer. `POST /billing/upgrade` is a free route
 * any key can loop: without this each call would create a Checkout session in Stripe (a write
 * against the account's Stripe rate limit, shared with the billing sync). The session is created
 * with an explicit expiry and its URL kept; calls until shortly before that expiry get the same URL
 * from one DynamoDB read, and concurrent first calls agree on one creator through a conditional claim.
 * A session is kept per return URL too (a customer who calls from another domain gets a session
 * that returns there), and dropped once Stripe reports it completed or expired (the webhook,
 * #core/webhooks.ts), so a paid-for Checkout is never handed out again.
 */
import { createHash } from 'node:crypto';
import type { BillingConfig } from './config.ts';
import { ApiBillingError } from './errors.ts';
import type { BillingProvider } from './ports.ts';

/** A Checkout session kept for reuse. */
export interface KeptCheckout {
  readonly url: string;
  readonly sessionId: string;
  /** Epoch ms after which it is no longer handed out (before Stripe expires it: the customer needs time to pay). */
  readonly reuseUntil: number;
}

/** Where kept sessions and creation claims live (lambdas/adapters/checkout-sessions.ts). */
export interface CheckoutSessionStore {
  /** The session kept for the customer and offer, if any (it may be past `reuseUntil`). */
  get(customerId: string, offer: string): Promise<KeptCheckout | undefined>;
  /**
   * Claims the creation of the customer's session for `offer` until `claimUntil` (epoch ms): true
   * for one caller only while no session is reusable at `now` and no other claim is live.
   */
  claim(customerId: string, offer: string, now: number, claimUntil: number): Promise<boolean>;
  /** Keeps a created session, replacing the claim; `expiresAtSec` is Stripe's expiry, for the item's TTL. */
  keep(customerId: string, offer: string, session: KeptCheckout, expiresAtSec: number): Promise<void>;
  /**
   * Drops the customer's kept session `sessionId` (whichever offer keeps it), so the next call
   * creates a new one; a session kept since in its place, and claims, stay. Returns how many it
   * dropped: 0 when none is kept (never kept, already dropped, or replaced).
   */
  forget(customerId: string, sessionId: string): Promise<number>;
}

/**
 * What a kept session is kept under: the prices it sells and where it returns to. The return URLs
 * go in as a hash (the store's key stays short whatever the URLs' length): a session is handed out
 * only to calls that return where it returns, and calls from two domains do not replace each
 * other's session (which would create one per call again).
 */
export function checkoutOffer(input: { readonly priceIds: readonly string[]; readonly successUrl: string; readonly cancelUrl: string }): string {
  const returns = createHash('sha256').update(`${input.successUrl}\n${input.cancelUrl}`).digest('base64url').slice(0, 16);
  return `${input.priceIds.join('+')}@${returns}`;
}

/**
 * Stop handing out a session this long before Stripe expires it, so a customer who opens the link
 * at the last moment still has time to pay.
 */
const REUSE_MARGIN_MS = 10 * 60_000;
/** A claim outlives the Stripe call it covers (its time-out is 10 s); a crashed creator blocks others no longer than this. */
const CLAIM_MS = 30_000;
/** How long a caller that lost the claim waits for the winner's session, polling the store. */
const WAIT_FOR_CREATOR_MS = 5_000;
const POLL_MS = 200;

export interface CheckoutReuseDeps {
  readonly store: CheckoutSessionStore;
  readonly config: Pick<BillingConfig, 'checkoutSessionMinutes'>;
  readonly now: () => number;
  /** @default - setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** `provider` whose Checkout sessions are reused per customer, set of prices and return URLs (the offer) while open. */
export function reusingOpenCheckouts(provider: BillingProvider, deps: CheckoutReuseDeps): BillingProvider {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const reusable = async (customerId: string, offer: string) => {
    const kept = await deps.store.get(customerId, offer);
    return kept && kept.reuseUntil > deps.now() ? kept : undefined;
  };
  // Every other method is the provider's own (its prototype), called on it.
  return Object.assign(Object.create(provider) as BillingProvider, {
    async createCheckoutSession(input: Parameters<BillingProvider['createCheckoutSession']>[0]) {
      const offer = checkoutOffer(input);
      const kept = await reusable(input.customerId, offer);
      if (kept) return kept;
      const now = deps.now();
      if (await deps.store.claim(input.customerId, offer, now, now + CLAIM_MS)) {
        const expiresAtSec = Math.floor(now / 1000) + deps.config.checkoutSessionMinutes * 60;
        const created = await provider.createCheckoutSession({ ...input, expiresAtSec });
        const session = { ...created, reuseUntil: expiresAtSec * 1000 - REUSE_MARGIN_MS };
        await deps.store.keep(input.customerId, offer, session, expiresAtSec);
        return session;
      }
      // Another call is creating it right now (a double click, or a loop): wait for its URL.
      for (let waited = 0; waited < WAIT_FOR_CREATOR_MS; waited += POLL_MS) {
        await sleep(POLL_MS);
        const theirs = await reusable(input.customerId, offer);
        if (theirs) return theirs;
      }
      throw new ApiBillingError(`another request is creating the Checkout session of ${input.customerId}; retry`, { retryable: true });
    },
  });
}
