/**
 * A customer's gateway key across tier changes. API Gateway lets a key be in only one usage plan
 * per API stage (adding it to a second is a ConflictException) and answers a key in no plan with a
 * 403 after the authorizer has metered the call, so a key never moves between plans: a tier change
 * creates a new key in the new plan and switches the customer's record to it, and the old key stays
 * in its plan until no authorizer can still hand it out from its key cache; then the scheduled run
 * deletes it. Every step is recorded before it is taken, so a crash anywhere leaves either the old
 * key or the new one current (both in a plan) and every other key on the list to delete.
 */
import { randomBytes } from 'node:crypto';
import type { BillingConfig, TierName } from './config.ts';
import type { Customer } from './model.ts';
import type { CustomerRegistry, GatewayKeyRef, GatewayKeyRegistry, GatewayKeyRetirementStore, RetiringGatewayKey } from './ports.ts';

/** Past the key cache TTL: a lookup that was in flight when the record switched, and clock skew between Lambdas. */
export const RETIRE_MARGIN_MS = 60_000;
/** A key created by a tier change that never switched is deleted this long after: far beyond any attempt's run time. */
export const UNFINISHED_CHANGE_GRACE_MS = 60 * 60_000;
/**
 * Keys deleted per cleanup run. Each costs up to three control-plane calls (GetApiKeys,
 * DeleteUsagePlanKey, DeleteApiKey at 5/s per account); with a run every 5 minutes this is far
 * more than tier changes need, and a backlog is worked off run by run.
 */
export const CLEANUP_LIMIT = 10;

export interface GatewayKeySwitchDeps {
  readonly gatewayKeys: GatewayKeyRegistry;
  readonly retirements: GatewayKeyRetirementStore;
  readonly config: Pick<BillingConfig, 'keyCacheTtlSeconds'>;
  readonly now: () => number;
}

/**
 * Puts the customer on a new gateway key in `tier`'s usage plan and retires its current key once
 * the authorizers' key cache has let go of it. `false` when the customer's key changed meanwhile
 * (a concurrent tier change): nothing switched, and the key made here is deleted later.
 */
export async function switchGatewayKey(customer: Customer, tier: TierName, deps: GatewayKeySwitchDeps): Promise<boolean> {
  // A unique name, recorded for deletion before the key exists: if this attempt dies after creating
  // it, the cleanup finds it by name (its id was never stored) instead of leaving it forever.
  const name = `${customer.customerId}.${randomBytes(6).toString('hex')}`;
  const unfinished: RetiringGatewayKey = {
    customerId: customer.customerId,
    key: { name },
    tier,
    deleteAfter: deps.now() + UNFINISHED_CHANGE_GRACE_MS,
    reason: 'unfinished-change',
  };
  await deps.retirements.schedule(unfinished);
  const created = await deps.gatewayKeys.createKey(customer.customerId, tier, name);
  return deps.retirements.switchKey({
    customerId: customer.customerId,
    fromGatewayKeyId: customer.gatewayKeyId,
    to: { tier, gatewayKeyId: created.gatewayKeyId, gatewayKeyValue: created.gatewayKeyValue, name },
    unfinished,
    // Authorizers that cached the customer before the switch keep naming the old key for up to the
    // cache TTL: it stays in its plan until then, so those calls are still served.
    retire: {
      customerId: customer.customerId,
      key: { gatewayKeyId: customer.gatewayKeyId },
      tier: customer.tier,
      deleteAfter: deps.now() + deps.config.keyCacheTtlSeconds * 1000 + RETIRE_MARGIN_MS,
      reason: 'replaced',
    },
  });
}

export interface GatewayKeyCleanupDeps {
  readonly gatewayKeys: GatewayKeyRegistry;
  readonly retirements: GatewayKeyRetirementStore;
  readonly registry: Pick<CustomerRegistry, 'getCustomer'>;
  readonly now: () => number;
}

export interface GatewayKeyCleanup {
  readonly deleted: RetiringGatewayKey[];
  /** Entries naming a customer's current key: dropped, the key kept (the switch never records one; a guard, not a path). */
  readonly kept: RetiringGatewayKey[];
  /** Left on the list for the next run. */
  readonly failed: { entry: RetiringGatewayKey; error: string }[];
}

/**
 * Deletes the gateway keys that are due (at most `limit`): out of their plan, then the key, then
 * the entry. Safe to re-run at any point: a step already done is skipped, and an entry is dropped
 * only after its key is gone.
 */
export async function deleteDueGatewayKeys(deps: GatewayKeyCleanupDeps, limit = CLEANUP_LIMIT): Promise<GatewayKeyCleanup> {
  const report: GatewayKeyCleanup = { deleted: [], kept: [], failed: [] };
  for (const entry of await deps.retirements.due(deps.now(), limit)) {
    try {
      const customer = await deps.registry.getCustomer(entry.customerId);
      if (customer && isCurrentKey(customer, entry.key)) {
        await deps.retirements.forget(entry);
        report.kept.push(entry);
        continue;
      }
      await deps.gatewayKeys.deleteKey(entry.key, entry.tier);
      await deps.retirements.forget(entry);
      report.deleted.push(entry);
    } catch (error) {
      report.failed.push({ entry, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return report;
}

function isCurrentKey(customer: Customer, key: GatewayKeyRef): boolean {
  return 'gatewayKeyId' in key ? key.gatewayKeyId === customer.gatewayKeyId : key.name === customer.gatewayKeyName;
}
