import { Option, type Command } from 'commander';
import { CounterUsageReader } from '../../lambdas/adapters/sync-store.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import type { CapBehaviour } from '../../lambdas/core/model.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRecord, printRows } from '../output.ts';

/** `cap approve|set`, `customers suspend|reinstate`, `audit`: guardrail levers, each recorded with who, when and why. */
export function registerGuardrailCommands(program: Command, connect: () => Promise<CliContext>): void {
  const requireReason = (reason: string) => {
    if (!reason.trim()) throw new CliError('--reason must not be empty');
  };
  const cap = program.command('cap').description("a customer's monthly billing cap");

  cap
    .command('approve')
    .description("raise (or set) a customer's monthly cap; an approval is recorded with who, when and why")
    .requiredOption('--customer <customerId>')
    .requiredOption('--cap <dollars>', 'the new monthly cap in US dollars')
    .requiredOption('--reason <reason>')
    .action(async (options: { customer: string; cap: string; reason: string }) => {
      requireReason(options.reason);
      if (!/^\d+(\.\d{1,2})?$/.test(options.cap) || Number(options.cap) <= 0)
        throw new CliError(`--cap must be a positive amount of dollars, like 2500, not "${options.cap}"`);
      const context = await connect();
      const customer = await context.store.getCustomer(options.customer);
      if (!customer) throw new CliError(`no customer ${options.customer}`);
      const capCents = Math.round(Number(options.cap) * 100);
      const month = utcMonth(Date.now());
      const calls = await new CounterUsageReader(context.doc, context.tables.counters).billableCalls(customer.customerId, month);
      const billCents = estimateBill(customer.tier, calls, context.billing.config).totalCents;
      // Lifting the block at once when the new cap is above this month's bill.
      await context.store.updateCustomer(customer.customerId, {
        capCents,
        ...(customer.cappedMonth === month && billCents < capCents && { cappedMonth: undefined }),
      });
      await context.billing.state.audit({
        customerId: customer.customerId,
        action: 'cap-approved',
        by: context.operator,
        reason: options.reason,
        at: Date.now(),
        details: { fromCents: customer.capCents ?? context.billing.config.billingCapCents, toCents: capCents },
      });
      printRecord({ customerId: customer.customerId, capCents, billedThisMonthCents: billCents, approvedBy: context.operator }, false);
    });

  cap
    .command('set')
    .description('what happens at the cap: block calls, or serve them uncharged')
    .requiredOption('--customer <customerId>')
    .addOption(new Option('--behaviour <behaviour>').choices(['block', 'absorb']).makeOptionMandatory())
    .requiredOption('--reason <reason>')
    .action(async (options: { customer: string; behaviour: CapBehaviour; reason: string }) => {
      requireReason(options.reason);
      const context = await connect();
      if (
        !(await context.store.updateCustomer(options.customer, {
          capBehaviour: options.behaviour,
          ...(options.behaviour === 'absorb' && { cappedMonth: undefined }),
        }))
      )
        throw new CliError(`no customer ${options.customer}`);
      await context.billing.state.audit({
        customerId: options.customer,
        action: `cap-behaviour-${options.behaviour}`,
        by: context.operator,
        reason: options.reason,
        at: Date.now(),
      });
      console.log(`customer ${options.customer}: at the cap, calls are ${options.behaviour === 'block' ? 'refused' : 'served uncharged'}`);
    });

  const customers = program.commands.find((c) => c.name() === 'customers')!;
  for (const [name, status] of [
    ['suspend', 'suspended'],
    ['reinstate', 'active'],
  ] as const) {
    customers
      .command(name)
      .description(name === 'suspend' ? "refuse all of a customer's calls (403)" : "serve a suspended customer's calls again")
      .requiredOption('--customer <customerId>')
      .requiredOption('--reason <reason>')
      .action(async (options: { customer: string; reason: string }) => {
        requireReason(options.reason);
        const context = await connect();
        if (!(await context.store.updateCustomer(options.customer, { status }))) throw new CliError(`no customer ${options.customer}`);
        await context.billing.state.audit({ customerId: options.customer, action: name, by: context.operator, reason: options.reason, at: Date.now() });
        console.log(`customer ${options.customer} ${status} (takes effect within a minute)`);
      });
  }

  program
    .command('grandfather')
    .description('make a customer free for the configured number of days (30) from a date: calls counted but not charged, the fee for those days credited')
    .requiredOption('--customer <customerId>')
    .option('--from <YYYY-MM-DD>', 'first free day (UTC)', new Date().toISOString().slice(0, 10))
    .requiredOption('--reason <reason>')
    .action(async (options: { customer: string; from: string; reason: string }) => {
      requireReason(options.reason);
      const from = Date.parse(`${options.from}T00:00:00Z`);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(options.from) || Number.isNaN(from)) throw new CliError(`--from must be a date like 2026-11-25, not "${options.from}"`);
      const context = await connect();
      const until = from + context.billing.config.grandfatherDays * 86_400_000;
      if (!(await context.store.updateCustomer(options.customer, { grandfatheredFrom: from, grandfatheredUntil: until })))
        throw new CliError(`no customer ${options.customer}`);
      await context.billing.state.audit({
        customerId: options.customer,
        action: 'grandfathered',
        by: context.operator,
        reason: options.reason,
        at: Date.now(),
        details: { from: new Date(from).toISOString(), until: new Date(until).toISOString() },
      });
      console.log(
        `customer ${options.customer} is free from ${new Date(from).toISOString().slice(0, 10)} until ${new Date(until).toISOString().slice(0, 10)} (usage counted, not charged)`,
      );
    });

  program
    .command('refund')
    .description('refund a customer: a Stripe credit note for an amount on its latest finalized invoice')
    .requiredOption('--customer <customerId>')
    .requiredOption('--amount <dollars>', 'how much to credit, in US dollars')
    .requiredOption('--reason <reason>')
    .action(async (options: { customer: string; amount: string; reason: string }) => {
      requireReason(options.reason);
      if (!/^\d+(\.\d{1,2})?$/.test(options.amount) || Number(options.amount) <= 0)
        throw new CliError(`--amount must be a positive amount of dollars, like 12.50, not "${options.amount}"`);
      const context = await connect();
      const customer = await context.store.getCustomer(options.customer);
      if (!customer) throw new CliError(`no customer ${options.customer}`);
      if (!customer.stripeCustomerId) throw new CliError(`customer ${options.customer} has no Stripe customer to refund`);
      const amountCents = Math.round(Number(options.amount) * 100);
      const note = await context.billing.provider
        .creditLatestInvoice({ stripeCustomerId: customer.stripeCustomerId, amountCents, memo: options.reason })
        .catch((error: unknown) => {
          throw new CliError(
            error instanceof Error ? error.message.replace(/^Stripe credit note failed: /, 'Stripe refused the credit note: ') : String(error),
          );
        });
      if (!note) throw new CliError(`customer ${options.customer} has no finalized invoice to credit yet`);
      await context.billing.state.audit({
        customerId: customer.customerId,
        action: 'refund',
        by: context.operator,
        reason: options.reason,
        at: Date.now(),
        details: { amountCents, ...note },
      });
      printRecord({ customerId: customer.customerId, creditNote: note.creditNoteId, invoice: note.invoiceId, amountCents }, false);
    });

  program
    .command('audit')
    .description("operators' actions on a customer (or, without --customer, product-wide ones such as pause)")
    .option('--customer <customerId>')
    .option('--json', 'print JSON')
    .action(async (options: { customer?: string; json?: boolean }) => {
      const entries = await (await connect()).billing.state.auditLog(options.customer);
      printRows(
        entries.map((e) => ({
          at: String(e.at),
          action: String(e.action),
          by: String(e.by),
          reason: String(e.reason),
          details: e.details ? JSON.stringify(e.details) : '',
        })),
        Boolean(options.json),
      );
    });
}
