import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TABLE_ENV } from '../lambdas/adapters/env.ts';
import { EXPERIMENT_METRICS, EXPERIMENT_METRICS_NAMESPACE, type ExperimentMetricName } from '../lambdas/core/experiment-monitoring.ts';
import type { Alerts } from './alerts.ts';
import { ProductFunction, SERVICE_NAME } from './lambda-defaults.ts';
import type { BillingTables } from './tables.ts';

export interface ExperimentMonitoringProps {
  readonly tables: BillingTables;
  /** Where the daily summary, the pages on a failure criterion and the run's alarm go. */
  readonly alerts: Alerts;
  /**
   * When the daily run starts, UTC.
   * @default 04:00, after the daily reconciliation (03:15), so the billing error rate includes its records
   */
  readonly schedule?: events.Schedule;
}

/**
 * The experiment, monitored daily (#core/experiment-monitoring.ts): a Lambda on its own schedule stores
 * the day's snapshot of the report in the Billing table, publishes the figures as CloudWatch metrics
 * (namespace `api-billing/experiment`, graphed on the stack's dashboard), sends the daily summary to
 * the alert topic and pages at once when a failure criterion is met.
 */
export class ExperimentMonitoring extends Construct {
  readonly metricsFunction: ProductFunction;
  readonly schedule: events.Rule;
  /** The daily run failed (the Lambda threw): no snapshot, no metrics, no summary that day. */
  readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ExperimentMonitoringProps) {
    super(scope, id);
    const { tables } = props;
    this.metricsFunction = new ProductFunction(this, 'MetricsFunction', {
      handlerName: 'experiment-metrics',
      description: "Daily experiment metrics: the report's snapshot, CloudWatch metrics (EMF), the summary and pages on a failure criterion",
      // Three Queries per customer (hours, outcomes, invoices): a minute or two for thousands of customers.
      timeout: Duration.minutes(5),
      memorySize: 512,
      environment: {
        [TABLE_ENV.customers]: tables.customers.tableName,
        [TABLE_ENV.counters]: tables.counters.tableName,
        [TABLE_ENV.billing]: tables.billing.tableName,
        ALERT_TOPIC_ARN: props.alerts.topic.topicArn,
      },
    });
    // Scan lists the customers. Table.grant would add every index ARN; the run reads none.
    iam.Grant.addToPrincipal({ grantee: this.metricsFunction, actions: ['dynamodb:Scan'], resourceArns: [tables.customers.tableArn] });
    // The hour and outcome counters, per customer.
    tables.counters.grant(this.metricsFunction, 'dynamodb:Query');
    // Invoices, tickets, reconciliation records and the previous snapshot (Query), the experiment's
    // state (GetItem), the day's snapshot (PutItem).
    tables.billing.grant(this.metricsFunction, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem');
    props.alerts.grantPublish(this.metricsFunction);

    this.schedule = new events.Rule(this, 'DailySchedule', {
      description: "Stores and publishes the experiment's daily metrics",
      schedule: props.schedule ?? events.Schedule.cron({ minute: '0', hour: '4' }),
      // A retry replaces the day's snapshot; the summary may then arrive twice, which beats not at all.
      targets: [new targets.LambdaFunction(this.metricsFunction, { retryAttempts: 1 })],
    });

    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: "The experiment's daily metrics run failed: no snapshot, metrics or summary today; run `npm run cli -- report` for the figures",
      metric: this.metricsFunction.metricErrors({ period: Duration.hours(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.errorsAlarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alerts.topic));
  }

  /** One of the experiment's metrics as the daily run publishes it (one data point a day: the day's Maximum). */
  metric(name: ExperimentMetricName, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    const definition = EXPERIMENT_METRICS.find((m) => m.name === name)!;
    return new cloudwatch.Metric({
      namespace: EXPERIMENT_METRICS_NAMESPACE,
      metricName: name,
      // Powertools Metrics adds the service as a dimension.
      dimensionsMap: { service: SERVICE_NAME },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.days(1),
      label: definition.label,
      ...props,
    });
  }

  /** The dashboard's widgets for the experiment: revenue, calls per day, rates against the plan's bars, and the counts. */
  widgets(): cloudwatch.IWidget[][] {
    const m = (name: ExperimentMetricName) => this.metric(name);
    const bar = (value: number, label: string, color: string): cloudwatch.HorizontalAnnotation => ({ value, label, color });
    return [
      [
        new cloudwatch.GraphWidget({
          title: 'Experiment: revenue (USD)',
          left: [m('RevenuePaidUsd'), m('RevenueMonthEstimateUsd'), m('RevenueShadowEstimateUsd')],
          leftAnnotations: [bar(1_000, 'target $1K/month', '#2ca02c'), bar(500, 'failure under $500', '#d62728')],
          leftYAxis: { min: 0, label: 'USD' },
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: 'Experiment: calls per day (served, billable, refused, errors)',
          left: [m('CallsServed'), m('CallsBillable'), m('CallsRefused'), m('CallsServerErrors'), m('CallsPerDayAverage')],
          leftAnnotations: [bar(100, 'target 100 calls/day', '#2ca02c')],
          leftYAxis: { min: 0, label: 'Calls' },
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: 'Experiment: rates (%)',
          left: [m('UpgradeRate'), m('ApiErrorRate'), m('BillingErrorRate'), m('Churn')],
          leftAnnotations: [
            bar(15, 'upgrade target 15%', '#2ca02c'),
            bar(5, 'upgrade floor / billing error ceiling 5%', '#d62728'),
            bar(10, 'churn ceiling 10%', '#ff7f0e'),
            bar(1, 'billing error target 1%', '#1f77b4'),
          ],
          leftYAxis: { min: 0, label: '%' },
          width: 8,
        }),
      ],
      [
        new cloudwatch.SingleValueWidget({
          title: 'Experiment: NPS, sample, support, failure criteria',
          metrics: [m('Nps'), m('NpsAnswers'), m('ActiveUsers'), m('BillingTickets'), m('BillingTicketSlaBreaches'), m('FailureCriteriaMet')],
          width: 18,
        }),
        new cloudwatch.GraphWidget({
          title: 'Experiment: daily run errors',
          left: [this.metricsFunction.metricErrors({ period: Duration.days(1) })],
          width: 6,
        }),
      ],
    ];
  }
}
