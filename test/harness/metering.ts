/** A metering authorizer wired to fresh DynamoDB Local tables, and helpers to drive it. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { billingConfig, type TierName } from '../../lambdas/core/config.ts';
import { createCustomer, revokeKey } from '../../lambdas/core/customers.ts';
import { cachedKeyDirectory, keyCaches } from '../../lambdas/core/metering.ts';
import type { Customer, UsageEvent } from '../../lambdas/core/model.ts';
import { DynamoCustomerStore } from '../../lambdas/adapters/customer-store.ts';
import { LocalGatewayKeyRegistry } from '../../lambdas/adapters/gateway-keys-local.ts';
import { DynamoUsageEventLog } from '../../lambdas/adapters/usage-event-log.ts';
import { CounterUsageReader } from '../../lambdas/adapters/sync-store.ts';
import { createAuthorizer } from '../../lambdas/authorizer/authorizer.ts';
import { freshTables, type TestTables } from './dynamodb.ts';

export interface MeteringFixture extends TestTables {
  readonly authorize: ReturnType<typeof createAuthorizer>;
  readonly clock: { now: number };
  readonly logger: Logger;
  readonly store: DynamoCustomerStore;
  addCustomer(tier?: TierName, capBehaviour?: Customer['capBehaviour']): Promise<{ customerId: string; key: string; keyId: string; gatewayKeyValue: string }>;
  revoke(customerId: string, keyId: string): Promise<void>;
  setCustomer(customerId: string, fields: Partial<Pick<Customer, 'status' | 'cappedMonth'>>): Promise<void>;
  events(): Promise<UsageEvent[]>;
}

export async function meteringFixture(): Promise<MeteringFixture> {
  const tables = await freshTables();
  const clock = { now: Date.UTC(2026, 10, 25, 6, 30) };
  const now = () => clock.now;
  const store = new DynamoCustomerStore(tables.doc, tables.tables);
  const gatewayKeys = new LocalGatewayKeyRegistry(join(mkdtempSync(join(tmpdir(), 'gw-keys-')), 'keys.json'));
  const customerDeps = { registry: store, gatewayKeys, now };
  const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
  const authorize = createAuthorizer({
    directory: cachedKeyDirectory(store, keyCaches(billingConfig, now)),
    events: new DynamoUsageEventLog(tables.doc, tables.tables.usageEvents),
    counter: new CounterUsageReader(tables.doc, tables.tables.counters),
    config: billingConfig,
    now,
    logger,
  });
  return {
    ...tables,
    authorize,
    clock,
    logger,
    store,
    async addCustomer(tier = 'free', capBehaviour = 'block') {
      const { customer, apiKey } = await createCustomer({ name: 'Test Co', tier, capBehaviour }, customerDeps);
      return { customerId: customer.customerId, key: apiKey.key, keyId: apiKey.keyId, gatewayKeyValue: customer.gatewayKeyValue };
    },
    async revoke(customerId, keyId) {
      const result = await revokeKey(customerId, keyId, customerDeps);
      if (!result.ok) throw new Error(result.code);
    },
    async setCustomer(customerId, fields) {
      const names = Object.keys(fields);
      await tables.doc.send(
        new UpdateCommand({
          TableName: tables.tables.customers,
          Key: { customerId },
          UpdateExpression: `SET ${names.map((_, i) => `#n${i} = :v${i}`).join(', ')}`,
          ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#n${i}`, n])),
          ExpressionAttributeValues: Object.fromEntries(names.map((n, i) => [`:v${i}`, fields[n as keyof typeof fields]])),
        }),
      );
    },
    async events() {
      const items: UsageEvent[] = [];
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await tables.doc.send(new ScanCommand({ TableName: tables.tables.usageEvents, ExclusiveStartKey, ConsistentRead: true }));
        items.push(...((page.Items ?? []) as UsageEvent[]));
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      return items;
    },
  };
}

/** The event API Gateway sends a REQUEST authorizer for `ANY /api/{proxy+}`. */
export function authorizerEvent(options: {
  requestId: string;
  headers?: Record<string, string>;
  resource?: string;
  method?: string;
}): APIGatewayRequestAuthorizerEvent {
  const resource = options.resource ?? '/api/{proxy+}';
  const method = options.method ?? 'GET';
  return {
    type: 'REQUEST',
    methodArn: `arn:aws:execute-api:us-east-1:123456789012:abc123/prod/${method}/api/things`,
    resource,
    path: '/api/things',
    httpMethod: method,
    headers: options.headers ?? {},
    multiValueHeaders: {},
    pathParameters: { proxy: 'things' },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {
      requestId: options.requestId,
      resourcePath: resource,
      httpMethod: method,
      stage: 'prod',
    } as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}
