/**
 * What a metered call costs, beyond API Gateway's own $3.50 per million: a model built from counts
 * measured in this run and the stack's synthesized settings, priced at the published us-east-1
 * prices (../shared/FACTS.md).
 *
 * Measured here, against DynamoDB Local through a proxy that asks every request for its consumed
 * capacity (DynamoDB Local computes it as DynamoDB does: 1 write unit per KB, 2 in a transaction,
 * 0.5 read unit per eventually consistent 4 KB):
 * - the authorizer's write and read units per call, its log bytes per call, and its warm handler
 *   time (p50, p99, mean), with a bare GetItem timed in the same run as the yardstick;
 * - the aggregator's and the outcome path's write units and handler time per batch, at the batch
 *   size the stack's event source mapping and the traffic give;
 * - the access-log line's bytes, and the usage event's stored size.
 * Read from the synthesized template: memory sizes, X-Ray tracing and sampling, Lambda system log
 * level, the batching window, the authorizer's identity source and whether a web ACL guards the stage.
 *
 * Not per call and so not in the figure: the scheduled jobs (sync every 5 minutes, daily
 * reconciliation and metrics), whose cost grows with customers, not calls.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { createAggregator } from '../lambdas/aggregator/aggregator.ts';
import { DynamoGapStore } from '../lambdas/adapters/counter-gaps.ts';
import { DynamoCounterStore } from '../lambdas/adapters/counting-store.ts';
import { DynamoCustomerStore } from '../lambdas/adapters/customer-store.ts';
import { connectDynamoDb } from '../lambdas/adapters/dynamodb.ts';
import type { TableNames } from '../lambdas/adapters/env.ts';
import { LocalGatewayKeyRegistry } from '../lambdas/adapters/gateway-keys-local.ts';
import { DynamoOutcomeStore } from '../lambdas/adapters/outcome-store.ts';
import { billingConfig } from '../lambdas/core/config.ts';
import { createCustomer } from '../lambdas/core/customers.ts';
import { ACCESS_LOG_FORMAT } from '../lambdas/core/gateway-contract.ts';
import { API_KEY_PREFIX } from '../lambdas/core/keys.ts';
import type { UsageEvent } from '../lambdas/core/model.ts';
import { createOutcomeHandler } from '../lambdas/outcome/outcome.ts';
import { startDynamoDbLocal } from '../local/dynamodb-local.ts';
import { createTables, synthesizeTableDefinitions } from '../local/tables.ts';
import { tableEnvironment } from '../test/harness/dynamodb.ts';
import { insertRecord } from '../test/harness/stream-records.ts';
import { synthesizeStack } from '../test/infra/synth.ts';
import { bundle } from './authorizer.ts';
import { subscriptionEvent } from './month.ts';

/** Published us-east-1 prices (FACTS.md, each service's pricing page), in dollars. */
export const PRICES = {
  lambdaRequest: 0.2 / 1e6,
  /** arm64 */
  lambdaGbSecond: 0.0000133334,
  writeUnit: 0.625 / 1e6,
  readUnit: 0.125 / 1e6,
  /** On-demand table storage, per GB-month. */
  storageGbMonth: 0.25,
  logIngestionGb: 0.5,
  xrayTrace: 5 / 1e6,
  wafRequest: 0.6 / 1e6,
} as const;

/** CloudWatch Logs meters each event's bytes plus 26 bytes of metadata. */
const LOG_EVENT_OVERHEAD = 26;
/** Lambda's START, END and REPORT lines, sent unless the system log level is WARN or above (FACTS.md). */
const PLATFORM_LOG_BYTES = 350;
/** X-Ray's default sampling rule: the first request each second, then 5%. */
const DEFAULT_SAMPLING = { reservoirPerSecond: 1, fixedRate: 0.05 };
/** DynamoDB adds 100 bytes of overhead to each stored item. */
const ITEM_OVERHEAD = 100;
/** How often CloudWatch Logs hands a subscription a batch, as an assumption (it is not documented). */
const SUBSCRIPTION_BATCH_SECONDS = 1;
/** The traffic the headline figure is for: steady, from 50 customers. */
const HEADLINE_CALLS_PER_SECOND = 100;
const CUSTOMERS = 50;
const CALLS = 10_000;
const KEYLESS_CALLS = 2_000;

type AuthorizerHandler = (event: unknown, context: unknown) => Promise<unknown>;

