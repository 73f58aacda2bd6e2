/** The aggregator's counters and per-shard checkpoints in the Counters table. */
import { GetCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CounterDelta, CounterStore } from '#core/counting.ts';
import { ApiBillingError } from '#core/errors.ts';

const checkpointKey = (shardKey: string) => ({ pk: `SHARD#${shardKey}`, sk: 'CHECKPOINT' });

export class DynamoCounterStore implements CounterStore {
  /** Transactions sent and items written, for the benchmark's writes-per-record figure. */
  readonly stats = { transactions: 0, itemWrites: 0 };

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly countersTable: string,
  ) {}

  async readCheckpoint(shardKey: string): Promise<string | undefined> {
    const result = await this.doc.send(new GetCommand({ TableName: this.countersTable, Key: checkpointKey(shardKey), ConsistentRead: true }));
    return result.Item?.sequenceNumber as string | undefined;
  }

  async applyChunk(shardKey: string, expected: string | undefined, next: string, deltas: readonly CounterDelta[]): Promise<'applied' | 'stale'> {
    const checkpoint = {
      Update: {
        TableName: this.countersTable,
        Key: checkpointKey(shardKey),
        UpdateExpression: 'SET sequenceNumber = :next',
        ConditionExpression: expected === undefined ? 'attribute_not_exists(sequenceNumber)' : 'sequenceNumber = :expected',
        ExpressionAttributeValues: { ':next': next, ...(expected !== undefined && { ':expected': expected }) },
      },
    };
    const counters = deltas.map((d) => ({
      Update: {
        TableName: this.countersTable,
        Key: { pk: `CUSTOMER#${d.customerId}`, sk: d.sk },
        UpdateExpression: 'ADD billable :b, voided :v',
        ExpressionAttributeValues: { ':b': d.billable, ':v': d.voided },
      },
    }));
    for (let attempt = 0; ; attempt++) {
      try {
        this.stats.transactions += 1;
        await this.doc.send(new TransactWriteCommand({ TransactItems: [checkpoint, ...counters] }));
        this.stats.itemWrites += counters.length + 1;
        return 'applied';
      } catch (error) {
        const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
        if (reasons[0]?.Code === 'ConditionalCheckFailed') return 'stale';
        // Another shard's transaction touched the same counter at the same moment: retry shortly.
        const conflict = reasons.some((r) => r.Code === 'TransactionConflict');
        if (conflict && attempt < 8) {
          await new Promise((r) => setTimeout(r, 10 * 2 ** attempt + Math.random() * 20));
          continue;
        }
        throw new ApiBillingError(`counter transaction failed: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
      }
    }
  }
}
