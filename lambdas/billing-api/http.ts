/** What the free billing routes share: JSON answers no cache keeps, the calling customer, a small body read through a schema, and the dashboard to return to. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type * as z from 'zod';
import { parseBoundedJson } from '#core/customer-text.ts';
import { apiBasePath } from '#core/gateway-contract.ts';
import type { CustomerRegistry } from '#core/ports.ts';

/** A JSON response no cache keeps: every answer is one customer's. */
export const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

/** The answer when the authorizer named no customer the registry knows. */
export const UNAUTHORIZED = json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });

/** The customer the authorizer identified; `undefined` (answer UNAUTHORIZED) when there is none. */
export async function callingCustomer(event: Pick<APIGatewayProxyEvent, 'requestContext'>, registry: Pick<CustomerRegistry, 'getCustomer'>) {
  const customerId = event.requestContext.authorizer?.customerId as string | undefined;
  return customerId ? registry.getCustomer(customerId) : undefined;
}

/** The body as JSON of at most `maxBytes`, checked by `schema`: its data, or the 413 (too large) or 400 (saying `usage`) to answer. */
export function readBody<T>(
  body: string | null | undefined,
  maxBytes: number,
  schema: z.ZodType<T>,
  usage: string,
): { ok: true; data: T } | { ok: false; response: APIGatewayProxyResult } {
  const read = parseBoundedJson(body, maxBytes);
  if (!read.ok && read.code === 'BODY_TOO_LARGE')
    return { ok: false, response: json(413, { error: 'payload_too_large', message: `The body must be at most ${read.maxBytes} bytes.` }) };
  const request = read.ok ? schema.safeParse(read.json) : undefined;
  return request?.success ? { ok: true, data: request.data } : { ok: false, response: json(400, { error: 'bad_request', message: usage }) };
}

/** Where Checkout and the portal return to: the configured dashboard, else this API's own /dashboard at the domain and base path the customer called. */
export function dashboardUrl(event: Pick<APIGatewayProxyEvent, 'requestContext' | 'path'>, configured: string | undefined): string {
  return configured ?? `https://${event.requestContext.domainName}${apiBasePath(event)}dashboard`;
}
