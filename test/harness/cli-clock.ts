/**
 * The operator CLI on a test's clock: for CLI commands that read "this month" (billing status),
 * run against a local stack on `midMonthClock`, so acting and reading agree on any date.
 */
import { join } from 'node:path';
import { cliAt } from './cli.ts';

const PRELOAD = join(__dirname, 'cli-clock-preload.cjs');

/** `cliAt`, with the child's Date.now on `clock` (a clock that runs at the wall clock's pace, such as midMonthClock()). */
export function cliOnClock(localDir: string, clock: () => number, env: Record<string, string> = {}): ReturnType<typeof cliAt> {
  const offset = clock() - Date.now();
  return cliAt(localDir, {
    ...env,
    API_BILLING_TEST_CLOCK_OFFSET_MS: String(offset),
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${PRELOAD}`.trim(),
  });
}
