import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { TABLE_ENV } from '../lambdas/adapters/env.ts';
import { RECONCILIATION_DISCREPANCY_MESSAGE } from '../lambdas/core/reconciliation.ts';
import type { Alerts } from './alerts.ts';
import { ProductFunction } from './lambda-defaults.ts';
import type { BillingTables } from './tables.ts';

export interface ReconciliationProps {
  readonly tables: BillingTables;
  /** The Stripe keys (StripeBilling's secret): reconciliation reads meter summaries and invoices, and corrects them. */
  readonly stripeSecret: secretsmanager.ISecret;
  /** Where discrepancies (a page past 1% of a customer's month) and the alarms go. */
  readonly alerts: Alerts;
  /**
   * When the daily run starts, UTC.
   * @default 03:15, away from the month's first hour, when Stripe drafts invoices and each one is reconciled on its own
   */
  readonly schedule?: events.Schedule;
}

/**
 * The daily reconciliation (#core/reconciliation.ts): what was served, counted, pushed, metered and
 * invoiced, per customer-month, corrected where possible, with the billing error rate logged and each
 * discrepancy alarmed. The same reconciliation also runs on every `invoice.created` (the webhook) and on
 * demand (`npm run cli -- reconcile`).
 */
export class Reconciliation extends Construct {
  readonly reconcileFunction: ProductFunction;
  /** The daily run failed (the Lambda threw). */
  readonly errorsAlarm: cloudwatch.Alarm;
  /** A run found a customer-month it could not explain. */
  readonly discrepancyAlarm: cloudwatch.Alarm;
  readonly schedule: events.Rule;
  private readonly discrepancies: logs.MetricFilter;

  constructor(scope: Construct, id: string, props: ReconciliationProps) {
    super(scope, id);
    const { tables } = props;
    this.reconcileFunction = new ProductFunction(this, 'ReconcileFunction', {
      handlerName: 'reconciliation',
      description: 'Daily reconciliation: served, counted, pushed, metered and invoiced calls per customer-month; corrections; the billing error rate',
      // One Stripe summary per customer-month (two months) and an invoice read for ended months: minutes for thousands of customers.
      timeout: Duration.minutes(15),
      memorySize: 512,
      environment: {
        [TABLE_ENV.customers]: tables.customers.tableName,
        [TABLE_ENV.apiKeys]: tables.apiKeys.tableName,
        [TABLE_ENV.usageEvents]: tables.usageEvents.tableName,
        [TABLE_ENV.counters]: tables.counters.tableName,
        [TABLE_ENV.billing]: tables.billing.tableName,
        STRIPE_SECRET_ARN: props.stripeSecret.secretArn,
        ALERT_TOPIC_ARN: props.alerts.topic.topicArn,
      },
    });
    // One run at a time: two runs would race each other's corrections (each is idempotent, but one is enough).
    (this.reconcileFunction.node.defaultChild as CfnFunction).reservedConcurrentExecutions = 1;
    // Scan lists the customers. Table.grant would add every index ARN; reconciliation reads none.
    iam.Grant.addToPrincipal({ grantee: this.reconcileFunction, actions: ['dynamodb:Scan', 'dynamodb:GetItem'], resourceArns: [tables.customers.tableArn] });
    // The hour counters (Query) and the month item (GetItem).
    tables.counters.grant(this.reconcileFunction, 'dynamodb:Query', 'dynamodb:GetItem');
    // The raw events, read (a Scan) only for customers whose cheap figures disagree.
    tables.usageEvents.grant(this.reconcileFunction, 'dynamodb:Scan');
    // The outbox (read, and written by the sync each reconciliation runs first), records (a two-item
    // transaction of puts) and audit entries.
    tables.billing.grant(this.reconcileFunction, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query');
    props.stripeSecret.grantRead(this.reconcileFunction);
    props.alerts.grantPublish(this.reconcileFunction);

    this.schedule = new events.Rule(this, 'DailySchedule', {
      description: 'Runs the daily billing reconciliation',
      schedule: props.schedule ?? events.Schedule.cron({ minute: '15', hour: '3' }),
      // A failed run alarms; the next day's run (or an operator's `reconcile`) covers the same months.
      targets: [new targets.LambdaFunction(this.reconcileFunction, { retryAttempts: 1 })],
    });

    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: 'The daily billing reconciliation failed: the billing error rate is not being measured',
      metric: this.reconcileFunction.metricErrors({ period: Duration.hours(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.discrepancies = new logs.MetricFilter(this, 'DiscrepancyFilter', {
      logGroup: this.reconcileFunction.logGroup,
      filterPattern: logs.FilterPattern.stringValue('$.message', '=', RECONCILIATION_DISCREPANCY_MESSAGE),
      metricNamespace: 'api-billing',
      metricName: 'BillingDiscrepancies',
      metricValue: '1',
    });
    this.discrepancyAlarm = new cloudwatch.Alarm(this, 'DiscrepancyAlarm', {
      alarmDescription: `The billing reconciliation found customer-months it could not explain: see its log, message "${RECONCILIATION_DISCREPANCY_MESSAGE}", or run \`npm run cli -- reconcile\``,
      metric: this.metricDiscrepancies({ period: Duration.hours(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [this.errorsAlarm, this.discrepancyAlarm]) alarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alerts.topic));
  }

  /** Customer-months with a discrepancy, one per `billing discrepancy` log line, summed over the period. */
  metricDiscrepancies(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.discrepancies.metric({ statistic: cloudwatch.Stats.SUM, ...props });
  }
}
