/**
 * A compressed billing month through the real path, with faults at every seam, ending in the
 * reconciliation's billing error rate. Used by `npm run bench -- month` (500 customers, 1M calls)
 * and by test/reconciliation/month.test.ts (tens of customers, the same faults).
 *
 * Every metered call is a usage event in the UsageEvents table, written as the authorizer writes it
 * (BatchWrite for speed); the table's stream is read by the local stream poller into the real
 * aggregator; calls the gateway refused or answered with a 5xx are voided through the outcome handler;
 * the scheduled billing run pushes to the local Stripe on a simulated clock that the local Stripe
 * shares; Stripe's webhooks reach the real webhook handler over HTTP; the period's invoices are drafted
 * (invoice.created reconciles each draft) and finalized; then the on-demand reconciliation runs.
 *
 * What the simulation decides (the traffic, which calls the gateway refuses) it also counts, so the
 * result says how many calls were served; what the product computes from them it never sees.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BatchWriteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { CloudWatchLogsEvent } from 'aws-lambda';
import { billingServices } from '../lambdas/adapters/billing-services.ts';
import { DynamoGapStore } from '../lambdas/adapters/counter-gaps.ts';
import { DynamoCounterStore } from '../lambdas/adapters/counting-store.ts';
import type { TableNames } from '../lambdas/adapters/env.ts';
import { LocalGatewayKeyRegistry } from '../lambdas/adapters/gateway-keys-local.ts';
import { DynamoOutcomeStore } from '../lambdas/adapters/outcome-store.ts';
import { DynamoTicketStore } from '../lambdas/adapters/tickets-store.ts';
import { DynamoStreamRange } from '../lambdas/adapters/stream-range.ts';
import { createAggregator, createDeadLetterReplayer, type WindowedStreamEvent } from '../lambdas/aggregator/aggregator.ts';
import type { Alert } from '../lambdas/core/alerts.ts';
import { stripeCatalog } from '../lambdas/core/catalog.ts';
import { billingConfig, type TierName } from '../lambdas/core/config.ts';
import type { CounterStore } from '../lambdas/core/counting.ts';
import { createCustomer } from '../lambdas/core/customers.ts';
import type { Customer, UsageEvent } from '../lambdas/core/model.ts';
import type { ErrorRate, ReconciliationRecord } from '../lambdas/core/reconciliation.ts';
import { replayDeadLetters } from '../lambdas/core/replay.ts';
import { changeTier, priceIdsOfTier } from '../lambdas/core/subscriptions.ts';
import { monthBounds, runSync, type SyncOutcome, type SyncStateStore } from '../lambdas/core/sync.ts';
import { utcHour, utcMonth } from '../lambdas/core/time.ts';
import { createOutcomeHandler } from '../lambdas/outcome/outcome.ts';
import { createWebhookHandler } from '../lambdas/stripe-webhook/webhook.ts';
import { FileDeadLetterQueue } from '../local/dead-letters.ts';
import { startStreamPoller } from '../local/stream-poller.ts';
import { startLocalStripe } from '../local/stripe/server.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const METER_EVENTS = /^\/v1\/billing\/meter_events$/;

/** The faults a month can meet, each at its own seam. */
export const MONTH_FAULTS = [
  /** The aggregator's store throws on a commit: the poller redelivers the batch from the failed record. */
  'store-failure',
  /** The aggregator throws after its commit (a Lambda time-out): the poller bisects and redelivers both halves. */
  'bisect',
  /** The store fails every retry of a batch: the poller dead-letters it; a replay counts it later. */
  'dead-letter',
  /** Stripe answers meter events with 500s. */
  'stripe-500',
  /** Stripe applies a meter event and the answer is lost (stripe-node's own re-send too). */
  'stripe-timeout',
  /** The sync crashes between Stripe's answer and clearing its outbox entry. */
  'crash-before-mark',
  /** Two subscription changes whose webhooks arrive newest first. */
  'webhook-out-of-order',
  /** A webhook already handled is delivered again. */
  'webhook-replay',
  /** Voids that arrive after the scheduled run pushed their calls. */
  'late-voids',
  /** An access-log batch delivered to the outcome path twice. */
  'outcome-redelivery',
] as const;
export type MonthFault = (typeof MONTH_FAULTS)[number];

