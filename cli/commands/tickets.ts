import type { Command } from 'commander';
import { DynamoTicketStore } from '../../lambdas/adapters/tickets-store.ts';
import type { TicketStatus } from '../../lambdas/core/tickets.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRows } from '../output.ts';

/** `tickets list|ack|resolve`: the billing support queue and its 4-hour SLA. */
export function registerTicketCommands(program: Command, connect: () => Promise<CliContext>): void {
  const tickets = program.command('tickets').description('billing support tickets (4-hour response SLA)');
  const store = (context: CliContext) => new DynamoTicketStore(context.doc, context.tables.billing);

  tickets
    .command('list')
    .description('list tickets, open ones first')
    .option('--all', 'include resolved tickets')
    .option('--json', 'print JSON')
    .action(async (options: { all?: boolean; json?: boolean }) => {
      const order: Record<TicketStatus, number> = { open: 0, acknowledged: 1, resolved: 2 };
      const rows = (await store(await connect()).list())
        .filter((t) => options.all || t.status !== 'resolved')
        .sort((a, b) => order[a.status] - order[b.status] || a.createdAt - b.createdAt)
        .map((t) => ({
          ticketId: t.ticketId,
          status: t.status,
          customerId: t.customerId,
          filed: new Date(t.createdAt).toISOString(),
          overdue: t.status === 'open' && Date.now() - t.createdAt > 4 * 3_600_000,
          message: t.message.slice(0, 60),
        }));
      printRows(rows, Boolean(options.json));
    });

  for (const [name, from, status, field] of [
    ['ack', ['open'], 'acknowledged', 'acknowledged'],
    ['resolve', ['open', 'acknowledged'], 'resolved', 'resolved'],
  ] as const) {
    tickets
      .command(name)
      .description(name === 'ack' ? 'acknowledge a ticket (stops the 4-hour escalation)' : 'resolve a ticket')
      .argument('<ticketId>')
      .action(async (ticketId: string) => {
        const context = await connect();
        const ticket = await store(context).get(ticketId);
        if (!ticket) throw new CliError(`no ticket ${ticketId}`);
        const changed = await store(context).transition(ticketId, from, { status, [`${field}At`]: Date.now(), [`${field}By`]: context.operator });
        if (!changed) throw new CliError(`ticket ${ticketId} is ${ticket.status}`);
        console.log(`ticket ${ticketId} ${status} by ${context.operator}`);
      });
  }
}
