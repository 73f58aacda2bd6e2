import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type { Construct } from 'constructs';
import { TIER_NAMES } from '../lambdas/core/config.ts';
import { Aggregation } from './aggregation.ts';
import { Alerts } from './alerts.ts';
import { Monitoring } from './monitoring.ts';
import { CustomerApi } from './customer-api.ts';
import { StripeBilling } from './stripe-billing.ts';
import { Reconciliation } from './reconciliation.ts';
import { ExperimentMonitoring } from './experiment-monitoring.ts';
import { MeteredApi } from './metered-api.ts';
import { BillingTables } from './tables.ts';
import { TraceSampling } from './trace-sampling.ts';
import { PerIpRateLimitAcl, SourceIpAllowListAcl, STRIPE_WEBHOOK_IPS } from './waf.ts';

export interface ApiBillingStackProps extends StackProps {
  /**
   * What the metered routes call once a request is authorized and within its plan.
   * @default - the sample backend Lambda (lambdas/sample-backend)
   */
  readonly backend?: apigateway.Integration;
  /**
   * Who receives alert e-mails.
   * @default - the context value `alertEmails` (comma-separated), else none
   */
  readonly alertEmails?: readonly string[];
  /**
   * AWS WAF web ACLs on both API stages: a per-IP rate limit on the metered API, Stripe's addresses
   * only on the webhook API ($10 a month for the two web ACLs, $3 for their rules, $0.60 per million requests).
   * @default - true, unless the context value `waf` is `false` (`cdk deploy -c waf=false`)
   */
  readonly waf?: boolean;
  /**
   * The addresses Stripe sends webhooks from; any other caller of the webhook API is blocked (with `waf`).
   * @default - the context value `stripeWebhookIps` (comma-separated), else STRIPE_WEBHOOK_IPS (lib/waf.ts)
   */
  readonly stripeWebhookIps?: readonly string[];
}