export interface MonthOptions {
  /** DynamoDB Local with the product's tables (the test's freshTables, or the bench's own). */
  readonly dynamo: { readonly client: DynamoDBClient; readonly doc: DynamoDBDocumentClient; readonly endpoint: string; readonly tables: TableNames };
  readonly customers: number;
  /** Roughly how many calls are served in the month. */
  readonly calls: number;
  readonly seed: number;
  /** @default every fault */
  readonly faults?: readonly MonthFault[];
  /** @default '2035-03' - a fixed month after any real date the product runs on, so TTL never removes its events */
  readonly month?: string;
  /** Simulated hours between two scheduled billing runs. @default 12 */
  readonly syncEveryHours?: number;
  /** Progress lines. @default silent */
  readonly log?: (line: string) => void;
}

/** How often each fault happened, counted where it happened. */
export interface FaultCounts {
  readonly storeFailures: number;
  readonly redeliveredBatches: number;
  readonly bisectedBatches: number;
  readonly deadLetters: number;
  readonly deadLetteredRecords: number;
  readonly replayedRecords: number;
  readonly stripe500s: number;
  readonly stripeTimeouts: number;
  readonly resentAsDuplicate: number;
  readonly crashesBeforeMark: number;
  readonly webhooksOutOfOrder: number;
  readonly webhooksReplayed: number;
  readonly webhooksHeld: number;
  readonly lateVoids: number;
  readonly outcomeBatchesRedelivered: number;
}

export interface MonthResult {
  readonly month: string;
  readonly customers: number;
  /** Metered calls served: events written and not voided. */
  readonly calls: number;
  readonly eventsWritten: number;
  readonly voided: number;
  /** Calls the authorizer denied (a customer blocked at its cap): no event. */
  readonly denied: number;
  readonly records: readonly ReconciliationRecord[];
  readonly rate: ErrorRate;
  readonly faults: FaultCounts;
  /** Outcomes of the webhook handler by kind, e.g. `reconciled`, `duplicate`. */
  readonly webhookOutcomes: Readonly<Record<string, number>>;
  readonly alerts: readonly Alert[];
  readonly reconciliation: { readonly seconds: number; readonly stripeRequests: number };
  readonly simulationSeconds: number;
  /** Wall time by stage, in seconds. */
  readonly timings: Readonly<Record<string, number>>;
  readonly stripeRequests: number;
}

/** A small, seedable generator (mulberry32): the same seed gives the same month. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Role = 'plain' | 'cap-block' | 'cap-absorb' | 'upgrade' | 'portal-upgrade' | 'out-of-order' | 'downgrade' | 'grandfathered' | 'refunded';

interface SimCustomer {
  customer: Customer;
  keyId: string;
  role: Role;
  /** Calls the customer tries in the month. */
  volume: number;
  /** Weight of each hour of the month. */
  hourWeights: number[];
  weightSum: number;
  /** Served calls this month while on Free (the usage plan's quota). */
  servedOnFree: number;
}

/** A CloudWatch Logs subscription batch of access-log lines, as the outcome Lambda receives it. */
export function subscriptionEvent(lines: ReadonlyArray<Record<string, string>>, batchId: string): CloudWatchLogsEvent {
  const data = {
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: 'api-access',
    logStream: 'month',
    subscriptionFilters: ['outcomes'],
    logEvents: lines.map((line, i) => ({ id: `${batchId}-${i}`, timestamp: Number(line.requestTimeEpoch), message: JSON.stringify(line) })),
  };
  return { awslogs: { data: gzipSync(JSON.stringify(data)).toString('base64') } };
}

