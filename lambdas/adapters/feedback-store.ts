/**
 * NPS answers and dismissals in the Billing table: the customer's latest one (`CUSTOMER#<id>` /
 * `FEEDBACK`, the survey rule's condition) and every one by month (`FEEDBACK#YYYY-MM` /
 * `<ISO time>#<customerId>`, for the experiment report), written together in one transaction.
 */
import { GetCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FeedbackAnswer, FeedbackEntry, FeedbackStore } from '#core/feedback.ts';
import { utcMonth } from '#core/time.ts';
import { queryAll } from './dynamodb.ts';

const latestKey = (customerId: string) => ({ pk: `CUSTOMER#${customerId}`, sk: 'FEEDBACK' });
const monthKey = (entry: Pick<FeedbackEntry, 'customerId' | 'at'>) => ({
  pk: `FEEDBACK#${utcMonth(entry.at)}`,
  sk: `${new Date(entry.at).toISOString()}#${entry.customerId}`,
});

/** A transaction that lost a race with another on the same item is cancelled with this code; it is tried again. */
const CONFLICT_RETRIES = 3;

export class DynamoFeedbackStore implements FeedbackStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly billingTable: string,
  ) {}

  async last(customerId: string): Promise<FeedbackEntry | undefined> {
    const item = (await this.doc.send(new GetCommand({ TableName: this.billingTable, Key: latestKey(customerId), ConsistentRead: true }))).Item;
    return item ? entryOf(item) : undefined;
  }

  async record(entry: FeedbackEntry, lastAtMost: number): Promise<boolean> {
    const body = { ...entry };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.billingTable,
                  Item: { ...latestKey(entry.customerId), ...body },
                  ConditionExpression: 'attribute_not_exists(pk) OR #at <= :lastAtMost',
                  ExpressionAttributeNames: { '#at': 'at' },
                  ExpressionAttributeValues: { ':lastAtMost': lastAtMost },
                },
              },
              { Put: { TableName: this.billingTable, Item: { ...monthKey(entry), ...body }, ConditionExpression: 'attribute_not_exists(pk)' } },
            ],
          }),
        );
        return true;
      } catch (error) {
        const reasons = ((error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map((r) => r.Code);
        if (!(error instanceof Error) || error.name !== 'TransactionCanceledException') throw error;
        if (reasons.includes('ConditionalCheckFailed')) return false;
        if (reasons.includes('TransactionConflict') && attempt < CONFLICT_RETRIES) continue;
        throw error;
      }
    }
  }

  async answers(fromMs: number, toMs: number): Promise<FeedbackAnswer[]> {
    if (!(fromMs < toMs)) return [];
    const months: string[] = [];
    for (let month = utcMonth(fromMs); month <= utcMonth(toMs - 1); month = nextMonth(month)) months.push(month);
    const pages = await Promise.all(
      months.map((month) =>
        queryAll(this.doc, {
          TableName: this.billingTable,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': `FEEDBACK#${month}`, ':from': new Date(fromMs).toISOString(), ':to': new Date(toMs).toISOString() },
          ConsistentRead: true,
        }),
      ),
    );
    return pages
      .flat()
      .map(entryOf)
      .filter((entry): entry is Extract<FeedbackEntry, { kind: 'answer' }> => entry.kind === 'answer' && entry.at >= fromMs && entry.at < toMs)
      .map(({ customerId, score, comment, at }) => ({ customerId, score, ...(comment !== undefined && { comment }), at }));
  }
}

function entryOf(item: Record<string, unknown>): FeedbackEntry {
  const { pk: _pk, sk: _sk, ...entry } = item;
  return entry as unknown as FeedbackEntry;
}

function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return utcMonth(Date.UTC(y, m, 1));
}
