import { GetCommand, QueryCommand, ScanCommand, TransactWriteCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ApiKeyRecord, Customer } from '#core/model.ts';
import type { CustomerRegistry, KeyDirectory, KeyLookup } from '#core/ports.ts';
import { writeIfCondition } from './dynamodb.ts';

/** Customers and API keys in DynamoDB: the key directory the authorizer reads and the registry the CLI writes. */
export class DynamoCustomerStore implements KeyDirectory, CustomerRegistry {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tables: { readonly customers: string; readonly apiKeys: string },
  ) {}

  async lookup(keyHash: string): Promise<KeyLookup> {
    const key = (await this.doc.send(new GetCommand({ TableName: this.tables.apiKeys, Key: { keyHash } }))).Item as ApiKeyRecord | undefined;
    if (!key) return { kind: 'unknown' };
    const customer = await this.getCustomer(key.customerId);
    // A key whose customer is gone is as good as unknown.
    return customer ? { kind: 'found', key, customer } : { kind: 'unknown' };
  }

  async getCustomer(customerId: string): Promise<Customer | undefined> {
    const result = await this.doc.send(new GetCommand({ TableName: this.tables.customers, Key: { customerId } }));
    return result.Item as Customer | undefined;
  }

  async createCustomerWithKey(customer: Customer, key: ApiKeyRecord): Promise<void> {
    await this.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: this.tables.customers, Item: customer, ConditionExpression: 'attribute_not_exists(customerId)' } },
          { Put: { TableName: this.tables.apiKeys, Item: key, ConditionExpression: 'attribute_not_exists(keyHash)' } },
        ],
      }),
    );
  }

  async findByStripeCustomerId(stripeCustomerId: string): Promise<Customer | undefined> {
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.customers,
        IndexName: 'byStripeCustomer',
        KeyConditionExpression: 'stripeCustomerId = :s',
        ExpressionAttributeValues: { ':s': stripeCustomerId },
      }),
    );
    return result.Items?.[0] as Customer | undefined;
  }

  listCustomers(): Promise<Customer[]> {
    return scanCustomers(this.doc, this.tables.customers);
  }

  async updateCustomer(customerId: string, fields: Partial<Omit<Customer, 'customerId'>>): Promise<boolean> {
    const entries = Object.entries(fields);
    if (entries.length === 0) return Boolean(await this.getCustomer(customerId));
    // An undefined field is removed: `{ subscriptionId: undefined }` clears it.
    const set = entries.filter(([, v]) => v !== undefined).map(([name, value], i) => ({ name, value, i }));
    const remove = entries.filter(([, v]) => v === undefined).map(([name], i) => ({ name, i: i + set.length }));
    const clauses = [
      set.length ? `SET ${set.map((f) => `#f${f.i} = :v${f.i}`).join(', ')}` : '',
      remove.length ? `REMOVE ${remove.map((f) => `#f${f.i}`).join(', ')}` : '',
    ];
    return writeIfCondition(() =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tables.customers,
          Key: { customerId },
          UpdateExpression: clauses.filter(Boolean).join(' '),
          ConditionExpression: 'attribute_exists(customerId)',
          ExpressionAttributeNames: Object.fromEntries([...set, ...remove].map((f) => [`#f${f.i}`, f.name])),
          ...(set.length && { ExpressionAttributeValues: Object.fromEntries(set.map((f) => [`:v${f.i}`, f.value])) }),
        }),
      ),
    );
  }

  async listKeys(customerId: string): Promise<ApiKeyRecord[]> {
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.apiKeys,
        IndexName: 'byCustomer',
        KeyConditionExpression: 'customerId = :c',
        ExpressionAttributeValues: { ':c': customerId },
      }),
    );
    return (result.Items ?? []) as ApiKeyRecord[];
  }

  async addKey(key: ApiKeyRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tables.apiKeys, Item: key, ConditionExpression: 'attribute_not_exists(keyHash)' }));
  }

  async revokeKey(customerId: string, keyId: string, revokedAt: string): Promise<boolean> {
    const key = (await this.listKeys(customerId)).find((k) => k.keyId === keyId);
    if (!key) return false;
    return writeIfCondition(() =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tables.apiKeys,
          Key: { keyHash: key.keyHash },
          UpdateExpression: 'SET #status = :revoked, revokedAt = if_not_exists(revokedAt, :at)',
          ConditionExpression: 'customerId = :c',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':revoked': 'revoked', ':at': revokedAt, ':c': customerId },
        }),
      ),
    );
  }
}

/** Every customer, oldest first (a Scan of the Customers table): for readers that need no API keys (the experiment's daily run). */
export async function scanCustomers(doc: DynamoDBDocumentClient, customersTable: string): Promise<Customer[]> {
  const customers: Customer[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ TableName: customersTable, ExclusiveStartKey }));
    customers.push(...((page.Items ?? []) as Customer[]));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return customers.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}
