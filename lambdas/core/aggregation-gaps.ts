/**
 * Skipped ranges of a shard, so that a dead-lettered batch can still be counted exactly once.
 *
 * The per-shard checkpoint is a high-water mark. When the event source mapping gives up on a
 * batch (retries exhausted) it sends the batch's range to the dead-letter queue and goes on with
 * the next records; the next commit moves the checkpoint past the range, and a replay through the
 * ordinary path would then skip every record in it as "already applied". So each time a commit
 * moves the checkpoint from `after` to a batch whose first new record is `until`, the aggregator
 * records the gap (after, until): stream records strictly inside it were never applied by the
 * ordinary path (REMOVE records filtered out by the mapping, or a range given up on). A replay
 * applies only records that fall in a gap, under a checkpoint of their own named by the gap and
 * the range's first record in it: replaying the same range twice, a range the ordinary path
 * partly applied before it gave up, or two ranges of one gap in either order, counts each record
 * once. (The mapping gives each record up at most once, so the ranges it dead-letters are disjoint.)
 *
 * The gap is written just before the commit, not inside its transaction: the mapping invokes one
 * batch per shard at a time (parallelization factor 1), so the last gap written for `after`
 * before the checkpoint leaves `after` is the one of the invocation that moved it.
 */
import { applyBatch, compareSequenceNumbers, type BatchResult, type CounterStore, type UsageStreamRecord } from './counting.ts';

/** `after` of the first commit of a shard, which had no checkpoint before it. */
export const SHARD_START = '0';

/** Records strictly between `after` and `until` were never applied by the ordinary path. */
export interface Gap {
  readonly after: string;
  readonly until: string;
}

export interface GapStore {
  /** Records (or overwrites) the gap that starts at `after`. */
  recordGap(shardKey: string, gap: Gap): Promise<void>;
  /** Gaps that may hold records in [start, end]: those starting in it, and the last one starting before it. */
  gapsAround(shardKey: string, start: string, end: string): Promise<Gap[]>;
}

/** The checkpoint key under which a replay applies a range's records in one gap (`from`: the first of them). */
export const gapShardKey = (shardKey: string, after: string, from: string) => `${shardKey}|GAP#${after}|FROM#${from}`;

/**
 * Wraps a counter store so that every commit of a batch first records the gap it closes.
 * `records` is the batch being applied, in sequence order.
 */
export function recordingGaps(store: CounterStore, gaps: GapStore, records: readonly UsageStreamRecord[]): CounterStore {
  let committedUpTo: string | undefined;
  return {
    readCheckpoint: (shardKey) => store.readCheckpoint(shardKey),
    commitPending: (...args) => store.commitPending(...args),
    async commitBatch(shardKey, expected, next, deltas, pending) {
      // A later prefix of the same invocation follows the previous one directly: no gap to record.
      if (committedUpTo === undefined || expected !== committedUpTo) {
        const after = expected ?? SHARD_START;
        const first = records.find((r) => compareSequenceNumbers(r.sequenceNumber, after) > 0);
        if (first) await gaps.recordGap(shardKey, { after, until: first.sequenceNumber });
      }
      const result = await store.commitBatch(shardKey, expected, next, deltas, pending);
      if (result === 'applied') committedUpTo = next;
      return result;
    },
  };
}

/** Sorts records into the gap each belongs to; records in no gap were applied by the ordinary path. */
export function assignToGaps(
  records: readonly UsageStreamRecord[],
  gaps: readonly Gap[],
  checkpoint: string | undefined,
): { byGap: Map<string, UsageStreamRecord[]>; applied: number } {
  const open = checkpoint ?? SHARD_START;
  const byGap = new Map<string, UsageStreamRecord[]>();
  let applied = 0;
  for (const record of records) {
    const sequence = record.sequenceNumber;
    // Above the checkpoint: the ordinary path has not gone past it, and will start its next gap at the checkpoint.
    const after =
      compareSequenceNumbers(sequence, open) > 0
        ? open
        : gaps.find(
            (g) => compareSequenceNumbers(g.after, sequence) < 0 && compareSequenceNumbers(sequence, g.until) < 0 && compareSequenceNumbers(g.after, open) < 0,
          )?.after;
    if (after === undefined) {
      applied += 1;
      continue;
    }
    const bucket = byGap.get(after);
    if (bucket) bucket.push(record);
    else byGap.set(after, [record]);
  }
  return { byGap, applied };
}

/**
 * Applies a dead-lettered range of a shard (the records read back from the stream) exactly once:
 * only its records the ordinary path skipped, under checkpoints of their own.
 */
export async function replayRange(shardKey: string, records: readonly UsageStreamRecord[], store: CounterStore, gaps: GapStore): Promise<BatchResult> {
  const ordered = [...records].sort((a, b) => compareSequenceNumbers(a.sequenceNumber, b.sequenceNumber));
  if (ordered.length === 0) return { applied: 0, skipped: 0 };
  // The checkpoint first: gaps that start below it are closed and final.
  const { sequenceNumber: checkpoint } = await store.readCheckpoint(shardKey);
  const known = await gaps.gapsAround(shardKey, ordered[0]!.sequenceNumber, ordered.at(-1)!.sequenceNumber);
  const { byGap, applied: alreadyApplied } = assignToGaps(ordered, known, checkpoint);
  let applied = 0;
  let skipped = alreadyApplied;
  for (const [after, inGap] of byGap) {
    const result = await applyBatch(gapShardKey(shardKey, after, inGap[0]!.sequenceNumber), inGap, store);
    applied += result.applied;
    skipped += result.skipped;
    if (result.failedAt !== undefined) return { applied, skipped, failedAt: result.failedAt, error: result.error };
  }
  return { applied, skipped };
}
