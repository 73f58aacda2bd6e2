/**
 * POST /billing/downgrade (opt out to Free at the end of the billing month) and DELETE /billing/downgrade
 * (undo it): free routes, key-authenticated and never metered. Bad input is a JSON 400 (413 when too
 * large to be a confirmation), a refused change a JSON 403 or 409, and none changes anything.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { cancelDowngrade, scheduleDowngrade, type DowngradeDeps, type DowngradeOutcome } from '#core/downgrade.ts';
import type { CustomerRegistry } from '#core/ports.ts';
import { callingCustomer, json, readBody, UNAUTHORIZED } from './http.ts';

/** The terms the customer confirmed: when Free applies, as `plan.optOut.takesEffectAt` of GET /usage said. */
const DowngradeRequestSchema = z.object({ takesEffectAt: z.iso.datetime() }).strict();
/** `{"takesEffectAt": "2026-12-01T00:00:00.000Z"}` is 45 bytes: anything near this bound is not a confirmation. */
const MAX_DOWNGRADE_BODY_BYTES = 1_024;

function answer(outcome: DowngradeOutcome): APIGatewayProxyResult {
  if (!outcome.ok) return json(409, { error: outcome.code.toLowerCase(), message: outcome.message });
  return json(200, { pendingChange: { to: 'free', at: new Date(outcome.at).toISOString() } });
}

export function createDowngradeApi(deps: DowngradeDeps & { registry: Pick<CustomerRegistry, 'getCustomer' | 'updateCustomer'> }) {
  return async (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'body' | 'httpMethod'>): Promise<APIGatewayProxyResult> => {
    const customer = await callingCustomer(event, deps.registry);
    if (!customer) return UNAUTHORIZED;
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
    const request = readBody(
      event.body,
      MAX_DOWNGRADE_BODY_BYTES,
      DowngradeRequestSchema,
      'The body must be JSON: {"takesEffectAt": "<plan.optOut.takesEffectAt of GET /usage>"}.',
    );
    if (!request.ok) return request.response;
    return answer(await scheduleDowngrade(customer, request.data.takesEffectAt, deps));
  };
}
