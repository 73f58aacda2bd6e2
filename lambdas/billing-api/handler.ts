/** Lambda entry of POST /billing/upgrade. */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import * as z from 'zod';
import { billingServices } from '#adapters/billing-services.ts';
import { DynamoCheckoutSessionStore } from '#adapters/checkout-sessions.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv, tableNames } from '#adapters/env.ts';
import { stripeClient } from '#adapters/stripe-billing.ts';
import { loadCheckoutKey } from '#adapters/stripe-secrets.ts';
import { billingConfig } from '#core/config.ts';
import { createBillingApi } from './billing-api.ts';

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

export const handler = middy(
  createBillingApi({
    registry: { getCustomer: async (id) => (await services).customers.getCustomer(id) },
    stripe: async () => (await (await services).ready()).stripe,
    dashboardUrl: env.DASHBOARD_URL,
    checkouts: new DynamoCheckoutSessionStore(doc, env.BILLING_TABLE),
    config: billingConfig,
    now: Date.now,
  }),
).use(injectLambdaContext(logger));
