/** Lambda entry of the metering REQUEST authorizer (result caching off: one invocation per call). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { billingConfig } from '#core/config.ts';
import { cachedKeyDirectory, cachedMonthlyCallCounter, keyCaches } from '#core/metering.ts';
import { TtlCache } from '#core/ttl-cache.ts';
import { DynamoCustomerStore } from '#adapters/customer-store.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { DynamoUsageEventLog } from '#adapters/usage-event-log.ts';
import { CounterUsageReader } from '#adapters/sync-store.ts';
import { createAuthorizer } from './authorizer.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'usageEvents', 'counters'));
const logger = new Logger();
const QUOTA_CACHE_MS = 5_000;
const { doc } = connectDynamoDb();

const authorize = createAuthorizer({
  directory: cachedKeyDirectory(new DynamoCustomerStore(doc, { customers: env.CUSTOMERS_TABLE, apiKeys: env.API_KEYS_TABLE }), keyCaches(billingConfig)),
  events: new DynamoUsageEventLog(doc, env.USAGE_EVENTS_TABLE),
  // Quota figures for X-RateLimit-*: one read per customer every few seconds, not per call.
  counter: cachedMonthlyCallCounter(new CounterUsageReader(doc, env.COUNTERS_TABLE), new TtlCache<number>(billingConfig.keyCacheMaxEntries, QUOTA_CACHE_MS)),
  config: billingConfig,
  now: Date.now,
  logger,
});

export const handler = middy(authorize).use(injectLambdaContext(logger));
