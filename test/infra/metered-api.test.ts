import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { billingConfig, TIER_NAMES } from '../../lambdas/core/config.ts';
import { gatewayResponses } from '../../lambdas/core/gateway-contract.ts';
import { ROUTES } from '../../lambdas/core/routes.ts';
import { MeteredApi } from '../../lib/metered-api.ts';
import { BillingTables } from '../../lib/tables.ts';
import { actionsOn, logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

let template: Template;
let ids: Record<'api' | 'authorizer' | 'authorizerFunction' | 'accessLogs' | 'customers' | 'apiKeys' | 'usageEvents', string>;
beforeAll(() => {
  ({ template } = synthesizeStack());
  ids = {
    api: logicalIdAt(template, 'ApiBilling/MeteredApi/Api/Resource'),
    authorizer: logicalIdAt(template, 'ApiBilling/MeteredApi/Authorizer/Resource'),
    authorizerFunction: logicalIdAt(template, 'ApiBilling/MeteredApi/AuthorizerFunction/Resource'),
    accessLogs: logicalIdAt(template, 'ApiBilling/MeteredApi/AccessLogs/Resource'),
    customers: logicalIdAt(template, 'ApiBilling/Tables/Customers/Resource'),
    apiKeys: logicalIdAt(template, 'ApiBilling/Tables/ApiKeys/Resource'),
    usageEvents: logicalIdAt(template, 'ApiBilling/Tables/UsageEvents/Resource'),
  };
});

const stageProperties = () => Object.values(template.findResources('AWS::ApiGateway::Stage'))[0]!.Properties;

describe('metered REST API', () => {
  it('takes the usage-plan key from the authorizer, never from the caller', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { ApiKeySourceType: 'AUTHORIZER' });
  });

  it('has a REQUEST authorizer with no result caching whose identity source is the x-api-key header', () => {
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      AuthorizerResultTtlInSeconds: 0,
      // API Gateway answers a call without it 401 itself, never invoking the Lambda.
      IdentitySource: 'method.request.header.x-api-key',
    });
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      AuthorizerUri: { 'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [ids.authorizerFunction, 'Arn'] }])] },
    });
  });

  it.each([
    ['/api', 'api'],
    ['/api/{proxy+}', '{proxy+}'],
  ])('meters ANY %s: API key required, custom authorizer', (_path, pathPart) => {
    const resourceId = Object.entries(template.findResources('AWS::ApiGateway::Resource', { Properties: { PathPart: pathPart } }))[0]![0];

    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'ANY',
      ResourceId: { Ref: resourceId },
      ApiKeyRequired: true,
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: ids.authorizer },
      Integration: Match.objectLike({ Type: 'AWS_PROXY' }),
    });
  });

  it('requires a usage-plan key on the metered routes only', () => {
    expect(Object.keys(template.findResources('AWS::ApiGateway::Method', { Properties: { ApiKeyRequired: true } }))).toHaveLength(2);
    template.resourcePropertiesCountIs('AWS::ApiGateway::Method', { HttpMethod: 'ANY', ApiKeyRequired: true, AuthorizationType: 'CUSTOM' }, 2);
  });

  it('logs every call as one JSON line with the fields the outcome path reads', () => {
    const format = JSON.parse(stageProperties().AccessLogSetting.Format) as Record<string, string>;

    expect(Object.values(format)).toEqual(
      expect.arrayContaining(['$context.requestId', '$context.status', '$context.error.responseType', '$context.authorizer.customerId']),
    );
    expect(stageProperties().AccessLogSetting.DestinationArn).toEqual({ 'Fn::GetAtt': [ids.accessLogs, 'Arn'] });
  });

  it('keeps the access log for a bounded time', () => {
    expect(template.toJSON().Resources[ids.accessLogs].Properties.RetentionInDays).toBe(90);
  });

  it('traces, records metrics, logs errors without request data, and throttles the stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      TracingEnabled: true,
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          MetricsEnabled: true,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
          ThrottlingRateLimit: Match.anyValue(),
          ThrottlingBurstLimit: Match.anyValue(),
        }),
      ],
    });
  });

  const freeRoutes = Object.values(ROUTES).filter((route) => route.access === 'free');

  it.each(freeRoutes.map((route) => [`${route.method} ${route.resource}`, route] as const))(
    'throttles the free route %s on the stage (it has no usage plan), keeping error logging and metrics',
    (_name, route) => {
      const expected = route === ROUTES.feedback ? billingConfig.survey.throttle : billingConfig.freeRouteThrottle;

      expect(stageProperties().MethodSettings).toContainEqual({
        ResourcePath: `/${route.resource.replaceAll('/', '~1')}`,
        HttpMethod: route.method,
        ThrottlingRateLimit: expected.rateLimit,
        ThrottlingBurstLimit: expected.burstLimit,
        LoggingLevel: 'ERROR',
        MetricsEnabled: true,
        DataTraceEnabled: false,
      });
    },
  );

  it('throttles no other method on its own (the stage-wide setting covers the rest)', () => {
    expect(stageProperties().MethodSettings).toHaveLength(1 + freeRoutes.length);
  });

  it.each(freeRoutes.map((route) => [`${route.method} ${route.resource}`, route] as const))(
    "alarms to the alert topic when %s's request count nears its throttle",
    (_name, route) => {
      const { rateLimit } = route === ROUTES.feedback ? billingConfig.survey.throttle : billingConfig.freeRouteThrottle;

      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/ApiGateway',
        MetricName: 'Count',
        Statistic: 'Sum',
        Period: 300,
        Dimensions: Match.arrayWith([
          { Name: 'Method', Value: route.method },
          { Name: 'Resource', Value: route.resource },
        ]),
        Threshold: rateLimit * 150,
        AlarmActions: [{ Ref: logicalIdAt(template, 'ApiBilling/Alerts/Topic/Resource') }],
      });
    },
  );

  it('sets the account-level CloudWatch role that execution logging needs', () => {
    template.hasResourceProperties('AWS::ApiGateway::Account', { CloudWatchRoleArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } });
  });

  describe('usage plans', () => {
    const plan = (tier: string) => {
      const found = Object.values(template.findResources('AWS::ApiGateway::UsagePlan', { Properties: { UsagePlanName: `api-billing-${tier}` } }));
      expect(found).toHaveLength(1);
      return found[0]!.Properties;
    };

    it.each(TIER_NAMES)('%s: 1000 requests/minute per key, burst 100, on the API stage', (tier) => {
      const properties = plan(tier);

      expect(properties.Throttle.RateLimit).toBeCloseTo(16.67, 2);
      expect(properties.Throttle.BurstLimit).toBe(billingConfig.rateLimit.burst);
      expect(properties.ApiStages).toEqual([expect.objectContaining({ ApiId: { Ref: ids.api } })]);
    });

    it('Free has a hard quota of 1000 calls per month', () => {
      expect(plan('free').Quota).toEqual({ Limit: 1000, Period: 'MONTH' });
    });

    it.each(['pro', 'enterprise'])('%s has no quota', (tier) => {
      expect(plan(tier).Quota).toBeUndefined();
    });
  });

  describe('gateway responses', () => {
    /** A template value with its intrinsics written out: `{ Ref: X }` as `${X}`, Fn::Join joined. */
    const rendered = (value: unknown): string => {
      if (typeof value === 'string') return value;
      const intrinsic = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]] };
      if (intrinsic.Ref) return `\${${intrinsic.Ref}}`;
      if (intrinsic['Fn::Join']) return intrinsic['Fn::Join'][1].map(rendered).join(intrinsic['Fn::Join'][0]);
      throw new Error(`unexpected template value ${JSON.stringify(value)}`);
    };
    // The default upgrade link: this API's own pricing page on its default invoke URL.
    const pricingUrl = () => `https://\${${ids.api}}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/prod/pricing`;
    const responseBody = (type: string) => {
      const [response] = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse', { Properties: { ResponseType: type } }));
      return rendered(response!.Properties.ResponseTemplates['application/json']);
    };
    const responses = Object.entries(gatewayResponses('https://unused.example'));

    it.each(responses)('%s answers with the contract JSON body', (type, spec) => {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        RestApiId: { Ref: ids.api },
        ResponseType: type,
        StatusCode: spec.statusCode === undefined ? Match.absent() : String(spec.statusCode),
        ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Content-Type': "'application/json'" }),
      });
      expect(responseBody(type)).toBe(JSON.stringify(gatewayResponses(pricingUrl())[type as keyof ReturnType<typeof gatewayResponses>].body));
    });

    it.each([
      ['UNAUTHORIZED', '401'],
      ['ACCESS_DENIED', '403'],
      ['THROTTLED', '429'],
      ['QUOTA_EXCEEDED', '429'],
    ])('%s is a %s', (type, status) => {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', { ResponseType: type, StatusCode: status });
    });

    it("QUOTA_EXCEEDED links to the API's own pricing page by default", () => {
      const body = JSON.parse(responseBody('QUOTA_EXCEEDED')) as Record<string, string>;

      expect(billingConfig.upgradeUrl).toBeUndefined();
      expect(body.upgradeUrl).toBe(pricingUrl());
      expect(body.error).toBe('quota_exceeded');
    });

    it("QUOTA_EXCEEDED links to the operator's own page when the config names one", () => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Own');
      new MeteredApi(stack, 'MeteredApi', {
        tables: new BillingTables(stack, 'Tables'),
        config: { ...billingConfig, upgradeUrl: 'https://billing.example.com/pricing' },
      });
      const own = Template.fromStack(stack);

      own.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: 'QUOTA_EXCEEDED',
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"upgradeUrl":"https://billing.example.com/pricing"') },
      });
    });

    it('covers every response type of the contract', () => {
      template.resourceCountIs('AWS::ApiGateway::GatewayResponse', responses.length);
    });

    it('names the pricing page without a dependency cycle (a Ref to the Stage would close one through the Deployment)', () => {
      const resources = template.toJSON().Resources as Record<string, { DependsOn?: string | string[]; Properties?: unknown }>;
      const referencesOf = (value: unknown): string[] => {
        if (Array.isArray(value)) return value.flatMap(referencesOf);
        if (value === null || typeof value !== 'object') return [];
        const object = value as Record<string, unknown>;
        if (typeof object.Ref === 'string') return [object.Ref];
        if (Array.isArray(object['Fn::GetAtt'])) return [String(object['Fn::GetAtt'][0])];
        return Object.values(object).flatMap(referencesOf);
      };
      const edges = new Map(
        Object.entries(resources).map(([id, r]) => [id, [...[r.DependsOn ?? []].flat(), ...referencesOf(r.Properties)].filter((d) => d in resources)]),
      );
      // Depth-first search; a resource met again while still on the path closes a cycle.
      const state = new Map<string, 'open' | 'done'>();
      const cycles: string[][] = [];
      const visit = (id: string, path: string[]) => {
        if (state.get(id) === 'done') return;
        if (state.get(id) === 'open') return void cycles.push([...path.slice(path.indexOf(id)), id]);
        state.set(id, 'open');
        for (const next of edges.get(id) ?? []) visit(next, [...path, id]);
        state.set(id, 'done');
      };
      for (const id of edges.keys()) visit(id, []);

      expect(responseBody('QUOTA_EXCEEDED')).toContain(pricingUrl());
      expect(cycles).toEqual([]);
    });
  });

  describe('authorizer function', () => {
    it('finds the tables it reads and writes in its environment', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            CUSTOMERS_TABLE: { Ref: ids.customers },
            API_KEYS_TABLE: { Ref: ids.apiKeys },
            USAGE_EVENTS_TABLE: { Ref: ids.usageEvents },
          }),
        },
        Description: Match.stringLikeRegexp('authorizer'),
      });
    });

    it('may look keys and customers up and put usage events, nothing more', () => {
      const statements = statementsOfFunction(template, ids.authorizerFunction);

      expect(actionsOn(statements, ids.apiKeys)).toEqual(['dynamodb:GetItem']);
      expect(actionsOn(statements, ids.customers)).toEqual(['dynamodb:GetItem']);
      expect(actionsOn(statements, ids.usageEvents)).toEqual(['dynamodb:PutItem']);
      expect(JSON.stringify(statements)).not.toContain('/index/');
    });

    it('may be invoked by API Gateway', () => {
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [ids.authorizerFunction, 'Arn'] },
        Principal: 'apigateway.amazonaws.com',
      });
    });
  });
});
