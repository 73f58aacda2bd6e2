/**
 * Creates the product's tables on DynamoDB Local from the synthesized CloudFormation template,
 * so the local stack and the tests use exactly the key schemas, indexes, streams and TTLs
 * that `cdk deploy` creates, never a hand-written copy.
 */
import { CreateTableCommand, UpdateTimeToLiveCommand, type CreateTableCommandInput, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { App } from 'aws-cdk-lib';
import { ApiBillingStack } from '../lib/api-billing-stack.ts';
import type { TableNames, TableRole } from '../lambdas/adapters/env.ts';

export interface TableDefinition {
  readonly role: TableRole;
  readonly create: Omit<CreateTableCommandInput, 'TableName'>;
  readonly ttlAttribute?: string;
}

interface CfnTable {
  Type: string;
  Metadata?: Record<string, unknown>;
  Properties: {
    KeySchema: CreateTableCommandInput['KeySchema'];
    AttributeDefinitions: CreateTableCommandInput['AttributeDefinitions'];
    GlobalSecondaryIndexes?: Array<{ IndexName: string; KeySchema: unknown; Projection: unknown }>;
    StreamSpecification?: { StreamViewType: string };
    TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
  };
}

/** Synthesizes the stack (without bundling Lambdas) and reads its tables' definitions. */
export function synthesizeTableDefinitions(): TableDefinition[] {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true } });
  const stack = new ApiBillingStack(app, 'ApiBilling');
  const template = app.synth().getStackByName(stack.stackName).template as { Resources: Record<string, CfnTable> };
  const definitions: TableDefinition[] = [];
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::DynamoDB::Table') continue;
    const path = String(resource.Metadata?.['aws:cdk:path'] ?? '');
    const construct = /\/Tables\/([A-Za-z]+)\/Resource$/.exec(path)?.[1];
    if (!construct) throw new Error(`table outside the Tables construct: ${path}`);
    const role = (construct[0]!.toLowerCase() + construct.slice(1)) as TableRole;
    const p = resource.Properties;
    definitions.push({
      role,
      ttlAttribute: p.TimeToLiveSpecification?.Enabled ? p.TimeToLiveSpecification.AttributeName : undefined,
      create: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: p.KeySchema,
        AttributeDefinitions: p.AttributeDefinitions,
        ...(p.GlobalSecondaryIndexes && { GlobalSecondaryIndexes: p.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'] }),
        ...(p.StreamSpecification && {
          StreamSpecification: { StreamEnabled: true, StreamViewType: p.StreamSpecification.StreamViewType as 'NEW_AND_OLD_IMAGES' },
        }),
      },
    });
  }
  return definitions;
}

/**
 * Creates every table under `prefix` and returns their names by role. `timeToLive: false` leaves
 * TTL off: DynamoDB Local deletes expired items by the real clock, so under a simulated clock (the
 * tests', often days in the past) it would delete items mid-run that the simulation still holds
 * live. AWS deletes them "typically within a couple of days", and the product never relies on the
 * deletion (each reader checks its own expiry), so leaving it off changes no outcome.
 */
export async function createTables(
  client: DynamoDBClient,
  definitions: readonly TableDefinition[],
  prefix: string,
  options: { readonly timeToLive?: boolean } = {},
): Promise<TableNames> {
  const names = {} as Record<TableRole, string>;
  await Promise.all(
    definitions.map(async (definition) => {
      const TableName = `${prefix}${definition.role}`;
      await client.send(new CreateTableCommand({ ...definition.create, TableName }));
      if (definition.ttlAttribute && options.timeToLive !== false) {
        await client.send(new UpdateTimeToLiveCommand({ TableName, TimeToLiveSpecification: { AttributeName: definition.ttlAttribute, Enabled: true } }));
      }
      names[definition.role] = TableName;
    }),
  );
  return names;
}
