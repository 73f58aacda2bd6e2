/** Kept Checkout sessions and their creation claims, one item per customer and offer in the Billing table. */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CheckoutSessionStore, KeptCheckout } from '#core/checkout-reuse.ts';
import { queryAll, writeIfCondition } from './dynamodb.ts';

const key = (customerId: string, offer: string) => ({ pk: `CHECKOUT#${customerId}`, sk: offer });

export class DynamoCheckoutSessionStore implements CheckoutSessionStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly billingTable: string,
  ) {}

  async get(customerId: string, offer: string): Promise<KeptCheckout | undefined> {
    const item = (await this.doc.send(new GetCommand({ TableName: this.billingTable, Key: key(customerId, offer), ConsistentRead: true }))).Item;
    if (!item || typeof item.url !== 'string') return undefined; // absent, or only a claim so far
    return { url: item.url, sessionId: item.sessionId as string, reuseUntil: item.reuseUntil as number };
  }

  async claim(customerId: string, offer: string, now: number, claimUntil: number) {
    return writeIfCondition(() =>
      this.doc.send(
        new PutCommand({
          TableName: this.billingTable,
          // The claim replaces a spent session; it expires by TTL a day after it lapses if never replaced.
          Item: { ...key(customerId, offer), claimedUntil: claimUntil, expiresAt: Math.floor(claimUntil / 1000) + 86_400 },
          ConditionExpression:
            'attribute_not_exists(pk) OR ((attribute_not_exists(reuseUntil) OR reuseUntil <= :now) AND (attribute_not_exists(claimedUntil) OR claimedUntil <= :now))',
          ExpressionAttributeValues: { ':now': now },
        }),
      ),
    );
  }

  async keep(customerId: string, offer: string, session: KeptCheckout, expiresAtSec: number) {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.billingTable,
        Key: key(customerId, offer),
        UpdateExpression: 'SET #url = :url, sessionId = :sessionId, reuseUntil = :reuseUntil, expiresAt = :expiresAt REMOVE claimedUntil',
        ExpressionAttributeNames: { '#url': 'url' },
        // Deleted by TTL a day after Stripe expires the session.
        ExpressionAttributeValues: {
          ':url': session.url,
          ':sessionId': session.sessionId,
          ':reuseUntil': session.reuseUntil,
          ':expiresAt': expiresAtSec + 86_400,
        },
      }),
    );
  }

  async forget(customerId: string, sessionId: string) {
    // The customer's few offers (prices and return URLs); each one that still keeps this session is
    // deleted on that condition, so a session or claim that replaced it meanwhile stays.
    const items = await queryAll(this.doc, {
      TableName: this.billingTable,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `CHECKOUT#${customerId}` },
      ProjectionExpression: 'sk, sessionId',
      ConsistentRead: true,
    });
    let dropped = 0;
    for (const item of items.filter((i) => i.sessionId === sessionId)) {
      const deleted = await writeIfCondition(() =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.billingTable,
            Key: key(customerId, item.sk as string),
            ConditionExpression: 'sessionId = :sessionId',
            ExpressionAttributeValues: { ':sessionId': sessionId },
          }),
        ),
      );
      if (deleted) dropped++;
    }
    return dropped;
  }
}
