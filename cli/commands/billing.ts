import { Option, type Command } from 'commander';
import { stripeCatalog } from '../../lambdas/core/catalog.ts';
import { TIER_NAMES, type TierName } from '../../lambdas/core/config.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { changeTier } from '../../lambdas/core/subscriptions.ts';
import { runSync, type SyncOutcome } from '../../lambdas/core/sync.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRecord, printRows } from '../output.ts';

/** `stripe setup`, `tier set`, `billing pause|resume|status|sync`. */
export function registerBillingCommands(program: Command, connect: () => Promise<CliContext>): void {
  program
    .command('stripe')
    .description('Stripe catalog')
    .command('setup')
    .description('create the meter, products, prices and the customer portal configuration in Stripe (idempotent: re-running changes nothing)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { billing } = await connect();
      const catalog = stripeCatalog(billing.config);
      const ids = await billing.provider.ensureCatalog(catalog);
      await billing.state.putCatalogIds(ids);
      if (options.json) return void console.log(JSON.stringify(ids, null, 2));
      console.log(`meter: ${ids.meterId}`);
      console.log(`customer portal: ${ids.portalConfigurationId}`);
      printRows(
        catalog.prices.map((p) => ({ tier: p.tier, role: p.role, lookupKey: p.lookupKey, priceId: ids.priceIds[p.lookupKey] })),
        false,
      );
    });

  program
    .command('tier')
    .description("change a customer's tier")
    .command('set')
    .description('move a customer to a tier: its Stripe subscription, its usage plan and its record')
    .requiredOption('--customer <customerId>')
    .addOption(new Option('--tier <tier>').choices(TIER_NAMES).makeOptionMandatory())
    .option('--reason <reason>', 'why (kept in the audit log); downgrading to free is the opt-out lever')
    .option('--json', 'print JSON')
    .action(async (options: { customer: string; tier: TierName; reason?: string; json?: boolean }) => {
      const context = await connect();
      const customer = await context.store.getCustomer(options.customer);
      if (!customer) throw new CliError(`no customer ${options.customer}`);
      const stripe = customer.subscriptionId ? (await context.billing.ready()).stripe : undefined;
      const result = await changeTier(options.customer, options.tier, {
        registry: context.store,
        gatewayKeys: context.customerDeps.gatewayKeys,
        retirements: context.billing.retirements,
        config: context.billing.config,
        now: Date.now,
        stripe,
      });
      // The operator's change is audited even when the webhook its Stripe change fired switched the key first.
      const changed = result.ok && customer.tier !== options.tier;
      if (changed)
        await context.billing.state.audit({
          customerId: options.customer,
          action: `tier-${customer.tier}-to-${options.tier}`,
          by: context.operator,
          reason: options.reason ?? 'tier set',
          at: Date.now(),
        });
      if (!result.ok)
        throw new CliError(result.code === 'UNKNOWN_CUSTOMER' ? `no customer ${options.customer}` : `customer ${options.customer} has no Stripe subscription`);
      printRecord({ customerId: options.customer, from: customer.tier, to: options.tier, changed }, Boolean(options.json));
    });

  const billing = program.command('billing').description('the Stripe sync: pause, resume, status, run once');

  for (const [name, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    billing
      .command(name)
      .description(
        paused ? 'stop all pushes to Stripe; usage keeps being counted' : "push again: the backlog inside Stripe's 35-day window goes on the next run",
      )
      .requiredOption('--reason <reason>', 'why (kept with who and when)')
      .action(async (options: { reason: string }) => {
        if (!options.reason.trim()) throw new CliError('--reason must not be empty');
        const context = await connect();
        await context.billing.state.setPause({ paused, by: context.operator, reason: options.reason, at: new Date().toISOString() });
        await context.billing.state.audit({
          action: paused ? 'billing-paused' : 'billing-resumed',
          by: context.operator,
          reason: options.reason,
          at: Date.now(),
        });
        console.log(`billing ${paused ? 'paused' : 'resumed'} by ${context.operator}: ${options.reason}`);
      });
  }

  billing
    .command('status')
    .description("pause switch and, per customer, this month's calls and estimated bill")
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const context = await connect();
      const pause = await context.billing.state.getPause();
      const month = utcMonth(Date.now());
      const sync = (await context.billing.ready()).sync;
      const rows = [];
      for (const customer of await context.store.listCustomers()) {
        const calls = await sync.usage.billableCalls(customer.customerId, month);
        const pushed = (await sync.state.get(customer.customerId, month))?.pushedCalls ?? 0;
        rows.push({
          customerId: customer.customerId,
          tier: customer.tier,
          month,
          calls,
          pushedToStripe: pushed,
          estimateCents: estimateBill(customer.tier, calls, context.billing.config).totalCents,
        });
      }
      if (options.json) return void console.log(JSON.stringify({ paused: pause?.paused ?? false, pause, customers: rows }, null, 2));
      console.log(pause?.paused ? `billing PAUSED by ${pause.by} at ${pause.at}: ${pause.reason}` : 'billing active');
      printRows(rows, false);
    });

  billing
    .command('sync')
    .description('run the Stripe sync once now (the stack runs it every few minutes)')
    .option('--flush', "also push this month's hours that have not settled yet (as at the period's end)")
    .option('--json', 'print JSON')
    .action(async (options: { flush?: boolean; json?: boolean }) => {
      const context = await connect();
      const { sync } = await context.billing.ready();
      const pause = await context.billing.state.getPause();
      const customers = await context.store.listCustomers();
      const report = await runSync(customers, sync, { paused: pause?.paused ?? false, flush: options.flush });
      const rows = report.outcomes.filter((o) => o.kind !== 'up-to-date').map(describe);
      printRows(rows, Boolean(options.json));
      if (report.problems.length) process.exitCode = 1;
    });
}

function describe(outcome: SyncOutcome): Record<string, string | number> {
  const { kind, customerId, month, ...rest } = outcome;
  return { kind, customerId, month, detail: JSON.stringify(rest) };
}
