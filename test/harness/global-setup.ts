/** Starts the run's one DynamoDB Local and synthesizes the table definitions once. */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDynamoDbLocal } from '../../local/dynamodb-local.ts';
import { synthesizeTableDefinitions } from '../../local/tables.ts';
import { bundleCli } from './cli.ts';

export default async function globalSetup(): Promise<void> {
  // Node.js 20 is this project's development runtime; Lambda runs 22. The lockfile pins SDK versions that support both.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const [dynamo, definitions] = await Promise.all([startDynamoDbLocal(), Promise.resolve().then(synthesizeTableDefinitions)]);
  bundleCli();
  const definitionsFile = join(mkdtempSync(join(tmpdir(), 'api-billing-test-')), 'tables.json');
  writeFileSync(definitionsFile, JSON.stringify(definitions));
  process.env.TEST_DYNAMODB_ENDPOINT = dynamo.endpoint;
  process.env.TEST_TABLE_DEFINITIONS = definitionsFile;
  (globalThis as { __dynamoDbLocal?: typeof dynamo }).__dynamoDbLocal = dynamo;
}
