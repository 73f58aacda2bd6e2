import type { Template } from 'aws-cdk-lib/assertions';
import { ROUTES, type RouteSpec } from '../../lambdas/core/routes.ts';
import { logicalIdAt, synthesizeStack } from './synth.ts';

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

/** Every method in the template, with its full resource path, rebuilt from the Resource tree. */
function methodsOf(template: Template): Array<{ method: string; resource: string; authorizationType: string; apiKeyRequired: boolean }> {
  const resources = template.toJSON().Resources as Resources;
  const pathOf = (ref: unknown): string => {
    const id = (ref as { Ref?: string }).Ref;
    const resource = id ? resources[id] : undefined;
    if (resource?.Type !== 'AWS::ApiGateway::Resource') return ''; // the API's root
    return `${pathOf(resource.Properties.ParentId)}/${resource.Properties.PathPart}`;
  };
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::ApiGateway::Method')
    .map((r) => ({
      method: r.Properties.HttpMethod as string,
      resource: pathOf(r.Properties.ResourceId) || '/',
      authorizationType: r.Properties.AuthorizationType as string,
      apiKeyRequired: r.Properties.ApiKeyRequired === true,
    }));
}

const EXPECTED: Record<RouteSpec['access'], { authorizationType: string; apiKeyRequired: boolean }> = {
  metered: { authorizationType: 'CUSTOM', apiKeyRequired: true },
  free: { authorizationType: 'CUSTOM', apiKeyRequired: false },
  public: { authorizationType: 'NONE', apiKeyRequired: false },
  'stripe-signed': { authorizationType: 'NONE', apiKeyRequired: false },
};

describe('one route table for the stack, the authorizer and the local gateway', () => {
  const { template } = synthesizeStack();
  const methods = methodsOf(template);

  it.each(Object.entries(ROUTES))('%s is deployed as its access says', (_, route) => {
    const deployed = methods.filter((m) => m.method === route.method && m.resource === route.resource);
    expect(deployed).toEqual([{ method: route.method, resource: route.resource, ...EXPECTED[route.access] }]);
  });

  it('deploys no method that is not in the table', () => {
    const table = Object.values(ROUTES)
      .map((r) => `${r.method} ${r.resource}`)
      .sort();
    expect(methods.map((m) => `${m.method} ${m.resource}`).sort()).toEqual(table);
  });

  it('serves GET /pricing publicly from the dashboard function: no authorizer, no API key', () => {
    const resources = template.toJSON().Resources as Resources;
    const pricing = resources[logicalIdAt(template, 'ApiBilling/MeteredApi/Api/Default/pricing/GET/Resource')]!.Properties;

    expect(ROUTES.pricing).toEqual({ method: 'GET', resource: '/pricing', access: 'public' });
    expect(pricing).toMatchObject({ HttpMethod: 'GET', AuthorizationType: 'NONE', ApiKeyRequired: false });
    expect(pricing.AuthorizerId).toBeUndefined();
    expect(JSON.stringify(pricing.Integration.Uri)).toContain(logicalIdAt(template, 'ApiBilling/CustomerApi/DashboardFunction/Resource'));
  });
});
