import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Alerts } from './alerts.ts';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { TABLE_ENV } from '../lambdas/adapters/env.ts';
import { TIER_NAMES } from '../lambdas/core/config.ts';
import { ROUTES } from '../lambdas/core/routes.ts';
import { WEBHOOK_TIMEOUT_MS } from '../lambdas/core/webhooks.ts';
import { ProductFunction } from './lambda-defaults.ts';
import { addRoute } from './routes.ts';
import type { MeteredApi } from './metered-api.ts';
import type { BillingTables } from './tables.ts';

/** The message of the error line lambdas/stripe-sync/handler.ts logs for each problem a sync run reports. */
export { SYNC_PROBLEM_MESSAGE } from '../lambdas/core/sync.ts';
import { SYNC_PROBLEM_MESSAGE } from '../lambdas/core/sync.ts';

export interface StripeBillingProps {
  /** The product's tables: the sync reads counters and writes its outbox; the webhook moves customers between tiers. */
  readonly tables: BillingTables;
  /** The metered API: its usage plans (tier changes, from the webhook or the end of a payment grace, put new keys in them) and the upgrade route. */
  readonly meteredApi: MeteredApi;
  /** Where sync problems, overdue tickets and alarms go. */
  readonly alerts: Alerts;
  /**
   * A secret holding JSON `{ "secretKey": "sk_…", "webhookSecret": "whsec_…" }`.
   * @default - a new, empty secret the operator fills after `cdk deploy`
   */
  readonly stripeSecret?: secretsmanager.ISecret;
  /**
   * The upgrade route's own secret, JSON `{ "secretKey": "rk_…" }`: a Stripe restricted key with Checkout
   * Sessions write and nothing else (the route is reachable by every customer). Never the `stripeSecret`.
   * @default - a new, empty secret the operator fills after `cdk deploy`
   */
  readonly checkoutSecret?: secretsmanager.ISecret;
  /**
   * How often the sync pushes settled usage to Stripe.
   * @default Duration.minutes(5)
   */
  readonly syncInterval?: Duration;
}

/**
 * The customer attributes the sync's UpdateItem may name (`dynamodb:Attributes`): the table's keys, which
 * every request names (customerId, and stripeCustomerId of the byStripeCustomer index), and what it writes:
 * a customer blocked at its cap (`cappedMonth`, #core/guardrails.ts), and one whose payment grace ended moved
 * to Free (the key switch in #adapters/gateway-key-retirements.ts, then `downgradedAt` and `paidSince` in
 * #core/subscriptions.ts changeTier).
 */
export const SYNC_CUSTOMER_ATTRIBUTES = [
  'customerId',
  'stripeCustomerId',
  'cappedMonth',
  'tier',
  'gatewayKeyId',
  'gatewayKeyValue',
  'gatewayKeyName',
  'downgradedAt',
  'paidSince',
] as const;

/**
 * Stripe: the scheduled sync that pushes counted usage as meter events (exactly once), the
 * webhook that keeps tiers and usage plans in step with subscriptions, and the upgrade route
 * that starts Stripe Checkout. Stripe's keys live in Secrets Manager, never in code or env.
 */
export class StripeBilling extends Construct {
  /** The sync's, webhook's and reconciliation's Stripe key and the webhook signing secret. */
  readonly stripeSecret: secretsmanager.ISecret;
  /** The billing routes' restricted key (Checkout Sessions and Subscriptions write only). */
  readonly checkoutSecret: secretsmanager.ISecret;
  readonly syncFunction: ProductFunction;
  readonly webhookFunction: ProductFunction;
  readonly upgradeFunction: ProductFunction;
  /** Fires when a sync run fails (the Lambda threw). */
  readonly syncErrorsAlarm: cloudwatch.Alarm;
  /** Fires when a run completes but reports problems (`stripe sync problem` log lines): Stripe's usage is not what was counted. */
  readonly syncProblemsAlarm: cloudwatch.Alarm;
  private readonly syncProblemsFilter: logs.MetricFilter;
  /** Where Stripe is to send its webhooks: register it in the Stripe dashboard. */
  readonly webhookUrl: string;
  /** The webhook's own API (Stripe is its only caller). */
  readonly webhookApi: apigateway.RestApi;

