/**
 * The local stand-in for API Gateway (REST, `apiKeySource: AUTHORIZER`): it builds the event API
 * Gateway sends, calls the same authorizer handler (only for calls carrying its identity source, the
 * `x-api-key` header), applies the tier's usage plan (throttle, then monthly quota) to the key the
 * authorizer returns, answers with the same JSON gateway responses, proxies allowed calls to the
 * backend and writes one access-log line per call.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { monthlyQuotaOf, type BillingConfig } from '../lambdas/core/config.ts';
import {
  type ACCESS_LOG_FORMAT,
  API_KEY_HEADER,
  gatewayResponses,
  type GatewayResponseSpec,
  type GatewayResponseType,
  methodThrottles,
  upgradeUrlFor,
} from '../lambdas/core/gateway-contract.ts';
import type { RouteSpec } from '../lambdas/core/routes.ts';
import { utcMonth } from '../lambdas/core/time.ts';
import type { LocalGatewayKeyRegistry } from '../lambdas/adapters/gateway-keys-local.ts';

/** One access-log line with the fields of ACCESS_LOG_FORMAT, every value a string as API Gateway writes it. */
export type RawAccessLogLine = Record<keyof typeof ACCESS_LOG_FORMAT, string>;

/** A method of the API: one of the product's routes (lambdas/core/routes.ts), as the stack adds it, and its handler. */
export interface LocalRoute {
  readonly route: RouteSpec;
  readonly handler: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
}

export interface LocalGatewayOptions {
  readonly authorizer: (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;
  readonly routes: readonly LocalRoute[];
  readonly gatewayKeys: Pick<LocalGatewayKeyRegistry, 'findByValue'>;
  readonly config: Pick<BillingConfig, 'tiers' | 'rateLimit' | 'upgradeUrl' | 'freeRouteThrottle' | 'survey'>;
  readonly accessLog: (line: RawAccessLogLine) => void;
  /** @default 0 - any free port */
  readonly port?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface RunningLocalGateway {
  /** The invoke URL, with the stage in its path as API Gateway's default URL has it (`…/prod`). */
  readonly url: string;
  readonly server: Server;
  /** Counts calls against a key's monthly quota, as if served (for seeding a demo month). */
  chargeQuota(gatewayKeyId: string, month: string, calls: number): void;
  stop(): Promise<void>;
}

const STAGE = 'prod';
/** Matches a path against a resource template; returns the path parameters, or undefined. */
function matchResource(resource: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const pattern = resource
    .split('/')
    .map((segment) => {
      const parameter = /^\{([A-Za-z]+)(\+?)\}$/.exec(segment);
      if (!parameter) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(parameter[1]!);
      return parameter[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  const match = new RegExp(`^${pattern}$`).exec(path);
  if (!match) return undefined;
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1]!)]));
}

/** A token bucket per gateway key, as API Gateway throttles a usage plan: `burst` at once, then the steady rate. */
class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  take(key: string, now: number): boolean {
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

export async function startLocalGateway(options: LocalGatewayOptions): Promise<RunningLocalGateway> {
  const now = options.now ?? Date.now;
  // Filled in once the server listens: the default upgrade link is this gateway's own /pricing.
  let responses: Record<GatewayResponseType, GatewayResponseSpec> | undefined;
  const buckets = new TokenBuckets(options.config.rateLimit.requestsPerMinute / 60, options.config.rateLimit.burst);
  const quotaUsed = new Map<string, number>(); // `${gatewayKeyId}|${month}` -> calls counted against the quota
  // The stage's per-method throttles: one bucket per route, shared by every caller, applied before the authorizer as API Gateway does.
  const routeKey = (route: RouteSpec) => `${route.method} ${route.resource}`;
  const methodBuckets = new Map(methodThrottles(options.config).map((t) => [routeKey(t.route), new TokenBuckets(t.rateLimit, t.burstLimit)]));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = now();
    const requestId = randomUUID();
    const requestUrl = new URL(req.url ?? '/', 'http://localhost');
    // The default invoke URL carries the stage: a path outside it is API Gateway's 403, so a page
    // that forgets the stage breaks here as it would on AWS.
    const stagePrefix = `/${STAGE}`;
    const inStage = requestUrl.pathname === stagePrefix || requestUrl.pathname.startsWith(`${stagePrefix}/`);
    const url = new URL(`${requestUrl.pathname.slice(stagePrefix.length) || '/'}${requestUrl.search}`, 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const headers = flattenHeaders(req);
    const body = await readBody(req);
    const context: Record<string, string> = { requestId };
    let responseType = '-';

    const send = (status: number, payload: string, extraHeaders: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, ...extraHeaders });
      res.end(payload);
      options.accessLog({
        requestId,
        requestTimeEpoch: String(startedAt),
        httpMethod: method,
        resourcePath: route?.resource ?? '-',
        status: String(status),
        responseType,
        customerId: context['authorizer.customerId'] ?? '-',
        latencyMs: String(now() - startedAt),
      });
    };
    const sendGatewayResponse = (type: GatewayResponseType, status?: number, message?: string) => {
      responseType = type;
      if (message) context['error.message'] = message;
      const spec = responses![type];
      const filled = Object.fromEntries(
        Object.entries(spec.body).map(([k, v]) => [k, v.replace(/\$context\.([A-Za-z.]+)/g, (_, name: string) => context[name] ?? '')]),
      );
      send(spec.statusCode ?? status ?? 500, JSON.stringify(filled));
    };

