import type { Command } from 'commander';
import type { ReconciliationRecord } from '../../lambdas/core/reconciliation.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRows } from '../output.ts';

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const percent = (fraction: number) => `${(fraction * 100).toFixed(3)}%`;
const usd = (cents: number) => `$${(cents / 100).toFixed(2)}`;

/** One row per customer-month: the five figures, what is billed against what should be, and what was done. */
function row(r: ReconciliationRecord) {
  const f = r.before;
  return {
    customer: r.customerId,
    month: r.month,
    served: f.servedCalls ?? '-',
    counted: f.countedCalls,
    billable: f.shouldBeBilledCalls,
    pushed: f.pushedCalls,
    stripe: f.stripeCalls,
    invoice: f.invoice ? `${f.invoice.meteredCalls} (${f.invoice.status}, ${usd(f.invoice.totalCents - f.invoice.creditedCents)})` : '-',
    billed: `${r.billed.calls} ${usd(r.billed.cents)}`,
    should: `${r.shouldBeBilled.calls} ${usd(r.shouldBeBilled.cents)}`,
    status: r.discrepancy ? 'DISCREPANCY' : 'ok',
    corrections: r.corrections.map((c) => `${c.kind} (${c.status})`).join('; ') || '-',
  };
}

/** `reconcile`: the billing error rate, per customer-month, with its corrections (see #core/reconciliation.ts). */
export function registerReconcileCommand(program: Command, connect: () => Promise<CliContext>): void {
  program
    .command('reconcile')
    .description(
      'line up served, counted, pushed, metered and invoiced calls per customer-month; correct what can be corrected; print the billing error rate (exit 1 if anything is still wrong)',
    )
    .option('--customer <customerId>', 'one customer (default: all)')
    .option('--month <YYYY-MM>', 'one calendar month, UTC (default: the previous month and this one)')
    .option('--dry-run', 'show the figures and the corrections it would make; change nothing')
    .option('--deep', 'also recount the raw usage events of customers whose figures agree (a table scan)')
    .option('--since <YYYY-MM>', "the month the experiment's error rate counts from (default: the first customer's month)")
    .option('--json', 'print JSON: every record with its figures, the error rate of this run and of the experiment so far')
    .action(async (options: { customer?: string; month?: string; since?: string; dryRun?: boolean; deep?: boolean; json?: boolean }) => {
      if (options.month !== undefined && !MONTH.test(options.month)) throw new CliError(`--month must look like 2026-11, not "${options.month}"`);
      if (options.since !== undefined && !MONTH.test(options.since)) throw new CliError(`--since must look like 2026-11, not "${options.since}"`);
      const context = await connect();
      if (options.customer && !(await context.store.getCustomer(options.customer))) throw new CliError(`no customer ${options.customer}`);
      const run = await context.billing.reconcile({
        alerts: context.alerts,
        customerId: options.customer,
        months: options.month ? [options.month] : undefined,
        trigger: 'on-demand',
        dryRun: options.dryRun ?? false,
        deep: options.deep ?? false,
      });
      const stillWrong = run.records.filter((r) => r.residual.calls !== 0 || r.residual.cents !== 0);
      // Over every stored record (a dry run stores none): the experiment's billing error rate so far.
      const overall = await context.billing.errorRateSince(options.since);
      if (options.json) {
        console.log(
          JSON.stringify({ months: run.months, dryRun: options.dryRun ?? false, rate: run.rate, experiment: overall, records: run.records }, null, 2),
        );
      } else {
        printRows(run.records.map(row), false);
        for (const r of run.records.filter((x) => x.differences.length))
          for (const d of r.differences) console.log(`${r.customerId} ${r.month}: ${d.detail}${d.explained ? '' : ' (unexplained)'}`);
        const { rate } = run;
        console.log(
          `billing error rate ${percent(rate.rate.calls)} of calls, ${percent(rate.rate.cents)} of cents over ${rate.customerMonths} customer-months (${rate.discrepancies} with a discrepancy); after corrections ${percent(rate.residualRate.calls)} / ${percent(rate.residualRate.cents)}${options.dryRun ? ' (dry run: nothing changed)' : ''}`,
        );
        console.log(
          `since ${overall.fromMonth}: billing error rate ${percent(overall.rate.calls)} of calls, ${percent(overall.rate.cents)} of cents over ${overall.customerMonths} reconciled customer-months (the seed's bar: under 1%, failure above 5%)`,
        );
      }
      if (stillWrong.length && !options.dryRun) process.exitCode = 1;
    });
}
