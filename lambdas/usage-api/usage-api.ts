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
