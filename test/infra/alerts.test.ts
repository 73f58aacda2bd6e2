import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ApiBillingStack } from '../../lib/api-billing-stack.ts';
import { logicalIdAt } from './synth.ts';

function synth(context: Record<string, string> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true, ...context } });
  return Template.fromStack(new ApiBillingStack(app, 'ApiBilling'));
}

describe('alerts', () => {
  it('sends alerts to an encrypted topic with the configured e-mails subscribed', () => {
    const template = synth({ alertEmails: 'ops@example.com, billing@example.com' });
    const topic = logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource');
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [logicalIdAt(template, 'ApiBilling/Alerts/Key/Resource'), 'Arn'] } });
    for (const email of ['ops@example.com', 'billing@example.com'])
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email, TopicArn: { Ref: topic } });
  });

  it.each([
    'ApiBilling/Aggregation/DeadLetterAlarm/Resource',
    'ApiBilling/Aggregation/IteratorAgeAlarm/Resource',
    'ApiBilling/StripeBilling/SyncErrorsAlarm/Resource',
    'ApiBilling/StripeBilling/SyncProblemsAlarm/Resource',
  ])('routes %s to the topic', (path) => {
    const template = synth();
    const alarm = template.toJSON().Resources[logicalIdAt(template, path)];
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource') }]);
  });

  it('refuses an alert address that is not one, saying how to fix it', () => {
    expect(() => synth({ alertEmails: 'not-an-address' })).toThrow(/alertEmails to a comma-separated list/);
  });
});

describe('monitoring', () => {
  it("has an operators' dashboard and alarms on 5xx answers, refused-request floods and authorizer latency, routed to the alert topic", () => {
    const template = synth();
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const topic = { Ref: logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource') };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: '5XXError', Namespace: 'AWS/ApiGateway', AlarmActions: [topic] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Duration', ExtendedStatistic: 'p99', Threshold: 1000, AlarmActions: [topic] });
    // A flood of refused requests (guessed keys run the authorizer) pages the operators too.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: '4XXError',
      Namespace: 'AWS/ApiGateway',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 30_000,
      AlarmActions: [topic],
    });
    const body = JSON.stringify(template.toJSON().Resources[logicalIdAt(template, 'ApiBilling/Monitoring/Dashboard/Resource')].Properties.DashboardBody);
    for (const title of ['API calls and errors', 'Aggregator iterator age', 'Dead-letter queue depth', 'Stripe sync']) expect(body).toContain(title);
  });
});
