import { Match, type Template } from 'aws-cdk-lib/assertions';
import { actionsOn, logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

let template: Template;
let ids: Record<'aggregator' | 'outcome' | 'queue' | 'accessLogs' | 'usageEvents' | 'counters', string>;
beforeAll(() => {
  ({ template } = synthesizeStack());
  ids = {
    aggregator: logicalIdAt(template, 'ApiBilling/Aggregation/AggregatorFunction/Resource'),
    outcome: logicalIdAt(template, 'ApiBilling/Aggregation/OutcomeFunction/Resource'),
    queue: logicalIdAt(template, 'ApiBilling/Aggregation/DeadLetterQueue/Resource'),
    accessLogs: logicalIdAt(template, 'ApiBilling/MeteredApi/AccessLogs/Resource'),
    usageEvents: logicalIdAt(template, 'ApiBilling/Tables/UsageEvents/Resource'),
    counters: logicalIdAt(template, 'ApiBilling/Tables/Counters/Resource'),
  };
});

const mapping = () => {
  const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
  expect(mappings).toHaveLength(1);
  return mappings[0]!.Properties;
};

describe('aggregation', () => {
  describe('usage events stream -> aggregator', () => {
    it('reads the usage events stream into the aggregator from the trim horizon', () => {
      expect(mapping()).toMatchObject({
        EventSourceArn: { 'Fn::GetAtt': [ids.usageEvents, 'StreamArn'] },
        FunctionName: { Ref: ids.aggregator },
        StartingPosition: 'TRIM_HORIZON',
      });
    });

    it('batches, bisects failing batches, retries, reports item failures, keeps one batch per shard', () => {
      expect(mapping()).toMatchObject({
        BatchSize: 10000,
        MaximumBatchingWindowInSeconds: 5,
        BisectBatchOnFunctionError: true,
        TumblingWindowInSeconds: 60,
        MaximumRetryAttempts: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ParallelizationFactor: 1,
      });
    });

    it('sends batches it gives up on to the dead-letter queue', () => {
      expect(mapping().DestinationConfig).toEqual({ OnFailure: { Destination: { 'Fn::GetAtt': [ids.queue, 'Arn'] } } });
    });

    it('drops REMOVE records (TTL expiry) before the aggregator runs', () => {
      const patterns = (mapping().FilterCriteria.Filters as Array<{ Pattern: string }>).map((f) => JSON.parse(f.Pattern));

      expect(patterns).toEqual([{ eventName: ['INSERT', 'MODIFY'] }]);
      expect(JSON.stringify(patterns)).not.toContain('REMOVE');
    });

    it('gives the aggregator its counters table and the actions it calls on it', () => {
      const statements = statementsOfFunction(template, ids.aggregator);

      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ COUNTERS_TABLE: { Ref: ids.counters } }) },
        Description: Match.stringLikeRegexp('counters'),
      });
      expect(actionsOn(statements, ids.counters)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
      expect(actionsOn(statements, ids.usageEvents)).toEqual(expect.arrayContaining(['dynamodb:GetRecords', 'dynamodb:GetShardIterator']));
    });
  });

  describe('dead-letter queue', () => {
    it('is encrypted and keeps messages for 14 days', () => {
      template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    });

    it('refuses requests without TLS', () => {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: ids.queue }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    });

    it('raises an alarm as soon as one message is visible', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.queue, 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
      });
    });
  });

  it("raises an alarm when the aggregator's iterator age grows", () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.aggregator } }],
      ComparisonOperator: 'GreaterThanThreshold',
      Statistic: 'Maximum',
    });
  });

  describe('access log -> outcome', () => {
    it('subscribes the outcome function to every line of the access log', () => {
      template.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
        LogGroupName: { Ref: ids.accessLogs },
        DestinationArn: { 'Fn::GetAtt': [ids.outcome, 'Arn'] },
        FilterPattern: '',
      });
    });

    it('lets CloudWatch Logs invoke the outcome function', () => {
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [ids.outcome, 'Arn'] },
        Principal: 'logs.amazonaws.com',
      });
    });

    it('may update usage events (voids) and read and write counters, and finds both tables', () => {
      const statements = statementsOfFunction(template, ids.outcome);

      expect(actionsOn(statements, ids.usageEvents)).toEqual(['dynamodb:UpdateItem']);
      expect(actionsOn(statements, ids.counters)).toEqual(['dynamodb:PutItem', 'dynamodb:UpdateItem']);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ USAGE_EVENTS_TABLE: { Ref: ids.usageEvents }, COUNTERS_TABLE: { Ref: ids.counters } }) },
        Description: Match.stringLikeRegexp('access log'),
      });
    });
  });
});
