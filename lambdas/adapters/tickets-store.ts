/** Billing support tickets in the Billing table (one partition: tickets are few), and each customer's filings per hour. */
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Ticket, TicketStatus, TicketStore } from '#core/tickets.ts';
import { queryAll, writeIfCondition } from './dynamodb.ts';

const key = (ticketId: string) => ({ pk: 'TICKET', sk: ticketId });

export class DynamoTicketStore implements TicketStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly billingTable: string,
  ) {}

  async create(ticket: Ticket) {
    await this.doc.send(
      new PutCommand({ TableName: this.billingTable, Item: { ...key(ticket.ticketId), ...ticket }, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
  }

  async list(): Promise<Ticket[]> {
    // Every page: one Query stops at 1 MB, and escalation would silently skip the tickets past it.
    const items = await queryAll(this.doc, {
      TableName: this.billingTable,
      KeyConditionExpression: 'pk = :t',
      ExpressionAttributeValues: { ':t': 'TICKET' },
      ConsistentRead: true,
    });
    return items.map(({ pk: _pk, sk: _sk, ...ticket }) => ticket as unknown as Ticket);
  }

  async get(ticketId: string) {
    const item = (await this.doc.send(new GetCommand({ TableName: this.billingTable, Key: key(ticketId), ConsistentRead: true }))).Item;
    if (!item) return undefined;
    const { pk: _pk, sk: _sk, ...ticket } = item;
    return ticket as Ticket;
  }

  async transition(ticketId: string, from: readonly TicketStatus[], change: Partial<Ticket>) {
    const names = Object.keys(change);
    return this.conditional({
      Key: key(ticketId),
      UpdateExpression: `SET ${names.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
      ConditionExpression: `#status IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
      ExpressionAttributeNames: { '#status': 'status', ...Object.fromEntries(names.map((n, i) => [`#f${i}`, n])) },
      ExpressionAttributeValues: {
        ...Object.fromEntries(names.map((n, i) => [`:v${i}`, change[n as keyof Ticket]])),
        ...Object.fromEntries(from.map((s, i) => [`:from${i}`, s])),
      },
    });
  }

  async markEscalated(ticketId: string, at: number) {
    return this.conditional({
      Key: key(ticketId),
      UpdateExpression: 'SET escalatedAt = :at',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(escalatedAt)',
      ExpressionAttributeValues: { ':at': at },
    });
  }

  async takeFilingSlot(customerId: string, hourStart: number, limit: number) {
    // One counter item per customer and hour, its own partition (a flood from one key stays on
    // its item); it expires a day after its hour.
    return this.conditional({
      Key: { pk: `TICKET-FILINGS#${customerId}`, sk: new Date(hourStart).toISOString().slice(0, 13) },
      UpdateExpression: 'ADD filings :one SET expiresAt = if_not_exists(expiresAt, :expiresAt)',
      ConditionExpression: 'attribute_not_exists(filings) OR filings < :limit',
      ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':expiresAt': Math.floor(hourStart / 1000) + 86_400 },
    });
  }

  private conditional(update: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>) {
    return writeIfCondition(() => this.doc.send(new UpdateCommand({ TableName: this.billingTable, ...update })));
  }
}
