/** Fresh tables per test on the run's one DynamoDB Local (started by global-setup.ts). */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connectDynamoDb, type DynamoDbConnection } from '../../lambdas/adapters/dynamodb.ts';
import type { TableNames } from '../../lambdas/adapters/env.ts';
import { createTables, type TableDefinition } from '../../local/tables.ts';

export interface TestTables extends DynamoDbConnection {
  readonly endpoint: string;
  readonly tables: TableNames;
}

let definitions: TableDefinition[] | undefined;

/** Creates every product table under a unique prefix. */
export async function freshTables(): Promise<TestTables> {
  const endpoint = process.env.TEST_DYNAMODB_ENDPOINT;
  const file = process.env.TEST_TABLE_DEFINITIONS;
  if (!endpoint || !file) throw new Error('DynamoDB Local is not running: run the tests through jest (globalSetup starts it)');
  definitions ??= JSON.parse(readFileSync(file, 'utf8')) as TableDefinition[];
  const connection = connectDynamoDb({ endpoint });
  // Tests run on simulated clocks: TTL off (see createTables).
  const tables = await createTables(connection.client, definitions, `t${randomUUID().slice(0, 8)}-`, { timeToLive: false });
  return { ...connection, endpoint, tables };
}

/** Environment a handler reads its table names from, as the stack sets it. */
export function tableEnvironment(tables: TableNames): Record<string, string> {
  return {
    CUSTOMERS_TABLE: tables.customers,
    API_KEYS_TABLE: tables.apiKeys,
    USAGE_EVENTS_TABLE: tables.usageEvents,
    COUNTERS_TABLE: tables.counters,
    BILLING_TABLE: tables.billing,
    IDEMPOTENCY_TABLE: tables.idempotency,
  };
}
