/** Billing support tickets in the Billing table (one partition: tickets are few). */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Ticket, TicketStatus, TicketStore } from '#core/tickets.ts';
import { writeIfCondition } from './dynamodb.ts';

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
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.billingTable,
        KeyConditionExpression: 'pk = :t',
        ExpressionAttributeValues: { ':t': 'TICKET' },
        ConsistentRead: true,
      }),
    );
    return (result.Items ?? []).map(({ pk: _pk, sk: _sk, ...ticket }) => ticket as Ticket);
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

  private conditional(update: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>) {
    return writeIfCondition(() => this.doc.send(new UpdateCommand({ TableName: this.billingTable, ...update })));
  }
}
