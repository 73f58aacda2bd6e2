/** Scheduled every few minutes: pushes settled usage to Stripe, exactly once (see #core/sync.ts). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { runSync, SYNC_PROBLEM_MESSAGE } from '#core/sync.ts';
import { escalateOverdueTickets } from '#core/tickets.ts';
import { SnsAlertSink } from '#adapters/alert-sinks.ts';
import { DynamoTicketStore } from '#adapters/tickets-store.ts';
import { billingServices } from '#adapters/billing-services.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { stripeClient } from '#adapters/stripe-billing.ts';
import { loadStripeSecrets } from '#adapters/stripe-secrets.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'counters', 'billing').extend({ ALERT_TOPIC_ARN: z.string().min(1) }));
const logger = new Logger();
const { doc } = connectDynamoDb();
const tickets = new DynamoTicketStore(doc, env.BILLING_TABLE);
const alerts = new SnsAlertSink(new SNSClient({}), env.ALERT_TOPIC_ARN);
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
  const counts = report.outcomes.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.kind]: (acc[o.kind] ?? 0) + 1 }), {});
  logger.info('stripe sync run', { counts, paused: pause?.paused ?? false });
  // Loud, never silent: each problem is an error line the alarm counts (and, with the alerts issue, an e-mail).
  for (const problem of report.problems) logger.error(SYNC_PROBLEM_MESSAGE, { ...problem });
  // The billing support SLA rides on the same schedule: unacknowledged tickets are escalated once.
  const escalated = await escalateOverdueTickets({ store: tickets, alerts, now: Date.now() });
  if (escalated.length) logger.warn('tickets escalated', { tickets: escalated.map((t) => t.ticketId) });
  return { counts, problems: report.problems.length };
}).use(injectLambdaContext(logger));
