/** The experiment's daily snapshots in the Billing table: one item per UTC day under one partition (about 30 per experiment). */
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ExperimentReport } from '#core/experiment.ts';
import type { ExperimentSnapshot, ExperimentSnapshotStore } from '#core/experiment-monitoring.ts';
import { queryAll } from './dynamodb.ts';

/** The partition of the snapshots; the sort key is the day, `YYYY-MM-DD`. */
export const EXPERIMENT_SNAPSHOT_PK = 'EXPERIMENT#SNAPSHOT';

export class DynamoExperimentSnapshots implements ExperimentSnapshotStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly billingTable: string,
  ) {}

  async put(snapshot: ExperimentSnapshot): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.billingTable,
        Item: { pk: EXPERIMENT_SNAPSHOT_PK, sk: snapshot.day, takenAt: new Date(snapshot.takenAt).toISOString(), report: snapshot.report },
      }),
    );
  }

  async latestBefore(day: string): Promise<ExperimentSnapshot | undefined> {
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.billingTable,
        KeyConditionExpression: 'pk = :pk AND sk < :day',
        ExpressionAttributeValues: { ':pk': EXPERIMENT_SNAPSHOT_PK, ':day': day },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    return item && { day: String(item.sk), takenAt: Date.parse(String(item.takenAt)), report: item.report as ExperimentReport };
  }

  /** Every snapshot, oldest first (the report's history; tests). */
  async list(): Promise<ExperimentSnapshot[]> {
    const items = await queryAll(this.doc, {
      TableName: this.billingTable,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': EXPERIMENT_SNAPSHOT_PK },
      ConsistentRead: true,
    });
    return items.map((item) => ({ day: String(item.sk), takenAt: Date.parse(String(item.takenAt)), report: item.report as ExperimentReport }));
  }
}