/** Write and read units consumed, summed per table. */
class CapacityMeter {
  readonly writes = new Map<string, number>();
  readonly reads = new Map<string, number>();
  requests = 0;

  /**
   * DynamoDB bills a single-table read at least 0.5 units (1 if strongly consistent) even when it
   * finds nothing; DynamoDB Local reports 0 for a miss, so the floor is applied here.
   */
  record(operation: string, consumed: unknown, request: { TableName?: string; ConsistentRead?: boolean }): void {
    this.requests += 1;
    if (/^(GetItem|Query|Scan)$/.test(operation) && request.TableName) {
      const units = (consumed as { CapacityUnits?: number } | undefined)?.CapacityUnits ?? 0;
      consumed = { TableName: request.TableName, CapacityUnits: Math.max(units, request.ConsistentRead ? 1 : 0.5) };
    }
    const entries = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as Array<{
      TableName: string;
      CapacityUnits?: number;
      ReadCapacityUnits?: number;
      WriteCapacityUnits?: number;
    }>;
    const isRead = /^(Get|BatchGet|Query|Scan|TransactGet)/.test(operation);
    for (const entry of entries) {
      const units = entry.CapacityUnits ?? 0;
      const bucket = isRead ? this.reads : this.writes;
      bucket.set(entry.TableName, (bucket.get(entry.TableName) ?? 0) + units);
    }
  }

  total(kind: 'writes' | 'reads'): number {
    return [...this[kind].values()].reduce((a, b) => a + b, 0);
  }

  reset(): void {
    this.writes.clear();
    this.reads.clear();
    this.requests = 0;
  }
}

/**
 * An HTTP proxy in front of DynamoDB Local that adds `ReturnConsumedCapacity: TOTAL` to each request
 * and records what the answer says it consumed. The code under measurement runs unchanged; only its
 * endpoint points here. (DynamoDB Local checks no signature, so the rewritten body is accepted.)
 */
async function startCapacityProxy(target: string, meter: CapacityMeter): Promise<{ endpoint: string; server: Server }> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      let body = Buffer.concat(chunks);
      const input = (body.length ? JSON.parse(body.toString('utf8')) : {}) as { TableName?: string; ConsistentRead?: boolean };
      if (operation && operation !== 'DescribeTable') body = Buffer.from(JSON.stringify({ ...input, ReturnConsumedCapacity: 'TOTAL' }));
      const forwarded = httpRequest(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, 'content-length': String(body.length) } },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            const payload = Buffer.concat(parts);
            try {
              meter.record(operation, (JSON.parse(payload.toString('utf8')) as { ConsumedCapacity?: unknown }).ConsumedCapacity, input);
            } catch {
              // Not JSON: nothing consumed.
            }
            res.writeHead(answer.statusCode ?? 500, answer.headers);
            res.end(payload);
          });
        },
      );
      forwarded.on('error', (error) => res.destroy(error));
      forwarded.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A key in the product's format that nobody holds: a malformed one is refused before any read, this one is looked up. */
const wellFormedRandomKey = () => API_KEY_PREFIX + randomBytes(32).toString('base64url');

