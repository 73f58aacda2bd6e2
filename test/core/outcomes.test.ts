import type { AccessLogLine } from '../../lambdas/core/gateway-contract.ts';
import { voidReasonOf } from '../../lambdas/core/outcomes.ts';

const logged = (status: number, responseType?: string): AccessLogLine => ({
  requestId: 'r1',
  requestTimeEpoch: 0,
  httpMethod: 'GET',
  resourcePath: '/api/{proxy+}',
  status,
  responseType,
  customerId: 'c1',
  latencyMs: 3,
});

describe('which logged calls are taken back out of the bill', () => {
  it.each([
    [429, 'THROTTLED', 'THROTTLED'],
    [429, 'QUOTA_EXCEEDED', 'QUOTA_EXCEEDED'],
    [403, 'INVALID_API_KEY', 'GATEWAY_REFUSED'], // the gateway key is in no usage plan of the stage
    [403, 'ACCESS_DENIED', 'GATEWAY_REFUSED'],
    [400, 'BAD_REQUEST_BODY', 'GATEWAY_REFUSED'],
    [400, 'BAD_REQUEST_PARAMETERS', 'GATEWAY_REFUSED'],
    [415, 'UNSUPPORTED_MEDIA_TYPE', 'GATEWAY_REFUSED'],
    [413, 'REQUEST_TOO_LARGE', 'GATEWAY_REFUSED'],
    [403, 'DEFAULT_4XX', 'GATEWAY_REFUSED'],
    [502, 'INTEGRATION_FAILURE', 'SERVER_ERROR'],
    [504, 'INTEGRATION_TIMEOUT', 'SERVER_ERROR'], // the backend may have finished; the customer got no answer
    [500, 'API_CONFIGURATION_ERROR', 'SERVER_ERROR'],
    [500, undefined, 'SERVER_ERROR'], // the backend's own 5xx
  ])('a %i with response type %s is voided as %s', (status, responseType, reason) => {
    expect(voidReasonOf(logged(status, responseType))).toBe(reason);
  });

  it.each([
    [200, undefined],
    [404, undefined], // the backend answered: a served call
    [400, undefined],
    [401, 'UNAUTHORIZED'], // before the authorizer allowed: no event to void, and not one to invent
    [403, 'WAF_FILTERED'],
  ])('a %i with response type %s is not voided: served, or refused before it was metered', (status, responseType) => {
    expect(voidReasonOf(logged(status, responseType))).toBeUndefined();
  });
});
