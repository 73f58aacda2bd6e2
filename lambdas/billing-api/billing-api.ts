/** POST /billing/upgrade: a free route (key-authenticated, never metered) that starts Stripe Checkout for a higher tier. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { TierNameSchema } from '#core/config.ts';
import { apiBasePath } from '#core/gateway-contract.ts';
import type { CustomerRegistry } from '#core/ports.ts';
import { startUpgrade, type StripeSetup } from '#core/subscriptions.ts';

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});
const UpgradeRequestSchema = z.object({ tier: TierNameSchema }).strict();

export function createBillingApi(deps: {
  registry: Pick<CustomerRegistry, 'getCustomer'>;
  stripe: () => Promise<StripeSetup>;
  /**
   * Where Checkout returns to. Never taken from the request body (no open redirect).
   * @default - this API's own /dashboard, at the domain and base path the customer called (the stage on the default URL)
   */
  dashboardUrl?: string;
  now: () => number;
}) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'body' | 'path'>): Promise<APIGatewayProxyResult> => {
    const customerId = event.requestContext.authorizer?.customerId as string | undefined;
    const customer = customerId ? await deps.registry.getCustomer(customerId) : undefined;
    if (!customer) return json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });
    // Free routes serve a suspended customer (to read its usage and file a ticket), but it cannot buy a tier.
    if (customer.status === 'suspended')
      return json(403, {
        error: 'account_suspended',
        message: 'This account is suspended; report a billing problem from the dashboard to reach billing support.',
      });
    let body: unknown;
    try {
      body = JSON.parse(event.body ?? '');
    } catch {
      return json(400, { error: 'bad_request', message: 'The body must be JSON: {"tier": "pro" | "enterprise"}.' });
    }
    const request = UpgradeRequestSchema.safeParse(body);
    if (!request.success) return json(400, { error: 'bad_request', message: 'The body must be JSON: {"tier": "pro" | "enterprise"}.' });
    const dashboardUrl = deps.dashboardUrl ?? `https://${event.requestContext.domainName}${apiBasePath(event)}dashboard`;
    const started = await startUpgrade(customer, request.data.tier, dashboardUrl, await deps.stripe(), deps.now());
    return started.ok ? json(200, { url: started.url }) : json(409, { error: started.code.toLowerCase(), message: started.message });
  };
}
