/** POST /billing/portal: a free route (key-authenticated, never metered) that opens Stripe's customer portal ("Manage billing"). */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { startBillingPortal } from '#core/customer-billing.ts';
import type { CustomerRegistry } from '#core/ports.ts';
import type { StripeSetup } from '#core/subscriptions.ts';
import { callingCustomer, dashboardUrl, json, UNAUTHORIZED } from './http.ts';

export function createBillingPortalApi(deps: {
  registry: Pick<CustomerRegistry, 'getCustomer'>;
  stripe: () => Promise<StripeSetup>;
  /**
   * Where the portal's "return" link goes. Never taken from the request (no open redirect).
   * @default - this API's own /dashboard, at the domain and base path the customer called (the stage on the default URL)
   */
  dashboardUrl?: string;
}) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'path'>): Promise<APIGatewayProxyResult> => {
    const customer = await callingCustomer(event, deps.registry);
    if (!customer) return UNAUTHORIZED;
    // A suspended customer still manages its billing: updating the card is how a past-due account pays what it owes.
    const started = await startBillingPortal(customer, dashboardUrl(event, deps.dashboardUrl), await deps.stripe());
    return started.ok ? json(200, { url: started.url }) : json(409, { error: started.code.toLowerCase(), message: started.message });
  };
}
