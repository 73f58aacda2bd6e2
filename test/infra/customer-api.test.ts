import { Match, type Template } from 'aws-cdk-lib/assertions';
import { billingConfig } from '../../lambdas/core/config.ts';
import { actionsOn, logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

let template: Template;
beforeAll(() => {
  ({ template } = synthesizeStack());
});

const methodAt = (path: string) => template.toJSON().Resources[logicalIdAt(template, path)].Properties as Record<string, unknown>;

describe('customer API: usage and dashboard', () => {
  it('serves GET /usage through the key authorizer with no usage-plan key: authenticated, never metered', () => {
    expect(methodAt('ApiBilling/MeteredApi/Api/Default/usage/GET/Resource')).toMatchObject({
      HttpMethod: 'GET',
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: logicalIdAt(template, 'ApiBilling/MeteredApi/Authorizer/Resource') },
      ApiKeyRequired: false,
    });
  });

  it('serves the dashboard page and its assets publicly', () => {
    for (const path of ['ApiBilling/MeteredApi/Api/Default/dashboard/GET/Resource', 'ApiBilling/MeteredApi/Api/Default/dashboard/{asset}/GET/Resource']) {
      expect(methodAt(path)).toMatchObject({ HttpMethod: 'GET', AuthorizationType: 'NONE' });
    }
  });

  it('lets the usage function read only what it reports', () => {
    const actions = statementsOfFunction(template, logicalIdAt(template, 'ApiBilling/CustomerApi/UsageFunction/Resource')).flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Query']);
  });

  it('serves POST /feedback through the key authorizer with no usage-plan key, from the support function: authenticated, never metered', () => {
    const method = methodAt('ApiBilling/MeteredApi/Api/Default/feedback/POST/Resource');
    expect(method).toMatchObject({
      HttpMethod: 'POST',
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: logicalIdAt(template, 'ApiBilling/MeteredApi/Authorizer/Resource') },
      ApiKeyRequired: false,
    });
    expect(JSON.stringify(method.Integration)).toContain(logicalIdAt(template, 'ApiBilling/CustomerApi/SupportFunction/Resource'));
  });

  it("throttles POST /feedback on the stage (it has no usage plan), keeping the stage's error logging and metrics for it", () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([
        {
          ResourcePath: '/~1feedback',
          HttpMethod: 'POST',
          ThrottlingRateLimit: billingConfig.survey.throttle.rateLimit,
          ThrottlingBurstLimit: billingConfig.survey.throttle.burstLimit,
          LoggingLevel: 'ERROR',
          MetricsEnabled: true,
          DataTraceEnabled: false,
        },
      ]),
    });
    expect(billingConfig.survey.throttle).toEqual({ rateLimit: 10, burstLimit: 20 });
  });

  it('lets the support function read, put and update items in the Billing table only (tickets, filing counters, survey answers), and the usage function read the latest answer', () => {
    const billing = logicalIdAt(template, 'ApiBilling/Tables/Billing/Resource');
    const support = statementsOfFunction(template, logicalIdAt(template, 'ApiBilling/CustomerApi/SupportFunction/Resource'));
    expect(
      support
        .flatMap((st) => [st.Action].flat())
        .filter((a) => a.startsWith('dynamodb:'))
        .sort(),
    ).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    expect(actionsOn(support, billing)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    const usage = statementsOfFunction(template, logicalIdAt(template, 'ApiBilling/CustomerApi/UsageFunction/Resource'));
    expect(actionsOn(usage, billing)).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
  });
});
