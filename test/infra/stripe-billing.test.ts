import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { SYNC_PROBLEM_MESSAGE } from '../../lib/stripe-billing.ts';
import { SYNC_PROBLEM_MESSAGE as CORE_SYNC_PROBLEM_MESSAGE } from '../../lambdas/core/sync.ts';
import { actionsOn, logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

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

  it('takes Stripe keys from Secrets Manager, never from the template: the upgrade from a secret of its own, with no way to the wider one', () => {
    const secretRef = { Ref: logicalIdAt(template, 'ApiBilling/StripeBilling/StripeSecret/Resource') };
    for (const fn of ['SyncFunction', 'WebhookFunction']) {
      expect(resource(`ApiBilling/StripeBilling/${fn}/Resource`).Properties.Environment.Variables.STRIPE_SECRET_ARN).toEqual(secretRef);
    }
    const upgrade = resource('ApiBilling/StripeBilling/UpgradeFunction/Resource').Properties.Environment.Variables;
    expect(upgrade.STRIPE_CHECKOUT_SECRET_ARN).toEqual({ Ref: logicalIdAt(template, 'ApiBilling/StripeBilling/CheckoutStripeSecret/Resource') });
    expect(upgrade.STRIPE_SECRET_ARN).toBeUndefined();
    // GET /usage lists the customer's invoices from Stripe with the same customer-facing restricted key.
    const usage = resource('ApiBilling/CustomerApi/UsageFunction/Resource').Properties.Environment.Variables;
    expect(usage.STRIPE_CHECKOUT_SECRET_ARN).toEqual(upgrade.STRIPE_CHECKOUT_SECRET_ARN);
    expect(usage.STRIPE_SECRET_ARN).toBeUndefined();
    expect(JSON.stringify(template.toJSON())).not.toMatch(/[sr]k_(test|live)_[A-Za-z0-9]/);
  });

  it('serves the webhook on its own API, unauthorized at the gateway (Stripe signs it), and the upgrade and opt-out on the customer API behind the key authorizer', () => {
    expect(resource('ApiBilling/StripeBilling/WebhookApi/Default/webhooks/stripe/POST/Resource').Properties).toMatchObject({
      HttpMethod: 'POST',
      AuthorizationType: 'NONE',
    });
    for (const [path, method] of [
      ['billing/upgrade', 'POST'],
      ['billing/downgrade', 'POST'],
      ['billing/downgrade', 'DELETE'],
      ['billing/portal', 'POST'],
    ]) {
      expect(resource(`ApiBilling/MeteredApi/Api/Default/${path}/${method}/Resource`).Properties).toMatchObject({
        HttpMethod: method,
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: logicalIdAt(template, 'ApiBilling/MeteredApi/Authorizer/Resource') },
        ApiKeyRequired: false,
      });
    }
  });

  it("lets the webhook and the sync (the end of a payment grace is a tier change) create gateway keys in the tiers' usage plans, and only the sync delete them", () => {
    const apigatewayActions = (name: string) =>
      statementsOfFunction(template, logicalIdAt(template, `ApiBilling/StripeBilling/${name}/Resource`))
        .filter((s) => [s.Action].flat().some((a) => a.startsWith('apigateway:')))
        .flatMap((s) => [s.Action].flat());
    expect([...new Set(apigatewayActions('WebhookFunction'))].sort()).toEqual(['apigateway:GET', 'apigateway:POST']);
    expect([...new Set(apigatewayActions('SyncFunction'))].sort()).toEqual(['apigateway:DELETE', 'apigateway:GET', 'apigateway:POST']);
    expect(apigatewayActions('UpgradeFunction')).toEqual([]);
    for (const name of ['WebhookFunction', 'SyncFunction']) expect(apigatewayActions(name).some((a) => a.endsWith(':*'))).toBe(false);
  });

  it('alarms when the sync fails', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdAt(template, 'ApiBilling/StripeBilling/SyncFunction/Resource') } }],
    });
  });

  it('outputs the secret to fill and the webhook URL to register', () => {
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['StripeSecretArn', 'StripeWebhookUrl', 'DashboardUrl']));
  });
});

