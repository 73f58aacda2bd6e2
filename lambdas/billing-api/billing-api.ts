/** POST /billing/upgrade: a free route (key-authenticated, never metered) that starts Stripe Checkout for a higher tier. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { reusingOpenCheckouts, type CheckoutSessionStore } from '#core/checkout-reuse.ts';
import { TierNameSchema, type BillingConfig } from '#core/config.ts';
import { parseBoundedJson } from '#core/customer-text.ts';
import { apiBasePath } from '#core/gateway-contract.ts';
import type { CustomerRegistry } from '#core/ports.ts';
import { startUpgrade, type StripeSetup } from '#core/subscriptions.ts';

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});
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
    const customerId = event.requestContext.authorizer?.customerId as string | undefined;
    const customer = customerId ? await deps.registry.getCustomer(customerId) : undefined;
    if (!customer) return json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });
    // Free routes serve a suspended customer (to read its usage and file a ticket), but it cannot buy a tier.
    if (customer.status === 'suspended')
      return json(403, {
        error: 'account_suspended',
        message: 'This account is suspended; report a billing problem from the dashboard to reach billing support.',
      });
    const read = parseBoundedJson(event.body, MAX_UPGRADE_BODY_BYTES);
    if (!read.ok)
      return read.code === 'BODY_TOO_LARGE'
        ? json(413, { error: 'payload_too_large', message: `The body must be at most ${read.maxBytes} bytes.` })
        : json(400, { error: 'bad_request', message: 'The body must be JSON: {"tier": "pro" | "enterprise"}.' });
    const request = UpgradeRequestSchema.safeParse(read.json);
    if (!request.success) return json(400, { error: 'bad_request', message: 'The body must be JSON: {"tier": "pro" | "enterprise"}.' });
    const dashboardUrl = deps.dashboardUrl ?? `https://${event.requestContext.domainName}${apiBasePath(event)}dashboard`;
    const setup = await deps.stripe();
    // An open session is handed out again: a looping key cannot create one Checkout session per call.
    const provider = reusingOpenCheckouts(setup.provider, { store: deps.checkouts, config: deps.config, now: deps.now });
    const started = await startUpgrade(customer, request.data.tier, dashboardUrl, { ...setup, provider }, deps.now());
    return started.ok ? json(200, { url: started.url }) : json(409, { error: started.code.toLowerCase(), message: started.message });
  };
}
