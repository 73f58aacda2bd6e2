/** Lambda entry of the customer's voice: POST /support/tickets and POST /feedback (both free routes). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { SnsAlertSink } from '#adapters/alert-sinks.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { DynamoFeedbackStore } from '#adapters/feedback-store.ts';
import { DynamoTicketStore } from '#adapters/tickets-store.ts';
import { billingConfig } from '#core/config.ts';
import { ROUTES } from '#core/routes.ts';
import { createFeedbackApi } from './feedback-api.ts';
import { byResource, createSupportApi } from './support-api.ts';

const env = readEnv(tableEnv('billing').extend({ ALERT_TOPIC_ARN: z.string().min(1) }));
const logger = new Logger();
const { doc } = connectDynamoDb();

export const handler = middy(
  byResource({
    [ROUTES.supportTickets.resource]: createSupportApi({
      store: new DynamoTicketStore(doc, env.BILLING_TABLE),
      alerts: new SnsAlertSink(new SNSClient({}), env.ALERT_TOPIC_ARN),
      config: billingConfig,
      now: Date.now,
    }),
    [ROUTES.feedback.resource]: createFeedbackApi({ store: new DynamoFeedbackStore(doc, env.BILLING_TABLE), config: billingConfig, now: Date.now }),
  }),
).use(injectLambdaContext(logger));