  constructor(scope: Construct, id: string, props: StripeBillingProps) {
    super(scope, id);
    const { tables, meteredApi } = props;
    const interval = props.syncInterval ?? Duration.minutes(5);
    // In seconds: Duration.toMinutes() throws its own, less helpful error on a part of a minute.
    const intervalSeconds = interval.toSeconds();
    if (intervalSeconds < 60 || intervalSeconds > 3600 || intervalSeconds % 60 !== 0) {
      throw new Error(
        `StripeBilling ${id}: syncInterval must be a whole number of minutes from 1 to 60 (the settle window and invoice flush assume minutes), got ${interval.toHumanString()}`,
      );
    }

    if (props.stripeSecret) this.stripeSecret = props.stripeSecret;
    else {
      // No value in the template: CDK renders `GenerateSecretString: {}`, a random placeholder that is not
      // JSON, so the Lambdas fail with "the Stripe secret must be JSON …" until the operator fills it.
      // Keep it that way: CloudFormation writes a new secret version whenever GenerateSecretString
      // changes, which would overwrite the keys the operator pasted.
      const secret = new secretsmanager.Secret(this, 'StripeSecret', {
        description: 'Stripe keys for api-billing: JSON {"secretKey":"sk_... or rk_...","webhookSecret":"whsec_..."}; fill it after deploy',
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: "Stripe keys are rotated in Stripe's dashboard and pasted here; the Lambdas re-read the secret every 5 minutes, so no rotation Lambda applies.",
      });
      this.stripeSecret = secret;
    }
    if (props.checkoutSecret) this.checkoutSecret = props.checkoutSecret;
    else {
      // Empty, as the main secret (see above): the upgrade route fails with "the upgrade Stripe secret must be JSON …"
      // until the operator puts a restricted key in it, and never falls back to the wider key.
      const secret = new secretsmanager.Secret(this, 'CheckoutStripeSecret', {
        description:
          'Stripe restricted key for POST /billing/upgrade and POST|DELETE /billing/downgrade: JSON {"secretKey":"rk_..."} with Checkout Sessions and Subscriptions write permission only; fill it after deploy',
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          "A Stripe restricted key is rolled in Stripe's dashboard and pasted here; the upgrade Lambda re-reads it every 5 minutes, so no rotation Lambda applies.",
      });
      this.checkoutSecret = secret;
    }
    const tableEnvironment = {
      [TABLE_ENV.customers]: tables.customers.tableName,
      [TABLE_ENV.apiKeys]: tables.apiKeys.tableName,
      [TABLE_ENV.counters]: tables.counters.tableName,
      [TABLE_ENV.billing]: tables.billing.tableName,
    };
    const stripeEnvironment = { ...tableEnvironment, STRIPE_SECRET_ARN: this.stripeSecret.secretArn };
    // Table.grant would add every index ARN; only the webhook queries one, byStripeCustomer (Stripe names customers by it).
    const onCustomers = (fn: ProductFunction, actions: string[]) =>
      iam.Grant.addToPrincipal({ grantee: fn, actions, resourceArns: [tables.customers.tableArn] });
    const queryByStripeCustomer = (fn: ProductFunction) =>
      iam.Grant.addToPrincipal({ grantee: fn, actions: ['dynamodb:Query'], resourceArns: [`${tables.customers.tableArn}/index/byStripeCustomer`] });

    const usagePlanEnvironment = Object.fromEntries(TIER_NAMES.map((tier) => [`USAGE_PLAN_ID_${tier.toUpperCase()}`, meteredApi.usagePlans[tier].usagePlanId]));
    const { partition, region } = Stack.of(this);
    const planKeysArn = (tier: (typeof TIER_NAMES)[number]) =>
      `arn:${partition}:apigateway:${region}::/usageplans/${meteredApi.usagePlans[tier].usagePlanId}/keys`;
    const apiKeysArn = `arn:${partition}:apigateway:${region}::/apikeys`;
    /** Acknowledges the one wildcard API Gateway's ARNs need: which key is touched is known only at run time. */
    const acknowledgeKeyWildcards = (fn: ProductFunction, apiKeys: boolean) => {
      for (const tier of TIER_NAMES) {
        const planId = Stack.of(this).getLogicalId(meteredApi.usagePlans[tier].node.defaultChild as CfnElement);
        Validations.of(fn.role!).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/usageplans/<${planId}>/keys/*]`,
          reason: `The keys of the ${tier} usage plan only: which gateway key is added or removed is known only when a customer changes tier.`,
        });
      }
      if (apiKeys) {
        Validations.of(fn.role!).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/*]',
          reason: 'Deletes the gateway keys that tier changes replaced; which ones is known only at run time (API keys have no tag-scoped ARN).',
        });
      }
    };
    /**
     * What a tier change needs (#core/subscriptions.ts changeTier): a new gateway key in the new tier's plan
     * (a key is in one plan per stage; see #core/gateway-keys.ts): CreateApiKey, CreateUsagePlanKey, and
     * GetUsagePlanKey to tell a retry's conflict apart; the switch is one transaction that updates the
     * customer and puts and deletes retirement entries in the billing table (granted with each function's tables).
     */
    const grantTierChange = (fn: ProductFunction) => {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['apigateway:POST', 'apigateway:GET'],
          resources: TIER_NAMES.flatMap((tier) => [planKeysArn(tier), `${planKeysArn(tier)}/*`]),
        }),
      );
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['apigateway:POST'], resources: [apiKeysArn] }));
    };

    this.syncFunction = new ProductFunction(this, 'SyncFunction', {
      handlerName: 'stripe-sync',
      description:
        'Pushes settled usage to Stripe as meter events, exactly once (outbox per customer and month); ends expired payment graces; deletes retired gateway keys',
      timeout: Duration.minutes(5),
      memorySize: 512,
      environment: { ...stripeEnvironment, ...usagePlanEnvironment, ALERT_TOPIC_ARN: props.alerts.topic.topicArn },
    });
    props.alerts.grantPublish(this.syncFunction);
    // One run at a time; the outbox is also safe under overlap.
    (this.syncFunction.node.defaultChild as import('aws-cdk-lib/aws-lambda').CfnFunction).reservedConcurrentExecutions = 1;
    onCustomers(this.syncFunction, ['dynamodb:Scan', 'dynamodb:GetItem']);
    // UpdateItem on the attributes the sync writes, and no others: a fault (or a compromised dependency) in the
    // Lambda that holds the Stripe secret cannot lift a suspension, change a Stripe customer id or rewrite a cap.
    this.syncFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [tables.customers.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...SYNC_CUSTOMER_ATTRIBUTES] },
          // What an update may return: only the attributes it touched (ALL_OLD and ALL_NEW would return the rest).
          StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE', 'UPDATED_OLD', 'UPDATED_NEW'], 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
        },
      }),
    );
    tables.counters.grant(this.syncFunction, 'dynamodb:Query', 'dynamodb:GetItem');
    // DeleteItem: a retired gateway key's entry, once the key is deleted, and a tier change's own "unfinished" entry when it switches.
    tables.billing.grant(this.syncFunction, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:DeleteItem');
    this.stripeSecret.grantRead(this.syncFunction);
    // A customer behind on payment past the grace goes to Free (the subscription status policy, README): a tier change.
    grantTierChange(this.syncFunction);
    // Deleting retired gateway keys (#core/gateway-keys.ts): out of their plan, then the key; GetApiKeys finds
    // by name a key whose tier change crashed before its id was recorded.
    this.syncFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['apigateway:DELETE'], resources: [...TIER_NAMES.map((tier) => `${planKeysArn(tier)}/*`), `${apiKeysArn}/*`] }),
    );
    this.syncFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ['apigateway:GET'], resources: [apiKeysArn] }));
    acknowledgeKeyWildcards(this.syncFunction, true);
    new events.Rule(this, 'SyncSchedule', {
      description: 'Runs the Stripe sync',
      schedule: events.Schedule.rate(interval),
      // A failed run is retried by the next one.
      targets: [new targets.LambdaFunction(this.syncFunction, { retryAttempts: 0 })],
    });

    this.webhookFunction = new ProductFunction(this, 'WebhookFunction', {
      handlerName: 'stripe-webhook',
      description: 'Stripe webhooks: signature verified, each event id claimed once; moves tiers and usage plans, reconciles drafted invoices',
      timeout: Duration.millis(WEBHOOK_TIMEOUT_MS),
      environment: {
        ...stripeEnvironment,
        ...usagePlanEnvironment,
        [TABLE_ENV.idempotency]: tables.idempotency.tableName,
        ALERT_TOPIC_ARN: props.alerts.topic.topicArn,
      },
    });
    onCustomers(this.webhookFunction, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    queryByStripeCustomer(this.webhookFunction);
    // A drafted invoice's reconciliation: the hour counters and the month item (never the raw events: a Scan
    // has no place in the webhook's 30 seconds); its discrepancies alert.
    tables.counters.grant(this.webhookFunction, 'dynamodb:Query', 'dynamodb:GetItem');
    props.alerts.grantPublish(this.webhookFunction);
    // DeleteItem: a tier change drops its own "unfinished" entry when it switches the customer's key, and a
    // Checkout session Stripe completed or expired is dropped from the upgrade's kept sessions (found by a
    // Query of the customer's; lambdas/adapters/checkout-sessions.ts), so the upgrade route creates a new one.
    tables.billing.grant(this.webhookFunction, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:DeleteItem');
    // Powertools' idempotency utility: a conditional PutItem claims the event id, GetItem reads a claim
    // that exists, UpdateItem stores the outcome, DeleteItem releases the claim when processing fails.
    tables.idempotency.grant(this.webhookFunction, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    this.stripeSecret.grantRead(this.webhookFunction);
    grantTierChange(this.webhookFunction);
    acknowledgeKeyWildcards(this.webhookFunction, false);

    // Its own small API: Stripe is not a customer, and the webhook Lambda names the metered API's usage
    // plans, which a method on that API could not do without a dependency cycle through its deployment.
    const webhookLogs = new logs.LogGroup(this, 'WebhookAccessLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    const webhookApi = (this.webhookApi = new apigateway.RestApi(this, 'WebhookApi', {
      description: 'api-billing: Stripe webhooks',
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      cloudWatchRole: false,
      deployOptions: {
        accessLogDestination: new apigateway.LogGroupLogDestination(webhookLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        throttlingRateLimit: 50,
        throttlingBurstLimit: 100,
      },
    }));
    // No authorizer and no API key: Stripe authenticates each call with its signature, checked by the Lambda.
    const webhookMethod = addRoute(webhookApi, ROUTES.stripeWebhook, new apigateway.LambdaIntegration(this.webhookFunction));
    for (const rule of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
      Validations.of(webhookMethod).acknowledge({
        id: rule,
        reason: "Called by Stripe, authenticated by Stripe's webhook signature, which the Lambda verifies before anything changes.",
      });
    }
    Validations.of(webhookApi).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason: "The body is Stripe's signed event; the Lambda verifies the signature and parses it with a schema, which a request model could not do.",
    });
    this.webhookUrl = webhookApi.urlForPath('/webhooks/stripe');

    this.upgradeFunction = new ProductFunction(this, 'UpgradeFunction', {
      handlerName: 'billing-api',
      description:
        "POST /billing/upgrade: starts Stripe Checkout for a higher tier; POST|DELETE /billing/downgrade: opt out to Free at month end, or undo it; POST /billing/portal: Stripe's customer portal",
      // Checkout returns to this API's /dashboard, taken from the request context (an env var would be circular).
      environment: { ...tableEnvironment, STRIPE_CHECKOUT_SECRET_ARN: this.checkoutSecret.secretArn },
    });
    // UpdateItem: the customer's pending downgrade (an opt-out).
    onCustomers(this.upgradeFunction, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // PutItem and UpdateItem: the claim and the kept Checkout session a looping key reuses (lambdas/adapters/checkout-sessions.ts);
    // PutItem also the opt-out's audit record.
    tables.billing.grant(this.upgradeFunction, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // The customer-facing restricted key: Checkout sessions, the opt-out's subscription change, customer portal sessions.
    this.checkoutSecret.grantRead(this.upgradeFunction);
    const billingIntegration = new apigateway.LambdaIntegration(this.upgradeFunction);
    for (const route of [ROUTES.billingUpgrade, ROUTES.billingDowngrade, ROUTES.billingDowngradeUndo, ROUTES.billingPortal]) {
      Validations.of(addRoute(meteredApi.api, route, billingIntegration, meteredApi.authorizer)).acknowledge({
        id: 'AwsSolutions-COG4',
        reason: 'Authorized by the Lambda REQUEST authorizer that checks the API key hash; a free route, never metered.',
      });
    }

    this.syncErrorsAlarm = new cloudwatch.Alarm(this, 'SyncErrorsAlarm', {
      alarmDescription: 'The Stripe sync failed: counted usage is not reaching Stripe',
      metric: this.syncFunction.metricErrors({ period: Duration.minutes(15) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // A run that completes can still report problems (a push that failed, usage too old for Stripe's meter,
    // more pushed than counted, a closed period): the handler logs each as an error line with this
    // message and carries on, so the Errors alarm never sees them; this filter counts them.
    this.syncProblemsFilter = new logs.MetricFilter(this, 'SyncProblemsFilter', {
      logGroup: this.syncFunction.logGroup,
      filterPattern: logs.FilterPattern.stringValue('$.message', '=', SYNC_PROBLEM_MESSAGE),
      metricNamespace: 'api-billing',
      metricName: 'StripeSyncProblems',
      metricValue: '1',
    });
    this.syncProblemsAlarm = new cloudwatch.Alarm(this, 'SyncProblemsAlarm', {
      alarmDescription: `The Stripe sync reported problems (a failed push, usage too old for the meter or past its invoice, more pushed than counted): see the sync log, message "${SYNC_PROBLEM_MESSAGE}"`,
      metric: this.metricSyncProblems({ period: Duration.minutes(15) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [this.syncErrorsAlarm, this.syncProblemsAlarm]) alarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alerts.topic));
  }

  /** Problems the sync runs reported (one per `stripe sync problem` log line), summed over the period. */
  metricSyncProblems(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.syncProblemsFilter.metric({ statistic: cloudwatch.Stats.SUM, ...props });
  }
}
