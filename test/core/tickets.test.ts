import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { formatAlert, type Alert } from '../../lambdas/core/alerts.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import { escalateOverdueTickets, fileTicket, resolution, SUPPORT_SLA_MS, type Ticket, type TicketStore } from '../../lambdas/core/tickets.ts';
import { DynamoTicketStore } from '../../lambdas/adapters/tickets-store.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';

describe('billing support tickets (store in DynamoDB Local, controlled clock)', () => {
  let tables: TestTables;
  let store: TicketStore;
  let alerts: Alert[];
  const sink = { publish: async (alert: Alert) => void alerts.push(alert) };
  const T0 = Date.UTC(2026, 10, 25, 9, 0);
  const config = billingConfig;
  beforeEach(async () => {
    tables = await freshTables();
    store = new DynamoTicketStore(tables.doc, tables.tables.billing);
    alerts = [];
  });

  let ids = 0;
  const file = async (message: string, now = T0, customerId = 'cust_1') => {
    const filed = await fileTicket(customerId, message, { store, alerts: sink, config, now, newId: () => `tkt_${now}_${++ids}` });
    if (!filed.ok) throw new Error(filed.code);
    return filed.ticket as Ticket;
  };

  it('alerts the operator at once, with the message and the command that acknowledges it', async () => {
    const ticket = await file('I was charged twice');
    expect(alerts).toEqual([
      expect.objectContaining({
        customerId: 'cust_1',
        action: `npm run cli -- tickets ack ${ticket.ticketId}`,
        customerWords: 'I was charged twice',
      }),
    ]);
  });

  it('rejects an empty report (control and bidi characters alone are empty) and changes nothing', async () => {
    for (const message of ['   ', '\u202E\u0007\u200F'])
      expect(await fileTicket('cust_1', message, { store, alerts: sink, config, now: T0, newId: () => 'x' })).toEqual({ ok: false, code: 'EMPTY_MESSAGE' });
    expect(await store.list()).toEqual([]);
    expect(alerts).toEqual([]);
  });

  it('strips control and bidi characters when filed, keeping newlines (tabs become spaces)', async () => {
    const raw = 'Refund \u202Eevil\u202C me\u200E\r\nline\ttwo\u0000\u001B[31m red\u009B2J\u2066x\u2069 👨‍👩‍👧';
    const ticket = await file(raw);
    expect(ticket.message).toBe('Refund evil me\nline two[31m red2Jx 👨‍👩‍👧');
    expect((await store.get(ticket.ticketId))?.message).toBe(ticket.message);
  });

  it("puts the operator's action first in the e-mail and quotes every line of the customer's words as theirs", async () => {
    const ticket = await file('Please refund.\nAct on it: npm run cli -- refund --customer cust_1 --amount 999');
    const mail = formatAlert(alerts[0] as Alert).split('\n');
    expect(mail[0]).toBe(`Act on it: npm run cli -- tickets ack ${ticket.ticketId}`);
    expect(mail.slice(-3)).toEqual(['The customer wrote:', '> Please refund.', '> Act on it: npm run cli -- refund --customer cust_1 --amount 999']);
    // Exactly one unquoted action line: the product's.
    expect(mail.filter((line) => line.startsWith('Act on it:'))).toHaveLength(1);
  });

  it('refuses a message over the configured length once sanitized', async () => {
    const max = config.supportTickets.maxMessageChars;
    await expect(file('x'.repeat(max))).resolves.toBeDefined();
    expect(await fileTicket('cust_2', 'x'.repeat(max + 1), { store, alerts: sink, config, now: T0, newId: () => 'y' })).toEqual({
      ok: false,
      code: 'MESSAGE_TOO_LONG',
    });
    await expect(file(`${'x'.repeat(max)}\u202E\u202E`, T0, 'cust_3')).resolves.toBeDefined();
  });

  it('lets a customer file its hourly allowance, even concurrently, then refuses until the next hour: nothing stored, no alert', async () => {
    const limit = config.supportTickets.perCustomerPerHour;
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => fileTicket('cust_1', `ticket ${i}`, { store, alerts: sink, config, now: T0 + 60_000, newId: () => `tkt_c${i}` })),
    );
    expect(attempts.filter((a) => a.ok)).toHaveLength(limit);
    expect(attempts.filter((a) => !a.ok)).toEqual(
      Array.from({ length: 12 - limit }, () => ({ ok: false, code: 'TOO_MANY_TICKETS', retryAt: T0 + 3_600_000, limit })),
    );
    expect(await store.list()).toHaveLength(limit);
    expect(alerts).toHaveLength(limit);
    // Another customer is not affected, and the next hour the customer may file again.
    await expect(file('mine', T0 + 60_000, 'cust_2')).resolves.toBeDefined();
    await expect(file('later', T0 + 3_600_000)).resolves.toBeDefined();
  });

  it('escalates once when unacknowledged past 4 hours, and not at all when acknowledged', async () => {
    const ignored = await file('wrong amount', T0);
    const handled = await file('refund please', T0 + 1);
    await store.transition(handled.ticketId, ['open'], { status: 'acknowledged', acknowledgedAt: T0 + 60_000, acknowledgedBy: 'ops' });
    alerts = [];
    expect(await escalateOverdueTickets({ store, alerts: sink, now: T0 + SUPPORT_SLA_MS - 1 })).toEqual([]);
    const escalated = await escalateOverdueTickets({ store, alerts: sink, now: T0 + SUPPORT_SLA_MS + 1 });
    expect(escalated.map((t) => t.ticketId)).toEqual([ignored.ticketId]);
    expect(alerts).toEqual([expect.objectContaining({ subject: expect.stringContaining('OVERDUE'), customerWords: 'wrong amount' })]);
    expect(await escalateOverdueTickets({ store, alerts: sink, now: T0 + 2 * SUPPORT_SLA_MS })).toEqual([]);
  });

  it('sets a resolved ticket to expire (the Billing table TTL attribute) the configured days after resolution', async () => {
    const ticket = await file('done soon');
    expect(ticket.expiresAt).toBeUndefined();
    const at = T0 + 3_600_000;
    expect(await store.transition(ticket.ticketId, ['open', 'acknowledged'], resolution('ops', at, config))).toBe(true);
    expect(await store.get(ticket.ticketId)).toMatchObject({
      status: 'resolved',
      resolvedBy: 'ops',
      expiresAt: Math.floor(at / 1000) + config.supportTickets.resolvedRetentionDays * 86_400,
    });
  });

  it('lists and escalates every open ticket past the 1 MB a single Query returns', async () => {
    // Real size, no page-size injection: 1.2 MB of open tickets. Messages longer than a customer
    // may send keep the item count (and the test's time) down; the bytes are what page a Query.
    const count = 120;
    const message = 'm'.repeat(10_000);
    for (let i = 0; i < count; i += 25)
      await Promise.all(
        Array.from({ length: Math.min(25, count - i) }, (_, j) =>
          store.create({ ticketId: `tkt_bulk_${String(i + j).padStart(4, '0')}`, customerId: `cust_${i + j}`, message, status: 'open', createdAt: T0 }),
        ),
      );
    const firstPage = await tables.doc.send(
      new QueryCommand({ TableName: tables.tables.billing, KeyConditionExpression: 'pk = :t', ExpressionAttributeValues: { ':t': 'TICKET' } }),
    );
    expect(firstPage.LastEvaluatedKey).toBeDefined(); // one Query would have missed some
    expect(await store.list()).toHaveLength(count);
    const escalated = await escalateOverdueTickets({ store, alerts: sink, now: T0 + SUPPORT_SLA_MS });
    expect(escalated).toHaveLength(count);
    expect(alerts).toHaveLength(count);
  }, 60_000);
});
