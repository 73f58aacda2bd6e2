/** Starts the run's one DynamoDB Local and synthesizes the table definitions once. */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDynamoDbLocal } from '../../local/dynamodb-local.ts';
import { synthesizeTableDefinitions } from '../../local/tables.ts';

export default async function globalSetup(): Promise<void> {
  const [dynamo, definitions] = await Promise.all([startDynamoDbLocal(), Promise.resolve().then(synthesizeTableDefinitions)]);
  const definitionsFile = join(mkdtempSync(join(tmpdir(), 'api-billing-test-')), 'tables.json');
  writeFileSync(definitionsFile, JSON.stringify(definitions));
  process.env.TEST_DYNAMODB_ENDPOINT = dynamo.endpoint;
  process.env.TEST_TABLE_DEFINITIONS = definitionsFile;
  (globalThis as { __dynamoDbLocal?: typeof dynamo }).__dynamoDbLocal = dynamo;
}
