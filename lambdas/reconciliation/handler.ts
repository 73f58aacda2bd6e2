/**
 * Daily, on its own schedule: reconciles every customer's previous and current month (see
 * #core/reconciliation.ts), corrects what it can, stores a record per customer-month and logs the
 * billing error rate. Each customer-month with a discrepancy is an error line the stack's alarm counts;
 * the alerts themselves (a page past 1% of the month) go to the alert topic.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { RECONCILIATION_DISCREPANCY_MESSAGE } from '#core/reconciliation.ts';
import { SnsAlertSink } from '#adapters/alert-sinks.ts';
import { billingServices } from '#adapters/billing-services.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv, tableNames } from '#adapters/env.ts';
import { stripeClient } from '#adapters/stripe-billing.ts';
import { loadStripeSecrets } from '#adapters/stripe-secrets.ts';

const env = readEnv(tableEnv('customers', 'apiKeys', 'usageEvents', 'counters', 'billing').extend({ ALERT_TOPIC_ARN: z.string().min(1) }));
const logger = new Logger();
const { doc } = connectDynamoDb();
const alerts = new SnsAlertSink(new SNSClient({}), env.ALERT_TOPIC_ARN);
const servicesPromise = loadStripeSecrets().then((secrets) =>
  billingServices({
    doc,
    tables: tableNames(env, 'customers', 'apiKeys', 'usageEvents', 'counters', 'billing'),
    stripe: stripeClient({ secretKey: secrets.secretKey, baseUrl: process.env.STRIPE_API_BASE }),
  }),
);

export const handler = middy(async () => {
  const services = await servicesPromise;
  const run = await services.reconcile({ alerts, trigger: 'daily' });
  for (const record of run.records.filter((r) => r.discrepancy)) {
    logger.error(RECONCILIATION_DISCREPANCY_MESSAGE, {
      customerId: record.customerId,
      month: record.month,
      error: record.error,
      residual: record.residual,
      differences: record.differences.filter((d) => !d.explained).map((d) => d.kind),
      corrections: record.corrections.map((c) => `${c.kind}:${c.status}`),
    });
  }
  const { rate } = run;
  logger.info('reconciliation run', {
    months: run.months,
    customerMonths: rate.customerMonths,
    discrepancies: rate.discrepancies,
    billingErrorRatePercent: { calls: rate.rate.calls * 100, cents: rate.rate.cents * 100 },
    residualErrorRatePercent: { calls: rate.residualRate.calls * 100, cents: rate.residualRate.cents * 100 },
  });
  return { customerMonths: rate.customerMonths, discrepancies: rate.discrepancies, rate: rate.rate };
}).use(injectLambdaContext(logger));
