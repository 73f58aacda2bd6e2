import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Construct } from 'constructs';
import type { Aggregation } from './aggregation.ts';
import type { Alerts } from './alerts.ts';
import type { MeteredApi } from './metered-api.ts';
import type { StripeBilling } from './stripe-billing.ts';
import type { Reconciliation } from './reconciliation.ts';
import type { ExperimentMonitoring } from './experiment-monitoring.ts';

export interface MonitoringProps {
  readonly meteredApi: MeteredApi;
  readonly aggregation: Aggregation;
  readonly stripeBilling: StripeBilling;
  readonly reconciliation: Reconciliation;
  /** The experiment's daily metrics: their widgets and the run's alarm. */
  readonly experiment: ExperimentMonitoring;
  readonly alerts: Alerts;
}

/** The operators' CloudWatch dashboard, and the API alarms (routed to the alert topic). */
export class Monitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly serverErrorsAlarm: cloudwatch.Alarm;
  readonly authorizerLatencyAlarm: cloudwatch.Alarm;
  /** The API refused many requests (401 without a valid key, 403, 429): a flood, perhaps of guessed keys. */
  readonly refusedRequestsAlarm: cloudwatch.Alarm;
  /** One per free route: its request rate nears its stage throttle (a key may be looping it, starving the others). */
  readonly freeRouteRateAlarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { meteredApi, aggregation, stripeBilling, reconciliation, experiment } = props;
    const api = meteredApi.api;
    const authorizer = meteredApi.authorizerFunction;
    const fiveMinutes = { period: Duration.minutes(5) };

    // 5xx answers are never billed, but they are the error rate the plan tracks (and an authorizer fault shows as a 500).
    this.serverErrorsAlarm = new cloudwatch.Alarm(this, 'ServerErrorsAlarm', {
      alarmDescription: 'The API answered 5xx (including authorizer failures): those calls are not billed, and customers see errors',
      metric: api.metricServerError(fiveMinutes),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // The authorizer is on every call's path: its p99 is the metering overhead customers feel.
    this.authorizerLatencyAlarm = new cloudwatch.Alarm(this, 'AuthorizerLatencyAlarm', {
      alarmDescription: "The metering authorizer's p99 duration is over 1 second",
      metric: authorizer.metricDuration({ ...fiveMinutes, statistic: 'p99' }),
      threshold: 1_000,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // A keyless request never runs the authorizer, but a well-formed random key does (a Lambda run
    // and a read each: npm run bench -- cost). WAF's per-IP rule stops one source; this tells the
    // operators about a distributed flood. 100 refusals a second for 5 minutes is far above what
    // customers' own 403s and 429s make.
    this.refusedRequestsAlarm = new cloudwatch.Alarm(this, 'RefusedRequestsAlarm', {
      alarmDescription:
        'The API refused over 30,000 requests in 5 minutes (4xx: unknown or missing keys, throttles, quotas): a flood, perhaps of guessed keys; check the WAF and the access log',
      metric: api.metricClientError(fiveMinutes),
      threshold: 30_000,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // Free routes have no usage plan: their method throttle is shared by every caller, so one key
    // looping GET /usage or POST /billing/upgrade uses it up for all. Alarm at half of it, over 5 minutes.
    this.freeRouteRateAlarms = meteredApi.methodThrottles.map(({ route, rateLimit }) => {
      const requests = new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName: 'Count',
        dimensionsMap: { ApiName: api.restApiName, Stage: api.deploymentStage.stageName, Resource: route.resource, Method: route.method },
        statistic: cloudwatch.Stats.SUM,
        ...fiveMinutes,
      });
      return new cloudwatch.Alarm(this, `FreeRouteRateAlarm${route.method}${route.resource.replace(/[^A-Za-z0-9]/g, '')}`, {
        alarmDescription: `${route.method} ${route.resource} (a free route) ran at over half its stage throttle of ${rateLimit}/s for 5 minutes: a key may be looping it; its callers share the throttle`,
        metric: requests,
        threshold: (rateLimit * fiveMinutes.period.toSeconds()) / 2,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    });
    for (const alarm of [this.serverErrorsAlarm, this.authorizerLatencyAlarm, this.refusedRequestsAlarm, ...this.freeRouteRateAlarms])
      alarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alerts.topic));

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(24),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'API calls and errors',
            left: [api.metricCount(fiveMinutes), api.metricClientError(fiveMinutes), api.metricServerError(fiveMinutes)],
          }),
          new cloudwatch.GraphWidget({
            title: 'API latency (p50, p99)',
            left: [api.metricLatency({ ...fiveMinutes, statistic: 'p50' }), api.metricLatency({ ...fiveMinutes, statistic: 'p99' })],
          }),
        ],
        [
          // Invocation errors include every 401: API Gateway turns the authorizer's "Unauthorized" error into one.
          new cloudwatch.GraphWidget({
            title: 'Authorizer: invocations, errors (401s included)',
            left: [authorizer.metricInvocations(fiveMinutes), authorizer.metricErrors(fiveMinutes)],
          }),
          new cloudwatch.GraphWidget({
            title: 'Authorizer duration (p50, p99)',
            left: [authorizer.metricDuration({ ...fiveMinutes, statistic: 'p50' }), authorizer.metricDuration({ ...fiveMinutes, statistic: 'p99' })],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Aggregator iterator age (ms behind the stream)',
            left: [aggregation.aggregatorFunction.metric('IteratorAge', { ...fiveMinutes, statistic: 'Maximum' })],
          }),
          new cloudwatch.GraphWidget({
            title: 'Dead-letter queue depth (uncounted batches)',
            left: [aggregation.deadLetterQueue.metricApproximateNumberOfMessagesVisible(fiveMinutes)],
          }),
          new cloudwatch.GraphWidget({
            title: 'Stripe sync: errors, reported problems, duration',
            left: [stripeBilling.syncFunction.metricErrors(fiveMinutes), stripeBilling.metricSyncProblems(fiveMinutes)],
            right: [stripeBilling.syncFunction.metricDuration(fiveMinutes)],
          }),
          new cloudwatch.GraphWidget({
            title: 'Reconciliation: customer-months with a discrepancy, run errors',
            left: [
              reconciliation.metricDiscrepancies({ period: Duration.days(1) }),
              reconciliation.reconcileFunction.metricErrors({ period: Duration.days(1) }),
            ],
          }),
        ],
        ...experiment.widgets(),
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            alarms: [
              this.serverErrorsAlarm,
              this.authorizerLatencyAlarm,
              ...this.freeRouteRateAlarms,
              aggregation.deadLetterAlarm,
              aggregation.iteratorAgeAlarm,
              stripeBilling.syncErrorsAlarm,
              stripeBilling.syncProblemsAlarm,
              reconciliation.errorsAlarm,
              reconciliation.discrepancyAlarm,
              experiment.errorsAlarm,
            ],
            width: 24,
          }),
        ],
      ],
    });
  }
}
