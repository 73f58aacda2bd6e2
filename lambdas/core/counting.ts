/**
 * Counting usage events exactly once. The aggregator folds a shard's stream records into
 * counter deltas per customer x hour and x month, and writes each chunk of deltas in one
 * transaction together with the shard's checkpoint (the last sequence number applied), guarded
 * by the checkpoint it read. A redelivered, bisected or concurrently processed batch therefore
 * finds its records at or below the checkpoint and skips them.
 */
import type { UsageEvent } from './model.ts';

/** One stream record, images already unmarshalled. */
export interface UsageStreamRecord {
  readonly sequenceNumber: string;
  readonly eventName: 'INSERT' | 'MODIFY' | 'REMOVE' | string;
  readonly oldImage?: Partial<UsageEvent>;
  readonly newImage?: Partial<UsageEvent>;
}

export interface CounterDelta {
  readonly customerId: string;
  /** `HOUR#YYYY-MM-DDTHH` or `MONTH#YYYY-MM`. */
  readonly sk: string;
  readonly billable: number;
  readonly voided: number;
}

/** DynamoDB allows 100 actions per transaction; one is the checkpoint. */
export const MAX_COUNTERS_PER_TRANSACTION = 99;
/** Stream sequence numbers are decimal strings of up to 40 digits; padded, they compare as strings. */
const SEQUENCE_WIDTH = 40;

export function padSequenceNumber(sequenceNumber: string): string {
  if (!/^\d{1,40}$/.test(sequenceNumber)) throw new RangeError(`not a stream sequence number: ${sequenceNumber}`);
  return sequenceNumber.padStart(SEQUENCE_WIDTH, '0');
}

/** What one record changes: a new unvoided event is billable; a void moves one call from billable to voided. */
export function contributionOf(record: UsageStreamRecord): { customerId: string; hour: string; month: string; billable: number; voided: number } | undefined {
  const image = record.newImage;
  if (!image?.customerId || !image.hour || !image.month) return undefined;
  const base = { customerId: image.customerId, hour: image.hour, month: image.month };
  if (record.eventName === 'INSERT') return image.voided ? { ...base, billable: 0, voided: 1 } : { ...base, billable: 1, voided: 0 };
  if (record.eventName === 'MODIFY' && image.voided && !record.oldImage?.voided) return { ...base, billable: -1, voided: 1 };
  return undefined; // REMOVE (TTL) and modifications that do not void
}

export interface Chunk {
  readonly deltas: readonly CounterDelta[];
  /** Padded sequence number of the chunk's last record: the checkpoint once it is applied. */
  readonly lastSequenceNumber: string;
  /** Padded sequence number of the chunk's first record: where Lambda resumes if it fails. */
  readonly firstSequenceNumber: string;
  readonly records: number;
}

/**
 * Folds records (in sequence order) into chunks whose distinct counter items fit one transaction.
 * A record is never split across chunks, so a chunk applies whole records or none.
 */
export function foldIntoChunks(records: readonly UsageStreamRecord[], maxCounters = MAX_COUNTERS_PER_TRANSACTION): Chunk[] {
  const chunks: Chunk[] = [];
  let current = new Map<string, { customerId: string; sk: string; billable: number; voided: number }>();
  let first: string | undefined;
  let last: string | undefined;
  let count = 0;
  const close = () => {
    if (first && last) chunks.push({ deltas: [...current.values()].filter((d) => d.billable !== 0 || d.voided !== 0), firstSequenceNumber: first, lastSequenceNumber: last, records: count });
    current = new Map();
    first = last = undefined;
    count = 0;
  };
  for (const record of records) {
    const contribution = contributionOf(record);
    const keys = contribution ? [`${contribution.customerId}|HOUR#${contribution.hour}`, `${contribution.customerId}|MONTH#${contribution.month}`] : [];
    const fresh = keys.filter((k) => !current.has(k)).length;
    if (current.size + fresh > maxCounters) close();
    const sequence = padSequenceNumber(record.sequenceNumber);
    first ??= sequence;
    last = sequence;
    count += 1;
    if (!contribution) continue;
    for (const key of keys) {
      const [customerId, sk] = key.split('|') as [string, string];
      const delta = current.get(key) ?? { customerId, sk, billable: 0, voided: 0 };
      delta.billable += contribution.billable;
      delta.voided += contribution.voided;
      current.set(key, delta);
    }
  }
  close();
  return chunks;
}

/** The counters table as the aggregator writes it. */
export interface CounterStore {
  /** The shard's checkpoint (padded), or undefined before its first batch. */
  readCheckpoint(shardKey: string): Promise<string | undefined>;
  /** One transaction: the deltas and the checkpoint moved from `expected` to `next`; `stale` when the checkpoint is no longer `expected`. */
  applyChunk(shardKey: string, expected: string | undefined, next: string, deltas: readonly CounterDelta[]): Promise<'applied' | 'stale'>;
}

export interface BatchResult {
  readonly applied: number;
  readonly skipped: number;
  /** Sequence number (unpadded, as received) of the first record not applied, when the batch stopped early. */
  readonly failedAt?: string;
  readonly error?: unknown;
}

/**
 * Applies a shard's batch. Records at or below the checkpoint are skipped; on a stale checkpoint
 * (another invocation applied part of the batch) it re-reads and continues; on a fault it stops and
 * says where to resume, so Lambda retries from there (ReportBatchItemFailures).
 */
export async function applyBatch(shardKey: string, records: readonly UsageStreamRecord[], store: CounterStore, options: { maxStaleRetries?: number } = {}): Promise<BatchResult> {
  const ordered = [...records].sort((a, b) => (padSequenceNumber(a.sequenceNumber) < padSequenceNumber(b.sequenceNumber) ? -1 : 1));
  let applied = 0;
  let staleRetries = 0;
  let checkpoint: string | undefined;
  try {
    checkpoint = await store.readCheckpoint(shardKey);
  } catch (error) {
    return { applied: 0, skipped: 0, failedAt: ordered[0]?.sequenceNumber, error };
  }
  for (;;) {
    const pending = ordered.filter((r) => checkpoint === undefined || padSequenceNumber(r.sequenceNumber) > checkpoint);
    let stale = false;
    for (const chunk of foldIntoChunks(pending)) {
      let outcome: 'applied' | 'stale';
      try {
        outcome = await store.applyChunk(shardKey, checkpoint, chunk.lastSequenceNumber, chunk.deltas);
      } catch (error) {
        const firstRecord = pending.find((r) => padSequenceNumber(r.sequenceNumber) === chunk.firstSequenceNumber);
        return { applied, skipped: ordered.length - pending.length, failedAt: firstRecord?.sequenceNumber, error };
      }
      if (outcome === 'stale') {
        stale = true;
        break;
      }
      applied += chunk.records;
      checkpoint = chunk.lastSequenceNumber;
    }
    if (!stale) return { applied, skipped: ordered.length - applied };
    if (++staleRetries > (options.maxStaleRetries ?? 5)) return { applied, skipped: 0, failedAt: pending[0]?.sequenceNumber, error: new Error('checkpoint kept moving') };
    checkpoint = await store.readCheckpoint(shardKey);
  }
}