/** The whole product: tables, metered gateway and its web ACLs, aggregation, billing sync, reconciliation, the experiment's daily metrics, alerts, dashboard. */
export class ApiBillingStack extends Stack {
  readonly tables: BillingTables;
  readonly meteredApi: MeteredApi;
  readonly aggregation: Aggregation;
  readonly customerApi: CustomerApi;
  readonly stripeBilling: StripeBilling;
  readonly reconciliation: Reconciliation;
  readonly experimentMonitoring: ExperimentMonitoring;
  readonly alerts: Alerts;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: ApiBillingStackProps = {}) {
    super(scope, id, props);
    // Construct ids are load-bearing: local/tables.ts finds the tables under `Tables/`.
    this.tables = new BillingTables(this, 'Tables');
    this.meteredApi = new MeteredApi(this, 'MeteredApi', { tables: this.tables, backend: props.backend });
    new TraceSampling(this, 'MeteredTraceSampling', { stage: this.meteredApi.api.deploymentStage });
    this.aggregation = new Aggregation(this, 'Aggregation', { tables: this.tables, accessLogGroup: this.meteredApi.accessLogGroup });
    const emails =
      props.alertEmails ??
      String(this.node.tryGetContext('alertEmails') ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
    this.alerts = new Alerts(this, 'Alerts', { emails });
    this.customerApi = new CustomerApi(this, 'CustomerApi', { tables: this.tables, meteredApi: this.meteredApi, alerts: this.alerts });
    this.stripeBilling = new StripeBilling(this, 'StripeBilling', { tables: this.tables, meteredApi: this.meteredApi, alerts: this.alerts });
    // GET /usage lists the customer's Stripe invoices (one cached list request) with the customer-facing restricted key.
    this.customerApi.usageFunction.addEnvironment('STRIPE_CHECKOUT_SECRET_ARN', this.stripeBilling.checkoutSecret.secretArn);
    this.stripeBilling.checkoutSecret.grantRead(this.customerApi.usageFunction);
    this.reconciliation = new Reconciliation(this, 'Reconciliation', {
      tables: this.tables,
      stripeSecret: this.stripeBilling.stripeSecret,
      alerts: this.alerts,
    });
    this.protectStages(props);
    this.experimentMonitoring = new ExperimentMonitoring(this, 'ExperimentMonitoring', { tables: this.tables, alerts: this.alerts });
    // The aggregation alarms (dead letters, stream lag) reach the operators too.
    for (const alarm of [this.aggregation.deadLetterAlarm, this.aggregation.iteratorAgeAlarm])
      alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alerts.topic));
    this.monitoring = new Monitoring(this, 'Monitoring', {
      meteredApi: this.meteredApi,
      aggregation: this.aggregation,
      stripeBilling: this.stripeBilling,
      reconciliation: this.reconciliation,
      experiment: this.experimentMonitoring,
      alerts: this.alerts,
    });
    new CfnOutput(this, 'AlertTopicArn', {
      value: this.alerts.topic.topicArn,
      description: 'Billing alerts: subscribe operators (or deploy with -c alertEmails=ops@example.com)',
    });
    new CfnOutput(this, 'StripeSecretArn', {
      value: this.stripeBilling.stripeSecret.secretArn,
      description:
        'Put {"secretKey":"sk_... or rk_...","webhookSecret":"whsec_..."} here after deploy (README, Stripe keys: the permissions a restricted key needs)',
    });
    new CfnOutput(this, 'CheckoutStripeSecretArn', {
      value: this.stripeBilling.checkoutSecret.secretArn,
      description:
        'Put {"secretKey":"rk_..."} here after deploy: a Stripe restricted key with Checkout Sessions and Subscriptions write only (POST /billing/upgrade, POST|DELETE /billing/downgrade)',
    });
    new CfnOutput(this, 'StripeWebhookUrl', { value: this.stripeBilling.webhookUrl, description: 'Register this URL as a Stripe webhook endpoint' });
    new CfnOutput(this, 'DashboardUrl', { value: this.customerApi.dashboardUrl, description: 'The usage dashboard: customers sign in with their API key' });
    new CfnOutput(this, 'PricingUrl', { value: this.customerApi.pricingUrl, description: 'The public pricing page, generated from the billing config' });

    const api = this.meteredApi.api;
    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'Base URL of the API; metered routes are under api/' });
    new CfnOutput(this, 'RestApiId', { value: api.restApiId });
    new CfnOutput(this, 'CustomersTable', { value: this.tables.customers.tableName });
    new CfnOutput(this, 'ApiKeysTable', { value: this.tables.apiKeys.tableName });
    new CfnOutput(this, 'UsageEventsTable', { value: this.tables.usageEvents.tableName });
    new CfnOutput(this, 'CountersTable', { value: this.tables.counters.tableName });
    new CfnOutput(this, 'BillingTable', { value: this.tables.billing.tableName });
    for (const tier of TIER_NAMES) {
      new CfnOutput(this, `UsagePlanId${tier[0]!.toUpperCase()}${tier.slice(1)}`, {
        value: this.meteredApi.usagePlans[tier].usagePlanId,
        description: `Usage plan of the ${tier} tier: a customer's gateway key is placed in it`,
      });
    }
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: this.aggregation.deadLetterQueue.queueUrl,
      description: 'Usage event batches the aggregator gave up on: replay them, they are uncounted calls',
    });
  }

  /** The web ACLs of both API stages, or, with WAF left out, what guards each stage instead (cdk-nag APIG3). */
  private protectStages(props: ApiBillingStackProps): void {
    const meteredStage = this.meteredApi.api.deploymentStage;
    const webhookStage = this.stripeBilling.webhookApi.deploymentStage;
    const wafContext = this.node.tryGetContext('waf');
    if (props.waf ?? !(wafContext === false || wafContext === 'false')) {
      new PerIpRateLimitAcl(this, 'MeteredApiFirewall', { stage: meteredStage });
      const contextIps = String(this.node.tryGetContext('stripeWebhookIps') ?? '')
        .split(',')
        .map((ip) => ip.trim())
        .filter(Boolean);
      new SourceIpAllowListAcl(this, 'WebhookFirewall', {
        stage: webhookStage,
        allowedIps: props.stripeWebhookIps ?? (contextIps.length > 0 ? contextIps : STRIPE_WEBHOOK_IPS),
        allowedSource: 'Stripe webhooks',
      });
      return;
    }
    Validations.of(meteredStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'WAF left out by the operator (-c waf=false): a call without the key header is refused by API Gateway before the authorizer runs, metered calls are throttled per key by their usage plan and free routes per method, all under the stage throttle; one address can still use up that shared stage rate.',
    });
    Validations.of(webhookStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        "WAF left out by the operator (-c waf=false): the webhook API accepts calls from any address; the Lambda verifies Stripe's signature before anything changes, under the stage's own throttle.",
    });
  }
}
