/** The aggregator's counters and per-shard checkpoints in the Counters table. */
import { GetCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Checkpoint, CounterDelta, CounterStore } from '#core/counting.ts';
import { ApiBillingError } from '#core/errors.ts';

const checkpointKey = (shardKey: string) => ({ pk: `SHARD#${shardKey}`, sk: 'CHECKPOINT' });

type TransactItem = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];

export class DynamoCounterStore implements CounterStore {
  /** Transactions sent and items written, for the benchmark's writes-per-record figure. */
  readonly stats = { transactions: 0, itemWrites: 0 };

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly countersTable: string,
  ) {}

  async readCheckpoint(shardKey: string): Promise<Checkpoint> {
    const result = await this.doc.send(new GetCommand({ TableName: this.countersTable, Key: checkpointKey(shardKey), ConsistentRead: true }));
    return { sequenceNumber: result.Item?.sequenceNumber as string | undefined, pending: result.Item?.pending as Checkpoint['pending'] };
  }

  commitBatch(shardKey: string, expected: string | undefined, next: string, deltas: readonly CounterDelta[], pending: CounterDelta[][]) {
    return this.transact(deltas, {
      TableName: this.countersTable,
      Key: checkpointKey(shardKey),
      UpdateExpression: pending.length ? 'SET sequenceNumber = :next, pending = :pending' : 'SET sequenceNumber = :next',
      ConditionExpression: `${expected === undefined ? 'attribute_not_exists(sequenceNumber)' : 'sequenceNumber = :expected'} AND attribute_not_exists(pending)`,
      ExpressionAttributeValues: {
        ':next': next,
        ...(expected !== undefined && { ':expected': expected }),
        ...(pending.length && { ':pending': { step: 0, groups: pending } }),
      },
    });
  }

  commitPending(shardKey: string, step: number, deltas: readonly CounterDelta[], remaining: CounterDelta[][]) {
    return this.transact(deltas, {
      TableName: this.countersTable,
      Key: checkpointKey(shardKey),
      UpdateExpression: remaining.length ? 'SET pending = :pending' : 'REMOVE pending',
      ConditionExpression: 'pending.step = :step',
      ExpressionAttributeValues: { ':step': step, ...(remaining.length && { ':pending': { step: step + 1, groups: remaining } }) },
    });
  }

  private async transact(deltas: readonly CounterDelta[], checkpoint: NonNullable<TransactItem['Update']>): Promise<'applied' | 'stale'> {
    const items: TransactItem[] = [
      { Update: checkpoint },
      ...deltas.map((d) => ({
        Update: {
          TableName: this.countersTable,
          Key: { pk: `CUSTOMER#${d.customerId}`, sk: d.sk },
          UpdateExpression: 'ADD billable :b, voided :v',
          ExpressionAttributeValues: { ':b': d.billable, ':v': d.voided },
        },
      })),
    ];
    for (let attempt = 0; ; attempt++) {
      try {
        this.stats.transactions += 1;
        await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
        this.stats.itemWrites += items.length;
        return 'applied';
      } catch (error) {
        const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
        if (reasons[0]?.Code === 'ConditionalCheckFailed') return 'stale';
        // Another shard's transaction touched the same counter at the same moment: retry shortly.
        if (reasons.some((r) => r.Code === 'TransactionConflict') && attempt < 8) {
          await new Promise((r) => setTimeout(r, 10 * 2 ** attempt + Math.random() * 20));
          continue;
        }
        throw new ApiBillingError(`counter transaction failed: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
      }
    }
  }
}
