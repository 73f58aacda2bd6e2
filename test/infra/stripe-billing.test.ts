import type { Template } from 'aws-cdk-lib/assertions';
import { logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

let template: Template;
beforeAll(() => {
  ({ template } = synthesizeStack());
});

const resource = (path: string) => template.toJSON().Resources[logicalIdAt(template, path)] as { Properties: Record<string, any> };

describe('Stripe billing infrastructure', () => {
  it('runs the sync every 5 minutes, one run at a time, with no retry of its own', () => {
    const sync = logicalIdAt(template, 'ApiBilling/StripeBilling/SyncFunction/Resource');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [{ Arn: { 'Fn::GetAtt': [sync, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } }],
    });
    expect(resource('ApiBilling/StripeBilling/SyncFunction/Resource').Properties.ReservedConcurrentExecutions).toBe(1);
  });

  it('takes Stripe keys from Secrets Manager, never from the template', () => {
    const secretRef = { Ref: logicalIdAt(template, 'ApiBilling/StripeBilling/StripeSecret/Resource') };
    for (const fn of ['SyncFunction', 'WebhookFunction', 'UpgradeFunction']) {
      expect(resource(`ApiBilling/StripeBilling/${fn}/Resource`).Properties.Environment.Variables.STRIPE_SECRET_ARN).toEqual(secretRef);
    }
    expect(JSON.stringify(template.toJSON())).not.toMatch(/sk_(test|live)_[A-Za-z0-9]/);
  });

  it('serves the webhook on its own API, unauthorized at the gateway (Stripe signs it), and the upgrade on the customer API behind the key authorizer', () => {
    expect(resource('ApiBilling/StripeBilling/WebhookApi/Default/webhooks/stripe/POST/Resource').Properties).toMatchObject({ HttpMethod: 'POST', AuthorizationType: 'NONE' });
    expect(resource('ApiBilling/MeteredApi/Api/Default/billing/upgrade/POST/Resource').Properties).toMatchObject({
      HttpMethod: 'POST',
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: logicalIdAt(template, 'ApiBilling/MeteredApi/Authorizer/Resource') },
    });
  });

  it('lets the webhook move gateway keys between the tiers\' usage plans and nothing else in API Gateway', () => {
    const statements = statementsOfFunction(template, logicalIdAt(template, 'ApiBilling/StripeBilling/WebhookFunction/Resource'));
    const apigateway = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('apigateway:')));
    expect(apigateway).toHaveLength(1);
    expect([apigateway[0]!.Action].flat().sort()).toEqual(['apigateway:DELETE', 'apigateway:POST']);
    expect(JSON.stringify(apigateway[0]!.Resource)).toContain('/usageplans/');
    expect(statements.flatMap((s) => [s.Action].flat()).some((a) => a.endsWith(':*'))).toBe(false);
  });

  it('alarms when the sync fails', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdAt(template, 'ApiBilling/StripeBilling/SyncFunction/Resource') } }] });
  });

  it('outputs the secret to fill and the webhook URL to register', () => {
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['StripeSecretArn', 'StripeWebhookUrl', 'DashboardUrl']));
  });
});
