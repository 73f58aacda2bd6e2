/** Where the running local stack says what it is, so the CLI (another process) can find it. */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as z from 'zod';

const ROOT = resolve(__dirname, '..');
/** Default home of the local stack's files: state, gateway keys, access log. */
export const LOCAL_DIR = process.env.API_BILLING_LOCAL_DIR ?? join(ROOT, '.local');

export const LocalStackStateSchema = z.object({
  pid: z.number().int(),
  dynamoDbEndpoint: z.string().url(),
  gatewayUrl: z.string().url(),
  gatewayKeysFile: z.string(),
  accessLogFile: z.string(),
  deadLetterFile: z.string(),
  /** Where alerts go (one JSON line each): the CLI's reconciliation alerts too. */
  alertsFile: z.string(),
  /** The local Stripe, unless STRIPE_SECRET_KEY pointed the stack at Stripe's test mode. */
  stripeApiBase: z.string().url().optional(),
  tables: z.object({ customers: z.string(), apiKeys: z.string(), usageEvents: z.string(), counters: z.string(), billing: z.string() }),
});
export type LocalStackState = z.infer<typeof LocalStackStateSchema>;

export function stateFile(dir: string = LOCAL_DIR): string {
  return join(dir, 'stack.json');
}

export function writeLocalState(state: LocalStackState, dir: string = LOCAL_DIR): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 2));
}

export function clearLocalState(dir: string = LOCAL_DIR): void {
  rmSync(stateFile(dir), { force: true });
}

/** The running local stack, or `undefined` when none is running (or the last one died). */
export function readLocalState(dir: string = LOCAL_DIR): LocalStackState | undefined {
  const file = stateFile(dir);
  if (!existsSync(file)) return undefined;
  const state = LocalStackStateSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  try {
    process.kill(state.pid, 0);
  } catch {
    return undefined; // its process is gone
  }
  return state;
}
