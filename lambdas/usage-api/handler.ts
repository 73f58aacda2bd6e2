/** Lambda entry of the usage API (a free route: the authorizer authenticates it but never meters it). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { billingConfig } from '#core/config.ts';
import { DynamoBillingStateStore } from '#adapters/billing-state.ts';
import { DynamoCustomerStore } from '#adapters/customer-store.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { CounterUsageReader } from '#adapters/sync-store.ts';
import { createUsageApi } from './usage-api.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'counters', 'billing'));
const logger = new Logger();
const { doc } = connectDynamoDb();
const counters = new CounterUsageReader(doc, env.COUNTERS_TABLE);
const invoices = new DynamoBillingStateStore(doc, env.BILLING_TABLE);

export const handler = middy(
  createUsageApi({
    registry: new DynamoCustomerStore(doc, { customers: env.CUSTOMERS_TABLE, apiKeys: env.API_KEYS_TABLE }),
    history: { hourly: (...args) => counters.hourly(...args), invoicedByMonth: (id) => invoices.invoicedByMonth(id) },
    config: billingConfig,
    now: Date.now,
  }),
).use(injectLambdaContext(logger));
