/** GET /usage: the caller's own usage report, authenticated by its key and never metered. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { BillingConfig } from '#core/config.ts';
import { surveyPrompt, type FeedbackStore } from '#core/feedback.ts';
import type { CustomerRegistry } from '#core/ports.ts';
import { usageReport, type UsageHistory, type UsageReport } from '#core/usage-report.ts';

/** What `GET /usage` answers: the usage report, and whether the dashboard asks the NPS survey. */
export interface UsageResponse extends UsageReport {
  readonly survey: { readonly ask: boolean };
}

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

/**
 * Why GET /usage has no per-customer limit or cache of its own (issue 13): its worst case is
 * bounded by the stage's method throttle on the route. A call reads the customer (1 item), the
 * survey's last answer, and four months of hour counters: at most about 3,000 small items, about
 * 40 eventually consistent read units, about $5 per million calls, so the throttle's rate times
 * that is the most a looping key can cost. A cache in the handler would not bound it (each
 * concurrent Lambda instance has its own) and would show the dashboard a stale report right after
 * a reconciliation, a tier change or a survey answer; a DynamoDB counter per customer would add a
 * write to every honest call. Neither stops one key from filling the stage throttle: only a per-key
 * throttle in front of the Lambda can, which is the gateway's job, not this handler's.
 * The one exception is Stripe: the report's invoices are one Stripe list request, which shares the
 * account's rate limit with the sync, so that read (and only it) is cached per customer for 30 s in
 * each instance (#core/customer-billing.ts invoiceSource), keyed by the customer's last subscription
 * event and payment issue so a failed or recovered payment is never shown stale.
 */
export function createUsageApi(deps: {
  registry: Pick<CustomerRegistry, 'getCustomer'>;
  history: UsageHistory;
  feedback: Pick<FeedbackStore, 'last'>;
  config: BillingConfig;
  now: () => number;
}) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext'>): Promise<APIGatewayProxyResult> => {
    // The authorizer put the customer id in the context; the key itself never reaches this function.
    const customerId = event.requestContext.authorizer?.customerId as string | undefined;
    if (!customerId) return json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });
    const customer = await deps.registry.getCustomer(customerId);
    if (!customer) return json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });
    const now = deps.now();
    const [report, survey] = await Promise.all([
      usageReport(customer, deps.history, deps.config, now),
      surveyPrompt(customer, deps.feedback, deps.config, now),
    ]);
    return json(200, { ...report, survey } satisfies UsageResponse);
  };
}
