import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { reportHtml, reportJson, reportMarkdown } from '../../lambdas/core/experiment-report.ts';
import { CliError, type CliContext } from '../context.ts';

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `YYYY-MM-DD` as epoch ms at 00:00 UTC; a CliError for anything else, or a day still to come. */
export function parseFromDay(value: string, now: number): number {
  const match = DAY.exec(value);
  const at = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : Number.NaN;
  // Date.UTC rolls 2026-02-30 over to March: a real day reads back as itself.
  if (!match || Number.isNaN(at) || new Date(at).toISOString().slice(0, 10) !== value)
    throw new CliError(`--from must be a day like 2026-11-01 (UTC), not "${value}"`);
  if (at > now) throw new CliError(`--from ${value} is in the future: the report covers days already begun`);
  return at;
}

/** `report`: the experiment's figures, intervals and verdicts (#core/experiment.ts) as Markdown, JSON or three files. */
export function registerReportCommand(program: Command, connect: () => Promise<CliContext>): void {
  program
    .command('report')
    .description("the experiment's report: each metric with its 95% interval, each success and failure criterion with its verdict, and the overall verdict")
    .option('--from <YYYY-MM-DD>', "the window's first day, UTC (default: the day the beta started, else 30 days ago)")
    .option('--json', 'print JSON instead of Markdown')
    .option('--out <dir>', 'write report.json, report.md and report.html (one self-contained page with charts) to this folder; print their paths')
    .action(async (options: { from?: string; json?: boolean; out?: string }) => {
      const from = options.from === undefined ? undefined : parseFromDay(options.from, Date.now());
      const context = await connect();
      const report = await context.billing.experimentReport({ from });
      if (options.out) {
        const dir = resolve(options.out);
        mkdirSync(dir, { recursive: true });
        const files = [
          ['report.json', `${reportJson(report)}\n`],
          ['report.md', reportMarkdown(report)],
          ['report.html', reportHtml(report, { generatedAt: new Date().toISOString() })],
        ] as const;
        for (const [name, text] of files) {
          writeFileSync(join(dir, name), text);
          console.log(join(dir, name));
        }
        return;
      }
      console.log(options.json ? reportJson(report) : reportMarkdown(report).trimEnd());
    });
}
