/**
 * Runs the operator CLI as an operator does: a child process with its own environment, its
 * output and exit code observed. The CLI is bundled once per run (globalSetup) with esbuild, as
 * the stack's Lambdas are, so a command starts in a third of tsx's time on a busy machine.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

const ROOT = resolve(__dirname, '../..');
const BUNDLE_DIR = join(ROOT, 'test-output/cli-bundle');

/** Bundles cli/main.ts beside the project's node_modules (packages stay external). */
export function bundleCli(): void {
  buildSync({
    entryPoints: [join(ROOT, 'cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    packages: 'external',
    outfile: join(BUNDLE_DIR, 'main.cjs'),
    logLevel: 'warning',
  });
  // As cli/bin.js does: run main() with the process's own argv.
  writeFileSync(join(BUNDLE_DIR, 'run.cjs'), "require('./main.cjs').main();\n");
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI bound to a local stack's folder (`API_BILLING_LOCAL_DIR`) and any other environment. */
export function cliAt(localDir: string, env: Record<string, string> = {}): (...args: string[]) => Promise<CliResult> {
  return (...args) =>
    new Promise((done) => {
      execFile(
        process.execPath,
        [join(BUNDLE_DIR, 'run.cjs'), ...args],
        { env: { ...process.env, API_BILLING_LOCAL_DIR: localDir, ...env } },
        (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
}
