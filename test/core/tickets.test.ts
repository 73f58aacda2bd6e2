import type { Alert } from '../../lambdas/core/alerts.ts';
import { escalateOverdueTickets, fileTicket, SUPPORT_SLA_MS, type Ticket, type TicketStore } from '../../lambdas/core/tickets.ts';
import { DynamoTicketStore } from '../../lambdas/adapters/tickets-store.ts';
import { freshTables } from '../harness/dynamodb.ts';

describe('billing support tickets (store in DynamoDB Local, controlled clock)', () => {
  let store: TicketStore;
  let alerts: Alert[];
  const sink = { publish: async (alert: Alert) => void alerts.push(alert) };
  const T0 = Date.UTC(2026, 10, 25, 9, 0);
  beforeEach(async () => {
    const t = await freshTables();
    store = new DynamoTicketStore(t.doc, t.tables.billing);
    alerts = [];
  });

  const file = async (message: string, now = T0) => {
    const filed = await fileTicket('cust_1', message, { store, alerts: sink, now, newId: () => `tkt_${now}` });
    if (!filed.ok) throw new Error(filed.code);
    return filed.ticket as Ticket;
  };

  it('alerts the operator at once, with the message and the command that acknowledges it', async () => {
    const ticket = await file('I was charged twice');
    expect(alerts).toEqual([
      expect.objectContaining({
        customerId: 'cust_1',
        action: `npm run cli -- tickets ack ${ticket.ticketId}`,
        body: expect.stringContaining('I was charged twice'),
      }),
    ]);
  });

  it('rejects an empty report and changes nothing', async () => {
    expect(await fileTicket('cust_1', '   ', { store, alerts: sink, now: T0, newId: () => 'x' })).toEqual({ ok: false, code: 'EMPTY_MESSAGE' });
    expect(await store.list()).toEqual([]);
    expect(alerts).toEqual([]);
  });

  it('escalates once when unacknowledged past 4 hours, and not at all when acknowledged', async () => {
    const ignored = await file('wrong amount', T0);
    const handled = await file('refund please', T0 + 1);
    await store.transition(handled.ticketId, ['open'], { status: 'acknowledged', acknowledgedAt: T0 + 60_000, acknowledgedBy: 'ops' });
    alerts = [];
    expect(await escalateOverdueTickets({ store, alerts: sink, now: T0 + SUPPORT_SLA_MS - 1 })).toEqual([]);
    const escalated = await escalateOverdueTickets({ store, alerts: sink, now: T0 + SUPPORT_SLA_MS + 1 });
    expect(escalated.map((t) => t.ticketId)).toEqual([ignored.ticketId]);
    expect(alerts).toEqual([expect.objectContaining({ subject: expect.stringContaining('OVERDUE') })]);
    expect(await escalateOverdueTickets({ store, alerts: sink, now: T0 + 2 * SUPPORT_SLA_MS })).toEqual([]);
  });
});
