/** Reading a Lambda's environment once, at cold start, through a schema that names what is wrong. */
import * as z from 'zod';

/** The environment variable under which every Lambda finds each table. */
export const TABLE_ENV = {
  customers: 'CUSTOMERS_TABLE',
  apiKeys: 'API_KEYS_TABLE',
  usageEvents: 'USAGE_EVENTS_TABLE',
  counters: 'COUNTERS_TABLE',
  billing: 'BILLING_TABLE',
  idempotency: 'IDEMPOTENCY_TABLE',
} as const;

export type TableRole = keyof typeof TABLE_ENV;
export type TableNames = Record<TableRole, string>;

/** Parses `env` with `schema`; the error lists every missing or bad variable by name. */
export function readEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
  throw new Error(`Bad Lambda configuration: ${problems.join('; ')}`);
}

/** Schema fragment for the table names a handler needs, e.g. `tableEnv('apiKeys', 'customers')`. */
export function tableEnv<R extends TableRole>(...roles: R[]) {
  return z.object(Object.fromEntries(roles.map((role) => [TABLE_ENV[role], z.string().min(1)])) as Record<(typeof TABLE_ENV)[R], z.ZodString>);
}

/** The table names a handler read with `tableEnv(...roles)`, by role: what the adapters take. */
export function tableNames<R extends TableRole>(env: Record<(typeof TABLE_ENV)[R], string>, ...roles: R[]): Pick<TableNames, R> {
  return Object.fromEntries(roles.map((role) => [role, env[TABLE_ENV[role]]])) as Pick<TableNames, R>;
}
