import type { Command } from 'commander';
import { DynamoTicketStore } from '../../lambdas/adapters/tickets-store.ts';
import { resolution, type TicketStatus } from '../../lambdas/core/tickets.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRecord, printRows } from '../output.ts';

/** `tickets list|show|ack|resolve`: the billing support queue and its 4-hour SLA. */
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
          message: [...t.message].slice(0, 60).join(''),
        }));
      printRows(rows, Boolean(options.json));
    });

  tickets
    .command('show')
    .description('show one ticket, its whole message included')
    .argument('<ticketId>')
    .option('--json', 'print JSON')
    .action(async (ticketId: string, options: { json?: boolean }) => {
      const ticket = await store(await connect()).get(ticketId);
      if (!ticket) throw new CliError(`no ticket ${ticketId}`);
      const at = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
      printRecord(
        {
          ticketId: ticket.ticketId,
          status: ticket.status,
          customerId: ticket.customerId,
          filed: at(ticket.createdAt),
          acknowledged: ticket.acknowledgedAt === undefined ? undefined : `${at(ticket.acknowledgedAt)} by ${ticket.acknowledgedBy}`,
          resolved: ticket.resolvedAt === undefined ? undefined : `${at(ticket.resolvedAt)} by ${ticket.resolvedBy}`,
          escalated: at(ticket.escalatedAt),
          // One line: newlines are shown as \u000a, like every control character (terminalSafe).
          message: ticket.message,
        },
        Boolean(options.json),
      );
    });

  for (const [name, from, status] of [
    ['ack', ['open'], 'acknowledged'],
    ['resolve', ['open', 'acknowledged'], 'resolved'],
  ] as const) {
    tickets
      .command(name)
      .description(name === 'ack' ? 'acknowledge a ticket (stops the 4-hour escalation)' : 'resolve a ticket')
      .argument('<ticketId>')
      .action(async (ticketId: string) => {
        const context = await connect();
        const ticket = await store(context).get(ticketId);
        if (!ticket) throw new CliError(`no ticket ${ticketId}`);
        const now = Date.now();
        const change =
          status === 'resolved' ? resolution(context.operator, now, context.billing.config) : { status, acknowledgedAt: now, acknowledgedBy: context.operator };
        const changed = await store(context).transition(ticketId, from, change);
        if (!changed) throw new CliError(`ticket ${ticketId} is ${ticket.status}`);
        console.log(`ticket ${ticketId} ${status} by ${context.operator}`);
      });
  }
}
