/**
 * Every deployed handler module, loaded as Lambda loads it: a fresh module registry, the
 * environment the synthesized stack gives that function (its tables' Refs resolved to this test's
 * DynamoDB Local tables), clients built at import, and the exported `handler` invoked with the
 * event its trigger sends. Only the test's wiring is added to the environment: the SDK's standard
 * `AWS_ENDPOINT_URL_DYNAMODB` (and region, credentials) and `STRIPE_API_BASE` for the local Stripe.
 *
 * DynamoDB and Stripe are real (DynamoDB Local, the local Stripe). The services we cannot run
 * locally are mocked on their clients only, and their requests asserted: SNS (alerts), the API
 * Gateway control plane (gateway keys) and Secrets Manager (the deployed functions read the Stripe
 * secret by `STRIPE_SECRET_ARN`, as the stack sets it).
 */
import { readdirSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, CloudWatchLogsEvent, Context, ScheduledEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createCustomer } from '../../lambdas/core/customers.ts';
import { billingConfig, type TierName } from '../../lambdas/core/config.ts';
import { settledBefore, syncCustomerMonth } from '../../lambdas/core/sync.ts';
import { startOfNextUtcMonth } from '../../lambdas/core/time.ts';
import { priceIdsOfTier } from '../../lambdas/core/subscriptions.ts';
import type { UsageReport } from '../../lambdas/core/usage-report.ts';
import type { UsageResponse } from '../../lambdas/usage-api/usage-api.ts';
import { DynamoFeedbackStore } from '../../lambdas/adapters/feedback-store.ts';
import { type ExperimentReport, startBeta } from '../../lambdas/core/experiment.ts';
import { EXPERIMENT_METRICS_NAMESPACE } from '../../lambdas/core/experiment-monitoring.ts';
import { EXPERIMENT_SNAPSHOT_PK } from '../../lambdas/adapters/experiment-snapshots.ts';
import type { TableNames, TableRole } from '../../lambdas/adapters/env.ts';
import { billingFixture, type BillingFixture } from '../harness/billing.ts';
import { midMonthClock } from '../harness/clock.ts';
import { addHourCounts, serveCalls } from '../harness/counters.ts';
import { authorizerEvent } from '../harness/metering.ts';
import { insertRecord, usageEvent } from '../harness/stream-records.ts';
import { synthesizeStack } from '../infra/synth.ts';

const ROOT = resolve(__dirname, '../..');

/** Each handler directory and the function the stack deploys it as (construct path). */
const FUNCTIONS = {
  authorizer: 'ApiBilling/MeteredApi/AuthorizerFunction/Resource',
  'sample-backend': 'ApiBilling/MeteredApi/SampleBackend/Resource',
  aggregator: 'ApiBilling/Aggregation/AggregatorFunction/Resource',
  outcome: 'ApiBilling/Aggregation/OutcomeFunction/Resource',
  'usage-api': 'ApiBilling/CustomerApi/UsageFunction/Resource',
  'support-api': 'ApiBilling/CustomerApi/SupportFunction/Resource',
  dashboard: 'ApiBilling/CustomerApi/DashboardFunction/Resource',
  'stripe-sync': 'ApiBilling/StripeBilling/SyncFunction/Resource',
  'stripe-webhook': 'ApiBilling/StripeBilling/WebhookFunction/Resource',
  'billing-api': 'ApiBilling/StripeBilling/UpgradeFunction/Resource',
  reconciliation: 'ApiBilling/Reconciliation/ReconcileFunction/Resource',
  'experiment-metrics': 'ApiBilling/ExperimentMonitoring/MetricsFunction/Resource',
} as const;
type HandlerName = keyof typeof FUNCTIONS;

type CfnValue = string | { Ref: string };
interface CfnResource {
  Type: string;
  Metadata?: Record<string, unknown>;
  Properties: { Environment?: { Variables?: Record<string, CfnValue> } };
}

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ApiBillingStripeSecret-AbCdEf';
const CHECKOUT_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ApiBillingCheckoutStripeSecret-AbCdEf';
const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:ApiBilling-AlertsTopic';

let resources: Record<string, CfnResource>;

/** Where the deployed function's Refs point, here: this test's tables, stand-ins for the topic, plans and secret. */
function resolveRef(logicalId: string, tables: TableNames): string {
  const resource = resources[logicalId];
  if (!resource) throw new Error(`Ref to ${logicalId}, which is not in the template`);
  const path = String(resource.Metadata?.['aws:cdk:path'] ?? '');
  switch (resource.Type) {
    case 'AWS::DynamoDB::Table': {
      const construct = /\/Tables\/([A-Za-z]+)\/Resource$/.exec(path)?.[1] ?? '';
      return tables[(construct.charAt(0).toLowerCase() + construct.slice(1)) as TableRole];
    }
    case 'AWS::SNS::Topic':
      return TOPIC_ARN;
    case 'AWS::SecretsManager::Secret':
      return path.endsWith('/CheckoutStripeSecret/Resource') ? CHECKOUT_SECRET_ARN : SECRET_ARN;
    case 'AWS::ApiGateway::UsagePlan':
      return `plan-${logicalId}`;
    default:
      throw new Error(`no local stand-in for a Ref to ${resource.Type} (${path})`);
  }
}

/** The environment the stack gives the function that runs `name`, resolved for `tables`. */
function deployedEnvironment(name: HandlerName, tables: TableNames): Record<string, string> {
  const fn = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['aws:cdk:path'] === FUNCTIONS[name]);
  if (!fn) throw new Error(`no function at ${FUNCTIONS[name]}`);
  return Object.fromEntries(
    Object.entries(fn.Properties.Environment?.Variables ?? {}).map(([key, value]) => {
      if (typeof value === 'string') return [key, value];
      if ('Ref' in value) return [key, resolveRef(value.Ref, tables)];
      throw new Error(`${name}: ${key} is ${JSON.stringify(value)}, which this test cannot resolve`);
    }),
  );
}

