import { ROUTES, routeAccess } from '../../lambdas/core/routes.ts';

describe('which routes are metered', () => {
  it.each([
    ['GET', '/api', 'metered'],
    ['POST', '/api/{proxy+}', 'metered'],
    ['GET', '/usage', 'free'],
    ['POST', '/support/tickets', 'free'],
    ['POST', '/billing/upgrade', 'free'],
    ['POST', '/billing/downgrade', 'free'],
    ['DELETE', '/billing/downgrade', 'free'],
    ['POST', '/billing/portal', 'free'],
    ['GET', '/dashboard', 'public'],
    ['GET', '/dashboard/{asset}', 'public'],
    ['POST', '/webhooks/stripe', 'stripe-signed'],
  ])('%s %s is %s', (method, resource, access) => {
    expect(routeAccess(method, resource)).toBe(access);
  });

  it('matches the method in any case', () => {
    expect(routeAccess('get', '/usage')).toBe('free');
  });

  it('meters a free route called with another method, and a resource the table does not name', () => {
    // POST /usage is no route of ours: an operator's addition to the metered API, so it is billed.
    expect(routeAccess('POST', '/usage')).toBe('metered');
    expect(routeAccess('GET', '/reports/{id}')).toBe('metered');
  });

  it('names every route of the table with its own access', () => {
    for (const route of Object.values(ROUTES)) expect(routeAccess(route.method === 'ANY' ? 'DELETE' : route.method, route.resource)).toBe(route.access);
  });
});
