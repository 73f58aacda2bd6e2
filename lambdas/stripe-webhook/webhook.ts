/**
 * The webhook Lambda's logic, wired to its dependencies but not to an environment (the local stack uses it too).
 *
 * Answers, as Stripe reads them: a bad or missing signature is a 400 that changes nothing; a verified
 * event is a 200 once handled, also when it is a duplicate, of a type we do not use or of a shape we
 * cannot read (a 5xx would only make Stripe retry it for days); a delivery of an event another delivery
 * is handling is a 409, and a failure (DynamoDB, Stripe, API Gateway, or a tier change that lost its
 * switch to a concurrent change to another tier) a 500: Stripe retries both.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type Stripe from 'stripe';
import type { AlertSink } from '#core/alerts.ts';
import type { GatewayKeyRegistry } from '#core/ports.ts';
import { reconcileCustomerMonth } from '#core/reconciliation.ts';
import { handleBillingEvent, WEBHOOK_TIMEOUT_MS, type BillingEvent } from '#core/webhooks.ts';
import type { BillingServices } from '#adapters/billing-services.ts';
import { dynamoEventClaims } from '#adapters/event-claims.ts';

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export function createWebhookHandler(deps: {
  stripe: Stripe;
  webhookSecret: string;
  services: BillingServices;
  gatewayKeys: GatewayKeyRegistry;
  /** Where a drafted invoice's reconciliation reports what it cannot explain. */
  alerts: AlertSink;
  /** Where event ids are claimed: the idempotency table. */
  claims: { client: DynamoDBClient; tableName: string };
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
}) {
  const claims = dynamoEventClaims(
    async (event: BillingEvent) => {
      return handleBillingEvent(event, {
        registry: deps.services.customers,
        gatewayKeys: deps.gatewayKeys,
        retirements: deps.services.retirements,
        state: deps.services.state,
        reconcile: async (customer, month, { paused }) =>
          reconcileCustomerMonth(customer, month, await deps.services.reconciliation(deps.alerts), { trigger: 'invoice', paused }),
        billing: deps.services.provider,
        checkouts: deps.services.checkouts,
        config: deps.services.config,
        now: deps.services.now,
      });
    },
    { ...deps.claims, maxProcessingMs: WEBHOOK_TIMEOUT_MS },
  );

  return async (event: Pick<APIGatewayProxyEvent, 'body' | 'headers' | 'isBase64Encoded'>, context?: Context): Promise<APIGatewayProxyResult> => {
    const payload = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : (event.body ?? '');
    const signature = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'stripe-signature')?.[1];
    let verified: Stripe.Event;
    try {
      if (!signature) throw new Error('missing Stripe-Signature header');
      // No body-size bound of our own (unlike the customer routes): constructEvent checks the HMAC
      // over the raw body before it parses anything, so an unsigned body of any size (API Gateway
      // caps it at 10 MB) is refused unparsed, and Stripe's own events can be large.
      verified = deps.stripe.webhooks.constructEvent(payload, signature, deps.webhookSecret);
    } catch (error) {
      deps.logger.warn('webhook rejected', { reason: error instanceof Error ? error.message : String(error) });
      return json(400, { error: 'invalid_signature', message: 'The webhook signature could not be verified.' });
    }
    // Ids only in every log line: an event's object holds customers' names, e-mails and addresses.
    const ids = { eventId: verified.id, type: verified.type };
    // A signed event without an object is Stripe's bug or ours; retrying it would not help.
    const object: unknown = (verified as { data?: { object?: unknown } }).data?.object;
    if (object === undefined) {
      deps.logger.warn('webhook ignored', { ...ids, outcome: 'ignored', reason: 'event has no data.object' });
      return json(200, { received: true, outcome: 'ignored' });
    }
    if (context) claims.registerContext(context);
    try {
      const claimed = await claims.once({ id: verified.id, type: verified.type, created: verified.created, object });
      if (claimed.kind === 'in-progress') {
        deps.logger.info('webhook in progress elsewhere', ids);
        return json(409, { error: 'in_progress', message: 'Another delivery of this event is being processed; retry later.' });
      }
      const outcome = claimed.kind === 'duplicate' ? ({ kind: 'duplicate' } as const) : claimed.result;
      const reason = outcome.kind === 'ignored' ? { reason: outcome.reason } : {};
      deps.logger.info('webhook processed', { ...ids, outcome: outcome.kind, ...reason });
      return json(200, { received: true, outcome: outcome.kind });
    } catch (error) {
      // The claim is released (the utility deletes it before rethrowing): Stripe's retry acts afresh.
      deps.logger.error('webhook failed', { ...ids, error: error instanceof Error ? `${error.name}: ${error.message}` : 'unknown' });
      return json(500, { error: 'processing_failed', message: 'The event could not be processed; Stripe will retry it.' });
    }
  };
}
