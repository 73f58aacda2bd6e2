/** Lambda entry of the outcome path, subscribed to the API's access log. */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { DynamoOutcomeStore } from '#adapters/outcome-store.ts';
import { createOutcomeHandler } from './outcome.ts';

const env = readEnv(tableEnv('usageEvents', 'counters'));
const logger = new Logger();
const { doc } = connectDynamoDb();

export const handler = middy(
  createOutcomeHandler(new DynamoOutcomeStore(doc, { usageEvents: env.USAGE_EVENTS_TABLE, counters: env.COUNTERS_TABLE }), logger),
).use(injectLambdaContext(logger));
