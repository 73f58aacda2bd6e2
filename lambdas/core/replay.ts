/**
 * Replaying the aggregator's dead-letter queue. An on-failure record of a stream mapping names the
 * shard and the range of sequence numbers of the batch that was given up on, not the records; the
 * replay reads that range back from the stream (kept 24 hours) and hands it to the aggregator
 * again. Exactly-once counting makes a replay safe to repeat.
 */
import * as z from 'zod';

/** The part of Lambda's on-failure record for a DynamoDB stream batch that the replay needs. */
export const DeadLetterSchema = z.object({
  DDBStreamBatchInfo: z.object({
    shardId: z.string(),
    startSequenceNumber: z.string(),
    endSequenceNumber: z.string(),
    streamArn: z.string(),
    batchSize: z.number().optional(),
  }),
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

export interface DeadLetterQueue {
  /** Messages waiting, with a handle to delete each once replayed. */
  receive(): Promise<Array<{ handle: string; body: string }>>;
  remove(handle: string): Promise<void>;
}

export interface StreamRange {
  /** The records of `shardId` from `start` to `end` inclusive, in the shape Lambda delivers them. */
  read(streamArn: string, shardId: string, start: string, end: string): Promise<unknown[]>;
}

export type ReplayOutcome = { handle: string; result: 'replayed'; records: number } | { handle: string; result: 'failed' | 'unreadable'; error: string };

export async function replayDeadLetters(
  queue: DeadLetterQueue,
  stream: StreamRange,
  aggregate: (batch: { Records: unknown[]; shardId: string; eventSourceARN: string }) => Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }>,
): Promise<ReplayOutcome[]> {
  const outcomes: ReplayOutcome[] = [];
  for (const message of await queue.receive()) {
    let letter: DeadLetter;
    try {
      letter = DeadLetterSchema.parse(JSON.parse(message.body));
    } catch (error) {
      outcomes.push({ handle: message.handle, result: 'unreadable', error: error instanceof Error ? error.message : String(error) });
      continue;
    }
    const { shardId, startSequenceNumber, endSequenceNumber, streamArn } = letter.DDBStreamBatchInfo;
    try {
      const records = await stream.read(streamArn, shardId, startSequenceNumber, endSequenceNumber);
      const response = await aggregate({ Records: records, shardId, eventSourceARN: streamArn });
      if (response.batchItemFailures.length) throw new Error(`the aggregator stopped at ${response.batchItemFailures[0]!.itemIdentifier}`);
      await queue.remove(message.handle);
      outcomes.push({ handle: message.handle, result: 'replayed', records: records.length });
    } catch (error) {
      outcomes.push({ handle: message.handle, result: 'failed', error: error instanceof Error ? error.message : String(error) });
    }
  }
  return outcomes;
}
