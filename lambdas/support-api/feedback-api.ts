/** POST /feedback: the customer's NPS answer or dismissal (key-authenticated, never metered, throttled at the stage). */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { BillingConfig } from '#core/config.ts';
import { parseFeedbackRequest, submitFeedback, type FeedbackStore } from '#core/feedback.ts';

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

export function createFeedbackApi(deps: { store: FeedbackStore; config: Pick<BillingConfig, 'survey'>; now: () => number }) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'body'>): Promise<APIGatewayProxyResult> => {
    const customerId = event.requestContext.authorizer?.customerId as string | undefined;
    if (!customerId) return json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });
    const parsed = parseFeedbackRequest(event.body, deps.config);
    if (!parsed.ok) return json(parsed.code === 'BODY_TOO_LARGE' ? 413 : 400, { error: 'bad_request', message: parsed.message });
    const now = deps.now();
    const outcome = await submitFeedback(customerId, parsed.request, { store: deps.store, config: deps.config, now });
    if (!outcome.ok) {
      const retryAt = new Date(outcome.retryAt).toISOString();
      return json(
        429,
        { error: 'too_soon', message: `You answered or dismissed the survey recently: you can answer again from ${retryAt.slice(0, 10)}.`, retryAt },
        { 'retry-after': String(Math.max(1, Math.ceil((outcome.retryAt - now) / 1000))) },
      );
    }
    return json(201, { recorded: outcome.entry.kind, nextSurveyAt: new Date(outcome.nextSurveyAt).toISOString() });
  };
}
