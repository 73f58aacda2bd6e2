/**
 * The local stand-in for Lambda's event source mapping on the usage events stream: it reads
 * DynamoDB Local's stream with the real Streams API (TRIM_HORIZON, every shard), drops REMOVE
 * records as the mapping's filter does, hands batches to the same aggregator with the shard's id
 * (as a tumbling window would), retries from a reported failure and bisects a batch that throws.
 */
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetRecordsCommandOutput,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { WindowedBatchResponse, WindowedStreamEvent } from '../lambdas/aggregator/aggregator.ts';

export interface StreamPollerOptions {
  readonly client: DynamoDBClient;
  readonly endpoint: string;
  readonly tableName: string;
  readonly handler: (event: WindowedStreamEvent) => Promise<WindowedBatchResponse>;
  /** @default 10000, as the stack's event source mapping */
  readonly batchSize?: number;
  /** @default 250 */
  readonly idleMs?: number;
  /** Retries of one record before it is given up (Lambda would send it to the dead-letter queue). @default 3 */
  readonly maxRetries?: number;
  /** A batch given up on, as Lambda would send it to the on-failure destination. */
  readonly onDeadLetter?: (letter: { shardId: string; streamArn: string; records: DynamoDBRecord[] }, error: unknown) => void;
}

export interface StreamPoller {
  /** Processes everything the stream holds now; resolves when a full pass finds nothing new. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

interface ShardState {
  iterator?: string;
  /** Last sequence number read: a fresh iterator starts after it. */
  lastRead?: string;
  closed: boolean;
  buffer: DynamoDBRecord[];
}

export async function startStreamPoller(options: StreamPollerOptions): Promise<StreamPoller> {
  const streams = new DynamoDBStreamsClient({
    endpoint: options.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const table = await options.client.send(new DescribeTableCommand({ TableName: options.tableName }));
  const latestStreamArn = table.Table?.LatestStreamArn;
  if (!latestStreamArn) throw new Error(`table ${options.tableName} has no stream`);
  const streamArn: string = latestStreamArn;
  const shards = new Map<string, ShardState>();
  const batchSize = options.batchSize ?? 10_000;
  let stopped = false;
  let passing: Promise<number> | undefined;

  async function discoverShards() {
    const description = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    for (const shard of description.StreamDescription?.Shards ?? []) {
      if (!shard.ShardId || shards.has(shard.ShardId)) continue;
      const iterator = await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
      shards.set(shard.ShardId, { iterator: iterator.ShardIterator, closed: false, buffer: [] });
    }
  }

  const toLambdaRecord = (record: _Record): DynamoDBRecord => ({ ...(record as unknown as DynamoDBRecord), eventSourceARN: streamArn });

  /** Delivers a batch as the mapping would: retry on reported failures, bisect on a thrown error. */
  async function deliver(shardId: string, records: DynamoDBRecord[], attempt = 0): Promise<void> {
    let response: WindowedBatchResponse;
    try {
      response = await options.handler({ Records: records, shardId, eventSourceARN: streamArn });
    } catch (error) {
      if (records.length > 1) {
        const middle = Math.ceil(records.length / 2);
        await deliver(shardId, records.slice(0, middle), attempt);
        await deliver(shardId, records.slice(middle), attempt);
        return;
      }
      if (attempt + 1 >= (options.maxRetries ?? 3)) return options.onDeadLetter?.({ shardId, streamArn, records }, error);
      return deliver(shardId, records, attempt + 1);
    }
    const failed = response.batchItemFailures[0]?.itemIdentifier;
    if (failed === undefined) return;
    const from = records.findIndex((r) => r.dynamodb?.SequenceNumber === failed);
    if (from < 0) return;
    if (attempt + 1 >= (options.maxRetries ?? 3))
      return options.onDeadLetter?.({ shardId, streamArn, records: records.slice(from) }, new Error(`failed at ${failed}`));
    await deliver(shardId, records.slice(from), attempt + 1);
  }

  /** One pass over every shard; returns how many records it delivered. */
  async function pass(): Promise<number> {
    await discoverShards();
    let delivered = 0;
    for (const [shardId, state] of shards) {
      while (!state.closed && state.iterator && state.buffer.length < batchSize) {
        let page: GetRecordsCommandOutput;
        try {
          page = await streams.send(new GetRecordsCommand({ ShardIterator: state.iterator, Limit: 1000 }));
        } catch (error) {
          // DynamoDB Local can invalidate an iterator taken while the shard was empty: take a fresh one.
          if (!(error instanceof Error && (error.name === 'TrimmedDataAccessException' || error.name === 'ExpiredIteratorException'))) throw error;
          const fresh = await streams.send(
            new GetShardIteratorCommand(
              state.lastRead
                ? { StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: state.lastRead }
                : { StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' },
            ),
          );
          state.iterator = fresh.ShardIterator;
          continue;
        }
        state.iterator = page.NextShardIterator;
        const last = page.Records?.at(-1)?.dynamodb?.SequenceNumber;
        if (last) state.lastRead = last;
        if (!page.NextShardIterator) state.closed = true;
        const records = (page.Records ?? []).filter((r) => r.eventName !== 'REMOVE').map(toLambdaRecord);
        state.buffer.push(...records);
        if ((page.Records ?? []).length === 0) break;
      }
      while (state.buffer.length > 0) {
        const batch = state.buffer.splice(0, batchSize);
        await deliver(shardId, batch);
        delivered += batch.length;
      }
    }
    return delivered;
  }

  const runPass = () => (passing ??= pass().finally(() => (passing = undefined)));

  const loop = (async () => {
    while (!stopped) {
      try {
        if ((await runPass()) === 0) await new Promise((r) => setTimeout(r, options.idleMs ?? 250));
      } catch (error) {
        if (!stopped) console.error('stream poller:', error instanceof Error ? error.message : error);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();

  return {
    async drain() {
      // A pass that delivers nothing after the writes we wait for means the stream is read up to date.
      for (let idle = 0; idle < 2; ) idle = (await runPass()) === 0 ? idle + 1 : 0;
    },
    async stop() {
      stopped = true;
      await loop;
      streams.destroy();
    },
  };
}
