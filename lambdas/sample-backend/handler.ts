/** The sample backend behind the metered routes: echoes what it was asked. Operators replace it with their own. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    ok: true,
    method: event.httpMethod,
    path: event.path,
    requestId: event.requestContext.requestId,
    customerId: event.requestContext.authorizer?.customerId,
    at: new Date().toISOString(),
  }),
});
