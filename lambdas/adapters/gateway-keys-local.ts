import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TierName } from '#core/config.ts';
import type { GatewayKeyRegistry } from '#core/ports.ts';

export interface LocalGatewayKey {
  readonly gatewayKeyId: string;
  readonly value: string;
  readonly customerId: string;
  /** The usage plan the key is in, named by tier as the stack names its plans. */
  readonly tier: TierName;
}

/**
 * The local stack's stand-in for API Gateway's API keys and usage plans: a JSON file, so the CLI
 * (one process) and the local gateway (another) see the same keys.
 */
export class LocalGatewayKeyRegistry implements GatewayKeyRegistry {
  private cache: { mtimeMs: number; keys: LocalGatewayKey[] } | undefined;

  constructor(private readonly file: string) {}

  async createKey(customerId: string, tier: TierName) {
    const key: LocalGatewayKey = { gatewayKeyId: `gk_${randomBytes(6).toString('hex')}`, value: randomBytes(20).toString('hex'), customerId, tier };
    this.write([...this.read(), key]);
    return { gatewayKeyId: key.gatewayKeyId, gatewayKeyValue: key.value };
  }

  async moveKey(gatewayKeyId: string, from: TierName, to: TierName) {
    const keys = this.read();
    const key = keys.find((k) => k.gatewayKeyId === gatewayKeyId);
    if (!key) throw new Error(`no gateway key ${gatewayKeyId}`);
    if (key.tier !== from) throw new Error(`gateway key ${gatewayKeyId} is in the ${key.tier} plan, not ${from}`);
    this.write(keys.map((k) => (k === key ? { ...k, tier: to } : k)));
  }

  /** The key with this value, as API Gateway matches an authorizer's usageIdentifierKey. */
  findByValue(value: string): LocalGatewayKey | undefined {
    return this.read().find((k) => k.value === value);
  }

  private read(): LocalGatewayKey[] {
    if (!existsSync(this.file)) return [];
    const mtimeMs = statSync(this.file).mtimeMs;
    if (this.cache?.mtimeMs !== mtimeMs) this.cache = { mtimeMs, keys: JSON.parse(readFileSync(this.file, 'utf8')) as LocalGatewayKey[] };
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
