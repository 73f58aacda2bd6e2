/** Stripe webhooks: a bad signature is a 400 that changes nothing; each event id is claimed once (see ./webhook.ts). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { billingServices } from '#adapters/billing-services.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv, tableNames } from '#adapters/env.ts';
import { AwsGatewayKeyRegistry } from '#adapters/gateway-keys-aws.ts';
import { stripeClient } from '#adapters/stripe-billing.ts';
import { loadStripeSecrets } from '#adapters/stripe-secrets.ts';
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { SNSClient } from '@aws-sdk/client-sns';
import { SnsAlertSink } from '#adapters/alert-sinks.ts';
import * as z from 'zod';
import { createWebhookHandler } from './webhook.ts';

const env = readEnv(
  tableEnv('customers', 'apiKeys', 'counters', 'billing', 'idempotency').extend({
    ALERT_TOPIC_ARN: z.string().min(1),
    USAGE_PLAN_ID_FREE: z.string().min(1),
    USAGE_PLAN_ID_PRO: z.string().min(1),
    USAGE_PLAN_ID_ENTERPRISE: z.string().min(1),
  }),
);
const logger = new Logger();
const { client, doc } = connectDynamoDb();
const ready = loadStripeSecrets().then((secrets) => {
  const stripe = stripeClient({ secretKey: secrets.secretKey, baseUrl: process.env.STRIPE_API_BASE });
  const services = billingServices({
    doc,
    tables: tableNames(env, 'customers', 'apiKeys', 'counters', 'billing'),
    stripe,
  });
  const gatewayKeys = new AwsGatewayKeyRegistry(new APIGatewayClient({}), {
    free: env.USAGE_PLAN_ID_FREE,
    pro: env.USAGE_PLAN_ID_PRO,
    enterprise: env.USAGE_PLAN_ID_ENTERPRISE,
  });
  return createWebhookHandler({
    stripe,
    webhookSecret: secrets.webhookSecret,
    services,
    gatewayKeys,
    alerts: new SnsAlertSink(new SNSClient({}), env.ALERT_TOPIC_ARN),
    claims: { client, tableName: env.IDEMPOTENCY_TABLE },
    logger,
  });
});

// The context bounds an in-progress claim by this invocation's deadline.
export const handler = middy(async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => (await ready)(event, context)).use(
  injectLambdaContext(logger),
);
