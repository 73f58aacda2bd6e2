/** The CLI against a deployed stack: table names, usage plans and the Stripe secret from the stack's outputs. */
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { SNSClient } from '@aws-sdk/client-sns';
import { SnsAlertSink } from '../lambdas/adapters/alert-sinks.ts';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { billingServices } from '../lambdas/adapters/billing-services.ts';
import { DynamoCustomerStore } from '../lambdas/adapters/customer-store.ts';
import { connectDynamoDb } from '../lambdas/adapters/dynamodb.ts';
import type { TableNames } from '../lambdas/adapters/env.ts';
import { AwsGatewayKeyRegistry } from '../lambdas/adapters/gateway-keys-aws.ts';
import { stripeClient } from '../lambdas/adapters/stripe-billing.ts';
import { loadStripeSecrets } from '../lambdas/adapters/stripe-secrets.ts';
import { TIER_NAMES, type TierName } from '../lambdas/core/config.ts';
import { CliError, type CliContext } from './context.ts';

/** The stack outputs the CLI reads (lib/api-billing-stack.ts defines them). */
export const REQUIRED_OUTPUTS = {
  tables: { customers: 'CustomersTable', apiKeys: 'ApiKeysTable', usageEvents: 'UsageEventsTable', counters: 'CountersTable', billing: 'BillingTable' },
  usagePlans: { free: 'UsagePlanIdFree', pro: 'UsagePlanIdPro', enterprise: 'UsagePlanIdEnterprise' },
  stripeSecret: 'StripeSecretArn',
  alertTopic: 'AlertTopicArn',
} as const;

export interface DeployedStack {
  readonly tables: Omit<TableNames, 'idempotency'>;
  readonly usagePlanIds: Record<TierName, string>;
  readonly stripeSecretArn: string;
  readonly alertTopicArn: string;
}

/** Reads what the CLI needs from a stack's outputs; names the missing one. */
export function deployedStackFromOutputs(stackName: string, outputs: Readonly<Record<string, string>>): DeployedStack {
  const need = (key: string) => {
    const value = outputs[key];
    if (!value) throw new CliError(`stack ${stackName} has no output ${key}: is it an api-billing stack, deployed from this version?`);
    return value;
  };
  return {
    tables: Object.fromEntries(Object.entries(REQUIRED_OUTPUTS.tables).map(([role, key]) => [role, need(key)])) as unknown as Omit<TableNames, 'idempotency'>,
    usagePlanIds: Object.fromEntries(TIER_NAMES.map((tier) => [tier, need(REQUIRED_OUTPUTS.usagePlans[tier])])) as Record<TierName, string>,
    stripeSecretArn: need(REQUIRED_OUTPUTS.stripeSecret),
    alertTopicArn: need(REQUIRED_OUTPUTS.alertTopic),
  };
}

/** Connects to a deployed stack with the usual AWS credentials and region (AWS_PROFILE, AWS_REGION). */
export async function connectDeployedStack(stackName: string): Promise<CliContext> {
  const described = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: stackName })).catch((error: unknown) => {
    throw new CliError(`cannot read stack ${stackName}: ${error instanceof Error ? error.message : String(error)} (check AWS_PROFILE and AWS_REGION)`);
  });
  const outputs = Object.fromEntries((described.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  const stack = deployedStackFromOutputs(stackName, outputs);
  const { doc } = connectDynamoDb();
  const store = new DynamoCustomerStore(doc, stack.tables);
  const secrets = await loadStripeSecrets({ STRIPE_SECRET_ARN: stack.stripeSecretArn }).catch((error: unknown) => {
    throw new CliError(`cannot read the Stripe secret: ${error instanceof Error ? error.message : String(error)}`);
  });
  return {
    doc,
    tables: stack.tables,
    store,
    customerDeps: { registry: store, gatewayKeys: new AwsGatewayKeyRegistry(new APIGatewayClient({}), stack.usagePlanIds), now: Date.now },
    billing: billingServices({ doc, tables: stack.tables, stripe: stripeClient({ secretKey: secrets.secretKey }) }),
    alerts: new SnsAlertSink(new SNSClient({}), stack.alertTopicArn),
    operator: process.env.API_BILLING_OPERATOR ?? process.env.USER ?? 'operator',
  };
}