/** Runs one simulated month; see the file's comment. */
export async function simulateMonth(options: MonthOptions): Promise<MonthResult> {
  const started = process.hrtime.bigint();
  const faults = new Set<MonthFault>(options.faults ?? MONTH_FAULTS);
  const log = options.log ?? (() => undefined);
  const month = options.month ?? '2035-03';
  const { start, end } = monthBounds(month);
  const syncEvery = (options.syncEveryHours ?? 12) * HOUR;
  const rng = random(options.seed);
  const { client, doc, endpoint, tables } = options.dynamo;
  const config = billingConfig;
  const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

  /** Wall time by stage, in seconds: where the month's time goes. */
  const timings: Record<string, number> = {};
  const timed = async <T>(stage: string, work: () => Promise<T>): Promise<T> => {
    const t0 = process.hrtime.bigint();
    try {
      return await work();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + Number(process.hrtime.bigint() - t0) / 1e9;
    }
  };
  const counts = {
    storeFailures: 0,
    redeliveredBatches: 0,
    bisectedBatches: 0,
    deadLetters: 0,
    deadLetteredRecords: 0,
    replayedRecords: 0,
    stripe500s: 0,
    stripeTimeouts: 0,
    resentAsDuplicate: 0,
    crashesBeforeMark: 0,
    webhooksOutOfOrder: 0,
    webhooksReplayed: 0,
    webhooksHeld: 0,
    lateVoids: 0,
    outcomeBatchesRedelivered: 0,
  };

  // ---- one clock for the product and the local Stripe ---------------------------------------------
  const clock = { now: start };
  const now = () => clock.now;
  const stripe = await startLocalStripe({ now, webhookRetryDelaysMs: Array.from({ length: 60 }, () => 250) });
  const stripeClient = stripe.client();
  const services = billingServices({ doc, tables, stripe: stripeClient, config, now });
  await services.state.putCatalogIds(await services.provider.ensureCatalog(stripeCatalog(config)));
  const { stripe: setup, sync } = await services.ready();
  const gatewayKeys = new LocalGatewayKeyRegistry(join(mkdtempSync(join(tmpdir(), 'month-gw-')), 'keys.json'));
  const alerts: Alert[] = [];
  const alertSink = { publish: async (alert: Alert) => void alerts.push(alert) };
  const tickets = new DynamoTicketStore(doc, tables.billing);

  // ---- Stripe's webhooks, over HTTP, into the real handler (a few at a time, as Lambda's concurrency) ----
  const webhookOutcomes: Record<string, number> = {};
  const delivered = new Map<string, { payload: string; type: string; customer: string; created: number }>();
  let hold: ((event: { id: string; type: string; customer: string }) => boolean) | undefined;
  const held = new Set<string>();
  let released = true;
  let webhookSecret = '';
  let handleWebhook: ReturnType<typeof createWebhookHandler> | undefined;
  let active = 0;
  const waiting: Array<() => void> = [];
  const withSlot = async <T>(work: () => Promise<T>): Promise<T> => {
    if (active >= 4) await new Promise<void>((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await work();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
  const deliverWebhook = async (payload: string, signature: string) => {
    const response = await withSlot(() => handleWebhook!({ body: payload, headers: { 'stripe-signature': signature }, isBase64Encoded: false }));
    const outcome = response.statusCode === 200 ? (JSON.parse(response.body) as { outcome: string }).outcome : `http-${response.statusCode}`;
    webhookOutcomes[outcome] = (webhookOutcomes[outcome] ?? 0) + 1;
    return { response, outcome };
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  const receiver: Server = createServer((req, res) => {
    void (async () => {
      const payload = await readBody(req);
      const event = JSON.parse(payload) as { id: string; type: string; created: number; data: { object: { customer?: string } } };
      const customer = event.data.object.customer ?? '';
      // A held delivery fails (as a network fault would): Stripe retries it later, after newer events.
      if ((hold?.({ id: event.id, type: event.type, customer }) && !held.has(event.id)) || (held.has(event.id) && !released)) {
        if (!held.has(event.id)) counts.webhooksHeld += 1;
        held.add(event.id);
        hold = undefined;
        res.writeHead(503).end();
        return;
      }
      const { response, outcome } = await deliverWebhook(payload, String(req.headers['stripe-signature'] ?? ''));
      if (response.statusCode === 200 && outcome !== 'duplicate') delivered.set(event.id, { payload, type: event.type, customer, created: event.created });
      if (held.has(event.id) && outcome === 'ignored') counts.webhooksOutOfOrder += 1;
      res.writeHead(response.statusCode, { 'content-type': 'application/json' }).end(response.body);
    })().catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  webhookSecret = (await stripeClient.webhookEndpoints.create({ url: `${receiverUrl}/webhooks/stripe`, enabled_events: ['*'] })).secret!;
  handleWebhook = createWebhookHandler({
    stripe: stripeClient,
    webhookSecret,
    services,
    gatewayKeys,
    alerts: alertSink,
    claims: { client, tableName: tables.idempotency },
    logger: silent,
  });

  // ---- the stream, the aggregator (with faults), the dead-letter queue ---------------------------------
  const counterStore = new DynamoCounterStore(doc, tables.counters);
  const gapStore = new DynamoGapStore(doc, tables.counters);
  let failCommits = 0;
  const flakyStore: CounterStore = {
    readCheckpoint: (shardKey) => counterStore.readCheckpoint(shardKey),
    commitPending: (...args) => counterStore.commitPending(...args),
    async commitBatch(...args) {
      if (failCommits > 0) {
        failCommits -= 1;
        counts.storeFailures += 1;
        throw new Error('injected: the counters table timed out');
      }
      return counterStore.commitBatch(...args);
    },
  };
  const aggregate = createAggregator(flakyStore, silent, { gaps: gapStore });
  let crashAfterCommit = 0;
  const deadLetters = new FileDeadLetterQueue(join(mkdtempSync(join(tmpdir(), 'month-dlq-')), 'dead-letters.jsonl'));
  const poller = await startStreamPoller({
    client,
    endpoint,
    tableName: tables.usageEvents,
    idleMs: 1000,
    async handler(event) {
      const response = await aggregate(event);
      if (response.batchItemFailures.length > 0) counts.redeliveredBatches += 1;
      if (crashAfterCommit > 0 && event.Records.length > 1 && response.batchItemFailures.length === 0) {
        crashAfterCommit -= 1;
        counts.bisectedBatches += 1;
        throw new Error('injected: the aggregator timed out after its commit');
      }
      return response;
    },
    onDeadLetter(letter, error) {
      counts.deadLetters += 1;
      counts.deadLetteredRecords += letter.records.length;
      deadLetters.send(letter, error);
    },
  });
  const streams = new DynamoDBStreamsClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const replayer = createDeadLetterReplayer(counterStore, gapStore, silent);

  // ---- the outcome path -----------------------------------------------------------------------------
  const handleOutcomes = createOutcomeHandler(new DynamoOutcomeStore(doc, tables, now), silent);
  let outcomeBatches = 0;
  const deliverVoids = async (lines: ReadonlyArray<Record<string, string>>) => {
    for (let i = 0; i < lines.length; i += 2_000) {
      const batch = subscriptionEvent(lines.slice(i, i + 2_000), `month-${outcomeBatches++}`);
      await handleOutcomes(batch);
      if (faults.has('outcome-redelivery') && outcomeBatches % 7 === 1) {
        const again = await handleOutcomes(batch);
        if (again.voided !== 0 || again.counted !== 'duplicate') throw new Error('a redelivered access-log batch changed something');
        counts.outcomeBatchesRedelivered += 1;
      }
    }
  };

  // ---- the outbox, with a crash between send and mark ------------------------------------------------
  let crashMarks = 0;
  const crashingOutbox: SyncStateStore = {
    get: (...args) => sync.state.get(...args),
    reserve: (...args) => sync.state.reserve(...args),
    replacePending: (...args) => sync.state.replacePending(...args),
    recordAttempt: (...args) => sync.state.recordAttempt(...args),
    async markSent(...args) {
      if (crashMarks > 0) {
        crashMarks -= 1;
        counts.crashesBeforeMark += 1;
        throw new Error('injected: the sync crashed before clearing its outbox entry');
      }
      return sync.state.markSent(...args);
    },
  };

  try {
    // ---- customers: 70% Free, 25% Pro, 5% Enterprise, some with a part to play ---------------------
    const hours = Math.round((end - start) / HOUR);
    const tierOf = (i: number): TierName => (i % 20 === 0 ? 'enterprise' : i % 20 < 6 ? 'pro' : 'free');
    const roles = new Map<number, Role>([
      [0, 'cap-block'],
      [20, 'downgrade'],
      [40, 'cap-absorb'],
      [1, 'portal-upgrade'],
      [2, 'out-of-order'],
      [3, 'grandfathered'],
      [4, 'refunded'],
      [6, 'upgrade'],
    ]);
    const share = (tier: TierName) => (tier === 'enterprise' ? 40 : tier === 'pro' ? 4 : 1);
    const totalShares = Array.from({ length: options.customers }, (_, i) => share(tierOf(i))).reduce((s, x) => s + x, 0);
    const sims: SimCustomer[] = [];
    for (let i = 0; i < options.customers; i++) {
      const tier = tierOf(i);
      const role = roles.get(i) ?? 'plain';
      const { customer, apiKey } = await createCustomer(
        { name: `month customer ${i}`, tier, capBehaviour: role === 'cap-absorb' ? 'absorb' : 'block' },
        { registry: services.customers, gatewayKeys, now, stripe: setup },
      );
      // Volumes: a share by tier, spread +-50%; Free customers around their 1,000-call quota, a few past it.
      const base = (options.calls * share(tier)) / totalShares;
      let volume = Math.round(base * (0.5 + rng()));
      if (tier === 'free') volume = Math.round(Math.min(volume, 1_000 * (0.4 + rng() * 0.75)));
      // Diurnal traffic (each customer on its own time zone), and two bursts of about fifteen times the usual hour.
      const phase = Math.floor(rng() * 24);
      const hourWeights = Array.from({ length: hours }, (_, h) => Math.max(0.05, 1 + 0.8 * Math.sin((2 * Math.PI * ((h + phase) % 24)) / 24)));
      for (let b = 0; b < 2; b++) hourWeights[Math.floor(rng() * hours)]! *= 15;
      sims.push({ customer, keyId: apiKey.keyId, role, volume, hourWeights, weightSum: hourWeights.reduce((s, w) => s + w, 0), servedOnFree: 0 });
    }
    const byRole = (role: Role) => sims.find((s) => s.role === role);
    const capOf = (sim: SimCustomer, share: number) => {
      // A cap that the customer reaches part-way through the month: the fee plus `share` of its calls.
      const tier = config.tiers[sim.customer.tier];
      if (tier.pricing !== 'volume') throw new Error('capped customers are Enterprise');
      return tier.monthlyFeeCents + Math.round((sim.volume * share * tier.bands[0]!.unitMillicents) / 1000);
    };
    for (const role of ['cap-block', 'cap-absorb'] as const) {
      const sim = byRole(role);
      if (sim) await services.customers.updateCustomer(sim.customer.customerId, { capCents: capOf(sim, 0.6) });
    }
    await stripe.webhooksDelivered();
    timings.customers = Number(process.hrtime.bigint() - started) / 1e9;
    log(`${sims.length} customers created and subscribed (${Math.round(Number(process.hrtime.bigint() - started) / 1e9)} s)`);

    // ---- the month, one sync interval at a time ------------------------------------------------------
    let requestSeq = 0;
    let eventsWritten = 0;
    let served = 0;
    let voided = 0;
    let denied = 0;
    let lateLines: Array<{ dueAt: number; line: Record<string, string> }> = [];
    const step = Math.max(HOUR, syncEvery);
    const steps = Math.ceil((end - start) / step);
    const scheduledRun = async (index: number) => {
      const customers = await services.customers.listCustomers();
      const paused = (await services.state.getPause())?.paused ?? false;
      let outcomes: readonly SyncOutcome[];
      // Some runs meet Stripe's faults or crash before marking: the same sync, its outbox wrapped.
      const armed = faults.has('stripe-500') && index % 9 === 3 ? 'stripe-500' : faults.has('stripe-timeout') && index % 9 === 5 ? 'stripe-timeout' : undefined;
      if (armed === 'stripe-500') stripe.failNext(METER_EVENTS, { status: 500, count: 3 });
      if (armed === 'stripe-timeout') stripe.failNext(METER_EVENTS, { acceptThenDrop: true, count: 2 });
      const requestsBefore = stripe.requests.filter((r) => METER_EVENTS.test(r.path)).length;
      if (faults.has('crash-before-mark') && index % 9 === 7) {
        crashMarks = 1;
        outcomes = (await runSync(customers, { ...sync, state: crashingOutbox }, { paused })).outcomes;
      } else {
        outcomes = (await services.scheduledRun({ alerts: alertSink, tickets, gatewayKeys })).sync.outcomes;
      }
      for (const o of outcomes) {
        if (o.kind === 'failed' && armed === 'stripe-500') counts.stripe500s += 1;
        if (o.kind === 'resent' && o.result === 'duplicate') counts.resentAsDuplicate += 1;
      }
      // A lost answer shows as a request more than the sends: stripe-node sends a POST again on a dropped connection.
      const sends = outcomes.filter((o) => o.kind === 'pushed' || o.kind === 'resent' || o.kind === 'failed').length;
      if (armed === 'stripe-timeout') counts.stripeTimeouts += stripe.requests.filter((r) => METER_EVENTS.test(r.path)).length - requestsBefore - sends;
    };

    for (let s = 0; s < steps; s++) {
      const stepStart = start + s * step;
      const stepEnd = Math.min(end, stepStart + step);
      const day = (stepStart - start) / DAY;
      clock.now = stepStart;
      const customers = new Map((await services.customers.listCustomers()).map((c) => [c.customerId, c]));

      // Operators' levers and Stripe-side changes, on their days.
      await timed('levers', () => levers(day, stepStart));

      // The calls of these hours: events as the authorizer writes them, refusals as the gateway logs them.
      const items: Array<Record<string, unknown>> = [];
      const voidLines: Array<Record<string, string>> = [];
      for (let t = stepStart; t < stepEnd; t += HOUR) {
        const h = Math.round((t - start) / HOUR);
        for (const sim of sims) {
          const current = customers.get(sim.customer.customerId) ?? sim.customer;
          const expected = (sim.volume * sim.hourWeights[h]!) / sim.weightSum;
          const n = Math.floor(expected + rng());
          for (let k = 0; k < n; k++) {
            const at = t + Math.floor(((k + rng()) / n) * HOUR);
            // The authorizer denies a customer blocked at its cap: no event.
            if (current.capBehaviour === 'block' && current.cappedMonth === month) {
              denied += 1;
              continue;
            }
            const event: UsageEvent = {
              requestId: `${(++requestSeq).toString(16).padStart(8, '0')}-${sim.customer.customerId.slice(-6)}`,
              customerId: sim.customer.customerId,
              keyId: sim.keyId,
              method: 'GET',
              route: '/api/{proxy+}',
              at,
              hour: utcHour(at),
              month: utcMonth(at),
              expiresAt: Math.floor(at / 1000) + config.usageEventRetentionDays * 86_400,
            };
            items.push(marshall(event));
            eventsWritten += 1;
            // The gateway after the authorizer: Free's quota, the throttle, and the backend's 5xx.
            let status = '200';
            let responseType = '-';
            if (current.tier === 'free' && sim.servedOnFree >= 1_000) [status, responseType] = ['429', 'QUOTA_EXCEEDED'];
            else {
              const r = rng();
              if (r < 0.002) [status, responseType] = ['429', 'THROTTLED'];
              else if (r < 0.004) [status, responseType] = ['502', 'INTEGRATION_FAILURE'];
            }
            if (status === '200') {
              served += 1;
              if (current.tier === 'free') sim.servedOnFree += 1;
              continue;
            }
            voided += 1;
            const line = {
              requestId: event.requestId,
              requestTimeEpoch: String(at),
              httpMethod: 'GET',
              resourcePath: '/api/{proxy+}',
              status,
              responseType,
              customerId: event.customerId,
              latencyMs: '3',
            };
            // Some access-log lines reach the outcome path only after the sync pushed their calls.
            if (faults.has('late-voids') && rng() < 0.15) lateLines.push({ dueAt: stepEnd + step + HOUR, line });
            else voidLines.push(line);
          }
        }
      }
      // The aggregator's faults, armed before the writes: the poller may read them while they are written.
      if (faults.has('store-failure') && s % 5 === 1) failCommits = 1;
      if (faults.has('bisect') && s % 5 === 3) crashAfterCommit = 1;
      if (faults.has('dead-letter') && s === Math.floor(steps / 3)) failCommits = 3;
      await timed('write events', () => writeEvents(items));
      await timed('outcome path', () => deliverVoids(voidLines));
      const due = lateLines.filter((l) => l.dueAt <= stepEnd);
      lateLines = lateLines.filter((l) => l.dueAt > stepEnd);
      counts.lateVoids += due.length;
      await timed('outcome path', () => deliverVoids(due.map((l) => l.line)));
      await timed('stream and aggregator', () => poller.drain());
      failCommits = 0;
      crashAfterCommit = 0;
      // The operator replays what the aggregator dead-lettered.
      if ((await deadLetters.receive()).length > 0) {
        for (const outcome of await replayDeadLetters(deadLetters, new DynamoStreamRange(streams), (batch) => replayer(batch as WindowedStreamEvent))) {
          if (outcome.result !== 'replayed') throw new Error(`dead-letter replay failed: ${outcome.result}`);
          counts.replayedRecords += outcome.records;
        }
      }

      // The scheduled run, a little after the interval's last hour settles.
      clock.now = stepEnd + 20 * 60_000;
      if (clock.now < end) await timed('scheduled runs', () => scheduledRun(s));
      await timed('webhooks', () => stripe.webhooksDelivered());
      if (s % 10 === 9)
        log(
          `day ${(stepEnd - start) / DAY}: ${eventsWritten.toLocaleString('en-US')} events (${Math.round(Number(process.hrtime.bigint() - started) / 1e9)} s)`,
        );
    }

    // ---- the month ends: late voids land, Stripe drafts the invoices (invoice.created reconciles each), finalizes them ----
    const closing = process.hrtime.bigint();
    clock.now = end + 5 * 60_000;
    await scheduledRun(steps);
    await stripe.webhooksDelivered();
    // The last late voids land after the month's last scheduled push: the draft must credit them.
    counts.lateVoids += lateLines.length;
    await deliverVoids(lateLines.map((l) => l.line));
    await poller.drain();
    clock.now = end + 10 * 60_000;
    await stripe.advanceBillingPeriods();
    await stripe.webhooksDelivered();
    clock.now = end + 30 * 60_000;
    await scheduledRun(steps + 1);
    clock.now = end + 70 * 60_000;
    await stripe.advanceBillingPeriods();
    await stripe.webhooksDelivered();

    // The refund lever: a credit note on the customer's finalized invoice.
    const refunded = byRole('refunded');
    if (refunded?.customer.stripeCustomerId) {
      clock.now = end + 90 * 60_000;
      const note = await services.provider.creditLatestInvoice({ stripeCustomerId: refunded.customer.stripeCustomerId, amountCents: 500, memo: 'goodwill' });
      if (!note) throw new Error('the refunded customer has no finalized invoice');
      await services.state.audit({
        customerId: refunded.customer.customerId,
        action: 'refund',
        by: 'month simulation',
        reason: 'goodwill',
        at: clock.now,
        details: { amountCents: 500, ...note },
      });
    }
    timings['month end'] = Number(process.hrtime.bigint() - closing) / 1e9;
    const simulationSeconds = Number(process.hrtime.bigint() - started) / 1e9;

    // ---- the reconciliation, on demand -----------------------------------------------------------------
    clock.now = end + 2 * HOUR;
    const requestsBefore = stripe.requests.length;
    const reconcileStarted = process.hrtime.bigint();
    const run = await services.reconcile({ alerts: alertSink, trigger: 'on-demand', months: [month] });
    const reconcileSeconds = Number(process.hrtime.bigint() - reconcileStarted) / 1e9;
    const reconcileRequests = stripe.requests.length - requestsBefore;

    return {
      month,
      customers: sims.length,
      calls: served,
      eventsWritten,
      voided,
      denied,
      records: run.records,
      rate: run.rate,
      faults: { ...counts },
      webhookOutcomes,
      alerts,
      reconciliation: { seconds: reconcileSeconds, stripeRequests: reconcileRequests },
      simulationSeconds,
      timings,
      stripeRequests: stripe.requests.length,
    };

    // ---- helpers that need the month's state ------------------------------------------------------------

    async function writeEvents(items: ReadonlyArray<Record<string, unknown>>) {
      let next = 0;
      const worker = async () => {
        while (next < items.length) {
          const batch = items.slice(next, (next += 25));
          let request: Record<string, Array<{ PutRequest: { Item: Record<string, never> } }>> | undefined = {
            [tables.usageEvents]: batch.map((Item) => ({ PutRequest: { Item: Item as Record<string, never> } })),
          };
          while (request && Object.keys(request).length > 0) {
            const result = await client.send(new BatchWriteItemCommand({ RequestItems: request }));
            request = result.UnprocessedItems as typeof request;
          }
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));
    }

    async function levers(day: number, at: number) {
      const inStep = (d: number) => d >= day && d < day + step / DAY;
      // A Free customer upgrades to Pro (the operator's `tier set`: Stripe's prices, then the usage plan).
      const upgrade = byRole('upgrade');
      if (upgrade && inStep(5)) await changeTier(upgrade.customer.customerId, 'pro', tierDeps(true));
      // An Enterprise customer moves down to Pro.
      const downgrade = byRole('downgrade');
      if (downgrade && inStep(20)) await changeTier(downgrade.customer.customerId, 'pro', tierDeps(true));
      // A Pro customer upgrades in Stripe (the billing portal): the webhook moves the tier.
      const portal = byRole('portal-upgrade');
      if (portal?.customer.subscriptionId && inStep(9)) {
        await services.provider.replacePrices(portal.customer.subscriptionId, priceIdsOfTier(setup, 'enterprise'));
        await stripe.webhooksDelivered();
      }
      // Two changes in Stripe whose webhooks arrive newest first: the older must not win.
      const flip = byRole('out-of-order');
      if (flip?.customer.subscriptionId && inStep(12)) {
        if (faults.has('webhook-out-of-order')) {
          released = false;
          hold = (e) => e.type === 'customer.subscription.updated' && e.customer === flip.customer.stripeCustomerId;
        }
        await services.provider.replacePrices(flip.customer.subscriptionId, priceIdsOfTier(setup, 'enterprise'));
        clock.now = at + 60_000;
        await services.provider.replacePrices(flip.customer.subscriptionId, priceIdsOfTier(setup, 'pro'));
        // The newer event is handled first; then the held one is let through on Stripe's retry.
        await waitFor(() => [...delivered.values()].some((d) => d.customer === flip.customer.stripeCustomerId && d.type === 'customer.subscription.updated'));
        released = true;
        await stripe.webhooksDelivered();
        if (faults.has('webhook-replay')) {
          // Both events again, oldest last: each is a duplicate that changes nothing.
          for (const old of [...delivered.values()].filter(
            (d) => d.customer === flip.customer.stripeCustomerId && d.type === 'customer.subscription.updated',
          )) {
            const { outcome } = await deliverWebhook(
              old.payload,
              stripeClient.webhooks.generateTestHeaderString({ payload: old.payload, secret: webhookSecret }),
            );
            if (outcome !== 'duplicate') throw new Error(`a replayed webhook was not a duplicate: ${outcome}`);
            counts.webhooksReplayed += 1;
          }
        }
        clock.now = at;
      }
      // Billing paused for two days, then resumed: pushes wait, counting goes on.
      if (inStep(14.5)) await services.state.setPause({ paused: true, by: 'month simulation', reason: 'investigating', at: new Date(at).toISOString() });
      if (inStep(16.5)) await services.state.setPause({ paused: false, by: 'month simulation', reason: 'resolved', at: new Date(at).toISOString() });
      // A customer grandfathered from day 10: free for 30 days, past the month's end.
      const grandfathered = byRole('grandfathered');
      if (grandfathered && inStep(10))
        await services.customers.updateCustomer(grandfathered.customer.customerId, {
          grandfatheredFrom: start + 10 * DAY,
          grandfatheredUntil: start + 10 * DAY + config.grandfatherDays * DAY,
        });
    }

    function tierDeps(withStripe: boolean) {
      return { registry: services.customers, gatewayKeys, retirements: services.retirements, config, now, ...(withStripe && { stripe: setup }) };
    }
  } finally {
    await stripe.webhooksDelivered().catch(() => undefined);
    await poller.stop();
    streams.destroy();
    await stripe.stop();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out waiting for a webhook');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The last line of `npm run bench -- month`. */
export function monthLine(result: Pick<MonthResult, 'customers' | 'calls' | 'rate'>): string {
  return `month: ${result.customers} customers, ${result.calls} calls, ${result.rate.discrepancies} discrepancies, billing error rate ${(result.rate.rate.calls * 100).toFixed(2)}%`;
}
