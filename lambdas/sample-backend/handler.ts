/** The sample backend behind the metered routes: echoes what it was asked. Operators replace it with their own (and forward the X-RateLimit-* figures the same way). */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { rateLimitHeaders } from '#core/gateway-contract.ts';

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => ({
  statusCode: 200,
  // The quota figures the authorizer passed on: a backend forwards them so clients can slow down before a 429.
  headers: { 'content-type': 'application/json', ...rateLimitHeaders(event.requestContext.authorizer) },
  body: JSON.stringify({
    ok: true,
    method: event.httpMethod,
    path: event.path,
    requestId: event.requestContext.requestId,
    customerId: event.requestContext.authorizer?.customerId,
    at: new Date().toISOString(),
  }),
});
