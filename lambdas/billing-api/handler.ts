/** Lambda entry of the billing routes: POST /billing/upgrade and POST|DELETE /billing/downgrade. */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import { ROUTES } from '#core/routes.ts';
import { billingServices } from '#adapters/billing-services.ts';
import { DynamoCheckoutSessionStore } from '#adapters/checkout-sessions.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv, tableNames } from '#adapters/env.ts';
import { stripeClient } from '#adapters/stripe-billing.ts';
import { loadCheckoutKey } from '#adapters/stripe-secrets.ts';
import { billingConfig } from '#core/config.ts';
import { createBillingApi } from './billing-api.ts';
import { createDowngradeApi } from './downgrade-api.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'counters', 'billing').extend({ DASHBOARD_URL: z.string().url().optional() }));
const logger = new Logger();
const { doc } = connectDynamoDb();
// Its own restricted key, which can create Checkout sessions and nothing else: any customer can reach this route.
const services = loadCheckoutKey().then((secretKey) =>
  billingServices({
    doc,
    tables: tableNames(env, 'customers', 'apiKeys', 'counters', 'billing'),
    stripe: stripeClient({ secretKey, baseUrl: process.env.STRIPE_API_BASE }),
  }),
);

const upgrade = createBillingApi({
  registry: { getCustomer: async (id) => (await services).customers.getCustomer(id) },
  stripe: async () => (await (await services).ready()).stripe,
  dashboardUrl: env.DASHBOARD_URL,
  checkouts: new DynamoCheckoutSessionStore(doc, env.BILLING_TABLE),
  config: billingConfig,
  now: Date.now,
});
const downgrade = createDowngradeApi({
  registry: {
    getCustomer: async (id) => (await services).customers.getCustomer(id),
    updateCustomer: async (id, fields) => (await services).customers.updateCustomer(id, fields),
  },
  billing: { setCancelAtPeriodEnd: async (id, cancel) => (await services).provider.setCancelAtPeriodEnd(id, cancel) },
  audit: async (entry) => (await services).state.audit(entry),
  now: Date.now,
});

export const handler = middy((event: APIGatewayProxyEvent) => (event.resource === ROUTES.billingDowngrade.resource ? downgrade(event) : upgrade(event))).use(
  injectLambdaContext(logger),
);