    let pathParameters: Record<string, string> | undefined;
    const match = options.routes.find(
      (r) => (r.route.method === 'ANY' || r.route.method === method) && (pathParameters = matchResource(r.route.resource, url.pathname)),
    );
    const route = match?.route;
    if (!inStage) return send(403, JSON.stringify({ message: 'Forbidden' }));
    if (!match || !route || !pathParameters) return sendGatewayResponse('DEFAULT_4XX', 403, 'Missing Authentication Token');
    if (methodBuckets.get(routeKey(route))?.take(routeKey(route), now()) === false) return sendGatewayResponse('THROTTLED');
    const proxyEvent = (authorizerContext: Record<string, unknown> | undefined): APIGatewayProxyEvent => ({
      resource: route.resource,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      queryStringParameters: url.searchParams.size ? Object.fromEntries(url.searchParams) : null,
      multiValueQueryStringParameters: null,
      pathParameters: Object.keys(pathParameters!).length ? pathParameters! : null,
      stageVariables: null,
      body: body || null,
      isBase64Encoded: false,
      requestContext: {
        ...requestContext(requestId, method, route.resource, url.pathname, startedAt),
        authorizer: authorizerContext,
      } as unknown as APIGatewayProxyEvent['requestContext'],
    });
    const invoke = async (authorizerContext: Record<string, unknown> | undefined) => {
      let result: APIGatewayProxyResult;
      try {
        result = await match.handler(proxyEvent(authorizerContext));
      } catch (error) {
        console.error(`integration failed for ${requestId}:`, error instanceof Error ? error.message : error);
        return sendGatewayResponse('DEFAULT_5XX', 502, 'Internal server error');
      }
      const resultHeaders = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
      send(result.statusCode, result.body, resultHeaders);
    };
    if (route.access === 'public' || route.access === 'stripe-signed') return invoke(undefined);
    // The authorizer's identity source: without it (or with it empty) API Gateway answers 401 and never invokes the authorizer.
    if (!headers[API_KEY_HEADER]) return sendGatewayResponse('UNAUTHORIZED');

    const authorizerEvent: APIGatewayRequestAuthorizerEvent = {
      type: 'REQUEST',
      methodArn: `arn:aws:execute-api:local:000000000000:local/${STAGE}/${method}${url.pathname}`,
      resource: route.resource,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      pathParameters: Object.keys(pathParameters).length ? pathParameters : null,
      queryStringParameters: url.searchParams.size ? Object.fromEntries(url.searchParams) : null,
      multiValueQueryStringParameters: null,
      stageVariables: null,
      requestContext: requestContext(
        requestId,
        method,
        route.resource,
        url.pathname,
        startedAt,
      ) as unknown as APIGatewayRequestAuthorizerEvent['requestContext'],
    };

    let authorization: APIGatewayAuthorizerResult;
    try {
      authorization = await options.authorizer(authorizerEvent);
    } catch (error) {
      if (error instanceof Error && error.message === 'Unauthorized') return sendGatewayResponse('UNAUTHORIZED');
      console.error(`authorizer failed for ${requestId}:`, error instanceof Error ? error.message : error);
      return sendGatewayResponse('AUTHORIZER_FAILURE');
    }
    for (const [k, v] of Object.entries(authorization.context ?? {})) context[`authorizer.${k}`] = String(v);
    const allowed = authorization.policyDocument.Statement.some((s) => 'Effect' in s && s.Effect === 'Allow');
    if (!allowed) return sendGatewayResponse('ACCESS_DENIED');
    const authorizerContext = { principalId: authorization.principalId, ...authorization.context };
    if (route.access === 'free') return invoke(authorizerContext);

    // Usage plan: the key the authorizer names must exist and be in a plan of this stage, as with
    // apiKeySource AUTHORIZER; otherwise API Gateway answers 403 after the authorizer has metered the call.
    const gatewayKey = authorization.usageIdentifierKey ? options.gatewayKeys.findByValue(authorization.usageIdentifierKey) : undefined;
    if (!gatewayKey?.tier) return sendGatewayResponse('DEFAULT_4XX', 403, 'Forbidden');
    if (!buckets.take(gatewayKey.gatewayKeyId, now())) return sendGatewayResponse('THROTTLED');
    const quota = monthlyQuotaOf(options.config.tiers[gatewayKey.tier]);
    if (quota !== undefined) {
      const quotaKey = `${gatewayKey.gatewayKeyId}|${utcMonth(now())}`;
      const used = quotaUsed.get(quotaKey) ?? 0;
      if (used >= quota) return sendGatewayResponse('QUOTA_EXCEEDED');
      quotaUsed.set(quotaKey, used + 1);
    }

    return invoke(authorizerContext);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('local gateway fault:', error instanceof Error ? error.message : error);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'internal_error', message: 'local gateway fault' }));
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://127.0.0.1:${port}/${STAGE}`;
  responses = gatewayResponses(upgradeUrlFor(options.config, url));
  return {
    url,
    server,
    chargeQuota(gatewayKeyId, month, calls) {
      quotaUsed.set(`${gatewayKeyId}|${month}`, (quotaUsed.get(`${gatewayKeyId}|${month}`) ?? 0) + calls);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function requestContext(requestId: string, method: string, resource: string, path: string, at: number) {
  return {
    accountId: '000000000000',
    apiId: 'local',
    stage: STAGE,
    requestId,
    extendedRequestId: requestId,
    httpMethod: method,
    resourcePath: resource,
    resourceId: 'local',
    path: `/${STAGE}${path}`,
    protocol: 'HTTP/1.1',
    requestTimeEpoch: at,
    identity: { sourceIp: '127.0.0.1' },
  };
}
