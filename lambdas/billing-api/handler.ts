/** Lambda entry of the billing routes: POST /billing/upgrade, POST|DELETE /billing/downgrade and POST /billing/portal. */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
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
import { createBillingPortalApi } from './billing-portal-api.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'counters', 'billing').extend({ DASHBOARD_URL: z.string().url().optional() }));
const logger = new Logger();
const { doc } = connectDynamoDb();
// Its own restricted key (Checkout and customer portal sessions, the opt-out's subscription change, nothing else): any customer can reach these routes.
const services = loadCheckoutKey().then((secretKey) =>
  billingServices({
    doc,
    tables: tableNames(env, 'customers', 'apiKeys', 'counters', 'billing'),
    stripe: stripeClient({ secretKey, baseUrl: process.env.STRIPE_API_BASE }),
  }),
);

const registry = { getCustomer: async (id: string) => (await services).customers.getCustomer(id) };
const stripe = async () => (await (await services).ready()).stripe;
const upgrade = createBillingApi({
  registry,
  stripe,
  dashboardUrl: env.DASHBOARD_URL,
  checkouts: new DynamoCheckoutSessionStore(doc, env.BILLING_TABLE),
  config: billingConfig,
  now: Date.now,
});
const downgrade = createDowngradeApi({
  registry: {
    getCustomer: registry.getCustomer,
    updateCustomer: async (id, fields) => (await services).customers.updateCustomer(id, fields),
  },
  billing: { setCancelAtPeriodEnd: async (id, cancel) => (await services).provider.setCancelAtPeriodEnd(id, cancel) },
  audit: async (entry) => (await services).state.audit(entry),
  now: Date.now,
});
const portal = createBillingPortalApi({ registry, stripe, dashboardUrl: env.DASHBOARD_URL });
const byResource: Record<string, (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>> = {
  [ROUTES.billingDowngrade.resource]: downgrade,
  [ROUTES.billingPortal.resource]: portal,
};

export const handler = middy((event: APIGatewayProxyEvent) => (byResource[event.resource] ?? upgrade)(event)).use(injectLambdaContext(logger));
