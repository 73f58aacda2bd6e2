import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { billingConfig, monthlyQuotaOf, TIER_NAMES, type BillingConfig, type TierName } from '../lambdas/core/config.ts';
import { ACCESS_LOG_FORMAT, API_KEY_HEADER, gatewayResponses, type MethodThrottle, methodThrottles, upgradeUrlFor } from '../lambdas/core/gateway-contract.ts';
import { TABLE_ENV } from '../lambdas/adapters/env.ts';
import { ROUTES } from '../lambdas/core/routes.ts';
import { ProductFunction } from './lambda-defaults.ts';
import { addRoute } from './routes.ts';
import type { BillingTables } from './tables.ts';

export interface MeteredApiProps {
  /** The product's tables: the authorizer resolves keys in them and writes one usage event per call. */
  readonly tables: BillingTables;
  /**
   * Tiers, rate limit and upgrade link (unset `upgradeUrl`: this API's `GET /pricing`).
   * @default billingConfig (lambdas/core/config.ts)
   */
  readonly config?: BillingConfig;
  /**
   * What the metered routes (`ANY /api`, `ANY /api/{proxy+}`) call once a request is authorized and within its plan.
   * @default - a proxy integration with the sample backend Lambda (lambdas/sample-backend)
   */
  readonly backend?: apigateway.Integration;
  /**
   * The stage name, the last segment of the API's URL.
   * @default 'prod'
   */
  readonly stageName?: string;
  /**
   * Stage-wide throttle: a ceiling across all keys, above the per-key usage-plan throttles.
   * @default { rateLimit: 1000, burstLimit: 2000 }
   */
  readonly stageThrottle?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * Retention of the access log. The outcome Lambda reads it as it is written; the log stays as
   * the record of what the gateway served.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly accessLogRetention?: logs.RetentionDays;
}

/**
 * The metered REST API: a REQUEST authorizer that meters every call (no result caching), one
 * usage plan per tier taking the key from the authorizer, JSON gateway responses and a JSON
 * access log that says what the gateway did with each call.
 */
export class MeteredApi extends Construct {
  /** The REST API; its deployment stage is `api.deploymentStage`. */
  readonly api: apigateway.RestApi;
  /** One usage plan per tier; a customer's gateway key sits in the plan of their tier. */
  readonly usagePlans: Record<TierName, apigateway.UsagePlan>;
  /** The access log: one JSON line per call, read by the outcome Lambda. */
  readonly accessLogGroup: logs.LogGroup;
  /** The metering REQUEST authorizer. */
  readonly authorizerFunction: ProductFunction;
  /** The key authorizer, for the product's free routes (authenticated, never metered: they have no usage plan). */
  readonly authorizer: apigateway.RequestAuthorizer;
  /** The sample backend, when no `backend` was given. */
  readonly sampleBackend?: ProductFunction;
  /** The stage's per-method throttles: every free route's (they have no usage plan). */
  readonly methodThrottles: readonly MethodThrottle[];

