import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Alerts } from './alerts.ts';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { TABLE_ENV } from '../lambdas/adapters/env.ts';
import { ROUTES } from '../lambdas/core/routes.ts';
import { ProductFunction } from './lambda-defaults.ts';
import { addRoute } from './routes.ts';
import type { MeteredApi } from './metered-api.ts';
import type { BillingTables } from './tables.ts';

export interface CustomerApiProps {
  readonly tables: BillingTables;
  readonly meteredApi: MeteredApi;
  /** Where billing support tickets are announced. */
  readonly alerts: Alerts;
}

/**
 * What customers reach besides the metered API: `GET /usage` (authenticated by their key, never
 * metered: no API key requirement, so no usage plan), the dashboard page (public assets; the
 * page signs in with the key and calls /usage) and the public pricing page.
 */
export class CustomerApi extends Construct {
  readonly usageFunction: ProductFunction;
  readonly dashboardFunction: ProductFunction;
  readonly supportFunction: ProductFunction;
  /** The dashboard's URL. */
  readonly dashboardUrl: string;
  /** The public pricing page's URL (the default upgrade link of the quota 429). */
  readonly pricingUrl: string;

  constructor(scope: Construct, id: string, props: CustomerApiProps) {
    super(scope, id);
    const { tables, meteredApi } = props;
    const api = meteredApi.api;

    this.usageFunction = new ProductFunction(this, 'UsageFunction', {
      handlerName: 'usage-api',
      description: "Answers GET /usage: the caller's own usage, estimate, quota and cap",
      environment: {
        [TABLE_ENV.customers]: tables.customers.tableName,
        [TABLE_ENV.apiKeys]: tables.apiKeys.tableName,
        [TABLE_ENV.counters]: tables.counters.tableName,
        [TABLE_ENV.billing]: tables.billing.tableName,
      },
    });
    // GetItem never touches an index: grant on the table alone (Table.grant would add its index ARNs).
    // The Billing table's: the customer's latest survey answer, for the survey prompt.
    iam.Grant.addToPrincipal({
      grantee: this.usageFunction,
      actions: ['dynamodb:GetItem'],
      resourceArns: [tables.customers.tableArn, tables.billing.tableArn],
    });
    tables.counters.grant(this.usageFunction, 'dynamodb:Query');
    tables.billing.grant(this.usageFunction, 'dynamodb:Query');
    const usage = addRoute(api, ROUTES.usage, new apigateway.LambdaIntegration(this.usageFunction), meteredApi.authorizer);
    Validations.of(usage).acknowledge({
      id: 'AwsSolutions-COG4',
      reason: 'Authorized by the Lambda REQUEST authorizer that checks the API key hash; it is a free route, so no API key (usage plan) is required.',
    });

    this.supportFunction = new ProductFunction(this, 'SupportFunction', {
      handlerName: 'support-api',
      description: 'POST /support/tickets (a billing problem; the operator is alerted at once) and POST /feedback (the NPS survey)',
      environment: { [TABLE_ENV.billing]: tables.billing.tableName, ALERT_TOPIC_ARN: props.alerts.topic.topicArn },
    });
    // PutItem: tickets, and the survey's two items (one transaction); GetItem: the customer's latest answer.
    // UpdateItem: the conditional counter of a customer's ticket filings per hour (lambdas/adapters/tickets-store.ts).
    iam.Grant.addToPrincipal({
      grantee: this.supportFunction,
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resourceArns: [tables.billing.tableArn],
    });
    props.alerts.grantPublish(this.supportFunction);
    const supportIntegration = new apigateway.LambdaIntegration(this.supportFunction);
    for (const route of [ROUTES.supportTickets, ROUTES.feedback]) {
      Validations.of(addRoute(api, route, supportIntegration, meteredApi.authorizer)).acknowledge({
        id: 'AwsSolutions-COG4',
        reason: 'Authorized by the Lambda REQUEST authorizer that checks the API key hash; a free route, never metered.',
      });
    }

    this.dashboardFunction = new ProductFunction(this, 'DashboardFunction', {
      handlerName: 'dashboard',
      description: 'Serves the usage dashboard (page, script, styles) and the pricing page, with a strict Content-Security-Policy',
      assets: 'lambdas/dashboard/assets',
    });
    const integration = new apigateway.LambdaIntegration(this.dashboardFunction);
    for (const method of [addRoute(api, ROUTES.dashboard, integration), addRoute(api, ROUTES.dashboardAsset, integration)]) {
      for (const rule of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
        Validations.of(method).acknowledge({
          id: rule,
          reason: 'Public static page: it holds no data; the page signs in with the API key and calls GET /usage, which is authorized.',
        });
      }
    }
    const pricing = addRoute(api, ROUTES.pricing, integration);
    for (const rule of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
      Validations.of(pricing).acknowledge({
        id: rule,
        reason: 'Public pricing page: the published prices, rendered from the billing config; it holds no customer data.',
      });
    }
    this.dashboardUrl = api.urlForPath(ROUTES.dashboard.resource);
    this.pricingUrl = api.urlForPath(ROUTES.pricing.resource);
  }
}
