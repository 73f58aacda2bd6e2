/** The aggregator's logic, wired to a counter store but not to an environment (the local poller calls it too). */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import { recordingGaps, replayRange, type GapStore } from '#core/aggregation-gaps.ts';
import { applyBatch, compareSequenceNumbers, type CounterStore, type UsageStreamRecord } from '#core/counting.ts';
import type { UsageEvent } from '#core/model.ts';

/**
 * A DynamoDB stream batch as Lambda delivers it with a tumbling window: the window is what makes
 * Lambda name the shard (`shardId`), and the shard is what the checkpoint is kept for.
 */
export interface WindowedStreamEvent {
  readonly Records: DynamoDBRecord[];
  readonly shardId?: string;
  readonly eventSourceARN?: string;
  readonly state?: Record<string, string>;
}

/** Lambda requires `state` in the answer of a windowed invocation; ours lives in DynamoDB instead. */
export type WindowedBatchResponse = DynamoDBBatchResponse & { state: Record<string, string> };

function toRecord(record: DynamoDBRecord): UsageStreamRecord {
  const image = (value: unknown) => (value ? (unmarshall(value as Record<string, AttributeValue>) as Partial<UsageEvent>) : undefined);
  return {
    sequenceNumber: record.dynamodb?.SequenceNumber ?? '',
    eventName: record.eventName ?? '',
    oldImage: image(record.dynamodb?.OldImage),
    newImage: image(record.dynamodb?.NewImage),
  };
}

/** The shard's checkpoint key: stream ARN and shard id, as the tumbling window names them. */
function shardKeyOf(event: WindowedStreamEvent): string {
  const streamArn = event.eventSourceARN ?? event.Records[0]?.eventSourceARN;
  if (!event.shardId || !streamArn) {
    // Without the shard the checkpoint cannot be kept: fail loudly rather than count twice.
    throw new Error('the stream event names no shard: the event source mapping needs a tumbling window');
  }
  return `${streamArn}|${event.shardId}`;
}

/**
 * The aggregator for the event source mapping (and the local poller). With `gaps`, each commit
 * first records the range it skips, which is what lets a dead-lettered batch be replayed later
 * (see #core/aggregation-gaps.ts); without it, a replay after later batches would count nothing.
 */
export function createAggregator(store: CounterStore, logger: Pick<Logger, 'info' | 'error'>, options: { readonly gaps?: GapStore } = {}) {
  return async (event: WindowedStreamEvent): Promise<WindowedBatchResponse> => {
    if (event.Records.length === 0) return { state: {}, batchItemFailures: [] }; // the window's closing call
    const shardKey = shardKeyOf(event);
    const records = event.Records.map(toRecord).sort((a, b) => compareSequenceNumbers(a.sequenceNumber, b.sequenceNumber));
    const result = await applyBatch(shardKey, records, options.gaps ? recordingGaps(store, options.gaps, records) : store);
    if (result.failedAt !== undefined) {
      logger.error('aggregation stopped early', {
        shardId: event.shardId,
        failedAt: result.failedAt,
        applied: result.applied,
        error: result.error instanceof Error ? result.error.message : String(result.error),
      });
      return { state: {}, batchItemFailures: [{ itemIdentifier: result.failedAt }] };
    }
    logger.info('batch aggregated', { shardId: event.shardId, records: event.Records.length, applied: result.applied, skipped: result.skipped });
    return { state: {}, batchItemFailures: [] };
  };
}

/**
 * The aggregator for a dead-lettered range read back from the stream: same input and answer, but
 * it counts only the records the ordinary path skipped, exactly once however often it is replayed.
 */
export function createDeadLetterReplayer(store: CounterStore, gaps: GapStore, logger: Pick<Logger, 'info' | 'error'>) {
  return async (event: WindowedStreamEvent): Promise<WindowedBatchResponse> => {
    if (event.Records.length === 0) return { state: {}, batchItemFailures: [] };
    const result = await replayRange(shardKeyOf(event), event.Records.map(toRecord), store, gaps);
    if (result.failedAt !== undefined) {
      logger.error('replay stopped early', {
        shardId: event.shardId,
        failedAt: result.failedAt,
        applied: result.applied,
        error: result.error instanceof Error ? result.error.message : String(result.error),
      });
      return { state: {}, batchItemFailures: [{ itemIdentifier: result.failedAt }] };
    }
    logger.info('dead-lettered range replayed', { shardId: event.shardId, records: event.Records.length, applied: result.applied, skipped: result.skipped });
    return { state: {}, batchItemFailures: [] };
  };
}
