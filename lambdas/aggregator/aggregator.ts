/** The aggregator's logic, wired to a counter store but not to an environment (the local poller calls it too). */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import { applyBatch, type CounterStore, type UsageStreamRecord } from '#core/counting.ts';
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

export function createAggregator(store: CounterStore, logger: Pick<Logger, 'info' | 'error'>) {
  return async (event: WindowedStreamEvent): Promise<WindowedBatchResponse> => {
    if (event.Records.length === 0) return { state: {}, batchItemFailures: [] }; // the window's closing call
    const streamArn = event.eventSourceARN ?? event.Records[0]?.eventSourceARN;
    if (!event.shardId || !streamArn) {
      // Without the shard the checkpoint cannot be kept: fail loudly rather than count twice.
      throw new Error('the stream event names no shard: the event source mapping needs a tumbling window');
    }
    const result = await applyBatch(`${streamArn}|${event.shardId}`, event.Records.map(toRecord), store);
    if (result.failedAt !== undefined) {
      logger.error('aggregation stopped early', { shardId: event.shardId, failedAt: result.failedAt, applied: result.applied, error: result.error instanceof Error ? result.error.message : String(result.error) });
      return { state: {}, batchItemFailures: [{ itemIdentifier: result.failedAt }] };
    }
    logger.info('batch aggregated', { shardId: event.shardId, records: event.Records.length, applied: result.applied, skipped: result.skipped });
    return { state: {}, batchItemFailures: [] };
  };
}
