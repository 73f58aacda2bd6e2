/**
 * What the API gateway answers and logs, shared by the CDK stack (gateway responses, access-log
 * format), the outcome path (which parses the log) and the local gateway (which imitates both).
 */
import * as z from 'zod';
import type { BillingConfig } from './config.ts';
import { ROUTES, type RouteSpec } from './routes.ts';

/**
 * The authorizer's identity source: API Gateway invokes the authorizer only when this header is
 * present and non-empty, and answers any other call with the UNAUTHORIZED response itself, so a
 * keyless flood costs no Lambda run (API_Authorizer reference, `identitySource`). Identity sources
 * are all required, so only one header can carry the key: `Authorization: Bearer` is not accepted.
 */
export const API_KEY_HEADER = 'x-api-key';

/** Context the authorizer hands to the gateway; available as `$context.authorizer.<name>`. */
export interface AuthorizerContext {
  readonly customerId: string;
  readonly keyId: string;
  readonly tier: string;
  /** The month's quota, for the backend's X-RateLimit-* headers (tiers with a quota only). */
  readonly rateLimitLimit?: string;
  readonly rateLimitRemaining?: string;
  readonly rateLimitReset?: string;
  [key: string]: string | undefined;
}

/** The X-RateLimit-* headers a metered response carries, from the authorizer's context. */
export function rateLimitHeaders(context: Partial<Record<string, unknown>> | null | undefined): Record<string, string> {
  if (context?.rateLimitLimit === undefined) return {};
  return {
    'X-RateLimit-Limit': String(context.rateLimitLimit),
    'X-RateLimit-Remaining': String(context.rateLimitRemaining),
    'X-RateLimit-Reset': String(context.rateLimitReset),
  };
}

/** Context on a Deny: why, in words a customer can act on. */
export interface DenialContext {
  readonly reason: string;
  readonly message: string;
  [key: string]: string;
}

/**
 * The access-log line, as API Gateway variables. `$context.error.responseType` says whether the
 * gateway itself rejected the call after the authorizer allowed it (THROTTLED, QUOTA_EXCEEDED).
 * It carries the customer id, never a key.
 */
export const ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  requestTimeEpoch: '$context.requestTimeEpoch',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  responseType: '$context.error.responseType',
  customerId: '$context.authorizer.customerId',
  latencyMs: '$context.responseLatency',
} as const;

/** One parsed access-log line. API Gateway writes every value as a string, `-` or empty when unset. */
const unsetAsUndefined = (value: unknown) => (value === '-' || value === '' ? undefined : value);
const optionalLogString = z.preprocess(unsetAsUndefined, z.string().optional());
export const AccessLogLineSchema = z.object({
  requestId: z.string().min(1),
  requestTimeEpoch: z.coerce.number(),
  httpMethod: z.string(),
  resourcePath: optionalLogString,
  status: z.coerce.number().int(),
  responseType: optionalLogString,
  customerId: optionalLogString,
  latencyMs: z.preprocess(unsetAsUndefined, z.coerce.number().optional()),
});
export type AccessLogLine = z.infer<typeof AccessLogLineSchema>;

/** API Gateway's gateway response types the product answers with a JSON body of its own. */
export type GatewayResponseType =
  | 'UNAUTHORIZED'
  | 'ACCESS_DENIED'
  | 'THROTTLED'
  | 'QUOTA_EXCEEDED'
  | 'AUTHORIZER_FAILURE'
  | 'AUTHORIZER_CONFIGURATION_ERROR'
  | 'DEFAULT_4XX'
  | 'DEFAULT_5XX';

export interface GatewayResponseSpec {
  /** Absent for the DEFAULT_* families, which keep the status API Gateway chose. */
  readonly statusCode?: number;
  /** JSON body; `$context.*` variables are filled in by API Gateway (or the local gateway). */
  readonly body: Record<string, string>;
}

/**
 * Where the quota and rate-limit 429s send the customer: the configured `upgradeUrl`, else the
 * API's own pricing page under `apiUrl` (the invoke URL with its stage, e.g. `https://…/prod`).
 */
export function upgradeUrlFor(config: Pick<BillingConfig, 'upgradeUrl'>, apiUrl: string): string {
  return config.upgradeUrl ?? `${apiUrl.replace(/\/$/, '')}${ROUTES.pricing.resource}`;
}

/** The JSON bodies of the gateway's own answers: a client always gets a machine-readable error. */
export function gatewayResponses(upgradeUrl: string): Record<GatewayResponseType, GatewayResponseSpec> {
  return {
    UNAUTHORIZED: {
      statusCode: 401,
      body: {
        error: 'unauthorized',
        message: `Missing, malformed or unknown API key: send the key issued to you in the ${API_KEY_HEADER} header.`,
        requestId: '$context.requestId',
      },
    },
    ACCESS_DENIED: {
      statusCode: 403,
      body: { error: 'forbidden', reason: '$context.authorizer.reason', message: '$context.authorizer.message', requestId: '$context.requestId' },
    },
    THROTTLED: {
      statusCode: 429,
      body: { error: 'rate_limited', message: 'Too many requests for this API key: slow down and retry shortly.', upgradeUrl, requestId: '$context.requestId' },
    },
    QUOTA_EXCEEDED: {
      statusCode: 429,
      body: {
        error: 'quota_exceeded',
        message: "This month's included calls are used up. Upgrade to keep calling.",
        upgradeUrl,
        requestId: '$context.requestId',
      },
    },
    AUTHORIZER_FAILURE: {
      statusCode: 500,
      body: { error: 'authorizer_failure', message: 'The request could not be authorized; retry shortly.', requestId: '$context.requestId' },
    },
    AUTHORIZER_CONFIGURATION_ERROR: {
      statusCode: 500,
      body: { error: 'authorizer_failure', message: 'The request could not be authorized; retry shortly.', requestId: '$context.requestId' },
    },
    DEFAULT_4XX: { body: { error: 'bad_request', message: '$context.error.message', requestId: '$context.requestId' } },
    DEFAULT_5XX: { body: { error: 'internal_error', message: '$context.error.message', requestId: '$context.requestId' } },
  };
}

/**
 * The path the browser sees in front of the API's routes, ending in `/`: `/prod/` on the default
 * invoke URL (which carries the stage), `/` or a base path on a custom domain. The page builds
 * every URL on it, so it works at both.
 */
export function apiBasePath(event: { readonly path: string; readonly requestContext: { readonly path?: string } }): string {
  const seen = event.requestContext.path ?? event.path;
  const prefix = seen.endsWith(event.path) ? seen.slice(0, seen.length - event.path.length) : '';
  return `${prefix}/`;
}

/** A stage-level throttle on one route, across all callers (API Gateway's per-method throttling). */
export interface MethodThrottle {
  readonly route: RouteSpec;
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/**
 * Routes the stage throttles on their own: every free route (no usage plan, so no per-key
 * throttle), a route added to ROUTES included. `POST /feedback` keeps the survey's tighter figure.
 * The stack sets them as method settings; the local gateway applies them.
 */
export function methodThrottles(config: Pick<BillingConfig, 'freeRouteThrottle' | 'survey'>): MethodThrottle[] {
  return Object.values(ROUTES)
    .filter((route: RouteSpec) => route.access === 'free')
    .map((route) => ({ route, ...(route === ROUTES.feedback ? config.survey.throttle : config.freeRouteThrottle) }));
}
