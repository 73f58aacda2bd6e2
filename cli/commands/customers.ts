import { Option, type Command } from 'commander';
import { TIER_NAMES, type TierName } from '../../lambdas/core/config.ts';
import { unpaidInvoices as unpaid } from '../../lambdas/core/customer-billing.ts';
import { createCustomer, issueKey, revokeKey } from '../../lambdas/core/customers.ts';
import type { CapBehaviour } from '../../lambdas/core/model.ts';
import { pendingChange } from '../../lambdas/core/downgrade.ts';
import { usd } from '../../lambdas/core/experiment-report.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRecord, printRows } from '../output.ts';

const KEY_SHOWN_ONCE = 'Store this key now: it is shown once and only its hash is kept.';

/** `customers create|list|show` and `keys issue|list|revoke`. */
export function registerCustomerCommands(program: Command, connect: () => Promise<CliContext>): void {
  const customers = program.command('customers').description('create and inspect customers');

  customers
    .command('create')
    .description('create a customer in a tier and issue its first API key')
    .requiredOption('--name <name>', 'customer name')
    .addOption(new Option('--tier <tier>', 'pricing tier').choices(TIER_NAMES).default('free'))
    .addOption(
      new Option('--cap-behaviour <behaviour>', 'at the billing cap: block calls, or absorb them uncharged').choices(['block', 'absorb']).default('block'),
    )
    .option('--json', 'print JSON')
    .action(async (options: { name: string; tier: TierName; capBehaviour: CapBehaviour; json?: boolean }) => {
      if (!options.name.trim()) throw new CliError('--name must not be empty');
      const context = await connect();
      // Subscribed in Stripe once `stripe setup` has run; before that, metered and counted only.
      const stripe = (await context.billing.state.getCatalogIds()) ? (await context.billing.ready()).stripe : undefined;
      if (!stripe && !options.json) console.error('note: Stripe is not set up (npm run cli -- stripe setup), so this customer has no subscription yet');
      const { customer, apiKey } = await createCustomer(
        { name: options.name, tier: options.tier, capBehaviour: options.capBehaviour },
        { ...context.customerDeps, stripe },
      );
      printRecord(
        {
          customerId: customer.customerId,
          name: customer.name,
          tier: customer.tier,
          stripeCustomerId: customer.stripeCustomerId,
          keyId: apiKey.keyId,
          apiKey: apiKey.key,
        },
        Boolean(options.json),
      );
      if (!options.json) console.error(KEY_SHOWN_ONCE);
    });

  customers
    .command('list')
    .description('list customers')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const rows = (await (await connect()).store.listCustomers()).map((c) => ({
        customerId: c.customerId,
        name: c.name,
        tier: c.tier,
        status: c.status,
        capBehaviour: c.capBehaviour,
        createdAt: c.createdAt,
      }));
      printRows(rows, Boolean(options.json));
    });

  customers
    .command('show')
    .description("show one customer, its keys, a downgrade it scheduled and its unpaid invoices (Stripe's open and uncollectible ones)")
    .argument('<customerId>')
    .option('--json', 'print JSON')
    .action(async (customerId: string, options: { json?: boolean }) => {
      const { store, billing } = await connect();
      const customer = await store.getCustomer(customerId);
      if (!customer) throw new CliError(`no customer ${customerId}`);
      const keys = await store.listKeys(customerId);
      // Stripe's largest page, one request: an unpaid invoice older than the latest 100 (eight years of monthly ones) is not shown.
      const unpaidInvoices = customer.stripeCustomerId ? unpaid(await billing.provider.listInvoices(customer.stripeCustomerId, 100)) : [];
      const pendingDowngrade = pendingChange(customer);
      const { gatewayKeyValue: _secret, downgradeAt: _shownAsPending, ...shown } = customer;
      if (options.json)
        return void console.log(JSON.stringify({ ...shown, keys: keys.map(({ keyHash: _h, ...k }) => k), pendingDowngrade, unpaidInvoices }, null, 2));
      printRecord(
        {
          ...shown,
          keys: keys.length,
          pendingDowngrade: pendingDowngrade ? `to ${pendingDowngrade.to} at ${pendingDowngrade.at} (the customer's opt-out; undoable until then)` : 'none',
          unpaidInvoices: unpaidInvoices.length
            ? unpaidInvoices
                .map(
                  (i) =>
                    `${i.invoiceId} ${i.status} ${usd(i.amountRemainingCents)} for ${utcMonth(i.periodStartSec * 1000)}${i.hostedInvoiceUrl ? ` ${i.hostedInvoiceUrl}` : ''}`,
                )
                .join('; ')
            : 'none',
        },
        false,
      );
    });

  const keys = program.command('keys').description('issue, list and revoke API keys');

  keys
    .command('issue')
    .description('issue another key to a customer (rotate: issue, switch clients, revoke the old key)')
    .requiredOption('--customer <customerId>')
    .option('--json', 'print JSON')
    .action(async (options: { customer: string; json?: boolean }) => {
      const issued = await issueKey(options.customer, (await connect()).customerDeps);
      if (!issued.ok) throw new CliError(`no customer ${options.customer}`);
      printRecord({ customerId: options.customer, keyId: issued.value.keyId, apiKey: issued.value.key }, Boolean(options.json));
      if (!options.json) console.error(KEY_SHOWN_ONCE);
    });

  keys
    .command('list')
    .description("list a customer's keys (prefixes only: keys are stored as hashes)")
    .requiredOption('--customer <customerId>')
    .option('--json', 'print JSON')
    .action(async (options: { customer: string; json?: boolean }) => {
      const { store } = await connect();
      if (!(await store.getCustomer(options.customer))) throw new CliError(`no customer ${options.customer}`);
      const rows = (await store.listKeys(options.customer)).map((k) => ({
        keyId: k.keyId,
        prefix: `${k.keyPrefix}…`,
        status: k.status,
        createdAt: k.createdAt,
        revokedAt: k.revokedAt,
      }));
      printRows(rows, Boolean(options.json));
    });

  keys
    .command('revoke')
    .description('revoke a key; calls with it are refused within a minute')
    .requiredOption('--customer <customerId>')
    .requiredOption('--key <keyId>')
    .option('--json', 'print JSON')
    .action(async (options: { customer: string; key: string; json?: boolean }) => {
      const revoked = await revokeKey(options.customer, options.key, (await connect()).customerDeps);
      if (!revoked.ok)
        throw new CliError(revoked.code === 'UNKNOWN_CUSTOMER' ? `no customer ${options.customer}` : `no key ${options.key} for customer ${options.customer}`);
      printRecord({ customerId: options.customer, keyId: options.key, status: 'revoked' }, Boolean(options.json));
    });
}
