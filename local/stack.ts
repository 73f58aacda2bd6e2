/**
 * The whole pipeline on one machine: DynamoDB Local with the synthesized tables, the local gateway
 * in front of the same authorizer and sample backend. Used by `npm start` and the end-to-end tests.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { billingConfig, type BillingConfig } from '../lambdas/core/config.ts';
import { cachedKeyDirectory, cachedMonthlyCallCounter, keyCaches } from '../lambdas/core/metering.ts';
import { ROUTES } from '../lambdas/core/routes.ts';
import { TtlCache } from '../lambdas/core/ttl-cache.ts';
import { DynamoCustomerStore } from '../lambdas/adapters/customer-store.ts';
import { connectDynamoDb, type DynamoDbConnection } from '../lambdas/adapters/dynamodb.ts';
import type { TableNames } from '../lambdas/adapters/env.ts';
import { LocalGatewayKeyRegistry } from '../lambdas/adapters/gateway-keys-local.ts';
import { DynamoUsageEventLog } from '../lambdas/adapters/usage-event-log.ts';
import { createAuthorizer } from '../lambdas/authorizer/authorizer.ts';
import { handler as sampleBackend } from '../lambdas/sample-backend/handler.ts';
import { createUsageApi } from '../lambdas/usage-api/usage-api.ts';
import { createDashboard } from '../lambdas/dashboard/dashboard.ts';
import { createSupportApi } from '../lambdas/support-api/support-api.ts';
import { FileAlertSink } from '../lambdas/adapters/alert-sinks.ts';
import { DynamoTicketStore } from '../lambdas/adapters/tickets-store.ts';
import { DynamoFeedbackStore } from '../lambdas/adapters/feedback-store.ts';
import { createFeedbackApi } from '../lambdas/support-api/feedback-api.ts';
import { createAggregator } from '../lambdas/aggregator/aggregator.ts';
import { DynamoCounterStore } from '../lambdas/adapters/counting-store.ts';
import { DynamoGapStore } from '../lambdas/adapters/counter-gaps.ts';
import { DynamoOutcomeStore } from '../lambdas/adapters/outcome-store.ts';
import { AccessLogLineSchema } from '../lambdas/core/gateway-contract.ts';
import { handleAccessLog } from '../lambdas/core/outcomes.ts';
import { startStreamPoller, type StreamPoller } from './stream-poller.ts';
import { startLocalBilling, type LocalBilling } from './billing.ts';
import { FileDeadLetterQueue } from './dead-letters.ts';
import { randomUUID } from 'node:crypto';
import { dynamoUsageHistory } from '../lambdas/adapters/usage-history.ts';
import { invoiceSource } from '../lambdas/core/customer-billing.ts';
import type { UsageHistory } from '../lambdas/core/usage-report.ts';
import { CounterUsageReader } from '../lambdas/adapters/sync-store.ts';
import { startDynamoDbLocal, type RunningDynamoDbLocal } from './dynamodb-local.ts';
import type { LocalStackState } from './state.ts';
import { startLocalGateway, type LocalRoute, type RawAccessLogLine, type RunningLocalGateway } from './gateway.ts';
import { createTables, synthesizeTableDefinitions } from './tables.ts';

export interface LocalStackOptions {
  /** Folder for the gateway keys file and the access log. */
  readonly dir: string;
  /** @default a DynamoDB Local started for this stack */
  readonly dynamoDbEndpoint?: string;
  /** @default 'local-' */
  readonly tablePrefix?: string;
  /** @default 0 - any free port */
  readonly port?: number;
  /** @default the shipped configuration */
  readonly config?: BillingConfig;
  /** @default Date.now */
  readonly now?: () => number;
  /** Routes beyond the product's own. */
  readonly extraRoutes?: readonly LocalRoute[];
  /**
   * Stripe: `local` starts the local Stripe; `{ testModeSecretKey }` uses Stripe test mode.
   * @default - no Stripe: metering and counting only
   */
  readonly stripe?: 'local' | { readonly testModeSecretKey: string };
  /** @default 10000 */
  readonly syncIntervalMs?: number;
  /** Start billing's scheduled runs held, until `billing.resume()`. @default false */
  readonly billingHeld?: boolean;
  /** Print alerts as well as logging them to the alerts file. @default false */
  readonly echoAlerts?: boolean;
}

