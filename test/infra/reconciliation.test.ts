import type { Template } from 'aws-cdk-lib/assertions';
import { RECONCILIATION_DISCREPANCY_MESSAGE } from '../../lambdas/core/reconciliation.ts';
import { actionsOn, logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

let template: Template;
beforeAll(() => {
  ({ template } = synthesizeStack());
});

const FUNCTION = 'ApiBilling/Reconciliation/ReconcileFunction/Resource';
const resource = (path: string) => template.toJSON().Resources[logicalIdAt(template, path)] as { Properties: Record<string, any> };
const alarmOn = (metricName: string, namespace: string) =>
  Object.values(template.findResources('AWS::CloudWatch::Alarm')).find(
    (a) =>
      (a as { Properties: Record<string, unknown> }).Properties.MetricName === metricName &&
      (a as { Properties: Record<string, unknown> }).Properties.Namespace === namespace,
  ) as { Properties: Record<string, any> } | undefined;

describe('reconciliation infrastructure', () => {
  it('runs the reconciliation Lambda daily at 03:15 UTC, one run at a time', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(15 3 * * ? *)',
      Targets: [{ Arn: { 'Fn::GetAtt': [logicalIdAt(template, FUNCTION), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 1 } }],
    });
    expect(resource(FUNCTION).Properties).toMatchObject({ ReservedConcurrentExecutions: 1, Timeout: 900 });
  });

  it('reads Stripe keys from the one Stripe secret and publishes to the alert topic', () => {
    const variables = resource(FUNCTION).Properties.Environment.Variables;
    expect(variables.STRIPE_SECRET_ARN).toEqual({ Ref: logicalIdAt(template, 'ApiBilling/StripeBilling/StripeSecret/Resource') });
    expect(variables.ALERT_TOPIC_ARN).toEqual({ Ref: logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource') });
    const statements = statementsOfFunction(template, logicalIdAt(template, FUNCTION));
    expect(actionsOn(statements, logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource'))).toEqual(['sns:Publish']);
  });

  it.each([
    ['Customers', ['dynamodb:GetItem', 'dynamodb:Scan']],
    ['ApiKeys', []],
    ['UsageEvents', ['dynamodb:Scan']],
    ['Counters', ['dynamodb:GetItem', 'dynamodb:Query']],
    ['Billing', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
    ['Idempotency', []],
  ])('is granted exactly the %s actions it uses', (table, actions) => {
    const statements = statementsOfFunction(template, logicalIdAt(template, FUNCTION));
    expect(actionsOn(statements, logicalIdAt(template, `ApiBilling/Tables/${table}/Resource`))).toEqual(actions);
  });

  it('alarms to the alert topic when a run fails and when a run logs a discrepancy', () => {
    const topic = { Ref: logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource') };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdAt(template, FUNCTION) } }],
      AlarmActions: [topic],
    });
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: `{ $.message = "${RECONCILIATION_DISCREPANCY_MESSAGE}" }`,
      MetricTransformations: [{ MetricName: 'BillingDiscrepancies', MetricNamespace: 'api-billing', MetricValue: '1' }],
    });
    expect(alarmOn('BillingDiscrepancies', 'api-billing')?.Properties).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [topic],
    });
  });
});
