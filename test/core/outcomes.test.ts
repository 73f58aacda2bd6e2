import type { AccessLogLine } from '../../lambdas/core/gateway-contract.ts';
import type { VoidReason } from '../../lambdas/core/model.ts';
import { countOutcomes, handleAccessLog, voidReasonOf, type OutcomeCount, type OutcomeStore } from '../../lambdas/core/outcomes.ts';

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

describe('the outcome path over a batch of log lines', () => {
  const line = (requestId: string, status: number, extra: Partial<AccessLogLine> = {}): AccessLogLine => ({
    requestId,
    requestTimeEpoch: Date.UTC(2026, 10, 24, 13, 30),
    httpMethod: 'GET',
    resourcePath: '/api/{proxy+}',
    status,
    customerId: 'c1',
    latencyMs: 3,
    ...extra,
  });

  it('counts outcomes per customer and hour, leaving out lines with no customer', () => {
    const lines = [
      line('a', 200),
      line('b', 399),
      line('c', 400),
      line('d', 499),
      line('e', 500),
      line('f', 503),
      line('g', 200, { customerId: 'c2' }),
      line('h', 200, { requestTimeEpoch: Date.UTC(2026, 10, 24, 14) }),
      line('i', 401, { customerId: undefined, responseType: 'UNAUTHORIZED' }),
    ];
    expect(countOutcomes(lines)).toEqual([
      { customerId: 'c1', hour: '2026-11-24T13', s2xx: 2, s4xx: 2, s5xx: 2 },
      { customerId: 'c2', hour: '2026-11-24T13', s2xx: 1, s4xx: 0, s5xx: 0 },
      { customerId: 'c1', hour: '2026-11-24T14', s2xx: 1, s4xx: 0, s5xx: 0 },
    ]);
  });

  /** An in-memory OutcomeStore: events that exist, voided once each; counts added once per batch. */
  const memoryStore = (existing: string[]) => {
    const voids = new Map<string, VoidReason>();
    const batches = new Map<string, readonly OutcomeCount[]>();
    const store: OutcomeStore = {
      async voidEvent(requestId, reason) {
        if (!existing.includes(requestId) || voids.has(requestId)) return 'unchanged';
        voids.set(requestId, reason);
        return 'voided';
      },
      async addOutcomeCounts(batchId, counts) {
        if (batches.has(batchId)) return 'duplicate';
        batches.set(batchId, counts);
        return 'added';
      },
    };
    return { store, voids, batches };
  };

  it('voids the refused and failed calls it can find, once, and counts the batch once', async () => {
    const { store, voids, batches } = memoryStore(['ok', 'throttled', 'failed', 'gone-before']);
    const lines = [
      line('ok', 200),
      line('throttled', 429, { responseType: 'THROTTLED' }),
      line('failed', 502, { responseType: 'INTEGRATION_FAILURE' }),
      line('never-metered', 500), // no event: the authorizer denied it
      line('anonymous', 500, { customerId: undefined, requestId: 'gone-before' }),
    ];
    expect(await handleAccessLog('batch-1', lines, store)).toEqual({ voided: 2, counted: 'added' });
    expect([...voids]).toEqual([
      ['throttled', 'THROTTLED'],
      ['failed', 'SERVER_ERROR'],
    ]);
    expect(batches.get('batch-1')).toEqual(countOutcomes(lines));
    // Redelivered: nothing voided twice, nothing counted twice.
    expect(await handleAccessLog('batch-1', lines, store)).toEqual({ voided: 0, counted: 'duplicate' });
  });
});
