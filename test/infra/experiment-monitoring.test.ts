import type { Template } from 'aws-cdk-lib/assertions';
import { EXPERIMENT_METRICS, EXPERIMENT_METRICS_NAMESPACE } from '../../lambdas/core/experiment-monitoring.ts';
import { actionsOn, logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

let template: Template;
beforeAll(() => {
  ({ template } = synthesizeStack());
});

const FUNCTION = 'ApiBilling/ExperimentMonitoring/MetricsFunction/Resource';
const resource = (path: string) => template.toJSON().Resources[logicalIdAt(template, path)] as { Properties: Record<string, any> };

/** The dashboard's widgets, parsed from its body (a Fn::Join of strings and tokens). */
function dashboardWidgets(): Array<{ type: string; properties: { title?: string; metrics?: unknown[][]; annotations?: any } }> {
  const body = resource('ApiBilling/Monitoring/Dashboard/Resource').Properties.DashboardBody;
  const text = typeof body === 'string' ? body : (body['Fn::Join'][1] as unknown[]).map((part) => (typeof part === 'string' ? part : '"TOKEN"')).join('');
  return JSON.parse(text.replace(/""TOKEN""/g, '"TOKEN"')).widgets;
}

describe('experiment monitoring infrastructure', () => {
  it('runs the experiment metrics Lambda daily at 04:00 UTC, after the reconciliation (03:15)', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 4 * * ? *)',
      Targets: [{ Arn: { 'Fn::GetAtt': [logicalIdAt(template, FUNCTION), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 1 } }],
    });
    expect(resource(FUNCTION).Properties).toMatchObject({ Timeout: 300, MemorySize: 512 });
  });

  it('gets the three tables it reads and the alert topic, and no Stripe secret', () => {
    const variables = resource(FUNCTION).Properties.Environment.Variables;
    expect(variables).toEqual({
      POWERTOOLS_SERVICE_NAME: 'api-billing',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
      CUSTOMERS_TABLE: { Ref: logicalIdAt(template, 'ApiBilling/Tables/Customers/Resource') },
      COUNTERS_TABLE: { Ref: logicalIdAt(template, 'ApiBilling/Tables/Counters/Resource') },
      BILLING_TABLE: { Ref: logicalIdAt(template, 'ApiBilling/Tables/Billing/Resource') },
      ALERT_TOPIC_ARN: { Ref: logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource') },
    });
    const statements = statementsOfFunction(template, logicalIdAt(template, FUNCTION));
    expect(actionsOn(statements, logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource'))).toEqual(['sns:Publish']);
    expect(actionsOn(statements, logicalIdAt(template, 'ApiBilling/StripeBilling/StripeSecret/Resource'))).toEqual([]);
  });

  it.each([
    ['Customers', ['dynamodb:Scan']],
    ['ApiKeys', []],
    ['UsageEvents', []],
    ['Counters', ['dynamodb:Query']],
    ['Billing', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']],
    ['Idempotency', []],
  ])('is granted exactly the %s actions it uses', (table, actions) => {
    const statements = statementsOfFunction(template, logicalIdAt(template, FUNCTION));
    expect(actionsOn(statements, logicalIdAt(template, `ApiBilling/Tables/${table}/Resource`))).toEqual(actions);
  });

  it('alarms to the alert topic when a daily run fails', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdAt(template, FUNCTION) } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource') }],
    });
  });

  it("graphs every experiment metric on the stack's dashboard, by the namespace and service dimension the Lambda publishes under", () => {
    const widgets = dashboardWidgets().filter((w) => w.properties.title?.startsWith('Experiment:'));
    expect(widgets.map((w) => w.properties.title)).toEqual([
      'Experiment: revenue (USD)',
      'Experiment: calls per day (served, billable, refused, errors)',
      'Experiment: rates (%)',
      'Experiment: NPS, sample, support, failure criteria',
      'Experiment: daily run errors',
    ]);
    const graphed = widgets.flatMap((w) => (w.properties.metrics ?? []).filter((m) => m[0] === EXPERIMENT_METRICS_NAMESPACE));
    expect(graphed.map((m) => m[1]).sort()).toEqual(EXPERIMENT_METRICS.map((m) => m.name).sort());
    for (const metric of graphed) expect(metric.slice(2, 4)).toEqual(['service', 'api-billing']);
    const rates = widgets.find((w) => w.properties.title === 'Experiment: rates (%)')!;
    expect(rates.properties.annotations.horizontal.map((a: { value: number }) => a.value)).toEqual([15, 5, 10, 1]);
  });
});
