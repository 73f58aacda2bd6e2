/** The Stripe sync's state in DynamoDB: the outbox per customer and month (Billing table), and settled usage (Counters table). */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PendingPush, PushAttempt, SyncState, SyncStateStore, UsageReader } from '#core/sync.ts';
import type { HourCount } from '#core/usage-report.ts';
import type { MonthlyCallCounter } from '#core/metering.ts';
import { queryAll, writeIfCondition } from './dynamodb.ts';

const syncKey = (customerId: string, month: string) => ({ pk: `CUSTOMER#${customerId}`, sk: `SYNC#${month}` });

/**
 * The attempt a pending entry adds to the month's list. At most one meter event per run and
 * customer-month, on settled hours: a few hundred entries a month, far below DynamoDB's item limit.
 */
const attemptValues = (entry: PendingPush) => ({
  ':none': [],
  ':attempt': [{ identifier: entry.identifier, value: entry.value, at: entry.createdAt } satisfies PushAttempt],
});

export class DynamoSyncStateStore implements SyncStateStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly billingTable: string,
  ) {}

  async get(customerId: string, month: string): Promise<SyncState | undefined> {
    const result = await this.doc.send(new GetCommand({ TableName: this.billingTable, Key: syncKey(customerId, month), ConsistentRead: true }));
    if (!result.Item) return undefined;
    const { pushedCalls, seq, pending, attempts } = result.Item as SyncState;
    return { pushedCalls: pushedCalls ?? 0, seq: seq ?? 0, ...(pending && { pending }), ...(attempts && { attempts }) };
  }

  async reserve(customerId: string, month: string, expectedSeq: number, entry: PendingPush): Promise<boolean> {
    return this.conditional({
      UpdateExpression:
        'SET pending = :entry, seq = :next, updatedAt = :at, attempts = list_append(if_not_exists(attempts, :none), :attempt) ADD pushedCalls :value',
      ConditionExpression:
        expectedSeq === 0 ? 'attribute_not_exists(seq) OR (seq = :seq AND attribute_not_exists(pending))' : 'seq = :seq AND attribute_not_exists(pending)',
      ExpressionAttributeValues: {
        ':entry': entry,
        ':next': expectedSeq + 1,
        ':seq': expectedSeq,
        ':value': entry.value,
        ':at': new Date(entry.createdAt).toISOString(),
        ...attemptValues(entry),
      },
      Key: syncKey(customerId, month),
    });
  }

  async markSent(customerId: string, month: string, identifier: string): Promise<void> {
    await this.conditional({
      UpdateExpression: 'REMOVE pending SET lastSent = :id',
      ConditionExpression: 'pending.identifier = :id',
      ExpressionAttributeValues: { ':id': identifier },
      Key: syncKey(customerId, month),
    });
  }

  async replacePending(customerId: string, month: string, oldIdentifier: string, entry: PendingPush): Promise<boolean> {
    return this.conditional({
      UpdateExpression: 'SET pending = :entry, attempts = list_append(if_not_exists(attempts, :none), :attempt)',
      ConditionExpression: 'pending.identifier = :old',
      ExpressionAttributeValues: { ':entry': entry, ':old': oldIdentifier, ...attemptValues(entry) },
      Key: syncKey(customerId, month),
    });
  }

  async recordAttempt(customerId: string, month: string, attempt: PushAttempt): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.billingTable,
        Key: syncKey(customerId, month),
        UpdateExpression: 'SET attempts = list_append(if_not_exists(attempts, :none), :attempt)',
        ExpressionAttributeValues: { ':none': [], ':attempt': [attempt] },
      }),
    );
  }

  private conditional(update: {
    UpdateExpression: string;
    ConditionExpression: string;
    ExpressionAttributeValues: Record<string, unknown>;
    Key: Record<string, string>;
  }): Promise<boolean> {
    return writeIfCondition(() => this.doc.send(new UpdateCommand({ TableName: this.billingTable, ...update })));
  }
}

/** Billable calls from the counters the aggregator keeps. */
export class CounterUsageReader implements UsageReader, MonthlyCallCounter {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly countersTable: string,
  ) {}

  async billableCalls(customerId: string, month: string, beforeHour?: string): Promise<number> {
    const items = await queryAll(this.doc, {
      TableName: this.countersTable,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      // `~` sorts after every digit: the whole month when no cut-off is given.
      ExpressionAttributeValues: { ':pk': `CUSTOMER#${customerId}`, ':from': `HOUR#${month}`, ':to': beforeHour ? `HOUR#${beforeHour}` : `HOUR#${month}~` },
      ProjectionExpression: 'sk, billable',
      ConsistentRead: true,
    });
    return items.filter((item) => !beforeHour || String(item.sk) < `HOUR#${beforeHour}`).reduce((total, item) => total + Number(item.billable ?? 0), 0);
  }

  /**
   * The month item: one small read, for the authorizer's X-RateLimit-* figures only. Every figure
   * that is billed or shown as the bill (sync, guardrails, usage report, CLI) sums the hour
   * counters (`billableCalls`, `hourly`), which the month item can briefly trail while a batch
   * wider than one transaction is being applied.
   */
  async callsThisMonth(customerId: string, month: string): Promise<number> {
    const result = await this.doc.send(new GetCommand({ TableName: this.countersTable, Key: { pk: `CUSTOMER#${customerId}`, sk: `MONTH#${month}` } }));
    return Number(result.Item?.billable ?? 0);
  }

  /** Billable calls per hour in [fromHour, toHour). */
  async hourly(customerId: string, fromHour: string, toHour: string): Promise<HourCount[]> {
    const items = await queryAll(this.doc, {
      TableName: this.countersTable,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': `CUSTOMER#${customerId}`, ':from': `HOUR#${fromHour}`, ':to': `HOUR#${toHour}` },
      ProjectionExpression: 'sk, billable',
    });
    return items.map((item) => ({ hour: String(item.sk).slice('HOUR#'.length), billable: Number(item.billable ?? 0) })).filter((h) => h.hour < toHour);
  }
}
