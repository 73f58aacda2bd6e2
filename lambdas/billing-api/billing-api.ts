/** POST /billing/upgrade: a free route (key-authenticated, never metered) that starts Stripe Checkout for a higher tier. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { reusingOpenCheckouts, type CheckoutSessionStore } from '#core/checkout-reuse.ts';
import { TierNameSchema, type BillingConfig } from '#core/config.ts';
import type { CustomerRegistry } from '#core/ports.ts';
import { startUpgrade, type StripeSetup } from '#core/subscriptions.ts';
import { callingCustomer, dashboardUrl, json, readBody, UNAUTHORIZED } from './http.ts';

const UpgradeRequestSchema = z.object({ tier: TierNameSchema }).strict();
/** `{"tier": "enterprise"}` is 20 bytes: anything near this bound is not an upgrade request. */
const MAX_UPGRADE_BODY_BYTES = 1_024;

export function createBillingApi(deps: {
  registry: Pick<CustomerRegistry, 'getCustomer'>;
  stripe: () => Promise<StripeSetup>;
  /**
   * Where Checkout returns to. Never taken from the request body (no open redirect).
   * @default - this API's own /dashboard, at the domain and base path the customer called (the stage on the default URL)
   */
  dashboardUrl?: string;
  /** Checkout sessions kept for reuse while open. */
  checkouts: CheckoutSessionStore;
  config: Pick<BillingConfig, 'checkoutSessionMinutes'>;
  now: () => number;
}) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'body' | 'path'>): Promise<APIGatewayProxyResult> => {
    const customer = await callingCustomer(event, deps.registry);
    if (!customer) return UNAUTHORIZED;
    // Free routes serve a suspended customer (to read its usage and file a ticket), but it cannot buy a tier.
    if (customer.status === 'suspended')
      return json(403, {
        error: 'account_suspended',
        message: 'This account is suspended; report a billing problem from the dashboard to reach billing support.',
      });
    const request = readBody(event.body, MAX_UPGRADE_BODY_BYTES, UpgradeRequestSchema, 'The body must be JSON: {"tier": "pro" | "enterprise"}.');
    if (!request.ok) return request.response;
    const setup = await deps.stripe();
    // An open session is handed out again: a looping key cannot create one Checkout session per call.
    const provider = reusingOpenCheckouts(setup.provider, { store: deps.checkouts, config: deps.config, now: deps.now });
    const started = await startUpgrade(customer, request.data.tier, dashboardUrl(event, deps.dashboardUrl), { ...setup, provider }, deps.now());
    return started.ok ? json(200, { url: started.url }) : json(409, { error: started.code.toLowerCase(), message: started.message });
  };
}
