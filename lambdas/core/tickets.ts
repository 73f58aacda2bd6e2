/** Billing support tickets with the plan's 4-hour response SLA: filed from the dashboard, escalated when unacknowledged. */
import type { Alert, AlertSink } from './alerts.ts';

export const SUPPORT_SLA_MS = 4 * 3_600_000;
const MAX_MESSAGE = 2_000;

export type TicketStatus = 'open' | 'acknowledged' | 'resolved';

export interface Ticket {
  readonly ticketId: string;
  readonly customerId: string;
  readonly message: string;
  readonly status: TicketStatus;
  readonly createdAt: number;
  readonly acknowledgedAt?: number;
  readonly acknowledgedBy?: string;
  readonly resolvedAt?: number;
  readonly resolvedBy?: string;
  readonly escalatedAt?: number;
}

export interface TicketStore {
  create(ticket: Ticket): Promise<void>;
  list(): Promise<Ticket[]>;
  get(ticketId: string): Promise<Ticket | undefined>;
  /** Applies `change` only if the ticket's status is still one of `from`; false otherwise. */
  transition(ticketId: string, from: readonly TicketStatus[], change: Partial<Ticket>): Promise<boolean>;
  /** Marks the ticket escalated unless it already is; false if another run did. */
  markEscalated(ticketId: string, at: number): Promise<boolean>;
}

export type FileOutcome = { ok: true; ticket: Ticket } | { ok: false; code: 'EMPTY_MESSAGE' | 'MESSAGE_TOO_LONG' };

export async function fileTicket(
  customerId: string,
  message: string,
  deps: { store: TicketStore; alerts: AlertSink; now: number; newId: () => string },
): Promise<FileOutcome> {
  const text = message.trim();
  if (!text) return { ok: false, code: 'EMPTY_MESSAGE' };
  if (text.length > MAX_MESSAGE) return { ok: false, code: 'MESSAGE_TOO_LONG' };
  const ticket: Ticket = { ticketId: deps.newId(), customerId, message: text, status: 'open', createdAt: deps.now };
  await deps.store.create(ticket);
  await deps.alerts.publish({
    subject: `Billing ticket ${ticket.ticketId} from ${customerId}`,
    customerId,
    body: `A customer reported a billing problem (response due within 4 hours, by ${new Date(deps.now + SUPPORT_SLA_MS).toISOString()}):\n\n${text}`,
    action: `npm run cli -- tickets ack ${ticket.ticketId}`,
  });
  return { ok: true, ticket };
}

/** Alerts again, once, for every ticket left unacknowledged past the 4-hour SLA. */
export async function escalateOverdueTickets(deps: { store: TicketStore; alerts: AlertSink; now: number }): Promise<Ticket[]> {
  const escalated: Ticket[] = [];
  for (const ticket of await deps.store.list()) {
    if (ticket.status !== 'open' || ticket.escalatedAt !== undefined || deps.now - ticket.createdAt < SUPPORT_SLA_MS) continue;
    if (!(await deps.store.markEscalated(ticket.ticketId, deps.now))) continue;
    const alert: Alert = {
      subject: `OVERDUE billing ticket ${ticket.ticketId} (4-hour SLA missed)`,
      customerId: ticket.customerId,
      body: `Ticket ${ticket.ticketId}, filed ${new Date(ticket.createdAt).toISOString()}, is still unacknowledged ${Math.floor((deps.now - ticket.createdAt) / 60_000)} minutes later:\n\n${ticket.message}`,
      action: `npm run cli -- tickets ack ${ticket.ticketId}`,
    };
    await deps.alerts.publish(alert);
    escalated.push(ticket);
  }
  return escalated;
}
