/** POST /support/tickets: a customer reports a billing problem (key-authenticated, never metered). */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import type { AlertSink } from '#core/alerts.ts';
import { fileTicket, type TicketStore } from '#core/tickets.ts';

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});
const TicketRequestSchema = z.object({ message: z.string() }).strict();

export function createSupportApi(deps: { store: TicketStore; alerts: AlertSink; now: () => number }) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'body'>): Promise<APIGatewayProxyResult> => {
    const customerId = event.requestContext.authorizer?.customerId as string | undefined;
    if (!customerId) return json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });
    let body: unknown;
    try {
      body = JSON.parse(event.body ?? '');
    } catch {
      body = undefined;
    }
    const request = TicketRequestSchema.safeParse(body);
    if (!request.success) return json(400, { error: 'bad_request', message: 'The body must be JSON: {"message": "what looks wrong"}.' });
    const filed = await fileTicket(customerId, request.data.message, { ...deps, now: deps.now(), newId: () => `tkt_${randomBytes(8).toString('hex')}` });
    if (!filed.ok)
      return json(400, { error: 'bad_request', message: filed.code === 'EMPTY_MESSAGE' ? 'Say what looks wrong.' : 'Keep it under 2,000 characters.' });
    return json(201, {
      ticketId: filed.ticket.ticketId,
      status: filed.ticket.status,
      responseDueBy: new Date(filed.ticket.createdAt + 4 * 3_600_000).toISOString(),
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
