/** Product-wide billing state in the Billing table (pk/sk). */
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { BillingStateStore, CatalogIds, PauseState } from '#core/ports.ts';
import type { ExperimentState } from '#core/experiment.ts';
import { writeIfCondition } from './dynamodb.ts';

const CATALOG = { pk: 'CONFIG', sk: 'CATALOG' };
const PAUSE = { pk: 'CONFIG', sk: 'PAUSE' };
const EXPERIMENT = { pk: 'CONFIG', sk: 'EXPERIMENT' };

export class DynamoBillingStateStore implements BillingStateStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly billingTable: string,
  ) {}

  private async get<T>(key: Record<string, string>): Promise<T | undefined> {
    const result = await this.doc.send(new GetCommand({ TableName: this.billingTable, Key: key, ConsistentRead: true }));
    return result.Item as T | undefined;
  }

  async getCatalogIds(): Promise<CatalogIds | undefined> {
    const item = await this.get<CatalogIds>(CATALOG);
    return item && { meterId: item.meterId, priceIds: item.priceIds, ...(item.portalConfigurationId && { portalConfigurationId: item.portalConfigurationId }) };
  }

  async putCatalogIds(ids: CatalogIds): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.billingTable, Item: { ...CATALOG, ...ids } }));
  }

  async getPause(): Promise<PauseState | undefined> {
    const item = await this.get<PauseState>(PAUSE);
    return item && { paused: item.paused, by: item.by, reason: item.reason, at: item.at };
  }

  async setPause(state: PauseState): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.billingTable, Item: { ...PAUSE, ...state } }));
  }

  /** A Query, not a GetItem: the usage Lambda reads it too, and holds Query alone on this table. */
  async getExperiment(): Promise<ExperimentState | undefined> {
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.billingTable,
        KeyConditionExpression: 'pk = :pk AND sk = :sk',
        ExpressionAttributeValues: { ':pk': EXPERIMENT.pk, ':sk': EXPERIMENT.sk },
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    if (!item) return undefined;
    const { pk: _pk, sk: _sk, ...state } = item;
    return state as ExperimentState;
  }

  /** Moves the experiment to `next`, only if it is still in phase `from` (two operators cannot both start it); false when it moved. */
  putExperiment(next: ExperimentState, from: ExperimentState['phase']): Promise<boolean> {
    return writeIfCondition(() =>
      this.doc.send(
        new PutCommand({
          TableName: this.billingTable,
          Item: { ...EXPERIMENT, ...next },
          ConditionExpression: from === 'planned' ? 'attribute_not_exists(pk) OR phase = :from' : 'phase = :from',
          ExpressionAttributeValues: { ':from': from },
        }),
      ),
    );
  }

  async recordInvoice(invoice: {
    invoiceId: string;
    customerId: string;
    month: string;
    status: string;
    amountDueCents: number;
    amountPaidCents: number;
    at: number;
  }): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.billingTable,
        Item: { pk: `CUSTOMER#${invoice.customerId}`, sk: `INVOICE#${invoice.month}#${invoice.invoiceId}`, ...invoice, at: new Date(invoice.at).toISOString() },
      }),
    );
  }

  /** Amount due of each month's invoices (`YYYY-MM` -> cents), from the invoices the webhooks recorded. */
  async invoicedByMonth(customerId: string): Promise<Record<string, number>> {
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.billingTable,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `CUSTOMER#${customerId}`, ':prefix': 'INVOICE#' },
      }),
    );
    const byMonth: Record<string, number> = {};
    for (const item of result.Items ?? []) byMonth[String(item.month)] = (byMonth[String(item.month)] ?? 0) + Number(item.amountDueCents ?? 0);
    return byMonth;
  }

  /** Records a one-off marker (an alert sent); false when it exists already. */
  markOnce(customerId: string, key: string, at: number): Promise<boolean> {
    return writeIfCondition(() =>
      this.doc.send(
        new PutCommand({
          TableName: this.billingTable,
          Item: { pk: `CUSTOMER#${customerId}`, sk: `ALERT#${key}`, at: new Date(at).toISOString() },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  /** An operator's action, kept with who, when and why. */
  async audit(entry: { customerId?: string; action: string; by: string; reason: string; at: number; details?: Record<string, unknown> }): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.billingTable,
        Item: {
          pk: entry.customerId ? `CUSTOMER#${entry.customerId}` : 'AUDIT',
          sk: `AUDIT#${new Date(entry.at).toISOString()}#${entry.action}`,
          ...entry,
          at: new Date(entry.at).toISOString(),
        },
      }),
    );
  }

  /** The audit records of one customer (or of the product-wide actions), oldest first. */
  async auditLog(customerId?: string): Promise<Array<Record<string, unknown>>> {
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.billingTable,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
        ExpressionAttributeValues: { ':pk': customerId ? `CUSTOMER#${customerId}` : 'AUDIT', ':audit': 'AUDIT#' },
      }),
    );
    return (result.Items ?? []).map(({ pk: _pk, sk: _sk, ...entry }) => entry);
  }
}
