/** Lambda entry of the usage API (a free route: the authorizer authenticates it but never meters it). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import * as z from 'zod';
import { billingConfig } from '#core/config.ts';
import { DynamoCustomerStore } from '#adapters/customer-store.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { DynamoFeedbackStore } from '#adapters/feedback-store.ts';
import { dynamoUsageHistory } from '#adapters/usage-history.ts';
import { StripeBillingProvider, stripeClient } from '#adapters/stripe-billing.ts';
import { loadCheckoutKey } from '#adapters/stripe-secrets.ts';
import { invoiceSource } from '#core/customer-billing.ts';
import { createUsageApi } from './usage-api.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'counters', 'billing').extend({ STRIPE_CHECKOUT_SECRET_ARN: z.string().min(1).optional() }));
const logger = new Logger();
const { doc } = connectDynamoDb();
// The customer's invoices come from Stripe, cached per customer (invoiceSource), read with the customer-facing
// restricted key (any customer can reach this route: never the sync's wider key); without it the report has none.
const stripeInvoices =
  env.STRIPE_CHECKOUT_SECRET_ARN === undefined
    ? undefined
    : loadCheckoutKey().then((secretKey) => invoiceSource(new StripeBillingProvider(stripeClient({ secretKey, baseUrl: process.env.STRIPE_API_BASE }))));
// A bad secret must not crash the cold start: each request that asks for invoices meets the error, and the report leaves them out.
void stripeInvoices?.catch(() => undefined);

export const handler = middy(
  createUsageApi({
    registry: new DynamoCustomerStore(doc, { customers: env.CUSTOMERS_TABLE, apiKeys: env.API_KEYS_TABLE }),
    history: dynamoUsageHistory(
      doc,
      { counters: env.COUNTERS_TABLE, billing: env.BILLING_TABLE },
      stripeInvoices && (async (customer) => (await stripeInvoices)(customer)),
    ),
    feedback: new DynamoFeedbackStore(doc, env.BILLING_TABLE),
    config: billingConfig,
    now: Date.now,
  }),
).use(injectLambdaContext(logger));
