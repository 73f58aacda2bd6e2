import { DeleteCommand, PutCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { GatewayKeyRetirementStore, RetiringGatewayKey } from '#core/ports.ts';

/** One partition, sorted by due time: the cleanup reads what is due without scanning customers. */
const PK = 'GATEWAY_KEYS_TO_DELETE';

/** `<deleteAfter ISO>#<customerId>#id:<keyId>|name:<name>`: the same entry always has the same key. */
function sortKey(entry: RetiringGatewayKey): string {
  const ref = 'gatewayKeyId' in entry.key ? `id:${entry.key.gatewayKeyId}` : `name:${entry.key.name}`;
  return `${new Date(entry.deleteAfter).toISOString()}#${entry.customerId}#${ref}`;
}

function item(entry: RetiringGatewayKey) {
  return { pk: PK, sk: sortKey(entry), customerId: entry.customerId, key: entry.key, tier: entry.tier, deleteAfter: entry.deleteAfter, reason: entry.reason };
}

/**
 * Gateway keys to delete, in the Billing table, and the customer's switch to a new key in the
 * Customers table, written together in one transaction.
 */
export class DynamoGatewayKeyRetirementStore implements GatewayKeyRetirementStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tables: { readonly customers: string; readonly billing: string },
  ) {}

  async schedule(entry: RetiringGatewayKey): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tables.billing, Item: item(entry) }));
  }

  async switchKey(input: Parameters<GatewayKeyRetirementStore['switchKey']>[0]): Promise<boolean> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tables.customers,
                Key: { customerId: input.customerId },
                UpdateExpression: 'SET tier = :tier, gatewayKeyId = :id, gatewayKeyValue = :value, gatewayKeyName = :name',
                // Only from the key this change replaces: a concurrent change must not be overwritten (its old key would never be retired).
                ConditionExpression: 'gatewayKeyId = :from',
                ExpressionAttributeValues: {
                  ':tier': input.to.tier,
                  ':id': input.to.gatewayKeyId,
                  ':value': input.to.gatewayKeyValue,
                  ':name': input.to.name,
                  ':from': input.fromGatewayKeyId,
                },
              },
            },
            { Delete: { TableName: this.tables.billing, Key: { pk: PK, sk: sortKey(input.unfinished) } } },
            { Put: { TableName: this.tables.billing, Item: item(input.retire) } },
          ],
        }),
      );
      return true;
    } catch (error) {
      const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons;
      if (error instanceof Error && error.name === 'TransactionCanceledException' && reasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
      throw error;
    }
  }

  async due(now: number, limit: number): Promise<RetiringGatewayKey[]> {
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.billing,
        // Every sort key of an entry due at `now` sorts before the next millisecond's timestamp.
        KeyConditionExpression: 'pk = :pk AND sk < :next',
        ExpressionAttributeValues: { ':pk': PK, ':next': new Date(now + 1).toISOString() },
        ConsistentRead: true,
        Limit: limit,
      }),
    );
    return (result.Items ?? []).map(
      (i) => ({ customerId: i.customerId, key: i.key, tier: i.tier, deleteAfter: i.deleteAfter, reason: i.reason }) as RetiringGatewayKey,
    );
  }

  async forget(entry: RetiringGatewayKey): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.tables.billing, Key: { pk: PK, sk: sortKey(entry) } }));
  }
}
