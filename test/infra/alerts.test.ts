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
    for (const email of ['ops@example.com', 'billing@example.com']) template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email, TopicArn: { Ref: topic } });
  });

  it.each(['ApiBilling/Aggregation/DeadLetterAlarm/Resource', 'ApiBilling/Aggregation/IteratorAgeAlarm/Resource', 'ApiBilling/StripeBilling/SyncErrorsAlarm/Resource'])('routes %s to the topic', (path) => {
    const template = synth();
    const alarm = template.toJSON().Resources[logicalIdAt(template, path)];
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource') }]);
  });

  it('refuses an alert address that is not one, saying how to fix it', () => {
    expect(() => synth({ alertEmails: 'not-an-address' })).toThrow(/alertEmails to a comma-separated list/);
  });
});
