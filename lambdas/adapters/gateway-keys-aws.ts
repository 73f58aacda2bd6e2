import { APIGatewayClient, CreateApiKeyCommand, CreateUsagePlanKeyCommand, DeleteUsagePlanKeyCommand } from '@aws-sdk/client-api-gateway';
import type { TierName } from '#core/config.ts';
import type { GatewayKeyRegistry } from '#core/ports.ts';

/** API Gateway's API keys and usage plans: the gateway key is what the usage plan throttles and counts. */
export class AwsGatewayKeyRegistry implements GatewayKeyRegistry {
  constructor(
    private readonly client: APIGatewayClient,
    private readonly usagePlanIds: Readonly<Record<TierName, string>>,
  ) {}

  async createKey(customerId: string, tier: TierName) {
    // API Gateway generates the value; it never leaves our tables and is useless to a caller,
    // because the API takes keys from the authorizer only (apiKeySource AUTHORIZER).
    const key = await this.client.send(new CreateApiKeyCommand({ name: customerId, enabled: true, tags: { customerId } }));
    if (!key.id || !key.value) throw new Error('API Gateway created a key without an id or value');
    await this.client.send(new CreateUsagePlanKeyCommand({ usagePlanId: this.usagePlanIds[tier], keyId: key.id, keyType: 'API_KEY' }));
    return { gatewayKeyId: key.id, gatewayKeyValue: key.value };
  }

  async moveKey(gatewayKeyId: string, from: TierName, to: TierName) {
    if (from === to) return;
    await this.client.send(new CreateUsagePlanKeyCommand({ usagePlanId: this.usagePlanIds[to], keyId: gatewayKeyId, keyType: 'API_KEY' }));
    await this.client.send(new DeleteUsagePlanKeyCommand({ usagePlanId: this.usagePlanIds[from], keyId: gatewayKeyId }));
  }
}
