/**
 * Counting usage events exactly once.
 *
 * The aggregator folds a shard's batch of stream records into counter deltas per customer x hour
 * and x month. The shard's checkpoint (the last sequence number applied) moves in the same
 * transaction as the first group of deltas, guarded by the value it was read at; a batch with
 * more counters than one transaction holds stores its remaining groups in the checkpoint item,
 * and each is applied by a transaction that also advances that durable to-do list. So a
 * redelivered, bisected or concurrently processed batch finds its records at or below the
 * checkpoint and skips them, and a crash between two transactions is finished by the next call.
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
/** Deltas one checkpoint may hold as pending work: well inside DynamoDB's 400 KB item limit. */
export const MAX_DELTAS_PER_COMMIT = 3_000;

/** Orders stream sequence numbers: decimal strings without leading zeros, of up to 40 digits. */
export function compareSequenceNumbers(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** What one record changes, as [billable, voided]: a new unvoided event is billable; a void moves one call from billable to voided. */
export function effectOf(record: UsageStreamRecord): readonly [number, number] | undefined {
  const image = record.newImage;
  if (!image?.customerId || !image.hour || !image.month) return undefined;
  if (record.eventName === 'INSERT') return image.voided ? VOIDED_INSERT : BILLABLE_INSERT;
  if (record.eventName === 'MODIFY' && image.voided && !record.oldImage?.voided) return VOID;
  return undefined; // REMOVE (TTL) and modifications that do not void
}
const BILLABLE_INSERT = [1, 0] as const;
const VOIDED_INSERT = [0, 1] as const;
const VOID = [-1, 1] as const;

/** Folds records into one delta per counter item (ADDs commute, so order within a batch does not matter). */
export function foldRecords(records: readonly UsageStreamRecord[]): CounterDelta[] {
  // The hot loop of the aggregator: two-level maps and no per-record allocation.
  const byCustomer = new Map<string, Map<string, { customerId: string; sk: string; billable: number; voided: number }>>();
  const add = (customerId: string, sk: string, billable: number, voided: number) => {
    let counters = byCustomer.get(customerId);
    if (!counters) byCustomer.set(customerId, (counters = new Map()));
    const delta = counters.get(sk);
    if (delta) {
      delta.billable += billable;
      delta.voided += voided;
    } else counters.set(sk, { customerId, sk, billable, voided });
  };
  for (const record of records) {
    const effect = effectOf(record);
    if (!effect) continue;
    const { customerId, hour, month } = record.newImage as UsageEvent;
    add(customerId, `HOUR#${hour}`, effect[0], effect[1]);
    add(customerId, `MONTH#${month}`, effect[0], effect[1]);
  }
  const deltas: CounterDelta[] = [];
  for (const counters of byCustomer.values()) for (const d of counters.values()) if (d.billable !== 0 || d.voided !== 0) deltas.push(d);
  return deltas;
}

/** The longest prefix of `records` whose deltas stay within `maxDeltas` (at least one record). */
export function prefixWithin(records: readonly UsageStreamRecord[], maxDeltas = MAX_DELTAS_PER_COMMIT): UsageStreamRecord[] {
  const keys = new Set<string>();
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    if (effectOf(record)) {
      const { customerId, hour, month } = record.newImage as UsageEvent;
      keys.add(`${customerId}\u0000${hour}`);
      keys.add(`${customerId}\u0000${month}`);
    }
    if (keys.size > maxDeltas && i > 0) return records.slice(0, i);
  }
  return [...records];
}

export function groupsOf<T>(items: readonly T[], size = MAX_COUNTERS_PER_TRANSACTION): T[][] {
  const groups: T[][] = [];
  for (let i = 0; i < items.length; i += size) groups.push(items.slice(i, i + size));
  return groups;
}

export interface Checkpoint {
  readonly sequenceNumber?: string;
  /** Delta groups of the last batch still to apply, and how many were applied before them. */
  readonly pending?: { readonly step: number; readonly groups: CounterDelta[][] };
}

/** The counters table as the aggregator writes it. */
export interface CounterStore {
  readCheckpoint(shardKey: string): Promise<Checkpoint>;
  /** One transaction: `deltas`, the checkpoint moved from `expected` to `next`, and `pending` groups recorded; `stale` when the checkpoint moved or work is pending. */
  commitBatch(
    shardKey: string,
    expected: string | undefined,
    next: string,
    deltas: readonly CounterDelta[],
    pending: CounterDelta[][],
  ): Promise<'applied' | 'stale'>;
  /** One transaction: the next pending group, and the to-do list advanced past it; `stale` when another call applied it. */
  commitPending(shardKey: string, step: number, deltas: readonly CounterDelta[], remaining: CounterDelta[][]): Promise<'applied' | 'stale'>;
}

export interface BatchResult {
  readonly applied: number;
  readonly skipped: number;
  /** Sequence number of the first record not applied, when the batch stopped early. */
  readonly failedAt?: string;
  readonly error?: unknown;
}

async function finishPending(shardKey: string, checkpoint: Checkpoint, store: CounterStore): Promise<void> {
  let pending = checkpoint.pending;
  while (pending && pending.groups.length > 0) {
    const [next, ...remaining] = pending.groups as [CounterDelta[], ...CounterDelta[][]];
    if ((await store.commitPending(shardKey, pending.step, next, remaining)) === 'stale') return; // another call is finishing it
    pending = { step: pending.step + 1, groups: remaining };
  }
}

/**
 * Applies a shard's batch. Finishes a batch left half-applied by a crash, skips records at or
 * below the checkpoint, and on a fault says where to resume (ReportBatchItemFailures).
 */
export async function applyBatch(
  shardKey: string,
  records: readonly UsageStreamRecord[],
  store: CounterStore,
  options: { maxStaleRetries?: number } = {},
): Promise<BatchResult> {
  const ordered = [...records].sort((a, b) => compareSequenceNumbers(a.sequenceNumber, b.sequenceNumber));
  let remaining: UsageStreamRecord[] = ordered;
  let applied = 0;
  let staleRetries = 0;
  try {
    for (;;) {
      const checkpoint = await store.readCheckpoint(shardKey);
      if (checkpoint.pending) {
        await finishPending(shardKey, checkpoint, store);
        continue;
      }
      const at = checkpoint.sequenceNumber;
      remaining = at === undefined ? remaining : remaining.filter((r) => compareSequenceNumbers(r.sequenceNumber, at) > 0);
      if (remaining.length === 0) return { applied, skipped: ordered.length - applied };
      // Many customers in one batch: commit it in prefixes, so pending work fits the checkpoint item.
      const prefix = prefixWithin(remaining);
      const [first = [], ...rest] = groupsOf(foldRecords(prefix));
      const last = prefix[prefix.length - 1]!.sequenceNumber;
      if ((await store.commitBatch(shardKey, at, last, first, rest)) === 'applied') {
        applied += prefix.length;
        staleRetries = 0;
        await finishPending(shardKey, { sequenceNumber: last, pending: { step: 0, groups: rest } }, store);
      } else if (++staleRetries > (options.maxStaleRetries ?? 5)) {
        throw new Error('the shard checkpoint kept moving');
      }
    }
  } catch (error) {
    return { applied, skipped: ordered.length - applied - remaining.length, failedAt: remaining[0]?.sequenceNumber, error };
  }
}
