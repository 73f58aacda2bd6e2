/**
 * The outcome path: the access log says what the gateway did with each call after the authorizer
 * metered it. Calls it refused (THROTTLED, QUOTA_EXCEEDED) or answered with a 5xx are voided, once
 * each, by a conditional update of their event; outcomes are counted per customer and hour (the
 * API error-rate metric), once per delivered batch of log lines.
 */
import type { AccessLogLine } from './gateway-contract.ts';
import type { VoidReason } from './model.ts';
import { utcHour } from './time.ts';

/**
 * API Gateway's response types that can follow an Allow from the authorizer (which has already
 * written the call's usage event) and mean the backend never answered the call: the usage plan's
 * throttle and quota, a gateway key in no usage plan of the stage, a policy that does not cover
 * the method, request validation, and the integration's failures. A type that only happens before
 * the authorizer (a missing key, WAF) leaves no event, so voiding it would be a no-op.
 */
export const VOIDED_RESPONSE_TYPES: ReadonlySet<string> = new Set([
  'THROTTLED',
  'QUOTA_EXCEEDED',
  'INVALID_API_KEY',
  'ACCESS_DENIED',
  'BAD_REQUEST_PARAMETERS',
  'BAD_REQUEST_BODY',
  'UNSUPPORTED_MEDIA_TYPE',
  'REQUEST_TOO_LARGE',
  'INTEGRATION_FAILURE',
  'INTEGRATION_TIMEOUT',
  'API_CONFIGURATION_ERROR',
  'DEFAULT_4XX',
  'DEFAULT_5XX',
]);

/**
 * Whether a logged call is taken back out of the bill, and why. Any 5xx is voided, including
 * the gateway's 504 after the 29 s integration time-out: the backend may still have finished the
 * work, but the customer got no answer, and we bill answers. A 4xx the backend itself returned
 * (no response type) was served and stays billed.
 */
export function voidReasonOf(line: AccessLogLine): VoidReason | undefined {
  if (line.responseType === 'THROTTLED' || line.responseType === 'QUOTA_EXCEEDED') return line.responseType;
  if (line.status >= 500) return 'SERVER_ERROR';
  if (line.responseType && VOIDED_RESPONSE_TYPES.has(line.responseType)) return 'GATEWAY_REFUSED';
  return undefined;
}

export interface OutcomeCount {
  readonly customerId: string;
  readonly hour: string;
  readonly s2xx: number;
  readonly s4xx: number;
  readonly s5xx: number;
}

/** Outcomes per customer and hour; lines without a customer (refused before the authorizer allowed them) are left out. */
export function countOutcomes(lines: readonly AccessLogLine[]): OutcomeCount[] {
  const counts = new Map<string, { customerId: string; hour: string; s2xx: number; s4xx: number; s5xx: number }>();
  for (const line of lines) {
    if (!line.customerId) continue;
    const hour = utcHour(line.requestTimeEpoch);
    const key = `${line.customerId}|${hour}`;
    const count = counts.get(key) ?? { customerId: line.customerId, hour, s2xx: 0, s4xx: 0, s5xx: 0 };
    if (line.status >= 500) count.s5xx += 1;
    else if (line.status >= 400) count.s4xx += 1;
    else count.s2xx += 1;
    counts.set(key, count);
  }
  return [...counts.values()];
}

export interface OutcomeStore {
  /** Voids the event unless it is absent (the authorizer denied the call) or already void. */
  voidEvent(requestId: string, reason: VoidReason): Promise<'voided' | 'unchanged'>;
  /** Adds the counts once for `batchId`: a redelivered batch adds nothing. */
  addOutcomeCounts(batchId: string, counts: readonly OutcomeCount[]): Promise<'added' | 'duplicate'>;
}

export interface OutcomeResult {
  readonly voided: number;
  readonly counted: 'added' | 'duplicate';
}

/** Handles one delivered batch of access-log lines; `batchId` must be the same on redelivery. */
export async function handleAccessLog(batchId: string, lines: readonly AccessLogLine[], store: OutcomeStore): Promise<OutcomeResult> {
  let voided = 0;
  for (const line of lines) {
    const reason = voidReasonOf(line);
    if (reason && line.customerId && (await store.voidEvent(line.requestId, reason)) === 'voided') voided += 1;
  }
  return { voided, counted: await store.addOutcomeCounts(batchId, countOutcomes(lines)) };
}
