/**
 * The API's routes and, for each, whether its calls are billed: the one definition the stack
 * (lib/), the authorizer and the local gateway all read, so a route cannot be free in one and
 * metered in another.
 */

/**
 * How a route is reached:
 * - `metered`: the key authorizer writes a usage event and the tier's usage plan throttles and counts it;
 * - `free`: the key authorizer names the customer, but nothing is metered and no usage plan applies;
 * - `public`: no authorizer (the dashboard's static page, the pricing page);
 * - `stripe-signed`: no authorizer; the handler verifies Stripe's signature (served by an API of its own).
 */
export type RouteAccess = 'metered' | 'free' | 'public' | 'stripe-signed';

export interface RouteSpec {
  /** HTTP method, or `ANY`. */
  readonly method: string;
  /** API Gateway's resource template, e.g. `/api/{proxy+}`. */
  readonly resource: string;
  readonly access: RouteAccess;
}

export const ROUTES = {
  api: { method: 'ANY', resource: '/api', access: 'metered' },
  apiProxy: { method: 'ANY', resource: '/api/{proxy+}', access: 'metered' },
  usage: { method: 'GET', resource: '/usage', access: 'free' },
  supportTickets: { method: 'POST', resource: '/support/tickets', access: 'free' },
  feedback: { method: 'POST', resource: '/feedback', access: 'free' },
  billingUpgrade: { method: 'POST', resource: '/billing/upgrade', access: 'free' },
  billingDowngrade: { method: 'POST', resource: '/billing/downgrade', access: 'free' },
  billingDowngradeUndo: { method: 'DELETE', resource: '/billing/downgrade', access: 'free' },
  billingPortal: { method: 'POST', resource: '/billing/portal', access: 'free' },
  dashboard: { method: 'GET', resource: '/dashboard', access: 'public' },
  dashboardAsset: { method: 'GET', resource: '/dashboard/{asset}', access: 'public' },
  pricing: { method: 'GET', resource: '/pricing', access: 'public' },
  stripeWebhook: { method: 'POST', resource: '/webhooks/stripe', access: 'stripe-signed' },
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

const BY_KEY = new Map<string, RouteSpec>(Object.values(ROUTES).map((route) => [`${route.method} ${route.resource}`, route]));

/**
 * The route API Gateway matched (its resource template and the request's method). A resource
 * that is not in the table is one an operator added to the metered API: it is metered.
 */
export function routeAccess(method: string, resource: string): RouteAccess {
  return (BY_KEY.get(`${method.toUpperCase()} ${resource}`) ?? BY_KEY.get(`ANY ${resource}`))?.access ?? 'metered';
}
