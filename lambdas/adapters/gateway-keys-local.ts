import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConflictException, NotFoundException } from '@aws-sdk/client-api-gateway';
import { TIER_NAMES, type TierName } from '#core/config.ts';
import type { GatewayKeyRef, GatewayKeyRegistry } from '#core/ports.ts';

/** The stage the local gateway serves, as the stack deploys one stage for every usage plan. */
export const LOCAL_STAGE = 'prod';

export interface LocalGatewayKey {
  readonly gatewayKeyId: string;
  readonly value: string;
  readonly customerId: string;
  /** As API Gateway's key name: not unique, the customer id or the tier change's unique name. */
  readonly name: string;
  /** The usage plans the key is in, named by tier as the stack names its plans. */
  readonly plans: readonly TierName[];
}

/** A key as the gateway sees it: `tier` is the usage plan it is in on the stage, none when in no plan. */
export type LocalGatewayKeyView = LocalGatewayKey & { readonly tier: TierName | undefined };

/** What files written before plan membership was modelled hold. */
type StoredKey = Omit<LocalGatewayKey, 'plans' | 'name'> & { plans?: TierName[]; name?: string; tier?: TierName };

/**
 * The local stack's stand-in for API Gateway's API keys and usage plans: a JSON file, so the CLI
 * (one process) and the local gateway (another) see the same keys. It refuses what API Gateway
 * refuses: a key in a second usage plan of the same stage is a ConflictException, and deleting
 * what is not there a NotFoundException (the SDK's own error classes, so code that tolerates them
 * is tested against the same shape).
 */
export class LocalGatewayKeyRegistry implements GatewayKeyRegistry {
  private cache: { mtimeMs: number; keys: LocalGatewayKey[] } | undefined;
  private readonly planStages: Readonly<Record<TierName, string>>;

  /** `planStages`: the stage each tier's plan is attached to; the stack attaches all of them to one stage. */
  constructor(
    private readonly file: string,
    planStages?: Partial<Record<TierName, string>>,
  ) {
    this.planStages = Object.fromEntries(TIER_NAMES.map((tier) => [tier, planStages?.[tier] ?? LOCAL_STAGE])) as Record<TierName, string>;
  }

  async createKey(customerId: string, tier: TierName, name = customerId) {
    // As on AWS: CreateApiKey, then CreateUsagePlanKey (two steps, the second can fail on its own).
    const key: LocalGatewayKey = { gatewayKeyId: `gk_${randomBytes(6).toString('hex')}`, value: randomBytes(20).toString('hex'), customerId, name, plans: [] };
    this.write([...this.read(), key]);
    await this.addToPlan(key.gatewayKeyId, tier);
    return { gatewayKeyId: key.gatewayKeyId, gatewayKeyValue: key.value };
  }

  async deleteKey(ref: GatewayKeyRef, tier: TierName) {
    for (const key of this.read().filter((k) => ('gatewayKeyId' in ref ? k.gatewayKeyId === ref.gatewayKeyId : k.name === ref.name))) {
      if (key.plans.includes(tier)) await this.removeFromPlan(key.gatewayKeyId, tier);
      this.write(this.read().filter((k) => k.gatewayKeyId !== key.gatewayKeyId));
    }
  }

  /** CreateUsagePlanKey: refused for a key already in a plan of the same stage, that plan included. */
  async addToPlan(gatewayKeyId: string, tier: TierName): Promise<void> {
    const keys = this.read();
    const key = keys.find((k) => k.gatewayKeyId === gatewayKeyId);
    if (!key) throw new NotFoundException({ message: 'Invalid API Key identifier specified', $metadata: { httpStatusCode: 404 } });
    const stage = this.planStages[tier];
    if (key.plans.includes(tier)) throw new ConflictException({ message: 'Usage plan key already exists', $metadata: { httpStatusCode: 409 } });
    if (key.plans.some((plan) => this.planStages[plan] === stage)) {
      throw new ConflictException({
        message: `Usage Plan local-${tier} cannot be added because API Key ${gatewayKeyId} cannot reference multiple Usage Plans with the same API Stage: local:${stage}`,
        $metadata: { httpStatusCode: 409 },
      });
    }
    this.write(keys.map((k) => (k === key ? { ...k, plans: [...k.plans, tier] } : k)));
  }

  /** DeleteUsagePlanKey: a key not in the plan is a NotFoundException. */
  async removeFromPlan(gatewayKeyId: string, tier: TierName): Promise<void> {
    const keys = this.read();
    const key = keys.find((k) => k.gatewayKeyId === gatewayKeyId);
    if (!key?.plans.includes(tier)) throw new NotFoundException({ message: 'Invalid Usage Plan Key identifier specified', $metadata: { httpStatusCode: 404 } });
    this.write(keys.map((k) => (k === key ? { ...k, plans: k.plans.filter((p) => p !== tier) } : k)));
  }

  /** The key with this value, as API Gateway matches an authorizer's usageIdentifierKey, with its plan on the local stage. */
  findByValue(value: string): LocalGatewayKeyView | undefined {
    const key = this.read().find((k) => k.value === value);
    return key && { ...key, tier: key.plans.find((plan) => this.planStages[plan] === LOCAL_STAGE) };
  }

  /** Every key, for tests and the operator's eyes. */
  list(): readonly LocalGatewayKey[] {
    return this.read();
  }

  private read(): LocalGatewayKey[] {
    if (!existsSync(this.file)) return [];
    const mtimeMs = statSync(this.file).mtimeMs;
    if (this.cache?.mtimeMs !== mtimeMs) {
      const stored = JSON.parse(readFileSync(this.file, 'utf8')) as StoredKey[];
      // Files from before plans were modelled name one plan as `tier`.
      const keys = stored.map(({ tier, plans, name, ...key }) => ({ ...key, name: name ?? key.customerId, plans: plans ?? (tier ? [tier] : []) }));
      this.cache = { mtimeMs, keys };
    }
    return this.cache.keys;
  }

  private write(keys: LocalGatewayKey[]): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(keys, null, 2));
    renameSync(temporary, this.file); // atomic: the gateway never reads half a file
    this.cache = undefined;
  }
}
