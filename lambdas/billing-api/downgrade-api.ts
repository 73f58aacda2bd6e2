/**
 * POST /billing/downgrade (opt out to Free at the end of the billing month) and DELETE /billing/downgrade
 * (undo it): free routes, key-authenticated and never metered. Bad input is a JSON 400 (413 when too
 * large to be a confirmation), a refused change a JSON 403 or 409, and none changes anything.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { cancelDowngrade, scheduleDowngrade, type DowngradeDeps, type DowngradeOutcome } from '#core/downgrade.ts';
import { parseBoundedJson } from '#core/customer-text.ts';
import type { CustomerRegistry } from '#core/ports.ts';

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

/** The terms the customer confirmed: when Free applies, as `plan.optOut.takesEffectAt` of GET /usage said. */
const DowngradeRequestSchema = z.object({ takesEffectAt: z.iso.datetime() }).strict();
/** `{"takesEffectAt": "2026-12-01T00:00:00.000Z"}` is 45 bytes: anything near this bound is not a confirmation. */
const MAX_DOWNGRADE_BODY_BYTES = 1_024;
const BAD_REQUEST = json(400, { error: 'bad_request', message: 'The body must be JSON: {"takesEffectAt": "<plan.optOut.takesEffectAt of GET /usage>"}.' });

function answer(outcome: DowngradeOutcome): APIGatewayProxyResult {
  if (!outcome.ok) return json(409, { error: outcome.code.toLowerCase(), message: outcome.message });
  return json(200, { pendingChange: { to: 'free', at: new Date(outcome.at).toISOString() } });
}

export function createDowngradeApi(deps: DowngradeDeps & { registry: Pick<CustomerRegistry, 'getCustomer' | 'updateCustomer'> }) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'body' | 'httpMethod'>): Promise<APIGatewayProxyResult> => {
    const customerId = event.requestContext.authorizer?.customerId as string | undefined;
    const customer = customerId ? await deps.registry.getCustomer(customerId) : undefined;
    if (!customer) return json(401, { error: 'unauthorized', message: 'Missing, malformed or unknown API key.' });
    // A suspended account's billing is in billing support's hands (a chargeback, a dispute): changes go through them.
    if (customer.status === 'suspended')
      return json(403, {
        error: 'account_suspended',
        message: 'This account is suspended; report a billing problem from the dashboard to change your plan through billing support.',
      });
    if (event.httpMethod === 'DELETE') {
      const undone = await cancelDowngrade(customer, deps);
      return undone.ok ? json(200, { pendingChange: null }) : answer(undone);
    }
    const read = parseBoundedJson(event.body, MAX_DOWNGRADE_BODY_BYTES);
    if (!read.ok)
      return read.code === 'BODY_TOO_LARGE'
        ? json(413, { error: 'payload_too_large', message: `The body must be at most ${read.maxBytes} bytes.` })
        : BAD_REQUEST;
    const request = DowngradeRequestSchema.safeParse(read.json);
    if (!request.success) return BAD_REQUEST;
    return answer(await scheduleDowngrade(customer, request.data.takesEffectAt, deps));
  };
}
