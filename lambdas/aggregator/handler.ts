/** Lambda entry of the aggregator: usage events stream -> counters, exactly once (see #core/counting.ts). */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { DynamoGapStore } from '#adapters/counter-gaps.ts';
import { DynamoCounterStore } from '#adapters/counting-store.ts';
import { connectDynamoDb } from '#adapters/dynamodb.ts';
import { readEnv, tableEnv } from '#adapters/env.ts';
import { createAggregator } from './aggregator.ts';

const env = readEnv(tableEnv('counters'));
const logger = new Logger();
const { doc } = connectDynamoDb();

export const handler = middy(
  createAggregator(new DynamoCounterStore(doc, env.COUNTERS_TABLE), logger, { gaps: new DynamoGapStore(doc, env.COUNTERS_TABLE) }),
).use(injectLambdaContext(logger));
