import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import { LambdaDestination } from 'aws-cdk-lib/aws-logs-destinations';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TABLE_ENV } from '../lambdas/adapters/env.ts';
import { ProductFunction } from './lambda-defaults.ts';
import type { BillingTables } from './tables.ts';

export interface AggregationProps {
  /** The product's tables: usage events are streamed in, counters are written. */
  readonly tables: BillingTables;
  /** The API's access log, read by the outcome Lambda to void calls the gateway did not serve. */
  readonly accessLogGroup: logs.ILogGroup;
  /**
   * Records per aggregator invocation: more records, fewer counter writes per call.
   * @default 10000
   */
  readonly batchSize?: number;
  /**
   * How long the event source mapping gathers records before invoking the aggregator.
   * @default Duration.seconds(5)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Iterator age (milliseconds behind the stream) above which the lag alarm fires.
   * @default 300_000 (five minutes)
   */
  readonly iteratorAgeAlarmMs?: number;
}

/**
 * Turns usage events into counters: the aggregator reads the usage events stream (REMOVE records
 * from TTL expiry filtered out before it runs) and the outcome Lambda voids the events of calls
 * the access log says were not served. A batch that keeps failing ends in a dead-letter queue
 * that raises an alarm, because every record in it is a call that is not yet counted.
 */
export class Aggregation extends Construct {
  /** Stream consumer: folds usage events into the counters, exactly once per shard checkpoint. */
  readonly aggregatorFunction: ProductFunction;
  /** Access-log subscriber: voids throttled, over-quota and 5xx calls. */
  readonly outcomeFunction: ProductFunction;
  /** Where the event source mapping sends the metadata of batches it gave up on. */
  readonly deadLetterQueue: sqs.Queue;
  /** Fires when anything reaches the dead-letter queue. */
  readonly deadLetterAlarm: cloudwatch.Alarm;
  /** Fires when the aggregator falls behind the stream. */
  readonly iteratorAgeAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AggregationProps) {
    super(scope, id);
    const { tables } = props;
    // Large batches amortise the counter writes (bench: ~13 item writes per 1,000 records at 8,000 a batch,
    // ~100 at 1,000); Lambda caps a batch at its 6 MB payload, about 8,000 usage-event records.
    const batchSize = props.batchSize ?? 10_000;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new Error(`Aggregation ${id}: batchSize must be an integer from 1 to 10000 (DynamoDB Streams' limit), got ${batchSize}`);
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "This queue is itself the dead-letter destination of the aggregator's stream event source mapping.",
    });

    this.aggregatorFunction = new ProductFunction(this, 'AggregatorFunction', {
      handlerName: 'aggregator',
      description: 'Folds usage events from the stream into per-customer hourly and monthly counters',
      memorySize: 512,
      timeout: Duration.minutes(2),
      environment: { [TABLE_ENV.counters]: tables.counters.tableName },
      unscopableActions: ['dynamodb:ListStreams (the stream event source)'],
    });
    // The shard's checkpoint (GetItem; UpdateItem in the counting transaction, with the counters' ADDs)
    // and its skipped ranges (PutItem, Query): no Scan, no DeleteItem, no batch writes.
    tables.counters.grant(this.aggregatorFunction, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    this.aggregatorFunction.addEventSource(
      new DynamoEventSource(tables.usageEvents, {
        // LATEST can miss records while the mapping is created or updated.
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize,
        maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(5),
        bisectBatchOnError: true,
        retryAttempts: 10,
        reportBatchItemFailures: true,
        // Order per item matters (an event before its void): one batch per shard at a time.
        parallelizationFactor: 1,
        // A tumbling window is what makes Lambda name the shard in the event (`shardId`): the
        // aggregator keeps its exactly-once checkpoint per shard. Its state is unused (we write per batch).
        tumblingWindow: Duration.seconds(60),
        onFailure: new SqsDlq(this.deadLetterQueue),
        // TTL expiry shows up as REMOVE records: they must never reach the counters.
        filters: [lambda.FilterCriteria.filter({ eventName: lambda.FilterRule.or('INSERT', 'MODIFY') })],
      }),
    );

    this.outcomeFunction = new ProductFunction(this, 'OutcomeFunction', {
      handlerName: 'outcome',
      description: 'Reads the API access log and voids the usage events of calls the gateway did not serve',
      timeout: Duration.seconds(30),
      environment: {
        [TABLE_ENV.usageEvents]: tables.usageEvents.tableName,
        [TABLE_ENV.counters]: tables.counters.tableName,
      },
    });
    // A void is a conditional update of the event the authorizer wrote.
    tables.usageEvents.grant(this.outcomeFunction, 'dynamodb:UpdateItem');
    // Outcome counts: one transaction of a batch marker (a conditional PutItem) and the hour counters' ADDs (UpdateItem).
    tables.counters.grant(this.outcomeFunction, 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    new logs.SubscriptionFilter(this, 'AccessLogSubscription', {
      logGroup: props.accessLogGroup,
      destination: new LambdaDestination(this.outcomeFunction),
      filterPattern: logs.FilterPattern.allEvents(),
    });

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'Usage event batches reached the dead-letter queue: those calls are not counted until replayed',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.iteratorAgeAlarm = new cloudwatch.Alarm(this, 'IteratorAgeAlarm', {
      alarmDescription: 'The aggregator is falling behind the usage events stream (records expire after 24 hours)',
      metric: this.aggregatorFunction.metric('IteratorAge', { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: props.iteratorAgeAlarmMs ?? 300_000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