describe('Stripe billing infrastructure, in detail', () => {
  const fnId = (name: string) => logicalIdAt(template, `ApiBilling/StripeBilling/${name}/Resource`);
  const ref = (path: string) => ({ Ref: logicalIdAt(template, path) });
  const arnOf = (path: string) => ({ 'Fn::GetAtt': [logicalIdAt(template, path), 'Arn'] });
  const tables = { customers: 'Customers', apiKeys: 'ApiKeys', counters: 'Counters', billing: 'Billing' } as const;

  it.each(['SyncFunction', 'WebhookFunction'])('%s finds the tables and the Stripe secret in its environment', (name) => {
    const variables = resource(`ApiBilling/StripeBilling/${name}/Resource`).Properties.Environment.Variables;

    expect(variables).toMatchObject({
      CUSTOMERS_TABLE: ref(`ApiBilling/Tables/${tables.customers}/Resource`),
      API_KEYS_TABLE: ref(`ApiBilling/Tables/${tables.apiKeys}/Resource`),
      COUNTERS_TABLE: ref(`ApiBilling/Tables/${tables.counters}/Resource`),
      BILLING_TABLE: ref(`ApiBilling/Tables/${tables.billing}/Resource`),
      STRIPE_SECRET_ARN: ref('ApiBilling/StripeBilling/StripeSecret/Resource'),
    });
  });

  it("gives the sync the alert topic, both each tier's usage plan (the webhook for tier changes, the sync for the end of a payment grace and retired keys), and only the webhook the idempotency table", () => {
    const sync = resource('ApiBilling/StripeBilling/SyncFunction/Resource').Properties;
    const webhook = resource('ApiBilling/StripeBilling/WebhookFunction/Resource').Properties;
    const plans = {
      USAGE_PLAN_ID_FREE: ref('ApiBilling/MeteredApi/Api/UsagePlan-free/Resource'),
      USAGE_PLAN_ID_PRO: ref('ApiBilling/MeteredApi/Api/UsagePlan-pro/Resource'),
      USAGE_PLAN_ID_ENTERPRISE: ref('ApiBilling/MeteredApi/Api/UsagePlan-enterprise/Resource'),
    };

    expect(sync.Environment.Variables.ALERT_TOPIC_ARN).toEqual(ref('ApiBilling/Alerts/Topic/Resource'));
    expect(sync.Environment.Variables).toMatchObject(plans);
    expect(webhook.Environment.Variables).toMatchObject({ ...plans, IDEMPOTENCY_TABLE: ref('ApiBilling/Tables/Idempotency/Resource') });
    expect(sync.Environment.Variables.IDEMPOTENCY_TABLE).toBeUndefined();
  });

  it('sizes the sync for a run over every customer and the webhook for one event', () => {
    expect(resource('ApiBilling/StripeBilling/SyncFunction/Resource').Properties).toMatchObject({ Timeout: 300, MemorySize: 512 });
    expect(resource('ApiBilling/StripeBilling/WebhookFunction/Resource').Properties).toMatchObject({ Timeout: 30 });
  });

  it('integrates POST /webhooks/stripe with the webhook Lambda as a proxy, with no authorizer and no API key', () => {
    const method = resource('ApiBilling/StripeBilling/WebhookApi/Default/webhooks/stripe/POST/Resource').Properties;

    expect(method).toMatchObject({
      HttpMethod: 'POST',
      AuthorizationType: 'NONE',
      ApiKeyRequired: false,
      Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' },
    });
    expect(JSON.stringify(method.Integration.Uri)).toContain(JSON.stringify(arnOf('ApiBilling/StripeBilling/WebhookFunction/Resource')));
  });

  it.each([
    // Scan lists the customers, UpdateItem blocks one at its cap; counters and the outbox are read and written.
    // Billing: the outbox, and a tier change's key retirement entries (PutItem, DeleteItem in its switch transaction;
    // the sync's cleanup also queries and deletes them).
    [
      'SyncFunction',
      {
        Customers: ['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
        ApiKeys: [],
        UsageEvents: [],
        Counters: ['dynamodb:GetItem', 'dynamodb:Query'],
        Billing: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        Idempotency: [],
      },
    ],
    // The byStripeCustomer Query is granted on the index ARN, checked below. Event claims: PutItem claims,
    // GetItem reads an existing claim, UpdateItem stores the outcome, DeleteItem releases a failed one.
    // A drafted invoice's reconciliation reads the counters (hours and the month item), never the raw events.
    // Billing: Query and DeleteItem also drop a completed or expired Checkout session the upgrade kept.
    [
      'WebhookFunction',
      {
        Customers: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        ApiKeys: [],
        UsageEvents: [],
        Counters: ['dynamodb:GetItem', 'dynamodb:Query'],
        Billing: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        Idempotency: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      },
    ],
    // The upgrade keeps its reusable Checkout sessions (a claim, then the session) in the Billing table; the
    // opt-out records the pending downgrade on the customer and audits it (PutItem on the Billing table).
    [
      'UpgradeFunction',
      { Customers: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Billing: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], Idempotency: [] },
    ],
  ])('%s is granted exactly the table actions it uses', (name, expected) => {
    const statements = statementsOfFunction(template, fnId(name));

    for (const [table, actions] of Object.entries(expected))
      expect([table, actionsOn(statements, logicalIdAt(template, `ApiBilling/Tables/${table}/Resource`))]).toEqual([table, actions]);
  });

  it('grants an index only to the webhook, and only the Query on byStripeCustomer', () => {
    const onIndexes = (name: string) => statementsOfFunction(template, fnId(name)).filter((s) => JSON.stringify(s.Resource).includes('/index/'));

    expect(onIndexes('SyncFunction')).toEqual([]);
    expect(onIndexes('UpgradeFunction')).toEqual([]);
    expect(onIndexes('WebhookFunction')).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: { 'Fn::Join': ['', [arnOf('ApiBilling/Tables/Customers/Resource'), '/index/byStripeCustomer']] } },
    ]);
  });

  it("scopes API Gateway to the three usage plans' keys and the account's API keys, by their ARNs: the webhook and the sync (the end of a payment grace) create keys, the sync deletes retired ones", () => {
    const apigateway = (name: string) => statementsOfFunction(template, fnId(name)).filter((s) => [s.Action].flat().some((a) => a.startsWith('apigateway:')));
    const planArn = (tier: string, suffix: string) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':apigateway:',
          { Ref: 'AWS::Region' },
          '::/usageplans/',
          ref(`ApiBilling/MeteredApi/Api/UsagePlan-${tier}/Resource`),
          suffix,
        ],
      ],
    });
    const apiKeysArn = (suffix: string) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':apigateway:', { Ref: 'AWS::Region' }, `::/apikeys${suffix}`]],
    });
    const tiers = ['free', 'pro', 'enterprise'];

    // A tier change: CreateApiKey, CreateUsagePlanKey, GetUsagePlanKey (a retry's conflict).
    const createKeys = [
      { Effect: 'Allow', Action: ['apigateway:POST', 'apigateway:GET'], Resource: tiers.flatMap((tier) => [planArn(tier, '/keys'), planArn(tier, '/keys/*')]) },
      { Effect: 'Allow', Action: 'apigateway:POST', Resource: apiKeysArn('') },
    ];

    expect(apigateway('WebhookFunction')).toEqual(createKeys);
    expect(apigateway('SyncFunction')).toEqual([
      ...createKeys,
      { Effect: 'Allow', Action: 'apigateway:DELETE', Resource: [...tiers.map((tier) => planArn(tier, '/keys/*')), apiKeysArn('/*')] },
      { Effect: 'Allow', Action: 'apigateway:GET', Resource: apiKeysArn('') },
    ]);
  });

  it.each([
    ['SyncFunction', 'StripeSecret'],
    ['WebhookFunction', 'StripeSecret'],
    ['UpgradeFunction', 'CheckoutStripeSecret'],
  ])('%s has no wildcard action and reads only its own secret, %s', (name, secret) => {
    const statements = statementsOfFunction(template, fnId(name));

    expect(statements.flatMap((s) => [s.Action].flat()).filter((a) => a.includes('*') && a !== 'kms:GenerateDataKey*')).toEqual([]);
    expect(statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('secretsmanager:')))).toEqual([
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: ref(`ApiBilling/StripeBilling/${secret}/Resource`),
      },
    ]);
  });

  it('creates the Stripe secret with no value in the template and says what JSON to put in it', () => {
    const secret = resource('ApiBilling/StripeBilling/StripeSecret/Resource').Properties;

    expect(secret.SecretString).toBeUndefined();
    // A random placeholder, not JSON: the Lambdas refuse it until the operator puts the keys in.
    expect(secret.GenerateSecretString).toEqual({});
    expect(secret.Description).toContain('{"secretKey":"sk_... or rk_...","webhookSecret":"whsec_..."}');
  });

  it("creates the upgrade's secret empty, for a restricted key that can create Checkout sessions, and outputs its ARN", () => {
    const secret = resource('ApiBilling/StripeBilling/CheckoutStripeSecret/Resource').Properties;

    expect(secret.SecretString).toBeUndefined();
    expect(secret.GenerateSecretString).toEqual({});
    expect(secret.Description).toContain('{"secretKey":"rk_..."} with Checkout Sessions and Subscriptions write permission only');
    template.hasOutput('CheckoutStripeSecretArn', { Value: ref('ApiBilling/StripeBilling/CheckoutStripeSecret/Resource') });
  });

  it("outputs the secret's ARN and the webhook URL on the webhook API's stage", () => {
    template.hasOutput('StripeSecretArn', { Value: ref('ApiBilling/StripeBilling/StripeSecret/Resource') });
    template.hasOutput('StripeWebhookUrl', {
      Value: {
        'Fn::Join': [
          '',
          Match.arrayWith([
            ref('ApiBilling/StripeBilling/WebhookApi/Resource'),
            ref('ApiBilling/StripeBilling/WebhookApi/DeploymentStage.prod/Resource'),
            '/webhooks/stripe',
          ]),
        ],
      },
    });
  });

  it('counts the problems a sync run reports, from its log, and alarms on the first one', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: ref('ApiBilling/StripeBilling/SyncFunctionLogs/Resource'),
      FilterPattern: `{ $.message = "${SYNC_PROBLEM_MESSAGE}" }`,
      MetricTransformations: [{ MetricNamespace: 'api-billing', MetricName: 'StripeSyncProblems', MetricValue: '1' }],
    });
    expect(resource('ApiBilling/StripeBilling/SyncProblemsAlarm/Resource').Properties).toMatchObject({
      Namespace: 'api-billing',
      MetricName: 'StripeSyncProblems',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [ref('ApiBilling/Alerts/Topic/Resource')],
    });
  });

  it('filters on the message the sync handler logs for each problem (one shared constant)', () => {
    const handler = readFileSync(join(__dirname, '../../lambdas/stripe-sync/handler.ts'), 'utf8');

    expect(SYNC_PROBLEM_MESSAGE).toBe(CORE_SYNC_PROBLEM_MESSAGE);
    expect(handler).toContain('logger.error(SYNC_PROBLEM_MESSAGE');
  });
});
