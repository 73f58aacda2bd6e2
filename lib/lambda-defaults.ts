import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** The repository root: entries are resolved from it, whatever the caller's working directory. */
const PROJECT_ROOT = join(__dirname, '..');

/** The Powertools service name every function reports under unless it names its own. */
export const SERVICE_NAME = 'api-billing';

export interface ProductFunctionProps {
  /** The handler folder under `lambdas/`: the entry is `lambdas/<handlerName>/handler.ts`, exporting `handler`. */
  readonly handlerName: string;
  /** What the function is for, shown in the console. */
  readonly description: string;
  /**
   * Environment variables beyond the Powertools ones.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Retention of the function's own log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Powertools log level.
   * @default 'INFO'
   */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /**
   * Actions, besides X-Ray's, that the function is granted on Resource "*" because they support no
   * resource-level permissions; the cdk-nag acknowledgment of that wildcard names them.
   * @default - none
   */
  readonly unscopableActions?: readonly string[];
  /**
   * A folder of the repository copied beside the bundle as `assets/` (the dashboard's page, script and styles).
   * @default - none
   */
  readonly assets?: string;
  /**
   * Powertools service name.
   * @default SERVICE_NAME ('api-billing')
   */
  readonly serviceName?: string;
}

/**
 * A Lambda with the product's defaults: Node.js 22 on arm64, its own log group with a retention,
 * JSON logs without Lambda's platform lines, X-Ray tracing, the Powertools environment, and a small minified CJS bundle with the AWS SDK
 * left to the runtime (cold starts are dominated by bundle size).
 */
export class ProductFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: ProductFunctionProps) {
    const entry = join(PROJECT_ROOT, 'lambdas', props.handlerName, 'handler.ts');
    if (!existsSync(entry)) {
      throw new Error(`ProductFunction ${id}: no entry at ${entry}; create lambdas/${props.handlerName}/handler.ts exporting \`handler\``);
    }
    // An explicit role with a log-group-scoped grant replaces the AWSLambdaBasicExecutionRole
    // managed policy, which allows writing to every log group in the account.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry,
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: lambda.Tracing.ACTIVE,
      role,
      logGroup,
      // Lambda's own START/END/REPORT lines (about 350 bytes a run) are not sent: on the authorizer,
      // one run per metered call, they were a sixth of the metering cost (npm run bench -- cost).
      // Duration and memory stay in the function's CloudWatch metrics. The application level is
      // Powertools', which it reads back from AWS_LAMBDA_LOG_LEVEL.
      loggingFormat: lambda.LoggingFormat.JSON,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      applicationLogLevelV2: lambda.ApplicationLogLevel[props.logLevel ?? 'INFO'],
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? SERVICE_NAME,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node22',
        format: OutputFormat.CJS,
        // The Node.js 22 runtime ships AWS SDK v3.
        externalModules: ['@aws-sdk/*'],
        ...(props.assets && {
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (inputDir: string, outputDir: string) => [`cp -r "${join(inputDir, props.assets!)}" "${join(outputDir, 'assets')}"`],
          },
        }),
      },
    });
    logGroup.grantWrite(role);
    const unscopable = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords (X-Ray active tracing)', ...(props.unscopableActions ?? [])];
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: `Resource "*" only for actions that support no resource-level permissions: ${unscopable.join(', ')}.`,
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x, a supported LTS runtime: bundles target node22 and cold starts and benchmarks are measured on it; moving to a newer runtime is a deliberate, tested upgrade of ProductFunction.',
    });
  }
}
