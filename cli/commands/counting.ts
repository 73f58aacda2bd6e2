import { invoiceSource } from '../../lambdas/core/customer-billing.ts';
import type { Command } from 'commander';
import { DynamoRecountSources } from '../../lambdas/adapters/recount-sources.ts';
import { recountMonth } from '../../lambdas/core/recount.ts';
import { usageReport, type MonthReconciliation } from '../../lambdas/core/usage-report.ts';
import { dynamoUsageHistory } from '../../lambdas/adapters/usage-history.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRecord, printRows } from '../output.ts';

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/** `recount` and `dlq replay`: the counters checked against the raw events, and the aggregator's dead letters replayed. */
export function registerCountingCommands(program: Command, connect: () => Promise<CliContext>): void {
  program
    .command('recount')
    .description("recount a customer's month from the raw events and print any difference from the counters (exit 1 if any)")
    .requiredOption('--customer <customerId>')
    .option('--month <YYYY-MM>', 'calendar month (UTC)', utcMonth(Date.now()))
    .option('--json', 'print JSON')
    .action(async (options: { customer: string; month: string; json?: boolean }) => {
      if (!MONTH.test(options.month)) throw new CliError(`--month must look like 2026-11, not "${options.month}"`);
      const context = await connect();
      if (!(await context.store.getCustomer(options.customer))) throw new CliError(`no customer ${options.customer}`);
      const result = await recountMonth(options.customer, options.month, new DynamoRecountSources(context.doc, context.tables));
      if (options.json) console.log(JSON.stringify(result, null, 2));
      else {
        printRecord(
          {
            customerId: result.customerId,
            month: result.month,
            counted: `${result.counted.billable} billable, ${result.counted.voided} voided`,
            recounted: `${result.recounted.billable} billable, ${result.recounted.voided} voided`,
            differences: result.differences.length,
          },
          false,
        );
        if (result.differences.length)
          printRows(
            result.differences.map((d) => ({ period: d.period, counted: JSON.stringify(d.counted), recounted: JSON.stringify(d.recounted) })),
            false,
          );
      }
      if (result.differences.length) process.exitCode = 1;
    });
}

/** `usage show`: what the customer's dashboard shows, for the operator. */
export function registerUsageCommand(program: Command, connect: () => Promise<CliContext>): void {
  program
    .command('usage')
    .description("a customer's usage")
    .command('show')
    .description("this month's calls, quota, estimated bill with its breakdown, cap, grandfathering and last months")
    .requiredOption('--customer <customerId>')
    .option('--json', 'print JSON')
    .action(async (options: { customer: string; json?: boolean }) => {
      const context = await connect();
      const customer = await context.store.getCustomer(options.customer);
      if (!customer) throw new CliError(`no customer ${options.customer}`);
      // With the customer's Stripe invoices, as the usage API lists them.
      const history = dynamoUsageHistory(context.doc, context.tables, invoiceSource(context.billing.provider));
      const report = await usageReport(customer, history, context.billing.config, Date.now());
      if (options.json) return void console.log(JSON.stringify(report, null, 2));
      printRecord(
        {
          customerId: report.customerId,
          tier: report.tier,
          plan: report.plan.pendingChange ? `moving to ${report.plan.pendingChange.to} at ${report.plan.pendingChange.at} (the customer's opt-out)` : undefined,
          status: customer.status + (customer.cappedMonth === report.month ? ' (blocked at its cap)' : ''),
          month: report.month,
          calls: report.calls,
          quota: report.quota ? `${report.quota.remaining} of ${report.quota.limit} left` : 'none',
          estimate: `$${(report.estimate.totalCents / 100).toFixed(2)}`,
          cap: `${report.cap.usedPercent}% of $${(report.cap.capCents / 100).toFixed(2)} (${report.cap.state}, ${report.cap.behaviour})`,
          reconciliation: reconciliationLine(report.reconciliation),
          ...(report.paymentIssue && { payment: report.paymentIssue.message }),
        },
        false,
      );
      for (const correction of report.reconciliation?.corrections ?? []) console.log(`  corrected: ${correction}`);
      printRows(
        report.estimate.lines.map((l) => ({ line: l.description, quantity: l.quantity, amount: `$${(l.amountCents / 100).toFixed(2)}` })),
        false,
      );
      printRows(
        report.previousMonths.map((m) => ({ month: m.month, calls: m.calls, reconciliation: reconciliationLine(m.reconciliation) })),
        false,
      );
    });
}

/** The month's reconciliation as the dashboard words it: "metered N calls · billed N calls, checked <UTC time>". */
function reconciliationLine(summary: MonthReconciliation | null): string {
  if (!summary) return 'not reconciled yet (reconciliation runs daily)';
  const calls = (n: number) => `${n.toLocaleString('en-US')} call${n === 1 ? '' : 's'}`;
  const corrections = summary.corrections.length ? `, ${summary.corrections.length} correction${summary.corrections.length === 1 ? '' : 's'}` : '';
  const open = summary.matches ? '' : ', a difference remains';
  const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  const before = summary.billedBefore ? ` (billed for calls before ${utc(summary.billedBefore)})` : '';
  return `metered ${calls(summary.meteredCalls)} · billed ${calls(summary.billedCalls)}, checked ${utc(summary.reconciledAt)}${before}${corrections}${open}`;
}
