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
import { runSync, SYNC_PROBLEM_MESSAGE } from '#core/sync.ts';
import { escalateOverdueTickets } from '#core/tickets.ts';
import { deleteDueGatewayKeys } from '#core/gateway-keys.ts';
import { enforcePaymentGrace } from '#core/webhooks.ts';
import { AwsGatewayKeyRegistry } from '#adapters/gateway-keys-aws.ts';
import { SnsAlertSink } from '#adapters/alert-sinks.ts';
import { DynamoTicketStore } from '#adapters/tickets-store.ts';
import { billingServices } from '#adapters/billing-services.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
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
const gatewayKeys = new AwsGatewayKeyRegistry(new APIGatewayClient({}), { free: env.USAGE_PLAN_ID_FREE, pro: env.USAGE_PLAN_ID_PRO, enterprise: env.USAGE_PLAN_ID_ENTERPRISE });
const servicesPromise = loadStripeSecrets().then((secrets) =>
  billingServices({
    doc,
    tables: { customers: env.CUSTOMERS_TABLE, apiKeys: env.API_KEYS_TABLE, counters: env.COUNTERS_TABLE, billing: env.BILLING_TABLE },
    stripe: stripeClient({ secretKey: secrets.secretKey, baseUrl: process.env.STRIPE_API_BASE }),
  }),
);

export const handler = middy(async () => {
  const services = await servicesPromise;
  const { sync } = await services.ready();
  const pause = await services.state.getPause();
  const customers = await services.customers.listCustomers();
  const report = await runSync(customers, sync, { paused: pause?.paused ?? false });
  // Guardrails on the same schedule: cap alerts and blocks, anomaly alerts (each once per month).
  const guard = services.guardrails(alerts);
  for (const customer of customers) {
    for (const event of await guard(customer)) logger.warn('guardrail', { customerId: customer.customerId, ...event });
  }
  // The subscription status policy's clock: behind on payment past the grace means Free, whether or not Stripe sends another event.
  // A tier change like any other: a new gateway key in the Free plan; the old one is retired by the cleanup below once due.
  for (const moved of await enforcePaymentGrace(customers, { registry: services.customers, gatewayKeys, retirements: services.retirements, config: services.config, now: Date.now })) {
    if (moved.change === 'failed') logger.error('payment grace not enforced yet', { ...moved });
    else logger.warn('payment grace ended', { ...moved });
  }
  const counts: Record<string, number> = {};
  for (const o of report.outcomes) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  logger.info('stripe sync run', { counts, paused: pause?.paused ?? false });
  // Loud, never silent: each problem is an error line the alarm counts (and, with the alerts issue, an e-mail).
  for (const problem of report.problems) logger.error(SYNC_PROBLEM_MESSAGE, { ...problem });
  // The billing support SLA rides on the same schedule: unacknowledged tickets are escalated once.
  const escalated = await escalateOverdueTickets({ store: tickets, alerts, now: Date.now() });
  if (escalated.length) logger.warn('tickets escalated', { tickets: escalated.map((t) => t.ticketId) });
  // Gateway keys replaced by tier changes, once no authorizer's cache can still name them; a failure stays for the next run.
  const keys = await deleteDueGatewayKeys({ gatewayKeys, retirements: services.retirements, registry: services.customers, now: Date.now });
  if (keys.deleted.length || keys.kept.length) logger.info('gateway keys retired', { deleted: keys.deleted.length, kept: keys.kept.length });
  for (const { entry, error } of keys.failed) logger.warn('gateway key not deleted yet', { customerId: entry.customerId, tier: entry.tier, error });
  return { counts, problems: report.problems.length };
}).use(injectLambdaContext(logger));