  constructor(scope: Construct, id: string, props: MeteredApiProps) {
    super(scope, id);
    const config = props.config ?? billingConfig;
    const stageThrottle = props.stageThrottle ?? { rateLimit: 1_000, burstLimit: 2_000 };
    if (!(stageThrottle.rateLimit > 0 && stageThrottle.burstLimit > 0)) {
      throw new Error(`MeteredApi ${id}: stageThrottle needs a positive rateLimit and burstLimit, got ${JSON.stringify(stageThrottle)}`);
    }
    const { tables } = props;
    const stageName = props.stageName ?? 'prod';
    this.methodThrottles = methodThrottles(config);

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.THREE_MONTHS,
    });

    this.api = new apigateway.RestApi(this, 'Api', {
      restApiName: 'api-billing',
      description: 'api-billing: the metered API',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // The usage plan key comes from the authorizer's usageIdentifierKey, never from the caller.
      apiKeySourceType: apigateway.ApiKeySourceType.AUTHORIZER,
      // Execution logging (errors only) needs the account-level CloudWatch role.
      cloudWatchRole: true,
      deployOptions: {
        stageName,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigateway.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FORMAT)),
        tracingEnabled: true,
        metricsEnabled: true,
        // ERROR only, and no data trace: request data would carry the callers' API keys.
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        throttlingRateLimit: stageThrottle.rateLimit,
        throttlingBurstLimit: stageThrottle.burstLimit,
        // A method setting replaces the stage's for that method: it repeats the logging and metrics choices.
        methodOptions: Object.fromEntries(
          this.methodThrottles.map(({ route, rateLimit, burstLimit }) => [
            `${route.resource}/${route.method}`,
            {
              throttlingRateLimit: rateLimit,
              throttlingBurstLimit: burstLimit,
              loggingLevel: apigateway.MethodLoggingLevel.ERROR,
              dataTraceEnabled: false,
              metricsEnabled: true,
            },
          ]),
        ),
      },
    });

    this.authorizerFunction = new ProductFunction(this, 'AuthorizerFunction', {
      handlerName: 'authorizer',
      description: 'Metering REQUEST authorizer: resolves the key, writes one usage event, allows or denies',
      memorySize: 512,
      environment: {
        [TABLE_ENV.customers]: tables.customers.tableName,
        [TABLE_ENV.apiKeys]: tables.apiKeys.tableName,
        [TABLE_ENV.usageEvents]: tables.usageEvents.tableName,
        [TABLE_ENV.counters]: tables.counters.tableName,
      },
    });
    // Exactly what the authorizer does: two lookups by key, one conditional put per call.
    // Table.grant would add the tables' index ARNs too; GetItem never touches an index.
    iam.Grant.addToPrincipal({
      grantee: this.authorizerFunction,
      actions: ['dynamodb:GetItem'],
      resourceArns: [tables.apiKeys.tableArn, tables.customers.tableArn],
    });
    tables.usageEvents.grant(this.authorizerFunction, 'dynamodb:PutItem');
    // The month counter, for the X-RateLimit-* figures (cached in the authorizer for a few seconds).
    tables.counters.grant(this.authorizerFunction, 'dynamodb:GetItem');

    this.authorizer = new apigateway.RequestAuthorizer(this, 'Authorizer', {
      handler: this.authorizerFunction,
      // Caching would skip the authorizer, and with it the usage event, on a cache hit.
      resultsCacheTtl: Duration.seconds(0),
      // A call without the key header gets the UNAUTHORIZED response from API Gateway, which never
      // invokes the authorizer for it: a keyless flood costs no Lambda run and no usage event.
      identitySources: [apigateway.IdentitySource.header(API_KEY_HEADER)],
    });

    let backend = props.backend;
    if (!backend) {
      this.sampleBackend = new ProductFunction(this, 'SampleBackend', {
        handlerName: 'sample-backend',
        description: 'Sample backend behind the metered routes: echoes the request',
      });
      backend = new apigateway.LambdaIntegration(this.sampleBackend);
    }

    const methods = [addRoute(this.api, ROUTES.api, backend, this.authorizer), addRoute(this.api, ROUTES.apiProxy, backend, this.authorizer)];
    for (const method of methods) {
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason: 'Authorized by a Lambda REQUEST authorizer that checks the API key hash; API consumers have API keys, not Cognito identities.',
      });
    }

    this.usagePlans = Object.fromEntries(
      TIER_NAMES.map((tier) => {
        const quota = monthlyQuotaOf(config.tiers[tier]);
        const plan = this.api.addUsagePlan(`UsagePlan-${tier}`, {
          name: `api-billing-${tier}`,
          description: `Tier ${tier}: ${config.rateLimit.requestsPerMinute} requests/minute per key${quota ? `, ${quota} calls per calendar month` : ', no quota'}`,
          throttle: { rateLimit: config.rateLimit.requestsPerMinute / 60, burstLimit: config.rateLimit.burst },
          ...(quota !== undefined && { quota: { limit: quota, period: apigateway.Period.MONTH } }),
          apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
        });
        return [tier, plan];
      }),
    ) as Record<TierName, apigateway.UsagePlan>;

    // The default invoke URL built from the API's id and the stage's name as a literal: api.urlForPath
    // would reference the Stage, which depends on the Deployment, which depends on these responses (a cycle).
    const { region, urlSuffix } = Stack.of(this);
    const invokeUrl = `https://${this.api.restApiId}.execute-api.${region}.${urlSuffix}/${stageName}`;
    for (const [type, spec] of Object.entries(gatewayResponses(upgradeUrlFor(config, invokeUrl)))) {
      this.api.addGatewayResponse(`Response-${type}`, {
        type: apigateway.ResponseType.of(type),
        ...(spec.statusCode !== undefined && { statusCode: String(spec.statusCode) }),
        responseHeaders: { 'Content-Type': "'application/json'", 'Cache-Control': "'no-store'" },
        templates: { 'application/json': JSON.stringify(spec.body) },
      });
    }

    Validations.of(this.api.node.findChild('CloudWatchRole')).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        "AmazonAPIGatewayPushToCloudWatchLogs is AWS's documented policy for the account-level role API Gateway writes execution logs with; it is scoped to CloudWatch Logs actions.",
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        "The metered routes are a transparent proxy (ANY /api/{proxy+}) to the operator's backend, which owns the request schema; the only input the gateway acts on, the API key, is validated by the authorizer.",
    });
  }
}