export interface LocalStack extends DynamoDbConnection {
  /** What the CLI (another process) needs to find this stack: written by `npm start` with writeLocalState. */
  state(): LocalStackState;
  readonly dynamoDbEndpoint: string;
  readonly tables: TableNames;
  readonly gateway: RunningLocalGateway;
  readonly gatewayKeysFile: string;
  readonly accessLogFile: string;
  /** The local dead-letter queue of the aggregator. */
  readonly deadLetterFile: string;
  /** Alerts, one JSON line each (they are also printed). */
  readonly alertsFile: string;
  readonly store: DynamoCustomerStore;
  readonly gatewayKeys: LocalGatewayKeyRegistry;
  readonly billing?: LocalBilling;
  /** Delivers pending access-log lines and reads the stream up to date: counters are current after it. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const config = options.config ?? billingConfig;
  const now = options.now ?? Date.now;
  mkdirSync(options.dir, { recursive: true });
  const gatewayKeysFile = join(options.dir, 'gateway-keys.json');
  const accessLogFile = join(options.dir, 'access.log');

  let dynamo: RunningDynamoDbLocal | undefined;
  const dynamoDbEndpoint = options.dynamoDbEndpoint ?? (dynamo = await startDynamoDbLocal()).endpoint;
  const connection = connectDynamoDb({ endpoint: dynamoDbEndpoint });
  // With a clock of its own (a test's), DynamoDB Local's real-time TTL would disagree with it: TTL off (see createTables).
  const tables = await createTables(connection.client, synthesizeTableDefinitions(), options.tablePrefix ?? 'local-', {
    timeToLive: options.now === undefined,
  });

  const store = new DynamoCustomerStore(connection.doc, tables);
  const gatewayKeys = new LocalGatewayKeyRegistry(gatewayKeysFile);
  const logger = new Logger({ serviceName: 'api-billing-local', logLevel: 'WARN' });
  const authorizer = createAuthorizer({
    directory: cachedKeyDirectory(store, keyCaches(config, now)),
    events: new DynamoUsageEventLog(connection.doc, tables.usageEvents),
    counter: cachedMonthlyCallCounter(new CounterUsageReader(connection.doc, tables.counters), new TtlCache<number>(config.keyCacheMaxEntries, 5_000, now)),
    config,
    now,
    logger,
  });

  // The access log, delivered in batches to the same outcome path a log subscription feeds.
  const outcomes = new DynamoOutcomeStore(connection.doc, tables, now);
  let logBatch: RawAccessLogLine[] = [];
  const flushAccessLog = async () => {
    const lines = logBatch;
    logBatch = [];
    if (lines.length === 0) return;
    await handleAccessLog(
      randomUUID(),
      lines.map((line) => AccessLogLineSchema.parse(line)),
      outcomes,
    );
  };
  const accessLog = (line: RawAccessLogLine) => {
    appendFileSync(accessLogFile, `${JSON.stringify(line)}\n`);
    logBatch.push(line);
  };
  const logTimer = setInterval(() => void flushAccessLog().catch((error: unknown) => console.error('outcome path:', error)), 500);

  // The usage events stream, read as the event source mapping would, into the same aggregator.
  const counterStore = new DynamoCounterStore(connection.doc, tables.counters);
  const deadLetterFile = join(options.dir, 'dead-letters.jsonl');
  const deadLetters = new FileDeadLetterQueue(deadLetterFile);
  const poller: StreamPoller = await startStreamPoller({
    client: connection.client,
    endpoint: dynamoDbEndpoint,
    tableName: tables.usageEvents,
    handler: createAggregator(counterStore, logger, { gaps: new DynamoGapStore(connection.doc, tables.counters) }),
    onDeadLetter: (letter, error) => {
      console.error(
        `aggregator gave up on ${letter.records.length} records (replay: npm run cli -- dlq replay):`,
        error instanceof Error ? error.message : error,
      );
      deadLetters.send(letter, error);
    },
  });

  const dashboard = createDashboard(join(__dirname, '../lambdas/dashboard/assets'), config);
  const alertsFile = join(options.dir, 'alerts.log');
  const alerts = new FileAlertSink(alertsFile, options.echoAlerts ?? false);
  const tickets = new DynamoTicketStore(connection.doc, tables.billing);
  const feedback = new DynamoFeedbackStore(connection.doc, tables.billing);
  // GET /usage lists the customer's Stripe invoices once Stripe is up (below), as the usage Lambda does.
  let stripeInvoices: UsageHistory['invoices'];
  // The API's methods, from the route table the stack reads too.
  const routes: LocalRoute[] = [
    { route: ROUTES.api, handler: sampleBackend },
    { route: ROUTES.apiProxy, handler: sampleBackend },
    {
      route: ROUTES.usage,
      handler: createUsageApi({
        registry: store,
        history: dynamoUsageHistory(connection.doc, tables, async (customer) => stripeInvoices?.(customer) ?? []),
        feedback,
        config,
        now,
      }),
    },
    { route: ROUTES.supportTickets, handler: createSupportApi({ store: tickets, alerts, config, now }) },
    { route: ROUTES.feedback, handler: createFeedbackApi({ store: feedback, config, now }) },
    { route: ROUTES.dashboard, handler: dashboard },
    { route: ROUTES.dashboardAsset, handler: dashboard },
    { route: ROUTES.pricing, handler: dashboard },
    ...(options.extraRoutes ?? []),
  ];
  const billing = options.stripe
    ? await startLocalBilling({
        doc: connection.doc,
        client: connection.client,
        tables,
        gatewayKeys,
        config,
        now,
        testModeSecretKey: options.stripe === 'local' ? undefined : options.stripe.testModeSecretKey,
        syncIntervalMs: options.syncIntervalMs,
        held: options.billingHeld,
        alerts,
        tickets,
      })
    : undefined;
  routes.push(...(billing?.routes ?? []));
  if (billing) stripeInvoices = invoiceSource(billing.services.provider, now);
  const gateway = await startLocalGateway({
    authorizer,
    routes,
    gatewayKeys,
    config,
    accessLog,
    port: options.port,
    now,
  });

  await billing?.attachWebhook(gateway.url);

  return {
    ...connection,
    state: () => ({
      pid: process.pid,
      dynamoDbEndpoint,
      gatewayUrl: gateway.url,
      gatewayKeysFile,
      accessLogFile,
      deadLetterFile,
      alertsFile,
      tables,
      stripeApiBase: billing?.stripeApiBase,
    }),
    billing,
    dynamoDbEndpoint,
    tables,
    gateway,
    gatewayKeysFile,
    accessLogFile,
    deadLetterFile,
    alertsFile,
    store,
    gatewayKeys,
    async settle() {
      await flushAccessLog();
      await poller.drain();
    },
    async stop() {
      clearInterval(logTimer);
      await billing?.stop();
      await gateway.stop();
      await flushAccessLog().catch(() => undefined);
      await poller.stop();
      connection.client.destroy();
      await dynamo?.stop();
    },
  };
}
