/** The webhook Lambda's logic, wired to its dependencies but not to an environment (the local stack uses it too). */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import Stripe from 'stripe';
import type { GatewayKeyRegistry } from '#core/ports.ts';
import { handleBillingEvent } from '#core/webhooks.ts';
import type { BillingServices } from '#adapters/billing-services.ts';

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({ statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

export function createWebhookHandler(deps: {
  stripe: Stripe;
  webhookSecret: string;
  services: BillingServices;
  gatewayKeys: GatewayKeyRegistry;
  logger: Pick<Logger, 'info' | 'warn'>;
}) {
  return async (event: Pick<APIGatewayProxyEvent, 'body' | 'headers' | 'isBase64Encoded'>): Promise<APIGatewayProxyResult> => {
    const payload = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : (event.body ?? '');
    const signature = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'stripe-signature')?.[1];
    let verified: Stripe.Event;
    try {
      if (!signature) throw new Error('missing Stripe-Signature header');
      verified = deps.stripe.webhooks.constructEvent(payload, signature, deps.webhookSecret);
    } catch (error) {
      deps.logger.warn('webhook rejected', { reason: error instanceof Error ? error.message : String(error) });
      return json(400, { error: 'invalid_signature', message: 'The webhook signature could not be verified.' });
    }
    const { sync } = await deps.services.ready();
    const outcome = await handleBillingEvent(
      { id: verified.id, type: verified.type, created: verified.created, object: verified.data.object },
      { registry: deps.services.customers, gatewayKeys: deps.gatewayKeys, retirements: deps.services.retirements, config: deps.services.config, state: deps.services.state, sync, billing: deps.services.provider, now: deps.services.now },
    );
    deps.logger.info('webhook processed', { eventId: verified.id, type: verified.type, outcome: outcome.kind });
    return json(200, { received: true, outcome: outcome.kind });
  };
}
