import { apiBasePath } from '../../lambdas/core/gateway-contract.ts';

describe('the base path a page and a Checkout return URL are built on', () => {
  it.each([
    ['the default invoke URL, which carries the stage', '/prod/billing/upgrade', '/prod/'],
    ['a custom domain mapped at its root', '/billing/upgrade', '/'],
    ['a custom domain mapped at a base path', '/v1/billing/upgrade', '/v1/'],
  ])('is the part of the path in front of the route on %s', (_, seenPath, base) => {
    expect(apiBasePath({ path: '/billing/upgrade', requestContext: { path: seenPath } })).toBe(base);
  });
});