/** A Lambda context, as the runtime passes it. */
function lambdaContext(name: string, remainingMs = 10_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: `ApiBilling-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:ApiBilling-${name}`,
    memoryLimitInMB: '256',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: `/aws/lambda/ApiBilling-${name}`,
    logStreamName: '2026/11/15/[$LATEST]abc',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A proxy event as API Gateway sends it after the key authorizer allowed the call. */
function proxyEvent(options: {
  method: string;
  path: string;
  resource: string;
  body?: string;
  authorizer?: Record<string, unknown>;
  pathParameters?: Record<string, string>;
}): APIGatewayProxyEvent {
  return {
    resource: options.resource,
    path: options.path,
    httpMethod: options.method,
    headers: { Host: 'abc123.execute-api.us-east-1.amazonaws.com', 'content-type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: options.pathParameters ?? null,
    stageVariables: null,
    body: options.body ?? null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: options.authorizer ?? null,
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      httpMethod: options.method,
      identity: { sourceIp: '203.0.113.7', userAgent: 'curl/8' } as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/prod${options.path}`,
      protocol: 'HTTP/1.1',
      requestId: `rq-${Math.random().toString(16).slice(2)}`,
      requestTimeEpoch: Date.now(),
      resourceId: 'res1',
      resourcePath: options.resource,
      stage: 'prod',
    },
  };
}

type Handler<E, R> = (event: E, context: Context) => Promise<R>;
type Mocks = { sns: ReturnType<typeof mockClient>; apiGateway: ReturnType<typeof mockClient>; secrets: ReturnType<typeof mockClient> };
type Sdk = {
  sns: typeof import('@aws-sdk/client-sns');
  apiGateway: typeof import('@aws-sdk/client-api-gateway');
  secrets: typeof import('@aws-sdk/client-secrets-manager');
};

/**
 * Loads `lambdas/<name>/handler.ts` in a fresh module registry, with `process.env` set to `env`,
 * after mocking the non-DynamoDB AWS clients of that registry (the classes the handler will use).
 */
function loadHandler<E, R>(
  name: HandlerName,
  env: Record<string, string>,
  setup: (sdk: Sdk, mocks: Mocks) => void = () => undefined,
): { handler: Handler<E, R>; mocks: Mocks; sdk: Sdk } {
  process.env = { ...env };
  let loaded: { handler: Handler<E, R>; mocks: Mocks; sdk: Sdk } | undefined;
  jest.isolateModules(() => {
    const sdk: Sdk = {
      sns: require('@aws-sdk/client-sns'),
      apiGateway: require('@aws-sdk/client-api-gateway'),
      secrets: require('@aws-sdk/client-secrets-manager'),
    };
    const mocks: Mocks = {
      sns: mockClient(sdk.sns.SNSClient),
      apiGateway: mockClient(sdk.apiGateway.APIGatewayClient),
      secrets: mockClient(sdk.secrets.SecretsManagerClient),
    };
    setup(sdk, mocks);
    const module = require(join(ROOT, 'lambdas', name, 'handler.ts')) as { handler: Handler<E, R> };
    loaded = { handler: module.handler, mocks, sdk };
  });
  return loaded!;
}

/** Every request a mocked client got, as [command name, input]. */
const requestsOf = (mock: ReturnType<typeof mockClient>) =>
  mock.calls().map((call) => [(call.args[0] as object).constructor.name, (call.args[0] as { input: unknown }).input]);

describe('deployed handler modules, each with its environment, against DynamoDB Local and the local Stripe', () => {
  const originalEnv = process.env;
  let f: BillingFixture;
  let now: number;

  beforeAll(() => {
    resources = synthesizeStack().template.toJSON().Resources as Record<string, CfnResource>;
    // Handlers read Date.now; a clock mid-month (advancing in real time) keeps every test in one month.
    jest.useFakeTimers({
      now: midMonthClock()(),
      advanceTimers: true,
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
  });
  afterAll(() => {
    jest.useRealTimers();
  });
  beforeEach(async () => {
    now = Date.now();
    f = await billingFixture(now);
  });
  afterEach(async () => {
    process.env = originalEnv;
    await f.stop();
  });

  /** The function's deployed environment, plus the test's wiring to DynamoDB Local and the local Stripe. */
  const environmentOf = (name: HandlerName): Record<string, string> => ({
    ...deployedEnvironment(name, f.tables),
    PATH: originalEnv.PATH ?? '',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: f.endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    STRIPE_API_BASE: f.stripe.url,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });

  /** The Stripe secret as the operator stores it, served by the mocked Secrets Manager for the stack's ARN only. */
  const stripeSecret =
    (webhookSecret = 'whsec_handlers_test') =>
    (sdk: Sdk, mocks: Mocks) => {
      mocks.secrets
        .on(sdk.secrets.GetSecretValueCommand, { SecretId: SECRET_ARN })
        .resolves({ SecretString: JSON.stringify({ secretKey: 'sk_test_local', webhookSecret }) });
    };
  /** The upgrade's own secret: a restricted key (the local Stripe takes any test-mode key). */
  const checkoutSecret = (sdk: Sdk, mocks: Mocks) => {
    mocks.secrets
      .on(sdk.secrets.GetSecretValueCommand, { SecretId: CHECKOUT_SECRET_ARN })
      .resolves({ SecretString: JSON.stringify({ secretKey: 'rk_test_local' }) });
  };

  async function customer(tier: TierName) {
    const { stripe } = await f.services.ready();
    return createCustomer({ name: `${tier} customer`, tier }, { registry: f.services.customers, gatewayKeys: f.gatewayKeys, now: () => now, stripe });
  }

  const hourOf = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 13);
  const counter = async (pk: string, sk: string) =>
    (await f.doc.send(new GetCommand({ TableName: f.tables.counters, Key: { pk, sk }, ConsistentRead: true }))).Item;

  it('covers every lambdas/*/handler.ts the stack deploys, and every function the stack builds from one', () => {
    const dirs = readdirSync(join(ROOT, 'lambdas')).filter((d) => existsSync(join(ROOT, 'lambdas', d, 'handler.ts')));
    expect(dirs.sort()).toEqual(Object.keys(FUNCTIONS).sort());
    const productFunctions = Object.values(resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME)
      .map((r) => r.Metadata?.['aws:cdk:path']);
    expect(productFunctions.sort()).toEqual(Object.values(FUNCTIONS).sort());
  });

  it('fails at import, naming the variable, when the environment lacks one (authorizer without COUNTERS_TABLE)', () => {
    const { COUNTERS_TABLE: _dropped, ...env } = environmentOf('authorizer');
    expect(() => loadHandler('authorizer', env)).toThrow(/Bad Lambda configuration: COUNTERS_TABLE/);
  });

  it("authorizer: a REQUEST authorizer event with a valid key is allowed under the customer's gateway key and writes one usage event", async () => {
    const { customer: c, apiKey } = await customer('free');
    const { handler } = loadHandler<
      ReturnType<typeof authorizerEvent>,
      { principalId: string; usageIdentifierKey?: string; policyDocument: { Statement: Array<{ Effect: string }> }; context: Record<string, unknown> }
    >('authorizer', environmentOf('authorizer'));
    const event = authorizerEvent({ requestId: 'rq-authorizer-1', headers: { 'x-api-key': apiKey.key } });
    const result = await handler(event, lambdaContext('authorizer'));
    expect(result).toMatchObject({
      principalId: c.customerId,
      usageIdentifierKey: c.gatewayKeyValue,
      policyDocument: { Statement: [{ Effect: 'Allow' }] },
      context: { customerId: c.customerId },
    });
    const written = (await f.doc.send(new ScanCommand({ TableName: f.tables.usageEvents, ConsistentRead: true }))).Items;
    expect(written).toEqual([expect.objectContaining({ requestId: 'rq-authorizer-1', customerId: c.customerId, hour: hourOf(Date.now()) })]);

    const denied = await handler(
      authorizerEvent({ requestId: 'rq-authorizer-2', headers: { 'x-api-key': `ab_live_${'x'.repeat(43)}` } }),
      lambdaContext('authorizer'),
    ).catch((e: Error) => e);
    expect(String(denied)).toMatch(/Unauthorized/);
  });

  it('aggregator: a windowed DynamoDB stream batch (with shardId) is folded into the hour and month counters', async () => {
    const hour = hourOf(now);
    const { handler } = loadHandler<unknown, { batchItemFailures: unknown[]; state: Record<string, string> }>('aggregator', environmentOf('aggregator'));
    const records = [insertRecord(101, usageEvent('rq-a1', 'cust_agg', hour)), insertRecord(102, usageEvent('rq-a2', 'cust_agg', hour))];
    const event = {
      Records: records,
      window: { start: new Date(now).toISOString(), end: new Date(now + 60_000).toISOString() },
      state: {},
      shardId: 'shardId-00000001700000000000-abcdef12',
      eventSourceARN: records[0]!.eventSourceARN,
      isFinalInvokeForWindow: false,
      isWindowTerminatedEarly: false,
    };
    expect(await handler(event, lambdaContext('aggregator'))).toEqual({ batchItemFailures: [], state: {} });
    expect(await counter('CUSTOMER#cust_agg', `HOUR#${hour}`)).toMatchObject({ billable: 2 });
    expect(await counter('CUSTOMER#cust_agg', `MONTH#${hour.slice(0, 7)}`)).toMatchObject({ billable: 2 });
    // Lambda redelivers the batch: nothing is counted twice.
    expect(await handler(event, lambdaContext('aggregator'))).toEqual({ batchItemFailures: [], state: {} });
    expect(await counter('CUSTOMER#cust_agg', `HOUR#${hour}`)).toMatchObject({ billable: 2 });
  });

  it('outcome: a CloudWatch Logs subscription event (gzip, base64) voids a throttled call and counts the outcomes', async () => {
    const hour = hourOf(now);
    for (const id of ['rq-ok', 'rq-throttled']) await f.doc.send(new PutCommand({ TableName: f.tables.usageEvents, Item: usageEvent(id, 'cust_out', hour) }));
    const line = (requestId: string, status: number, responseType: string) =>
      JSON.stringify({
        requestId,
        requestTimeEpoch: String(now),
        httpMethod: 'GET',
        resourcePath: '/api/{proxy+}',
        status: String(status),
        responseType,
        customerId: 'cust_out',
        latencyMs: '4',
      });
    const data = {
      messageType: 'DATA_MESSAGE',
      owner: '123456789012',
      logGroup: 'ApiBilling-MeteredApiAccessLogs',
      logStream: 'abc123_prod',
      subscriptionFilters: ['ApiBilling-AccessLogSubscription'],
      logEvents: [
        { id: '3750000000000000000000000000000000000000000000000000001', timestamp: now, message: line('rq-ok', 200, '-') },
        { id: '3750000000000000000000000000000000000000000000000000002', timestamp: now, message: line('rq-throttled', 429, 'THROTTLED') },
      ],
    };
    const event: CloudWatchLogsEvent = { awslogs: { data: gzipSync(JSON.stringify(data)).toString('base64') } };
    const { handler } = loadHandler<CloudWatchLogsEvent, unknown>('outcome', environmentOf('outcome'));
    expect(await handler(event, lambdaContext('outcome'))).toEqual({ voided: 1, counted: 'added' });
    const eventOf = async (requestId: string) =>
      (await f.doc.send(new GetCommand({ TableName: f.tables.usageEvents, Key: { requestId }, ConsistentRead: true }))).Item;
    expect(await eventOf('rq-throttled')).toMatchObject({ voided: true, voidReason: 'THROTTLED' });
    expect(await eventOf('rq-ok')).not.toHaveProperty('voided');
    expect(await counter('CUSTOMER#cust_out', `OUTCOME#${hour}`)).toMatchObject({ s2xx: 1, s4xx: 1 });
  });

  it("usage-api: GET /usage answers the customer's month from the counters", async () => {
    const { customer: c } = await customer('free');
    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: hourOf(now - 3_600_000), billable: 42 }]);
    const { handler } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('usage-api', environmentOf('usage-api'));
    const response = await handler(
      proxyEvent({ method: 'GET', path: '/usage', resource: '/usage', authorizer: { customerId: c.customerId, principalId: c.customerId } }),
      lambdaContext('usage-api'),
    );
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({
      customerId: c.customerId,
      tier: 'free',
      month: hourOf(now).slice(0, 7),
      calls: 42,
      quota: { limit: 1000, remaining: 958 },
    });
  });

  it('usage-api: GET /usage asks the NPS survey of a customer of 7 days or more until it answers or dismisses it', async () => {
    const { customer: c } = await customer('free');
    const { handler } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('usage-api', environmentOf('usage-api'));
    const survey = async () =>
      (
        JSON.parse(
          (
            await handler(
              proxyEvent({ method: 'GET', path: '/usage', resource: '/usage', authorizer: { customerId: c.customerId, principalId: c.customerId } }),
              lambdaContext('usage-api'),
            )
          ).body,
        ) as UsageResponse
      ).survey;

    expect(await survey()).toEqual({ ask: false }); // a new customer has not used the API yet
    await f.services.customers.updateCustomer(c.customerId, { createdAt: new Date(now - 8 * 86_400_000).toISOString() });
    expect(await survey()).toEqual({ ask: true });
    await new DynamoFeedbackStore(f.doc, f.tables.billing).record({ kind: 'dismissal', customerId: c.customerId, at: Date.now() }, 0);
    expect(await survey()).toEqual({ ask: false });
  });

  it("usage-api: GET /usage tells the month's reconciliation (metered, billed, when, corrections) once one has run, and says so before", async () => {
    const { customer: c } = await customer('pro');
    const month = hourOf(now).slice(0, 7);
    // 42 calls two hours ago, settled (the helper keeps the month item with its hours, as the aggregator does).
    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: hourOf(now - 2 * 3_600_000), billable: 42 }]);
    const { handler } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('usage-api', environmentOf('usage-api'));
    const getUsage = async () =>
      JSON.parse(
        (
          await handler(
            proxyEvent({ method: 'GET', path: '/usage', resource: '/usage', authorizer: { customerId: c.customerId, principalId: c.customerId } }),
            lambdaContext('usage-api'),
          )
        ).body,
      ) as UsageReport;

    const before = await getUsage();
    expect(before.reconciliation).toBeNull();
    expect(before.previousMonths.map((m) => m.reconciliation)).toEqual([null, null, null]);

    // The real reconciliation: it syncs the 42 calls to the local Stripe, compares, and stores its record in the Billing table.
    const run = await f.services.reconcile({ alerts: f.alertSink, customerId: c.customerId, trigger: 'on-demand' });
    expect(run.records.map((r) => [r.month, r.discrepancy])).toEqual([[month, false]]);

    const after = await getUsage();
    expect(after.reconciliation).toEqual({
      month,
      meteredCalls: 42,
      billedCalls: 42,
      reconciledAt: new Date(now).toISOString(),
      corrections: [],
      matches: true,
      billedBefore: new Date(settledBefore(now, billingConfig.settleWindowMinutes)).toISOString(),
    });
    // The customer was created this month: there is nothing to reconcile before it.
    expect(after.previousMonths.map((m) => m.reconciliation)).toEqual([null, null, null]);
  });

  it("support-api: POST /support/tickets stores the ticket and publishes the alert to the stack's topic", async () => {
    const { handler, mocks, sdk } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('support-api', environmentOf('support-api'), (s, m) => {
      m.sns.on(s.sns.PublishCommand).resolves({ MessageId: 'msg-1' });
    });
    const response = await handler(
      proxyEvent({
        method: 'POST',
        path: '/support/tickets',
        resource: '/support/tickets',
        body: JSON.stringify({ message: 'My invoice counts calls twice' }),
        authorizer: { customerId: 'cust_support' },
      }),
      lambdaContext('support-api'),
    );
    expect(response.statusCode).toBe(201);
    const { ticketId } = JSON.parse(response.body) as { ticketId: string };
    const stored = (await f.doc.send(new ScanCommand({ TableName: f.tables.billing, ConsistentRead: true }))).Items ?? [];
    expect(stored).toContainEqual(expect.objectContaining({ ticketId, customerId: 'cust_support', message: 'My invoice counts calls twice' }));
    expect(requestsOf(mocks.sns)).toEqual([
      [
        'PublishCommand',
        {
          TopicArn: TOPIC_ARN,
          Subject: `[api-billing] Billing ticket ${ticketId} from cust_support`,
          Message: expect.stringContaining('My invoice counts calls twice'),
          MessageAttributes: { severity: { DataType: 'String', StringValue: 'notify' } },
        },
      ],
    ]);
    expect(mocks.sns.commandCalls(sdk.sns.PublishCommand)).toHaveLength(1);
  });

  it('support-api: POST /feedback stores an NPS answer in the Billing table; another within 30 days is a 429 with when, bad input a 400, both changing nothing', async () => {
    const { handler, mocks } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('support-api', environmentOf('support-api'));
    const post = async (body: string) => {
      const response = await handler(
        proxyEvent({ method: 'POST', path: '/feedback', resource: '/feedback', body, authorizer: { customerId: 'cust_nps', principalId: 'cust_nps' } }),
        lambdaContext('support-api'),
      );
      return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body) as Record<string, unknown> };
    };
    const billingItems = async () => (await f.doc.send(new ScanCommand({ TableName: f.tables.billing, ConsistentRead: true }))).Items ?? [];

    const before = await billingItems();
    expect(await post(JSON.stringify({ score: 11 }))).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await post('x'.repeat(100_000))).toMatchObject({ status: 413, body: { error: 'bad_request' } });
    expect(await billingItems()).toEqual(before);

    const sentAt = Date.now();
    const answered = await post(JSON.stringify({ score: 9, comment: 'Clear bills\u202e, fast support' }));
    expect(answered).toMatchObject({ status: 201, body: { recorded: 'answer' } });
    const askedAgainIn = Date.parse(String(answered.body.nextSurveyAt)) - sentAt;
    expect(askedAgainIn).toBeGreaterThanOrEqual(30 * 86_400_000);
    expect(askedAgainIn).toBeLessThan(30 * 86_400_000 + 60_000);
    const stored = await billingItems();
    expect(stored).toContainEqual(
      expect.objectContaining({ pk: 'CUSTOMER#cust_nps', sk: 'FEEDBACK', kind: 'answer', score: 9, comment: 'Clear bills, fast support' }),
    );
    expect(stored).toContainEqual(expect.objectContaining({ pk: `FEEDBACK#${hourOf(now).slice(0, 7)}`, customerId: 'cust_nps', score: 9 }));

    const again = await post(JSON.stringify({ dismissed: true }));
    expect(again).toMatchObject({ status: 429, body: { error: 'too_soon', retryAt: answered.body.nextSurveyAt } });
    expect(Number(again.headers?.['retry-after'])).toBeGreaterThan(29 * 86_400);
    expect(await billingItems()).toEqual(stored);
    expect(mocks.sns.calls()).toEqual([]); // feedback pages nobody
  });

  it('billing-api: POST /billing/upgrade starts a Checkout session in the local Stripe that returns to the dashboard', async () => {
    const { customer: c } = await customer('free');
    const { handler, mocks } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('billing-api', environmentOf('billing-api'), checkoutSecret);
    const response = await handler(
      proxyEvent({
        method: 'POST',
        path: '/billing/upgrade',
        resource: '/billing/upgrade',
        body: JSON.stringify({ tier: 'pro' }),
        authorizer: { customerId: c.customerId },
      }),
      lambdaContext('billing-api'),
    );
    expect(response.statusCode).toBe(200);
    const { url } = JSON.parse(response.body) as { url: string };
    expect(url.startsWith(`${f.stripe.url}/_local/checkout/`)).toBe(true);
    expect(requestsOf(mocks.secrets)).toEqual([['GetSecretValueCommand', expect.objectContaining({ SecretId: CHECKOUT_SECRET_ARN })]]);
    const session = await f.stripe.client().checkout.sessions.retrieve(url.slice(url.lastIndexOf('/') + 1));
    expect(session).toMatchObject({
      customer: c.stripeCustomerId,
      success_url: 'https://abc123.execute-api.us-east-1.amazonaws.com/prod/dashboard?upgraded=pro',
    });
  });

  it('billing-api: POST /billing/downgrade schedules the opt-out in the local Stripe and audits it as the customer; DELETE undoes it', async () => {
    const { customer: c } = await customer('pro');
    const { handler } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('billing-api', environmentOf('billing-api'), checkoutSecret);
    const call = (method: 'POST' | 'DELETE', body?: string) =>
      handler(
        proxyEvent({ method, path: '/billing/downgrade', resource: '/billing/downgrade', body, authorizer: { customerId: c.customerId } }),
        lambdaContext('billing-api'),
      );
    const at = new Date(startOfNextUtcMonth(now)).toISOString();
    const scheduled = await call('POST', JSON.stringify({ takesEffectAt: at }));
    expect([scheduled.statusCode, JSON.parse(scheduled.body)]).toEqual([200, { pendingChange: { to: 'free', at } }]);
    expect((await f.services.customers.getCustomer(c.customerId))?.downgradeAt).toBe(Date.parse(at));
    expect(await f.stripe.client().subscriptions.retrieve(c.subscriptionId!)).toMatchObject({ cancel_at_period_end: true });

    const undone = await call('DELETE');
    expect([undone.statusCode, JSON.parse(undone.body)]).toEqual([200, { pendingChange: null }]);
    expect(await f.stripe.client().subscriptions.retrieve(c.subscriptionId!)).toMatchObject({ cancel_at_period_end: false });
    expect((await f.services.state.auditLog(c.customerId)).map((e) => e.by)).toEqual(['the customer', 'the customer']);
  });

  it("billing-api: POST /billing/portal opens a customer portal session with the product's configuration, returning to the dashboard", async () => {
    const { customer: c } = await customer('pro');
    const { handler, mocks } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('billing-api', environmentOf('billing-api'), checkoutSecret);
    const response = await handler(
      proxyEvent({ method: 'POST', path: '/billing/portal', resource: '/billing/portal', authorizer: { customerId: c.customerId } }),
      lambdaContext('billing-api'),
    );
    expect(response.statusCode).toBe(200);
    const { url } = JSON.parse(response.body) as { url: string };
    expect(url.startsWith(`${f.stripe.url}/_local/portal/bps_`)).toBe(true);
    expect(requestsOf(mocks.secrets)).toEqual([['GetSecretValueCommand', expect.objectContaining({ SecretId: CHECKOUT_SECRET_ARN })]]);
    const page = await (await fetch(url)).text();
    expect(page).toContain('href="https://abc123.execute-api.us-east-1.amazonaws.com/prod/dashboard"');
    expect(page).toContain('Cancel plan');
  });

  it("usage-api: GET /usage lists the customer's Stripe invoices, read with the customer-facing restricted key, never the sync's", async () => {
    const { customer: c } = await customer('pro');
    // Stripe's clock passes the period's end: the invoice is drafted, then finalized and paid an hour later.
    const subscription = await f.stripe.client().subscriptions.retrieve(c.subscriptionId!);
    f.stripe.setNow((subscription.items.data[0]!.current_period_end + 70 * 60) * 1000);
    await f.stripe.advanceBillingPeriods();
    await f.stripe.advanceBillingPeriods();
    const { handler, mocks } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('usage-api', environmentOf('usage-api'), checkoutSecret);
    const listed = f.stripe.requests.filter((r) => r.path === '/v1/invoices').length;
    const response = await handler(
      proxyEvent({ method: 'GET', path: '/usage', resource: '/usage', authorizer: { customerId: c.customerId, principalId: c.customerId } }),
      lambdaContext('usage-api'),
    );
    expect(response.statusCode).toBe(200);
    expect(f.stripe.requests.filter((r) => r.path === '/v1/invoices').length).toBe(listed + 1); // one list request
    const [invoice] = (await f.stripe.client().invoices.list({ customer: c.stripeCustomerId! })).data;
    expect(JSON.parse(response.body)).toMatchObject({
      invoices: [
        {
          month: hourOf(now).slice(0, 7),
          number: invoice!.number,
          status: 'paid',
          totalCents: 4_900,
          amountDueCents: 0,
          hostedInvoiceUrl: invoice!.hosted_invoice_url,
        },
      ],
      paymentIssue: null,
    });
    expect(requestsOf(mocks.secrets)).toEqual([['GetSecretValueCommand', expect.objectContaining({ SecretId: CHECKOUT_SECRET_ARN })]]);
  });

  it("stripe-sync: a scheduled event pushes the settled usage to the local Stripe as a meter event and alerts at 80% of the cap (and the anomaly) on the stack's topic", async () => {
    const { customer: c } = await customer('pro');
    // $49 + 390,000 calls past the 10,000 included at $2 per 1,000 = $829: past 80% of the $1,000 cap.
    await addHourCounts(f.doc, f.tables.counters, c.customerId, [{ hour: hourOf(now - 2 * 3_600_000), billable: 400_000 }]);
    const { handler, mocks, sdk } = loadHandler<ScheduledEvent, { counts: Record<string, number>; problems: number }>(
      'stripe-sync',
      environmentOf('stripe-sync'),
      (s, m) => {
        stripeSecret()(s, m);
        m.sns.on(s.sns.PublishCommand).resolves({ MessageId: 'msg-1' });
      },
    );
    const event: ScheduledEvent = {
      version: '0',
      id: 'c0ffee00-0000-0000-0000-000000000001',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: new Date(now).toISOString(),
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:123456789012:rule/ApiBilling-SyncSchedule'],
      detail: {},
    };
    expect(await handler(event, lambdaContext('stripe-sync'))).toMatchObject({ counts: { pushed: 1 }, problems: 0 });
    expect(f.stripe.state.meterEvents.filter((e) => e.customer === c.stripeCustomerId)).toEqual([expect.objectContaining({ value: 400_000 })]);
    const published = mocks.sns.commandCalls(sdk.sns.PublishCommand).map((call) => call.args[0].input);
    // $829 for a new customer is also over twice its tier fee: the anomaly alert goes to the same topic.
    expect(published).toEqual([
      expect.objectContaining({
        TopicArn: TOPIC_ARN,
        Subject: `[api-billing] ${c.name} reached 80% of its billing cap`,
        Message: expect.stringContaining(c.customerId),
      }),
      expect.objectContaining({ TopicArn: TOPIC_ARN, Subject: `[api-billing] ${c.name}: this month's bill is over 2x its tier fee` }),
    ]);
    // No retired gateway key is due: the control plane is not called.
    expect(requestsOf(mocks.apiGateway)).toEqual([]);
    // The next run pushes nothing more.
    expect((await handler(event, lambdaContext('stripe-sync'))).counts).not.toHaveProperty('pushed');
    expect(f.stripe.state.meterEvents.filter((e) => e.customer === c.stripeCustomerId)).toHaveLength(1);
  });

  it('reconciliation: the daily event reconciles every customer, pushes a meter event Stripe lost, logs the discrepancy and pages the topic', async () => {
    const { customer: c } = await customer('pro');
    const month = new Date(now).toISOString().slice(0, 7);
    await serveCalls(f.doc, f.tables, c.customerId, hourOf(now - 2 * 3_600_000), 1_200);
    const { sync } = await f.services.ready();
    expect(await syncCustomerMonth(c, month, sync)).toMatchObject({ kind: 'pushed', value: 1_200 });
    f.stripe.loseMeterEvent(`${c.customerId}:${month}:1`);
    jest.setSystemTime(Date.now() + 20 * 60_000); // past the summaries' consistency lag
    const { handler, mocks, sdk } = loadHandler<ScheduledEvent, { customerMonths: number; discrepancies: number }>(
      'reconciliation',
      environmentOf('reconciliation'),
      (s, m) => {
        stripeSecret()(s, m);
        m.sns.on(s.sns.PublishCommand).resolves({ MessageId: 'msg-1' });
      },
    );
    const event: ScheduledEvent = {
      version: '0',
      id: 'c0ffee00-0000-0000-0000-000000000002',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: new Date(now).toISOString(),
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:123456789012:rule/ApiBilling-ReconciliationDailySchedule'],
      detail: {},
    };
    expect(await handler(event, lambdaContext('reconciliation'))).toMatchObject({ customerMonths: 1, discrepancies: 1 });
    expect(f.stripe.state.meterEvents.filter((e) => e.customer === c.stripeCustomerId).reduce((sum, e) => sum + e.value, 0)).toBe(1_200);
    const published = mocks.sns.commandCalls(sdk.sns.PublishCommand).map((call) => call.args[0].input);
    expect(published).toEqual([
      expect.objectContaining({
        TopicArn: TOPIC_ARN,
        Subject: `[api-billing] PAGE: billing discrepancy for ${c.customerId} in ${month}`,
        MessageAttributes: { severity: { DataType: 'String', StringValue: 'page' } },
      }),
    ]);
  });

  it('experiment-metrics: the daily event stores the snapshot, publishes the metrics as EMF, pages on a tripped failure criterion and sends the summary', async () => {
    const { customer: c } = await customer('pro');
    const month = new Date(now).toISOString().slice(0, 7);
    const yesterday = hourOf(now - 24 * 3_600_000);
    // Yesterday: 120 calls served, 118 answered 2xx (billable) and 2 with a 5xx (voided: not billable); two hours ago, 1,200 more.
    await serveCalls(f.doc, f.tables, c.customerId, yesterday, 118);
    await f.doc.send(
      new UpdateCommand({
        TableName: f.tables.counters,
        Key: { pk: `CUSTOMER#${c.customerId}`, sk: `OUTCOME#${yesterday}` },
        UpdateExpression: 'ADD s2xx :ok, s5xx :err',
        ExpressionAttributeValues: { ':ok': 118, ':err': 2 },
      }),
    );
    await serveCalls(f.doc, f.tables, c.customerId, hourOf(now - 2 * 3_600_000), 1_200);
    // Stripe loses the month's meter event; the daily reconciliation finds it (a 100% billing error before its correction).
    // The beta started two days ago with this customer in its cohort.
    const beta = startBeta(undefined, [c.customerId], now - 2 * 24 * 3_600_000);
    expect(beta.ok && (await f.services.state.putExperiment(beta.state, 'planned'))).toBe(true);
    const { sync } = await f.services.ready();
    expect(await syncCustomerMonth(c, month, sync)).toMatchObject({ kind: 'pushed', value: 1_318 });
    f.stripe.loseMeterEvent(`${c.customerId}:${month}:1`);
    jest.setSystemTime(Date.now() + 20 * 60_000); // past the summaries' consistency lag
    f.clock.now = Date.now();
    expect((await f.services.reconcile({ alerts: f.alertSink, trigger: 'daily' })).rate).toMatchObject({ discrepancies: 1, rate: { calls: 1 } });

    const { handler, mocks, sdk } = loadHandler<ScheduledEvent, { day: string; verdict: string; paged: string[]; metrics: number }>(
      'experiment-metrics',
      environmentOf('experiment-metrics'),
      (s, m) => void m.sns.on(s.sns.PublishCommand).resolves({ MessageId: 'msg-1' }),
    );
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const event: ScheduledEvent = {
      version: '0',
      id: 'c0ffee00-0000-0000-0000-000000000003',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: new Date(now).toISOString(),
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:123456789012:rule/ApiBilling-ExperimentMonitoringDailySchedule'],
      detail: {},
    };
    let result: Awaited<ReturnType<typeof handler>>;
    let written: string[];
    try {
      result = await handler(event, lambdaContext('experiment-metrics'));
    } finally {
      written = stdout.mock.calls.map(([chunk]) => String(chunk));
      stdout.mockRestore();
    }
    const day = new Date(Date.now()).toISOString().slice(0, 10);
    expect(result).toMatchObject({ day, verdict: 'failure', paged: ['billingErrorRateCeiling'] });

    // The day's snapshot, in the Billing table.
    const snapshot = (await f.doc.send(new GetCommand({ TableName: f.tables.billing, Key: { pk: EXPERIMENT_SNAPSHOT_PK, sk: day }, ConsistentRead: true })))
      .Item as { report: ExperimentReport } | undefined;
    expect(snapshot?.report.verdict.overall).toBe('failure');
    expect(snapshot?.report.callsPerDay.days.find((d) => d.day === yesterday.slice(0, 10))).toEqual({
      day: yesterday.slice(0, 10),
      served: 120,
      billable: 118,
      refused: 0,
      errors: 2,
    });

    // The metrics, as one EMF line on stdout under the experiment's namespace and the service dimension.
    const emf = written.filter((line) => line.includes('"_aws"'));
    expect(emf).toHaveLength(1);
    const metrics = JSON.parse(emf[0]!) as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
    };
    expect(metrics._aws.CloudWatchMetrics).toEqual([expect.objectContaining({ Namespace: EXPERIMENT_METRICS_NAMESPACE, Dimensions: [['service']] })]);
    expect(metrics._aws.CloudWatchMetrics[0]!.Metrics).toEqual(
      expect.arrayContaining([
        { Name: 'CallsBillable', Unit: 'Count' },
        { Name: 'BillingErrorRate', Unit: 'Percent' },
      ]),
    );
    expect(metrics).toMatchObject({
      service: 'api-billing',
      CallsBillable: 118,
      CallsServerErrors: 2,
      BillingErrorRate: 100,
      FailureCriteriaMet: 1,
      ActiveUsers: 1,
    });
    expect(metrics._aws.CloudWatchMetrics[0]!.Metrics).toHaveLength(result.metrics);

    // The page at once, then the daily summary, on the stack's topic.
    const published = mocks.sns.commandCalls(sdk.sns.PublishCommand).map((call) => call.args[0].input);
    expect(published).toEqual([
      expect.objectContaining({
        TopicArn: TOPIC_ARN,
        Subject: '[api-billing] PAGE: experiment failure criterion met: Billing error rate > 5%',
        Message: expect.stringContaining('- Billing error rate > 5%: 100.00%'),
        MessageAttributes: { severity: { DataType: 'String', StringValue: 'page' } },
      }),
      expect.objectContaining({
        TopicArn: TOPIC_ARN,
        Subject: `[api-billing] Experiment api-billing-001 on ${day}: failure`,
        Message: expect.stringContaining('Billing error rate: 100.00% of calls'),
        MessageAttributes: { severity: { DataType: 'String', StringValue: 'notify' } },
      }),
    ]);
  });

  describe('stripe-webhook', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise((done) => (server ? server.close(done) : done(undefined)));
      server = undefined;
    });

    it('a Stripe-signed subscription update from the local Stripe moves the customer to Pro on a new gateway key in the Pro usage plan', async () => {
      const { customer: c } = await customer('free');
      const env = environmentOf('stripe-webhook');
      // API Gateway in front of the Lambda: the local Stripe delivers to it; it passes the proxy event on.
      let handler: Handler<APIGatewayProxyEvent, APIGatewayProxyResult> | undefined;
      const responses: number[] = [];
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', async () => {
          const event = proxyEvent({ method: 'POST', path: '/webhooks/stripe', resource: '/webhooks/stripe', body: Buffer.concat(chunks).toString('utf8') });
          const result = await handler!(
            { ...event, headers: { ...event.headers, 'Stripe-Signature': String(req.headers['stripe-signature']) } },
            lambdaContext('stripe-webhook', 28_000),
          );
          responses.push(result.statusCode);
          res.writeHead(result.statusCode, result.headers as Record<string, string>).end(result.body);
        });
      });
      await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
      const stripe = f.stripe.client();
      const endpoint = await stripe.webhookEndpoints.create({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod/webhooks/stripe`,
        enabled_events: ['customer.subscription.updated'],
      });

      const loaded = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('stripe-webhook', env, (s, m) => {
        stripeSecret(endpoint.secret!)(s, m);
        m.apiGateway.on(s.apiGateway.CreateApiKeyCommand).resolves({ id: 'gwk_pro', value: 'p'.repeat(40) });
        m.apiGateway.on(s.apiGateway.CreateUsagePlanKeyCommand).resolves({ id: 'gwk_pro', type: 'API_KEY' });
      });
      handler = loaded.handler;

      // The customer's subscription changes to the Pro prices in Stripe; Stripe sends the signed event.
      const subscription = await stripe.subscriptions.retrieve(c.subscriptionId!);
      const proPrices = priceIdsOfTier((await f.services.ready()).stripe, 'pro');
      await stripe.subscriptions.update(c.subscriptionId!, {
        items: [...subscription.items.data.map((item) => ({ id: item.id, deleted: true })), ...proPrices.map((price) => ({ price }))],
      });
      await f.stripe.webhooksDelivered();

      expect(responses).toEqual([200]);
      expect(await f.services.customers.getCustomer(c.customerId)).toMatchObject({ tier: 'pro', gatewayKeyId: 'gwk_pro', gatewayKeyValue: 'p'.repeat(40) });
      expect(requestsOf(loaded.mocks.apiGateway)).toEqual([
        ['CreateApiKeyCommand', expect.objectContaining({ enabled: true, name: expect.stringContaining(c.customerId) })],
        ['CreateUsagePlanKeyCommand', { usagePlanId: env.USAGE_PLAN_ID_PRO, keyId: 'gwk_pro', keyType: 'API_KEY' }],
      ]);
      // The event id is claimed in the idempotency table.
      const claims = (await f.doc.send(new ScanCommand({ TableName: f.tables.idempotency, ConsistentRead: true }))).Items ?? [];
      expect(claims).toEqual([expect.objectContaining({ status: 'COMPLETED' })]);
    });

    it('a delivery with a bad signature is a 400 that changes nothing', async () => {
      const { customer: c } = await customer('free');
      const { handler, mocks } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('stripe-webhook', environmentOf('stripe-webhook'), stripeSecret());
      const body = JSON.stringify({
        id: 'evt_forged',
        object: 'event',
        type: 'customer.subscription.deleted',
        created: Math.floor(now / 1000),
        data: { object: { id: c.subscriptionId, customer: c.stripeCustomerId, status: 'canceled' } },
      });
      const event = proxyEvent({ method: 'POST', path: '/webhooks/stripe', resource: '/webhooks/stripe', body });
      const response = await handler(
        { ...event, headers: { ...event.headers, 'Stripe-Signature': `t=${Math.floor(now / 1000)},v1=${'0'.repeat(64)}` } },
        lambdaContext('stripe-webhook'),
      );
      expect(response.statusCode).toBe(400);
      expect(await f.services.customers.getCustomer(c.customerId)).toMatchObject({ tier: 'free' });
      expect(requestsOf(mocks.apiGateway)).toEqual([]);
    });
  });

  it("dashboard: GET /dashboard serves the page on the stage's base path, and its assets", async () => {
    const { handler } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('dashboard', environmentOf('dashboard'));
    const page = await handler(proxyEvent({ method: 'GET', path: '/dashboard', resource: '/dashboard' }), lambdaContext('dashboard'));
    expect(page).toMatchObject({ statusCode: 200, headers: expect.objectContaining({ 'content-type': expect.stringContaining('text/html') }) });
    expect(page.body).toContain('/prod');
    expect(page.body).not.toContain('{{base}}');
    const script = await handler(
      proxyEvent({ method: 'GET', path: '/dashboard/app.js', resource: '/dashboard/{asset}', pathParameters: { asset: 'app.js' } }),
      lambdaContext('dashboard'),
    );
    expect(script).toMatchObject({ statusCode: 200, headers: expect.objectContaining({ 'content-type': expect.stringContaining('javascript') }) });
  });

  it("sample-backend: a metered call is answered with the authorizer's customer and its rate-limit headers", async () => {
    const { handler } = loadHandler<APIGatewayProxyEvent, APIGatewayProxyResult>('sample-backend', environmentOf('sample-backend'));
    const event = proxyEvent({
      method: 'GET',
      path: '/api/hello',
      resource: '/api/{proxy+}',
      pathParameters: { proxy: 'hello' },
      authorizer: { customerId: 'cust_b', rateLimitLimit: 1000, rateLimitRemaining: 958, rateLimitReset: 1_800_000_000 },
    });
    const response = await handler(event, lambdaContext('sample-backend'));
    expect(response).toMatchObject({
      statusCode: 200,
      headers: { 'X-RateLimit-Limit': '1000', 'X-RateLimit-Remaining': '958', 'X-RateLimit-Reset': '1800000000' },
    });
    expect(JSON.parse(response.body)).toMatchObject({
      ok: true,
      method: 'GET',
      path: '/api/hello',
      requestId: event.requestContext.requestId,
      customerId: 'cust_b',
    });
  });
});
