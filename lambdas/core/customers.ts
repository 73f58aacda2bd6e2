/** Creating customers and issuing, listing and revoking their keys. */
import { randomBytes } from 'node:crypto';
import type { TierName } from './config.ts';
import { generateApiKey } from './keys.ts';
import type { ApiKeyRecord, CapBehaviour, Customer } from './model.ts';
import type { CustomerRegistry, GatewayKeyRegistry } from './ports.ts';
import { subscribe, type StripeSetup } from './subscriptions.ts';

export interface CustomerDeps {
  readonly registry: CustomerRegistry;
  readonly gatewayKeys: GatewayKeyRegistry;
  readonly now: () => number;
  /** Random id source; injectable so tests can pin ids. */
  readonly newId?: (prefix: string) => string;
  /** When set, a new customer is subscribed in Stripe to its tier. */
  readonly stripe?: StripeSetup;
}

/** An issued key as the operator sees it once: the full key is never stored. */
export interface IssuedApiKey {
  readonly keyId: string;
  readonly key: string;
  readonly keyPrefix: string;
}

const defaultNewId = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;

export interface NewCustomer {
  readonly name: string;
  readonly tier: TierName;
  /** @default 'block' - at the cap, deny calls rather than serve them uncharged */
  readonly capBehaviour?: CapBehaviour;
}

/**
 * Creates a customer in its tier's usage plan (and its Stripe subscription) and issues its first key.
 * The gateway key and Stripe come first: if the write after them fails, unused objects are left
 * (Stripe's are found again by idempotency key), never a customer without them.
 */
export async function createCustomer(input: NewCustomer, deps: CustomerDeps): Promise<{ customer: Customer; apiKey: IssuedApiKey }> {
  const name = input.name.trim();
  if (!name) throw new RangeError('a customer needs a name');
  const newId = deps.newId ?? defaultNewId;
  const customerId = newId('cust');
  const createdAt = new Date(deps.now()).toISOString();
  const gateway = await deps.gatewayKeys.createKey(customerId, input.tier);
  const subscription = deps.stripe && (await subscribe({ customerId, name, tier: input.tier }, deps.stripe, deps.now()));
  const customer: Customer = {
    customerId,
    name,
    tier: input.tier,
    status: 'active',
    capBehaviour: input.capBehaviour ?? 'block',
    initialTier: input.tier,
    ...(input.tier !== 'free' && { paidSince: deps.now() }),
    gatewayKeyId: gateway.gatewayKeyId,
    gatewayKeyValue: gateway.gatewayKeyValue,
    createdAt,
    ...(subscription && { stripeCustomerId: subscription.stripeCustomerId, subscriptionId: subscription.subscriptionId }),
  };
  const { record, apiKey } = newKeyRecord(customerId, createdAt, newId);
  await deps.registry.createCustomerWithKey(customer, record);
  return { customer, apiKey };
}

export type KeyOutcome<T> = { ok: true; value: T } | { ok: false; code: 'UNKNOWN_CUSTOMER' | 'UNKNOWN_KEY' };

/** Issues another key to an existing customer (rotation: issue, switch clients, revoke the old one). */
export async function issueKey(customerId: string, deps: CustomerDeps): Promise<KeyOutcome<IssuedApiKey>> {
  if (!(await deps.registry.getCustomer(customerId))) return { ok: false, code: 'UNKNOWN_CUSTOMER' };
  const { record, apiKey } = newKeyRecord(customerId, new Date(deps.now()).toISOString(), deps.newId ?? defaultNewId);
  await deps.registry.addKey(record);
  return { ok: true, value: apiKey };
}

/** Revokes a key; the authorizer stops accepting it within its cache TTL. */
export async function revokeKey(customerId: string, keyId: string, deps: CustomerDeps): Promise<KeyOutcome<{ keyId: string }>> {
  if (!(await deps.registry.getCustomer(customerId))) return { ok: false, code: 'UNKNOWN_CUSTOMER' };
  const revoked = await deps.registry.revokeKey(customerId, keyId, new Date(deps.now()).toISOString());
  return revoked ? { ok: true, value: { keyId } } : { ok: false, code: 'UNKNOWN_KEY' };
}

function newKeyRecord(customerId: string, createdAt: string, newId: (prefix: string) => string) {
  const generated = generateApiKey();
  const keyId = newId('key');
  const record: ApiKeyRecord = { keyHash: generated.keyHash, keyId, customerId, keyPrefix: generated.keyPrefix, status: 'active', createdAt };
  return { record, apiKey: { keyId, key: generated.key, keyPrefix: generated.keyPrefix } };
}
