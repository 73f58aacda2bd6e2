import { Match, type Template } from 'aws-cdk-lib/assertions';
import { logicalIdAt, synthesizeStack } from './synth.ts';

let template: Template;
beforeAll(() => {
  ({ template } = synthesizeStack());
});

type Resource = { Type: string; Properties: Record<string, any> };
const resources = () => template.toJSON().Resources as Record<string, Resource>;
const functions = () => Object.entries(template.findResources('AWS::Lambda::Function')) as Array<[string, Resource]>;

describe('the stack', () => {
  it.each([
    ['CustomersTable', 'ApiBilling/Tables/Customers/Resource'],
    ['ApiKeysTable', 'ApiBilling/Tables/ApiKeys/Resource'],
    ['UsageEventsTable', 'ApiBilling/Tables/UsageEvents/Resource'],
    ['CountersTable', 'ApiBilling/Tables/Counters/Resource'],
    ['BillingTable', 'ApiBilling/Tables/Billing/Resource'],
    ['RestApiId', 'ApiBilling/MeteredApi/Api/Resource'],
    ['UsagePlanIdFree', 'ApiBilling/MeteredApi/Api/UsagePlan-free/Resource'],
    ['UsagePlanIdPro', 'ApiBilling/MeteredApi/Api/UsagePlan-pro/Resource'],
    ['UsagePlanIdEnterprise', 'ApiBilling/MeteredApi/Api/UsagePlan-enterprise/Resource'],
    ['DeadLetterQueueUrl', 'ApiBilling/Aggregation/DeadLetterQueue/Resource'],
  ])('outputs %s', (output, path) => {
    template.hasOutput(output, { Value: { Ref: logicalIdAt(template, path) } });
  });

  it('outputs the API URL of the deployment stage', () => {
    const stage = logicalIdAt(template, 'ApiBilling/MeteredApi/Api/DeploymentStage.prod/Resource');

    template.hasOutput('ApiUrl', { Value: { 'Fn::Join': ['', Match.arrayWith([{ Ref: stage }])] } });
  });

  describe('Lambda defaults', () => {
    it('has the twelve product functions', () => {
      template.resourceCountIs('AWS::Lambda::Function', 12);
    });

    it.each([
      'AuthorizerFunction',
      'SampleBackend',
      'AggregatorFunction',
      'OutcomeFunction',
      'UsageFunction',
      'DashboardFunction',
      'SupportFunction',
      'SyncFunction',
      'WebhookFunction',
      'UpgradeFunction',
      'ReconcileFunction',
      'MetricsFunction',
    ])('%s: Node.js 22 on arm64, traced, Powertools environment', (name) => {
      const [, fn] = functions().find(([id]) => id.includes(name))!;

      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        Environment: { Variables: expect.objectContaining({ POWERTOOLS_SERVICE_NAME: 'api-billing', POWERTOOLS_LOG_LEVEL: 'INFO' }) },
        // Lambda's platform lines are not sent (a sixth of a metered call's cost); Powertools' level is the application level.
        LoggingConfig: expect.objectContaining({ LogFormat: 'JSON', SystemLogLevel: 'WARN', ApplicationLogLevel: 'INFO' }),
      });
    });

    it("samples 1% of the metered stage's requests for X-Ray, with no per-second reservoir", () => {
      const stage = logicalIdAt(template, 'ApiBilling/MeteredApi/Api/DeploymentStage.prod/Resource');
      const api = logicalIdAt(template, 'ApiBilling/MeteredApi/Api/Resource');
      const [rule] = Object.values(template.findResources('AWS::XRay::SamplingRule')) as Resource[];

      expect(rule!.Properties.SamplingRule).toMatchObject({ FixedRate: 0.01, ReservoirSize: 0, ServiceType: 'AWS::ApiGateway::Stage', Version: 1 });
      expect(rule!.Properties.SamplingRule.RuleName.length).toBeLessThanOrEqual(32);
      const arn = JSON.stringify(rule!.Properties.SamplingRule.ResourceARN);
      expect(arn).toContain(`{"Ref":"${api}"}`);
      expect(arn).toContain(`{"Ref":"${stage}"}`);
    });

    it('gives every function its own log group with a retention, and the right to write only there', () => {
      for (const [, fn] of functions()) {
        const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
        const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
        const statements = Object.values(resources())
          .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId))
          .flatMap((r) => r.Properties.PolicyDocument.Statement as Array<{ Action: unknown; Resource: unknown }>);

        expect(resources()[logGroupId]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
        expect(statements).toContainEqual(
          expect.objectContaining({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } }),
        );
      }
    });

    it('attaches no AWS managed policy to a function role', () => {
      for (const [, fn] of functions()) {
        const role = resources()[fn.Properties.Role['Fn::GetAtt'][0] as string]!;

        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
    });
  });

  it('allows Resource "*" only for actions that support no resource-level permissions', () => {
    const actions = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>)
      .filter((s) => s.Resource === '*' || (Array.isArray(s.Resource) && s.Resource.includes('*')))
      .flatMap((s) => s.Action);

    expect([...new Set(actions)].sort()).toEqual(['dynamodb:ListStreams', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });

  it('grants no IAM action by wildcard', () => {
    const actions = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[] }>).flatMap((s) => s.Action),
    );

    // The one family granted by prefix is KMS's GenerateDataKey*, on the alert topic's key, for publishing.
    expect([...new Set(actions.filter((a) => a.includes('*')))]).toEqual(['kms:GenerateDataKey*']);
  });
});
