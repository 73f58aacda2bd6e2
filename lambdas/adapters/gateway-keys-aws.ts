import {
  type APIGatewayClient,
  ConflictException,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  DeleteUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetUsagePlanKeyCommand,
  NotFoundException,
} from '@aws-sdk/client-api-gateway';
import type { TierName } from '#core/config.ts';
import type { GatewayKeyRef, GatewayKeyRegistry } from '#core/ports.ts';

/**
 * API Gateway's API keys and usage plans: the gateway key is what the usage plan throttles and counts.
 * Every call tolerates having been made before (a retried tier change or cleanup), so callers can
 * re-run a sequence that crashed half-way.
 */
export class AwsGatewayKeyRegistry implements GatewayKeyRegistry {
  constructor(
    private readonly client: APIGatewayClient,
    private readonly usagePlanIds: Readonly<Record<TierName, string>>,
  ) {}

  async createKey(customerId: string, tier: TierName, name = customerId) {
    // API Gateway generates the value; it never leaves our tables and is useless to a caller,
    // because the API takes keys from the authorizer only (apiKeySource AUTHORIZER). The name
    // starts with the customer id, which is how an operator finds a customer's keys.
    const key = await this.client.send(new CreateApiKeyCommand({ name, enabled: true }));
    if (!key.id || !key.value) throw new Error('API Gateway created a key without an id or value');
    await this.addToPlan(key.id, tier);
    return { gatewayKeyId: key.id, gatewayKeyValue: key.value };
  }

  async deleteKey(ref: GatewayKeyRef, tier: TierName) {
    const usagePlanId = this.usagePlanIds[tier];
    for (const keyId of 'gatewayKeyId' in ref ? [ref.gatewayKeyId] : await this.idsNamed(ref.name)) {
      // Out of the plan first, then the key: each step already done (NotFound) is skipped, so a re-run finishes the job.
      await ignoreNotFound(this.client.send(new DeleteUsagePlanKeyCommand({ usagePlanId, keyId })));
      await ignoreNotFound(this.client.send(new DeleteApiKeyCommand({ apiKey: keyId })));
    }
  }

  /**
   * CreateUsagePlanKey. A ConflictException means the key is in a plan of the stage already: this
   * one (a retry, fine) or another (a real refusal), which only GetUsagePlanKey tells apart.
   */
  private async addToPlan(keyId: string, tier: TierName): Promise<void> {
    const usagePlanId = this.usagePlanIds[tier];
    try {
      await this.client.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId, keyType: 'API_KEY' }));
    } catch (error) {
      if (!(error instanceof ConflictException)) throw error;
      const inPlan = await this.client.send(new GetUsagePlanKeyCommand({ usagePlanId, keyId })).then(
        () => true,
        (lookup: unknown) => (lookup instanceof NotFoundException ? false : Promise.reject(lookup)),
      );
      if (!inPlan) throw error;
    }
  }

  /** Ids of the keys with exactly this name (nameQuery matches a prefix); one call, as our names are unique. */
  private async idsNamed(name: string): Promise<string[]> {
    const ids: string[] = [];
    let position: string | undefined;
    do {
      const page = await this.client.send(new GetApiKeysCommand({ nameQuery: name, limit: 500, position }));
      ids.push(...(page.items ?? []).filter((k) => k.name === name && k.id).map((k) => k.id!));
      position = page.position;
    } while (position);
    return ids;
  }
}

async function ignoreNotFound(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (error) {
    if (!(error instanceof NotFoundException)) throw error;
  }
}
