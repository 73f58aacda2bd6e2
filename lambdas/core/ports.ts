/** The ports the core needs; adapters (DynamoDB, API Gateway, local files) implement them. */
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
  listKeys(customerId: string): Promise<ApiKeyRecord[]>;
  addKey(key: ApiKeyRecord): Promise<void>;
  /** Marks the key revoked; `false` when no such key of that customer exists. */
  revokeKey(customerId: string, keyId: string, revokedAt: string): Promise<boolean>;
}

/** API Gateway's own API keys, which place a customer in its tier's usage plan. */
export interface GatewayKeyRegistry {
  /** Creates a gateway key for the customer in the tier's usage plan. */
  createKey(customerId: string, tier: TierName): Promise<{ gatewayKeyId: string; gatewayKeyValue: string }>;
  /** Moves the gateway key to another tier's usage plan. */
  moveKey(gatewayKeyId: string, from: TierName, to: TierName): Promise<void>;
}
