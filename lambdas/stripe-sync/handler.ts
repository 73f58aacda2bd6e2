/** Scheduled every few minutes: pushes settled usage to Stripe, exactly once (see #core/sync.ts). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { runSync } from '#core/sync.ts';
import { billingServices } from '#adapters/billing-services.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { stripeClient } from '#adapters/stripe-billing.ts';
import { loadStripeSecrets } from '#adapters/stripe-secrets.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'counters', 'billing'));
const logger = new Logger();
const { doc } = connectDynamoDb();
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
  const report = await runSync(await services.customers.listCustomers(), sync, { paused: pause?.paused ?? false });
  const counts = report.outcomes.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.kind]: (acc[o.kind] ?? 0) + 1 }), {});
  logger.info('stripe sync run', { counts, paused: pause?.paused ?? false });
  // Loud, never silent: each problem is an error line the alarm counts (and, with the alerts issue, an e-mail).
  for (const problem of report.problems) logger.error('stripe sync problem', { ...problem });
  return { counts, problems: report.problems.length };
}).use(injectLambdaContext(logger));
