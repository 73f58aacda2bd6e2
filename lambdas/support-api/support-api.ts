/** POST /support/tickets: a customer reports a billing problem (key-authenticated, never metered). */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import type { AlertSink } from '#core/alerts.ts';
import type { BillingConfig } from '#core/config.ts';
import { fileTicket, readTicketRequest, SUPPORT_SLA_MS, type TicketStore } from '#core/tickets.ts';

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});
const TicketRequestSchema = z.object({ message: z.string() }).strict();
const USAGE = 'The body must be JSON: {"message": "what looks wrong"}.';

export function createSupportApi(deps: { store: TicketStore; alerts: AlertSink; config: Pick<BillingConfig, 'supportTickets'>; now: () => number }) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'body'>): Promise<APIGatewayProxyResult> => {
    const customerId = event.requestContext.authorizer?.customerId as string | undefined;
    if (!customerId) return json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });
    const read = readTicketRequest(event.body, deps.config);
    if (!read.ok)
      return read.code === 'BODY_TOO_LARGE'
        ? json(413, { error: 'payload_too_large', message: `The body must be at most ${read.maxBytes} bytes.` })
        : json(400, { error: 'bad_request', message: USAGE });
    const request = TicketRequestSchema.safeParse(read.json);
    if (!request.success) return json(400, { error: 'bad_request', message: USAGE });
    const now = deps.now();
    const filed = await fileTicket(customerId, request.data.message, { ...deps, now, newId: () => `tkt_${randomBytes(8).toString('hex')}` });
    if (!filed.ok) {
      if (filed.code === 'TOO_MANY_TICKETS')
        return json(
          429,
          {
            error: 'too_many_tickets',
            message: `You can file ${filed.limit} billing tickets an hour; we have your earlier ones. You can file another from ${new Date(filed.retryAt).toISOString()}.`,
            retryAt: new Date(filed.retryAt).toISOString(),
          },
          { 'retry-after': String(Math.max(1, Math.ceil((filed.retryAt - now) / 1000))) },
        );
      const max = deps.config.supportTickets.maxMessageChars.toLocaleString('en-US');
      return json(400, { error: 'bad_request', message: filed.code === 'EMPTY_MESSAGE' ? 'Say what looks wrong.' : `Keep it to ${max} characters.` });
    }
    return json(201, {
      ticketId: filed.ticket.ticketId,
      status: filed.ticket.status,
      responseDueBy: new Date(filed.ticket.createdAt + SUPPORT_SLA_MS).toISOString(),
    });
  };
}

type ProxyHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/** One Lambda behind several routes: the handler of the resource API Gateway matched. */
export function byResource(handlers: Record<string, ProxyHandler>): ProxyHandler {
  return async (event) => {
    const handler = Object.hasOwn(handlers, event.resource) ? handlers[event.resource] : undefined;
    return handler ? handler(event) : json(404, { error: 'not_found', message: `No handler for ${event.resource}.` });
  };
}
