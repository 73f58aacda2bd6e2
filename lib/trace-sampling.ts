import { Names, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as xray from 'aws-cdk-lib/aws-xray';
import { Construct } from 'constructs';

export interface TraceSamplingProps {
  /** The stage whose requests the rule samples (the metered API's: one request per metered call). */
  readonly stage: apigateway.Stage;
  /**
   * Share of requests traced. X-Ray bills $5 per million traces recorded; its default rule (the
   * first request each second, then 5%) made tracing a quarter of a metered call's cost.
   * @default 0.01
   */
  readonly fixedRate?: number;
}

/**
 * An X-Ray sampling rule for one API Gateway stage: a fixed share of its requests, with no
 * per-second reservoir, so a trace costs the same fraction of every call at any traffic. The
 * authorizer and backend follow the gateway's decision (the trace header), so the rule covers them.
 */
export class TraceSampling extends Construct {
  readonly rule: xray.CfnSamplingRule;

  constructor(scope: Construct, id: string, props: TraceSamplingProps) {
    super(scope, id);
    const fixedRate = props.fixedRate ?? 0.01;
    if (!(fixedRate >= 0 && fixedRate <= 1)) throw new Error(`TraceSampling ${id}: fixedRate must be from 0 to 1, got ${fixedRate}`);
    const { stage } = props;
    this.rule = new xray.CfnSamplingRule(this, 'Rule', {
      samplingRule: {
        // Rule names are unique in the account: this one carries the stack's and construct's path.
        ruleName: Names.uniqueResourceName(this, { maxLength: 32 }),
        priority: 100,
        fixedRate,
        reservoirSize: 0,
        serviceType: 'AWS::ApiGateway::Stage',
        serviceName: '*',
        resourceArn: `arn:${Stack.of(this).partition}:apigateway:${Stack.of(this).region}::/restapis/${stage.restApi.restApiId}/stages/${stage.stageName}`,
        host: '*',
        httpMethod: '*',
        urlPath: '*',
        version: 1,
      },
    });
  }
}
