/** The outcome path's writes: voids on the usage events, outcome counts in the Counters table. */
import { TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { VoidReason } from '#core/model.ts';
import { MAX_COUNTERS_PER_TRANSACTION } from '#core/counting.ts';
import type { OutcomeCount, OutcomeStore } from '#core/outcomes.ts';
import { writeIfCondition } from './dynamodb.ts';

/** Batch markers outlive any redelivery of a log batch (CloudWatch Logs retries for hours, not days). */
const MARKER_TTL_SECONDS = 7 * 86_400;

export class DynamoOutcomeStore implements OutcomeStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tables: { readonly usageEvents: string; readonly counters: string },
    private readonly now: () => number = Date.now,
  ) {}

  async voidEvent(requestId: string, reason: VoidReason): Promise<'voided' | 'unchanged'> {
    const voided = await writeIfCondition(() =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tables.usageEvents,
          Key: { requestId },
          UpdateExpression: 'SET voided = :true, voidReason = :reason',
          ConditionExpression: 'attribute_exists(requestId) AND attribute_not_exists(voided)',
          ExpressionAttributeValues: { ':true': true, ':reason': reason },
        }),
      ),
    );
    return voided ? 'voided' : 'unchanged';
  }

  async addOutcomeCounts(batchId: string, counts: readonly OutcomeCount[]): Promise<'added' | 'duplicate'> {
    let added = false;
    // One transaction per chunk, each with its own marker: a retry after a partial failure adds only what is missing.
    for (let i = 0, chunk = 0; i < Math.max(counts.length, 1); i += MAX_COUNTERS_PER_TRANSACTION, chunk++) {
      const slice = counts.slice(i, i + MAX_COUNTERS_PER_TRANSACTION);
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.tables.counters,
                  Item: { pk: `OUTCOMEBATCH#${batchId}`, sk: `CHUNK#${chunk}`, expiresAt: Math.floor(this.now() / 1000) + MARKER_TTL_SECONDS },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              ...slice.map((c) => ({
                Update: {
                  TableName: this.tables.counters,
                  Key: { pk: `CUSTOMER#${c.customerId}`, sk: `OUTCOME#${c.hour}` },
                  UpdateExpression: 'ADD s2xx :a, s4xx :b, s5xx :c',
                  ExpressionAttributeValues: { ':a': c.s2xx, ':b': c.s4xx, ':c': c.s5xx },
                },
              })),
            ],
          }),
        );
        added = true;
      } catch (error) {
        const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
        if (reasons[0]?.Code !== 'ConditionalCheckFailed') throw error;
      }
    }
    return added ? 'added' : 'duplicate';
  }
}
