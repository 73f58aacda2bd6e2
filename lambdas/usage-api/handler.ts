/** Lambda entry of the usage API (a free route: the authorizer authenticates it but never meters it). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { billingConfig } from '#core/config.ts';
import { DynamoCustomerStore } from '#adapters/customer-store.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { DynamoFeedbackStore } from '#adapters/feedback-store.ts';
import { dynamoUsageHistory } from '#adapters/usage-history.ts';
import { createUsageApi } from './usage-api.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'counters', 'billing'));
const logger = new Logger();
const { doc } = connectDynamoDb();

export const handler = middy(
  createUsageApi({
    registry: new DynamoCustomerStore(doc, { customers: env.CUSTOMERS_TABLE, apiKeys: env.API_KEYS_TABLE }),
    history: dynamoUsageHistory(doc, { counters: env.COUNTERS_TABLE, billing: env.BILLING_TABLE }),
    feedback: new DynamoFeedbackStore(doc, env.BILLING_TABLE),
    config: billingConfig,
    now: Date.now,
  }),
).use(injectLambdaContext(logger));
