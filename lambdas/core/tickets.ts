/** Billing support tickets with the plan's 4-hour response SLA: filed from the dashboard, escalated when unacknowledged. */
import type { Alert, AlertSink } from './alerts.ts';
import type { BillingConfig } from './config.ts';
import { maxJsonBodyBytes, parseBoundedJson, sanitizeCustomerText } from './customer-text.ts';

export const SUPPORT_SLA_MS = 4 * 3_600_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

type TicketsConfig = Pick<BillingConfig, 'supportTickets'>;

export type TicketStatus = 'open' | 'acknowledged' | 'resolved';

export interface Ticket {
  readonly ticketId: string;
  readonly customerId: string;
  /** Sanitized when filed (`sanitizeCustomerText`): no control or bidi characters. */
  readonly message: string;
  readonly status: TicketStatus;
  readonly createdAt: number;
  readonly acknowledgedAt?: number;
  readonly acknowledgedBy?: string;
  readonly resolvedAt?: number;
  readonly resolvedBy?: string;
  readonly escalatedAt?: number;
  /** Epoch seconds at which DynamoDB's TTL deletes a resolved ticket; unset while it is open. */
  readonly expiresAt?: number;
}

export interface TicketStore {
  create(ticket: Ticket): Promise<void>;
  /** Every ticket, however many pages that takes. */
  list(): Promise<Ticket[]>;
  get(ticketId: string): Promise<Ticket | undefined>;
  /** Applies `change` only if the ticket's status is still one of `from`; false otherwise. */
  transition(ticketId: string, from: readonly TicketStatus[], change: Partial<Ticket>): Promise<boolean>;
  /** Marks the ticket escalated unless it already is; false if another run did. */
  markEscalated(ticketId: string, at: number): Promise<boolean>;
  /**
   * Takes one of the customer's `limit` filings in the clock hour starting at `hourStart`, in one
   * conditional write (concurrent filings cannot pass the limit); false when none is left.
   */
  takeFilingSlot(customerId: string, hourStart: number, limit: number): Promise<boolean>;
}

/** The largest `POST /support/tickets` body read, in UTF-8 bytes: room for a longest message, every character escaped. */
export function maxTicketBodyBytes(config: TicketsConfig): number {
  return maxJsonBodyBytes(config.supportTickets.maxMessageChars);
}

export type TicketRequestOutcome = { ok: true; json: unknown } | { ok: false; code: 'BODY_TOO_LARGE' | 'NOT_JSON'; maxBytes: number };

/** Reads a `POST /support/tickets` body as JSON, refusing an oversized one before parsing it. */
export function readTicketRequest(body: string | null | undefined, config: TicketsConfig): TicketRequestOutcome {
  return parseBoundedJson(body, maxTicketBodyBytes(config));
}

export type FileOutcome =
  | { ok: true; ticket: Ticket }
  | { ok: false; code: 'EMPTY_MESSAGE' | 'MESSAGE_TOO_LONG' }
  /** The customer filed its hourly allowance: nothing stored, no alert; `retryAt` is the next hour (epoch ms). */
  | { ok: false; code: 'TOO_MANY_TICKETS'; retryAt: number; limit: number };

/**
 * Files a ticket and alerts the operators. The message is sanitized first (control and bidi
 * characters could disguise it in an inbox or a terminal), then checked, then one of the
 * customer's hourly filings is taken: each ticket e-mails the operators, so a key cannot flood them.
 */
export async function fileTicket(
  customerId: string,
  message: string,
  deps: { store: TicketStore; alerts: AlertSink; config: TicketsConfig; now: number; newId: () => string },
): Promise<FileOutcome> {
  const text = sanitizeCustomerText(message);
  if (text === undefined) return { ok: false, code: 'EMPTY_MESSAGE' };
  if (text.length > deps.config.supportTickets.maxMessageChars) return { ok: false, code: 'MESSAGE_TOO_LONG' };
  const hourStart = Math.floor(deps.now / HOUR_MS) * HOUR_MS;
  const limit = deps.config.supportTickets.perCustomerPerHour;
  if (!(await deps.store.takeFilingSlot(customerId, hourStart, limit))) return { ok: false, code: 'TOO_MANY_TICKETS', retryAt: hourStart + HOUR_MS, limit };
  const ticket: Ticket = { ticketId: deps.newId(), customerId, message: text, status: 'open', createdAt: deps.now };
  await deps.store.create(ticket);
  await deps.alerts.publish({
    subject: `Billing ticket ${ticket.ticketId} from ${customerId}`,
    customerId,
    body: `A customer reported a billing problem (response due within 4 hours, by ${new Date(deps.now + SUPPORT_SLA_MS).toISOString()}).`,
    action: `npm run cli -- tickets ack ${ticket.ticketId}`,
    customerWords: text,
  });
  return { ok: true, ticket };
}

/** The change that resolves a ticket: who and when, and its expiry (DynamoDB TTL) `resolvedRetentionDays` later. */
export function resolution(operator: string, now: number, config: TicketsConfig): Partial<Ticket> {
  return {
    status: 'resolved',
    resolvedAt: now,
    resolvedBy: operator,
    expiresAt: Math.floor((now + config.supportTickets.resolvedRetentionDays * DAY_MS) / 1000),
  };
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
      body: `Ticket ${ticket.ticketId}, filed ${new Date(ticket.createdAt).toISOString()}, is still unacknowledged ${Math.floor((deps.now - ticket.createdAt) / 60_000)} minutes later.`,
      action: `npm run cli -- tickets ack ${ticket.ticketId}`,
      // Sanitized again: a ticket stored before sanitizing was added must not reach the inbox raw.
      customerWords: sanitizeCustomerText(ticket.message) ?? '',
    };
    await deps.alerts.publish(alert);
    escalated.push(ticket);
  }
  return escalated;
}