/** Bytes written to stdout while `work` runs (where Powertools' logger writes, as Lambda captures it). */
async function stdoutBytesDuring<T>(work: () => Promise<T>): Promise<{ result: T; bytes: number; lines: number }> {
  const write = process.stdout.write.bind(process.stdout);
  let bytes = 0;
  let lines = 0;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    bytes += Buffer.byteLength(chunk);
    lines += 1;
    return true;
  }) as typeof process.stdout.write;
  try {
    return { result: await work(), bytes, lines };
  } finally {
    process.stdout.write = write;
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** What the cost depends on in the synthesized stack. */
export interface StackCostSettings {
  readonly authorizerMemoryMb: number;
  readonly aggregatorMemoryMb: number;
  readonly outcomeMemoryMb: number;
  /** Lambda platform lines per invocation are sent (system log level below WARN). */
  readonly authorizerPlatformLogs: boolean;
  readonly aggregatorBatchSize: number;
  readonly batchingWindowSeconds: number;
  readonly stageTracing: boolean;
  readonly sampling: { readonly reservoirPerSecond: number; readonly fixedRate: number };
  readonly authorizerIdentitySource?: string;
  readonly webAcl: boolean;
  readonly logLevel: string;
}

/** The properties the model reads, of whichever resource has them. */
interface CostProperties {
  readonly MemorySize: number;
  readonly LoggingConfig?: { readonly SystemLogLevel?: string };
  readonly Environment?: { readonly Variables?: Record<string, string> };
  readonly BatchSize: number;
  readonly MaximumBatchingWindowInSeconds?: number;
  readonly TracingEnabled?: boolean;
  readonly SamplingRule: { readonly ReservoirSize: number; readonly FixedRate: number };
  readonly IdentitySource?: string;
}
type Resource = { Type: string; Properties: CostProperties; Metadata?: Record<string, unknown> };

export function stackCostSettings(): StackCostSettings {
  const resources = Object.values((synthesizeStack().template.toJSON() as { Resources: Record<string, Resource> }).Resources);
  const at = (path: string) => {
    const found = resources.find((r) => r.Metadata?.['aws:cdk:path'] === path);
    if (!found) throw new Error(`cost model: no resource at ${path}; update bench/cost.ts`);
    return found.Properties;
  };
  const authorizer = at('ApiBilling/MeteredApi/AuthorizerFunction/Resource');
  const mapping = resources.find((r) => r.Type === 'AWS::Lambda::EventSourceMapping')!.Properties;
  const stage = at('ApiBilling/MeteredApi/Api/DeploymentStage.prod/Resource');
  const rule = resources.find((r) => r.Type === 'AWS::XRay::SamplingRule')?.Properties.SamplingRule;
  const systemLevel = authorizer.LoggingConfig?.SystemLogLevel;
  return {
    authorizerMemoryMb: authorizer.MemorySize,
    aggregatorMemoryMb: at('ApiBilling/Aggregation/AggregatorFunction/Resource').MemorySize,
    outcomeMemoryMb: at('ApiBilling/Aggregation/OutcomeFunction/Resource').MemorySize,
    authorizerPlatformLogs: !systemLevel || systemLevel === 'INFO' || systemLevel === 'DEBUG',
    aggregatorBatchSize: mapping.BatchSize,
    batchingWindowSeconds: mapping.MaximumBatchingWindowInSeconds ?? 0,
    stageTracing: stage.TracingEnabled === true,
    sampling: rule ? { reservoirPerSecond: rule.ReservoirSize, fixedRate: rule.FixedRate } : DEFAULT_SAMPLING,
    authorizerIdentitySource: at('ApiBilling/MeteredApi/Authorizer/Resource').IdentitySource,
    webAcl: resources.some((r) => r.Type === 'AWS::WAFv2::WebACLAssociation'),
    logLevel: authorizer.Environment?.Variables?.POWERTOOLS_LOG_LEVEL ?? 'INFO',
  };
}

/** Fraction of requests X-Ray records at a steady `callsPerSecond`. */
export function sampledShare(sampling: StackCostSettings['sampling'], callsPerSecond: number): number {
  const reservoir = Math.min(sampling.reservoirPerSecond, callsPerSecond);
  return (reservoir + sampling.fixedRate * (callsPerSecond - reservoir)) / callsPerSecond;
}

/** Lambda bills each invocation's duration rounded up to the millisecond. */
const gbSeconds = (memoryMb: number, handlerMs: number) => (memoryMb / 1024) * (Math.ceil(handlerMs) / 1000);

/** One stream or log batch: its DynamoDB units, warm handler time and log bytes. */
interface BatchFigures {
  readonly writeUnits: number;
  readonly readUnits: number;
  readonly meanMs: number;
  readonly logBytes: number;
}

/** Dollars of one Lambda invocation of `memoryMb` that runs `figures`. */
const batchDollars = (memoryMb: number, figures: BatchFigures) =>
  PRICES.lambdaRequest +
  gbSeconds(memoryMb, figures.meanMs) * PRICES.lambdaGbSecond +
  figures.writeUnits * PRICES.writeUnit +
  figures.readUnits * PRICES.readUnit;

/** One refused authorizer run: its read units, warm handler time and log bytes. */
interface RefusedFigures {
  readonly readUnits: number;
  readonly meanMs: number;
  readonly logBytes: number;
}

interface Measured {
  readonly authorizer: { readonly writeUnits: number; readonly readUnits: number; readonly logBytes: number; readonly meanMs: number };
  /** A request the authorizer refuses with a 401: no key at all (as the stack stood), or a key nobody holds. */
  readonly keyless: RefusedFigures;
  readonly randomKey: RefusedFigures;
  readonly aggregatorBatch: (records: number) => Promise<BatchFigures>;
  readonly outcomeBatch: (lines: number) => Promise<BatchFigures>;
  readonly accessLogBytes: number;
  readonly storedEventBytes: number;
}

/** Dollars per million metered calls at a steady `callsPerSecond`, by line. */
async function costPerMillion(settings: StackCostSettings, m: Measured, callsPerSecond: number, waf: boolean) {
  const batch = Math.max(1, Math.min(settings.aggregatorBatchSize, Math.round(callsPerSecond * Math.max(settings.batchingWindowSeconds, 1))));
  const logBatch = Math.max(1, Math.round(callsPerSecond * SUBSCRIPTION_BATCH_SECONDS));
  const [aggregator, outcome] = [await m.aggregatorBatch(batch), await m.outcomeBatch(logBatch)];
  const million = 1e6;
  const platform = settings.authorizerPlatformLogs ? PLATFORM_LOG_BYTES : 0;
  const lines = {
    'authorizer invocations': PRICES.lambdaRequest,
    'authorizer GB-s': gbSeconds(settings.authorizerMemoryMb, m.authorizer.meanMs) * PRICES.lambdaGbSecond,
    'usage event write': m.authorizer.writeUnits * PRICES.writeUnit + m.authorizer.readUnits * PRICES.readUnit,
    'aggregator (its batch, per call)': batchDollars(settings.aggregatorMemoryMb, aggregator) / batch,
    'outcome path (its batch, per call)': batchDollars(settings.outcomeMemoryMb, outcome) / logBatch,
    'logs (access line, Lambda lines)':
      ((m.accessLogBytes + LOG_EVENT_OVERHEAD + platform + m.authorizer.logBytes + (aggregator.logBytes / batch + outcome.logBytes / logBatch)) / 1e9) *
      PRICES.logIngestionGb,
    'X-Ray traces': settings.stageTracing ? sampledShare(settings.sampling, callsPerSecond) * PRICES.xrayTrace : 0,
    ...(waf && { 'WAF inspection': PRICES.wafRequest }),
  };
  const total = Object.values(lines).reduce((a, b) => a + b, 0) * million;
  // Storage accrues by the month, not by the request: reported beside the per-call figure, never left out.
  const storage = (m.storedEventBytes / 1e9) * (billingConfig.usageEventRetentionDays / 30) * PRICES.storageGbMonth * million;
  return { total, storage, lines: Object.entries(lines).map(([name, dollars]) => [name, dollars * million] as const), batch, logBatch };
}

/** The stack before this model (b7daf4a): no identity source, no web ACL, platform log lines sent, X-Ray's default rule. */
const STACK_BEFORE = { authorizerPlatformLogs: true, sampling: DEFAULT_SAMPLING, stageTracing: true, webAcl: false, invokesAuthorizer: true } as const;

type KeylessSettings = Pick<StackCostSettings, 'authorizerMemoryMb' | 'authorizerPlatformLogs' | 'sampling' | 'stageTracing' | 'webAcl'> & {
  readonly invokesAuthorizer: boolean;
};

/** Dollars per million refused requests: an access-log line, maybe a trace, and the authorizer's run unless an identity source spares it. */
function refusedPerMillion(settings: KeylessSettings, refused: RefusedFigures, m: Measured, callsPerSecond: number): number {
  const accessLine = ((m.accessLogBytes + LOG_EVENT_OVERHEAD) / 1e9) * PRICES.logIngestionGb;
  const xray = settings.stageTracing ? sampledShare(settings.sampling, callsPerSecond) * PRICES.xrayTrace : 0;
  const lambda = settings.invokesAuthorizer
    ? PRICES.lambdaRequest +
      gbSeconds(settings.authorizerMemoryMb, refused.meanMs) * PRICES.lambdaGbSecond +
      refused.readUnits * PRICES.readUnit +
      (((settings.authorizerPlatformLogs ? PLATFORM_LOG_BYTES : 0) + refused.logBytes) / 1e9) * PRICES.logIngestionGb
    : 0;
  return (accessLine + xray + lambda + (settings.webAcl ? PRICES.wafRequest : 0)) * 1e6;
}

export async function benchCost(): Promise<void> {
  const settings = stackCostSettings();
  const dynamo = await startDynamoDbLocal();
  const meter = new CapacityMeter();
  const proxy = await startCapacityProxy(dynamo.endpoint, meter);
  try {
    const direct = connectDynamoDb({ endpoint: dynamo.endpoint });
    const metered = connectDynamoDb({ endpoint: proxy.endpoint });
    const tables: TableNames = await createTables(direct.client, synthesizeTableDefinitions(), 'cost-');
    const store = new DynamoCustomerStore(direct.doc, tables);
    const gatewayKeys = new LocalGatewayKeyRegistry(join(mkdtempSync(join(tmpdir(), 'bench-cost-')), 'keys.json'));
    // Pro: a quota tier, so the quota read for the X-RateLimit headers is counted too.
    const keys = await Promise.all(
      Array.from({ length: CUSTOMERS }, (_, i) => createCustomer({ name: `c${i}`, tier: 'pro' }, { registry: store, gatewayKeys, now: Date.now })),
    );

    // The authorizer as deployed (bundled), twice: once through the capacity proxy, once direct for latency.
    const env = {
      ...tableEnvironment(tables),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      POWERTOOLS_LOG_LEVEL: settings.logLevel,
      POWERTOOLS_SERVICE_NAME: 'api-billing',
    };
    const dir = mkdtempSync(join(tmpdir(), 'bench-cost-bundle-'));
    const load = async (name: string, endpoint: string) => {
      const file = join(dir, `${name}.js`);
      await bundle(file, false);
      Object.assign(process.env, env, { AWS_ENDPOINT_URL_DYNAMODB: endpoint });
      return (require(file) as { handler: AuthorizerHandler }).handler;
    };
    const context = { functionName: 'cost', awsRequestId: 'cost', getRemainingTimeInMillis: () => 30_000 };
    const callEvent = (i: number, headers: Record<string, string>) => ({
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:us-east-1:1:api/prod/GET/api/x',
      resource: '/api/{proxy+}',
      path: '/api/x',
      httpMethod: 'GET',
      headers,
      // API Gateway's request ids are UUIDs: the stored event's size depends on it.
      requestContext: { requestId: i < 1e9 ? randomUUID() : `warm-${i}` },
    });
    const keyOf = (i: number) => keys[i % keys.length]!.apiKey.key;
    const invoke = (handler: AuthorizerHandler, event: unknown) => handler(event, context).catch((error: Error) => error);

    // The SDK resolves its endpoint on the first request: warm each handler before the next load changes it.
    const meteredHandler = await load('metered', proxy.endpoint);
    await invoke(meteredHandler, callEvent(0.5e9, { 'x-api-key': keyOf(0) }));
    const directHandler = await load('direct', dynamo.endpoint);
    await invoke(directHandler, callEvent(0.6e9, { 'x-api-key': keyOf(0) }));
    // Warm both (module init, key cache), then count one call's units and log bytes over many calls.
    for (let i = 0; i < 200; i++) await invoke(meteredHandler, callEvent(1e9 + i, { 'x-api-key': keyOf(i) }));
    meter.reset();
    const counted = await stdoutBytesDuring(async () => {
      for (let i = 0; i < CALLS; i++) await invoke(meteredHandler, callEvent(i, { 'x-api-key': keyOf(i) }));
    });
    const authorizerUnits = { writes: meter.total('writes') / CALLS, reads: meter.total('reads') / CALLS };
    // Refused: no key (what the authorizer did for one before its identity source), and keys nobody holds.
    const refusedRun = async (headers: (i: number) => Record<string, string>, offset: number) => {
      meter.reset();
      const { bytes } = await stdoutBytesDuring(async () => {
        for (let i = 0; i < KEYLESS_CALLS; i++) await invoke(meteredHandler, callEvent(offset + i, headers(i)));
      });
      return { readUnits: meter.total('reads') / KEYLESS_CALLS, logBytes: bytes / KEYLESS_CALLS };
    };
    const keylessRun = await refusedRun(() => ({}), 2e9);
    const randomKeyRun = await refusedRun(() => ({ 'x-api-key': wellFormedRandomKey() }), 2.5e9);

    // Warm handler latency, direct to DynamoDB Local, against a bare GetItem in the same run.
    const timed = async (work: () => Promise<unknown>) => {
      const started = process.hrtime.bigint();
      await work();
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    for (let i = 0; i < 200; i++) await invoke(directHandler, callEvent(3e9 + i, { 'x-api-key': keyOf(i) }));
    const handlerMs: number[] = [];
    const keylessMs: number[] = [];
    const randomKeyMs: number[] = [];
    const getItemMs: number[] = [];
    await stdoutBytesDuring(async () => {
      for (let i = 0; i < 2_000; i++) {
        handlerMs.push(await timed(() => invoke(directHandler, callEvent(4e9 + i, { 'x-api-key': keyOf(i) }))));
        getItemMs.push(
          await timed(() => direct.doc.send(new GetCommand({ TableName: tables.customers, Key: { customerId: keys[i % CUSTOMERS]!.customer.customerId } }))),
        );
        if (i < KEYLESS_CALLS / 2) {
          keylessMs.push(await timed(() => invoke(directHandler, callEvent(5e9 + i, {}))));
          randomKeyMs.push(await timed(() => invoke(directHandler, callEvent(6e9 + i, { 'x-api-key': wellFormedRandomKey() }))));
        }
      }
    });

    // The events the calls wrote, as the stream delivers them.
    const events = (await direct.doc.send(new ScanCommand({ TableName: tables.usageEvents, Limit: 20_000 }))).Items as UsageEvent[];
    const sample = events[0]!;
    const storedEventBytes = Buffer.byteLength(JSON.stringify(sample)) + ITEM_OVERHEAD;
    let sequence = 0;
    let batchNumber = 0;
    const silentLogger = new Logger({ serviceName: 'api-billing', logLevel: settings.logLevel as 'INFO' });
    const aggregate = createAggregator(new DynamoCounterStore(metered.doc, tables.counters), silentLogger, {
      gaps: new DynamoGapStore(metered.doc, tables.counters),
    });
    const handleOutcomes = createOutcomeHandler(new DynamoOutcomeStore(metered.doc, tables), silentLogger);
    const perBatch = async (run: () => Promise<unknown>, batches: number) => {
      meter.reset();
      const ms: number[] = [];
      const { bytes } = await stdoutBytesDuring(async () => {
        for (let b = 0; b < batches; b++) ms.push(await timed(run));
      });
      return { writeUnits: meter.total('writes') / batches, readUnits: meter.total('reads') / batches, meanMs: mean(ms), logBytes: bytes / batches };
    };
    const aggregatorBatch = (records: number) =>
      perBatch(async () => {
        const batch: DynamoDBRecord[] = Array.from({ length: records }, (_, i) =>
          insertRecord(++sequence, { ...events[i % events.length]!, requestId: `agg-${sequence}` }),
        );
        await aggregate({ Records: batch, shardId: 'shard-cost', eventSourceARN: 'arn:cost' });
      }, 5);
    const accessLine = (i: number): Record<string, string> => ({
      ...Object.fromEntries(Object.keys(ACCESS_LOG_FORMAT).map((k) => [k, '-'])),
      requestId: `0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f${i % 10}`,
      requestTimeEpoch: String(Date.now()),
      httpMethod: 'GET',
      resourcePath: '/api/{proxy+}',
      status: '200',
      customerId: keys[i % CUSTOMERS]!.customer.customerId,
      latencyMs: '12',
    });
    const outcomeBatch = (lines: number) =>
      perBatch(
        () =>
          handleOutcomes(
            subscriptionEvent(
              Array.from({ length: lines }, (_, i) => accessLine(i)),
              `cost-${batchNumber++}`,
            ),
          ),
        5,
      );

    const measured: Measured = {
      authorizer: { writeUnits: authorizerUnits.writes, readUnits: authorizerUnits.reads, logBytes: counted.bytes / CALLS, meanMs: mean(handlerMs) },
      keyless: { ...keylessRun, meanMs: mean(keylessMs) },
      randomKey: { ...randomKeyRun, meanMs: mean(randomKeyMs) },
      aggregatorBatch,
      outcomeBatch,
      accessLogBytes: Buffer.byteLength(JSON.stringify(accessLine(0))),
      storedEventBytes,
    };

    const p50 = percentile(handlerMs, 0.5);
    const p99 = percentile(handlerMs, 0.99);
    const getP50 = percentile(getItemMs, 0.5);
    const getP99 = percentile(getItemMs, 0.99);
    const headline = await costPerMillion(settings, measured, HEADLINE_CALLS_PER_SECOND, false);
    const withWaf = await costPerMillion(settings, measured, HEADLINE_CALLS_PER_SECOND, true);

    console.log('cost');
    console.log(
      `  stack: authorizer ${settings.authorizerMemoryMb} MB, identity source ${settings.authorizerIdentitySource ?? 'none'}, web ACL ${settings.webAcl ? 'yes' : 'no'}, ` +
        `platform log lines ${settings.authorizerPlatformLogs ? 'sent' : 'not sent'}, X-Ray ${settings.stageTracing ? `${(settings.sampling.fixedRate * 100).toFixed(1)}% + ${settings.sampling.reservoirPerSecond}/s` : 'off'}, ` +
        `stream batches up to ${settings.aggregatorBatchSize} in ${settings.batchingWindowSeconds} s`,
    );
    console.log(
      `  measured per call: ${measured.authorizer.writeUnits.toFixed(3)} write + ${measured.authorizer.readUnits.toFixed(4)} read units (authorizer), ` +
        `${measured.authorizer.logBytes.toFixed(0)} B of authorizer logs (${measured.keyless.logBytes.toFixed(0)} B for a keyless request), ${measured.accessLogBytes} B access-log line, ${storedEventBytes} B stored event; ` +
        `aggregator ${(await aggregatorBatch(headline.batch)).writeUnits.toFixed(0)} units per ${headline.batch}-record batch`,
    );
    console.log(`  at ${HEADLINE_CALLS_PER_SECOND} calls/s from ${CUSTOMERS} customers, per million metered calls beyond API Gateway's $3.50:`);
    for (const [name, dollars] of headline.lines) console.log(`    ${name.padEnd(34)} $${dollars.toFixed(3)}`);
    console.log(
      `    ${'raw events stored for their retention'.padEnd(34)} $${headline.storage.toFixed(3)}  (${billingConfig.usageEventRetentionDays} days; beside the figure below)`,
    );
    console.log(
      `  cost: $${headline.total.toFixed(2)} per million metered calls (target <= $1.10, ratio ${(headline.total / 1.1).toFixed(2)}); ` +
        `$${(headline.total + headline.storage).toFixed(2)} with the raw events' storage; $${withWaf.total.toFixed(2)} with the WAF`,
    );
    for (const rate of [1, 10, 1_000]) {
      const at = await costPerMillion(settings, measured, rate, false);
      console.log(`    at ${String(rate).padStart(5)} calls/s: $${at.total.toFixed(2)} per million (aggregator batches of ${at.batch})`);
    }
    const before = refusedPerMillion(
      { ...STACK_BEFORE, authorizerMemoryMb: settings.authorizerMemoryMb },
      measured.keyless,
      measured,
      HEADLINE_CALLS_PER_SECOND,
    );
    const invokesAuthorizer = !settings.authorizerIdentitySource;
    const now = refusedPerMillion({ ...settings, webAcl: false, invokesAuthorizer }, measured.keyless, measured, HEADLINE_CALLS_PER_SECOND);
    const nowWaf = refusedPerMillion({ ...settings, webAcl: true, invokesAuthorizer }, measured.keyless, measured, HEADLINE_CALLS_PER_SECOND);
    const randomKey = refusedPerMillion({ ...settings, webAcl: false, invokesAuthorizer: true }, measured.randomKey, measured, HEADLINE_CALLS_PER_SECOND);
    console.log(
      `  keyless requests: $${before.toFixed(2)} per million as the stack stood (authorizer invoked, platform log lines, X-Ray's default rule); ` +
        `$${now.toFixed(2)} as it stands (ratio ${(now / before).toFixed(2)}), $${nowWaf.toFixed(2)} with the WAF inspecting them until its per-IP rule blocks`,
    );
    console.log(
      `  requests with a random key (the authorizer runs: ${measured.randomKey.readUnits.toFixed(2)} read units, ${measured.randomKey.logBytes.toFixed(0)} B of logs each): ` +
        `$${randomKey.toFixed(2)} per million, $${(randomKey + PRICES.wafRequest * 1e6).toFixed(2)} with the WAF`,
    );
    console.log(
      `  authorizer warm handler -> DynamoDB Local: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (target p99 <= 10 ms, ratio ${(p99 / 10).toFixed(2)}); ` +
        `bare GetItem p50 ${getP50.toFixed(2)} ms, p99 ${getP99.toFixed(2)} ms (handler/GetItem ratio p50 ${(p50 / getP50).toFixed(2)}, p99 ${(p99 / getP99).toFixed(2)})`,
    );
    direct.client.destroy();
    metered.client.destroy();
  } finally {
    proxy.server.close();
    await dynamo.stop();
  }
}

if (require.main === module) void benchCost();
