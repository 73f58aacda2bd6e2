/** The metering authorizer, wired to its dependencies but not to an environment. */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import { authorizeCall, type CallDecision, type MeteringDeps } from '#core/metering.ts';
import type { AuthorizerContext, DenialContext } from '#core/gateway-contract.ts';

export interface AuthorizerDeps extends MeteringDeps {
  readonly now: () => number;
  readonly logger: Pick<Logger, 'info' | 'debug'>;
}

/** API Gateway turns exactly this error message into its 401 UNAUTHORIZED response. */
const UNAUTHORIZED = 'Unauthorized';

export function createAuthorizer(deps: AuthorizerDeps) {
  return async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const requestId = event.requestContext.requestId;
    const decision = await authorizeCall({ headers: event.headers, requestId, method: event.httpMethod, route: event.resource, now: deps.now() }, deps);
    return toAuthorizerResult(decision, event.methodArn, requestId, deps.logger);
  };
}

function toAuthorizerResult(decision: CallDecision, methodArn: string, requestId: string, logger: AuthorizerDeps['logger']): APIGatewayAuthorizerResult {
  if (!decision.ok) {
    // Ids only: never the key, never the headers.
    logger.info('call denied', { requestId, code: decision.code });
    if (decision.status === 401) throw new Error(UNAUTHORIZED);
    const context: DenialContext = { reason: decision.code, message: decision.message };
    return { principalId: 'denied', policyDocument: policy('Deny', methodArn), context };
  }
  const { customer, key } = decision;
  logger.debug('call allowed', { requestId, customerId: customer.customerId, keyId: key.keyId, metering: decision.metering });
  const context: AuthorizerContext = {
    customerId: customer.customerId,
    keyId: key.keyId,
    tier: customer.tier,
    ...(decision.quota && {
      rateLimitLimit: String(decision.quota.limit),
      rateLimitRemaining: String(decision.quota.remaining),
      rateLimitReset: String(decision.quota.resetAt),
    }),
  };
  return {
    principalId: customer.customerId,
    policyDocument: policy('Allow', methodArn),
    context,
    usageIdentifierKey: customer.gatewayKeyValue,
  };
}

function policy(effect: 'Allow' | 'Deny', resource: string): APIGatewayAuthorizerResult['policyDocument'] {
  return { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] };
}
