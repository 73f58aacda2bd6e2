/**
 * Daily, after the reconciliation: the experiment's report (#core/experiment.ts) is stored as the
 * day's snapshot, published as CloudWatch metrics (Powertools Metrics, EMF, namespace
 * api-billing/experiment), summarised to the alert topic, and a failure criterion newly met pages
 * at once (#core/experiment-monitoring.ts). Reads no Stripe: the figures come from the tables.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { EXPERIMENT_METRICS_NAMESPACE, monitorExperimentDaily } from '#core/experiment-monitoring.ts';
import { SnsAlertSink } from '#adapters/alert-sinks.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { experimentReporting } from '#adapters/experiment-reporting.ts';
import { DynamoExperimentSnapshots } from '#adapters/experiment-snapshots.ts';

const env = readEnv(tableEnv('customers', 'counters', 'billing').extend({ ALERT_TOPIC_ARN: z.string().min(1) }));
const logger = new Logger();
const metrics = new Metrics({ namespace: EXPERIMENT_METRICS_NAMESPACE });
const { doc } = connectDynamoDb();
const alerts = new SnsAlertSink(new SNSClient({}), env.ALERT_TOPIC_ARN);
const reporting = experimentReporting({ doc, tables: { customers: env.CUSTOMERS_TABLE, counters: env.COUNTERS_TABLE, billing: env.BILLING_TABLE } });
const snapshots = new DynamoExperimentSnapshots(doc, env.BILLING_TABLE);

export const handler = middy(async () => {
  const result = await monitorExperimentDaily({
    report: () => reporting.experimentReport(),
    snapshots,
    alerts,
    metrics: { add: ({ name, unit, value }) => void metrics.addMetric(name, unit, value) },
    now: Date.now(),
  });
  logger.info('experiment snapshot', { ...result });
  return result;
})
  .use(injectLambdaContext(logger))
  // Flushes the metrics as one EMF line when the run ends (and throws if a run added none: a bug).
  .use(logMetrics(metrics, { throwOnEmptyMetrics: true }));
