/**
 * Scheduled every few minutes: pushes settled usage to Stripe, exactly once (see #core/sync.ts);
 * on the same schedule, guardrails, the end of expired payment graces (a tier change to Free), ticket
 * escalation and the deletion of retired gateway keys.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { SNSClient } from '@aws-sdk/client-sns';
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import * as z from 'zod';
import { SYNC_PROBLEM_MESSAGE } from '#core/sync.ts';
import { RECONCILIATION_DISCREPANCY_MESSAGE } from '#core/reconciliation.ts';
import { AwsGatewayKeyRegistry } from '#adapters/gateway-keys-aws.ts';
import { SnsAlertSink } from '#adapters/alert-sinks.ts';
import { DynamoTicketStore } from '#adapters/tickets-store.ts';
import { billingServices } from '#adapters/billing-services.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv, tableNames } from '#adapters/env.ts';
import { stripeClient } from '#adapters/stripe-billing.ts';
import { loadStripeSecrets } from '#adapters/stripe-secrets.ts';

const env = readEnv(
  tableEnv('customers', 'apiKeys', 'counters', 'billing').extend({
    ALERT_TOPIC_ARN: z.string().min(1),
    USAGE_PLAN_ID_FREE: z.string().min(1),
    USAGE_PLAN_ID_PRO: z.string().min(1),
    USAGE_PLAN_ID_ENTERPRISE: z.string().min(1),
  }),
);
const logger = new Logger();
const { doc } = connectDynamoDb();
const tickets = new DynamoTicketStore(doc, env.BILLING_TABLE);
const alerts = new SnsAlertSink(new SNSClient({}), env.ALERT_TOPIC_ARN);
const gatewayKeys = new AwsGatewayKeyRegistry(new APIGatewayClient({}), {
  free: env.USAGE_PLAN_ID_FREE,
  pro: env.USAGE_PLAN_ID_PRO,
  enterprise: env.USAGE_PLAN_ID_ENTERPRISE,
});
const servicesPromise = loadStripeSecrets().then((secrets) =>
  billingServices({
    doc,
    tables: tableNames(env, 'customers', 'apiKeys', 'counters', 'billing'),
    stripe: stripeClient({ secretKey: secrets.secretKey, baseUrl: process.env.STRIPE_API_BASE }),
  }),
);

export const handler = middy(async () => {
  const services = await servicesPromise;
  const run = await services.scheduledRun({ alerts, tickets, gatewayKeys });
  const counts: Record<string, number> = {};
  for (const o of run.sync.outcomes) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  logger.info('stripe sync run', { counts, paused: run.paused });
  // Loud, never silent: each problem is an error line the alarm counts.
  for (const problem of run.sync.problems) logger.error(SYNC_PROBLEM_MESSAGE, { ...problem });
  for (const { customerId, event } of run.guardrails) logger.warn('guardrail', { customerId, ...event });
  for (const grace of run.graces) {
    if (grace.change === 'failed') logger.error('payment grace not enforced yet', { ...grace });
    else logger.warn('payment grace ended', { ...grace });
  }
  if (run.escalated.length) logger.warn('tickets escalated', { tickets: run.escalated.map((t) => t.ticketId) });
  const keys = run.gatewayKeys;
  if (keys.deleted.length || keys.kept.length) logger.info('gateway keys retired', { deleted: keys.deleted.length, kept: keys.kept.length });
  // A failure stays for the next run.
  for (const { entry, error } of keys.failed) logger.warn('gateway key not deleted yet', { customerId: entry.customerId, tier: entry.tier, error });
  for (const record of run.rechecked.filter((r) => r.discrepancy))
    logger.error(RECONCILIATION_DISCREPANCY_MESSAGE, { customerId: record.customerId, month: record.month, trigger: record.trigger, error: record.error });
  return { counts, problems: run.sync.problems.length };
}).use(injectLambdaContext(logger));
