/** What every CLI command works on: a stack's tables, gateway keys and Stripe (the local stack by default). */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { billingServices, type BillingServices } from '../lambdas/adapters/billing-services.ts';
import { DynamoCustomerStore } from '../lambdas/adapters/customer-store.ts';
import { stripeClient } from '../lambdas/adapters/stripe-billing.ts';
import { connectDynamoDb } from '../lambdas/adapters/dynamodb.ts';
import type { TableNames } from '../lambdas/adapters/env.ts';
import { LocalGatewayKeyRegistry } from '../lambdas/adapters/gateway-keys-local.ts';
import type { CustomerDeps } from '../lambdas/core/customers.ts';
import { readLocalState } from '../local/state.ts';
import type { AlertSink } from '../lambdas/core/alerts.ts';
import { FileAlertSink } from '../lambdas/adapters/alert-sinks.ts';

/** An expected failure of a command: printed as one line, exit code 1, nothing changed. */
export class CliError extends Error {}

export interface CliContext {
  readonly doc: DynamoDBDocumentClient;
  /** The webhook's idempotency table is not among them: no command touches event claims. */
  readonly tables: Omit<TableNames, 'idempotency'>;
  readonly store: DynamoCustomerStore;
  readonly customerDeps: CustomerDeps;
  /** Stripe and billing state: the local Stripe of `npm start`, or Stripe test mode when STRIPE_SECRET_KEY is set. */
  readonly billing: BillingServices;
  /** Where a command's alerts go (reconciliation's): the stack's alert topic, or the local stack's alerts file. */
  readonly alerts: AlertSink;
  /** Who runs the command, for audit records. */
  readonly operator: string;
}

/** Connects to the running local stack (started by `npm start`). */
export async function connectLocalStack(): Promise<CliContext> {
  const state = readLocalState();
  if (!state) throw new CliError('the local stack is not running: start it with `npm start` in another terminal');
  const { doc } = connectDynamoDb({ endpoint: state.dynamoDbEndpoint });
  const store = new DynamoCustomerStore(doc, state.tables);
  const secretKey = process.env.STRIPE_SECRET_KEY ?? 'sk_test_local';
  const billing = billingServices({
    doc,
    tables: state.tables,
    stripe: stripeClient({ secretKey, baseUrl: process.env.STRIPE_SECRET_KEY ? undefined : state.stripeApiBase }),
  });
  return {
    doc,
    tables: state.tables,
    store,
    customerDeps: { registry: store, gatewayKeys: new LocalGatewayKeyRegistry(state.gatewayKeysFile), now: Date.now },
    billing,
    alerts: new FileAlertSink(state.alertsFile),
    operator: process.env.API_BILLING_OPERATOR ?? process.env.USER ?? 'operator',
  };
}
