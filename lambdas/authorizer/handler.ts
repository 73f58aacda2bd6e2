/** Lambda entry of the metering REQUEST authorizer (result caching off: one invocation per call). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { billingConfig } from '#core/config.ts';
import { cachedKeyDirectory } from '#core/metering.ts';
import type { KeyLookup } from '#core/ports.ts';
import { TtlCache } from '#core/ttl-cache.ts';
import { DynamoCustomerStore } from '#adapters/customer-store.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { DynamoUsageEventLog } from '#adapters/usage-event-log.ts';
import { createAuthorizer } from './authorizer.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'usageEvents'));
const logger = new Logger();
const { doc } = connectDynamoDb();

const authorize = createAuthorizer({
  directory: cachedKeyDirectory(
    new DynamoCustomerStore(doc, { customers: env.CUSTOMERS_TABLE, apiKeys: env.API_KEYS_TABLE }),
    new TtlCache<KeyLookup>(billingConfig.keyCacheMaxEntries, billingConfig.keyCacheTtlSeconds * 1000),
  ),
  events: new DynamoUsageEventLog(doc, env.USAGE_EVENTS_TABLE),
  config: billingConfig,
  now: Date.now,
  logger,
});

export const handler = middy(authorize).use(injectLambdaContext(logger));
