import type { Template } from 'aws-cdk-lib/assertions';
import { logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

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
});
