/**
 * The hot path: decide whether a call may go through, and meter it exactly once if so.
 * One event write per allowed, metered call; key resolution is amortised by a cache.
 */
import { monthlyQuotaOf, type BillingConfig } from './config.ts';
import { extractApiKey, hashApiKey } from './keys.ts';
import type { ApiKeyRecord, Customer } from './model.ts';
import type { KeyDirectory, KeyLookup, UsageEventLog } from './ports.ts';
import { startOfNextUtcMonth, utcHour, utcMonth } from './time.ts';
import { routeAccess } from './routes.ts';
import { TtlCache } from './ttl-cache.ts';

export interface CallRequest {
  readonly headers: Readonly<Record<string, string | undefined>> | null | undefined;
  /** API Gateway's requestId: the same for a retried authorizer invocation of the same call. */
  readonly requestId: string;
  readonly method: string;
  /** The resource template (`/api/{proxy+}`), not the raw path: bounded cardinality. */
  readonly route: string;
  readonly now: number;
}

export type DenialCode = 'MISSING_KEY' | 'MALFORMED_KEY' | 'UNKNOWN_KEY' | 'KEY_REVOKED' | 'CUSTOMER_SUSPENDED' | 'BILLING_CAP_REACHED';

/** The month's quota as a client sees it in X-RateLimit-* headers. */
export interface QuotaStatus {
  readonly limit: number;
  readonly remaining: number;
  /** Epoch seconds of the quota's reset: the next calendar month, UTC. */
  readonly resetAt: number;
}

/** Calls counted for a customer this month (the aggregator's month counter; a few seconds behind). */
export interface MonthlyCallCounter {
  callsThisMonth(customerId: string, month: string): Promise<number>;
}

export type CallDecision =
  | { ok: true; customer: Customer; key: ApiKeyRecord; metering: 'recorded' | 'duplicate' | 'free-route'; quota?: QuotaStatus }
  | { ok: false; code: DenialCode; status: 401 | 403; message: string };

const DENIALS: Record<DenialCode, { status: 401 | 403; message: string }> = {
  MISSING_KEY: { status: 401, message: 'Missing API key: send it in the x-api-key header.' },
  MALFORMED_KEY: { status: 401, message: 'Malformed API key.' },
  UNKNOWN_KEY: { status: 401, message: 'Invalid API key.' },
  KEY_REVOKED: { status: 403, message: 'This API key has been revoked.' },
  CUSTOMER_SUSPENDED: { status: 403, message: 'This account is suspended; contact support.' },
  BILLING_CAP_REACHED: {
    status: 403,
    message: 'This account has reached its monthly billing cap; calls resume next month or when the operator raises the cap.',
  },
};

function deny(code: DenialCode): CallDecision {
  return { ok: false, code, ...DENIALS[code] };
}

export interface MeteringDeps {
  readonly directory: KeyDirectory;
  readonly events: UsageEventLog;
  readonly config: Pick<BillingConfig, 'usageEventRetentionDays' | 'tiers'>;
  /** For the X-RateLimit-* figures of tiers with a quota; cache it, it is read on the hot path. @default - no quota figures */
  readonly counter?: MonthlyCallCounter;
}

/** Decides one call; writes its usage event only when it is allowed and on a metered route. */
export async function authorizeCall(request: CallRequest, deps: MeteringDeps): Promise<CallDecision> {
  const extracted = extractApiKey(request.headers);
  if (!extracted.ok) return deny(extracted.code);

  const lookup = await deps.directory.lookup(hashApiKey(extracted.key));
  if (lookup.kind === 'unknown') return deny('UNKNOWN_KEY');
  const { key, customer } = lookup;
  if (key.status !== 'active') return deny('KEY_REVOKED');
  // A suspended or capped customer still reaches the free routes: they are how it learns why,
  // files a ticket or upgrades. Only the metered routes refuse it.
  if (routeAccess(request.method, request.route) !== 'metered') return { ok: true, customer, key, metering: 'free-route' };
  if (customer.status !== 'active') return deny('CUSTOMER_SUSPENDED');
  const month = utcMonth(request.now);
  if (customer.capBehaviour === 'block' && customer.cappedMonth === month) return deny('BILLING_CAP_REACHED');

  const metering = await deps.events.recordOnce({
    requestId: request.requestId,
    customerId: customer.customerId,
    keyId: key.keyId,
    method: request.method,
    route: request.route,
    at: request.now,
    hour: utcHour(request.now),
    month,
    expiresAt: Math.floor(request.now / 1000) + deps.config.usageEventRetentionDays * 86_400,
  });
  const limit = monthlyQuotaOf(deps.config.tiers[customer.tier]);
  if (limit === undefined || !deps.counter) return { ok: true, customer, key, metering };
  // The counter trails by seconds; this call is not in it yet.
  const used = (await deps.counter.callsThisMonth(customer.customerId, month)) + 1;
  return {
    ok: true,
    customer,
    key,
    metering,
    quota: { limit, remaining: Math.max(0, limit - used), resetAt: Math.floor(startOfNextUtcMonth(request.now) / 1000) },
  };
}

/** Caches month counts briefly: the hot path reads the counter at most once per customer per `ttlMs`. */
export function cachedMonthlyCallCounter(counter: MonthlyCallCounter, cache: TtlCache<number>): MonthlyCallCounter {
  return {
    async callsThisMonth(customerId, month) {
      const key = `${customerId}|${month}`;
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
      const calls = await counter.callsThisMonth(customerId, month);
      cache.set(key, calls);
      return calls;
    },
  };
}

/**
 * The authorizer's two key caches. Found keys and unknown keys are bounded apart: a flood of
 * random keys fills and churns only `unknown`, never evicting a paying customer's entry.
 */
export interface KeyCaches {
  readonly found: TtlCache<Extract<KeyLookup, { kind: 'found' }>>;
  /**
   * Hashes looked up and not found. Small on purpose: it only saves the read of a key that is
   * sent again within the TTL (a client retrying a deleted or mistyped key); a flood of distinct
   * random keys costs one GetItem per request whatever its size (measured in
   * test/authorizer/key-cache.test.ts), so a bigger one would buy nothing there.
   */
  readonly unknown: TtlCache<true>;
}

/** The caches `cachedKeyDirectory` takes, sized and timed by the config. */
export function keyCaches(
  config: Pick<BillingConfig, 'keyCacheMaxEntries' | 'unknownKeyCacheMaxEntries' | 'keyCacheTtlSeconds'>,
  now?: () => number,
): KeyCaches {
  const ttlMs = config.keyCacheTtlSeconds * 1000;
  return { found: new TtlCache(config.keyCacheMaxEntries, ttlMs, now), unknown: new TtlCache(config.unknownKeyCacheMaxEntries, ttlMs, now) };
}

/**
 * Wraps a directory with in-memory caches. Unknown keys are cached too (a client repeating a bad
 * key must not become a stream of reads), in a cache of their own; the TTL bounds how long a
 * revoked key keeps working and how long a newly issued key may still be refused.
 */
export function cachedKeyDirectory(directory: KeyDirectory, caches: KeyCaches): KeyDirectory {
  return {
    async lookup(keyHash) {
      const hit = caches.found.get(keyHash);
      if (hit) return hit;
      if (caches.unknown.get(keyHash)) return { kind: 'unknown' };
      const resolved = await directory.lookup(keyHash);
      if (resolved.kind === 'found') caches.found.set(keyHash, resolved);
      else caches.unknown.set(keyHash, true);
      return resolved;
    },
  };
}
