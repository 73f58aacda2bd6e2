import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type { RouteSpec } from '../lambdas/core/routes.ts';

/**
 * Adds one of the product's routes (`ROUTES` in lambdas/core/routes.ts) to an API, authorized as
 * its access says: the same table tells the authorizer which calls to meter, so a method's usage
 * plan and its metering cannot disagree.
 */
export function addRoute(
  api: apigateway.IRestApi,
  route: RouteSpec,
  integration: apigateway.Integration,
  authorizer?: apigateway.IAuthorizer,
): apigateway.Method {
  const resource = api.root.resourceForPath(route.resource);
  switch (route.access) {
    case 'metered':
    case 'free':
      if (!authorizer) throw new Error(`addRoute: ${route.method} ${route.resource} is ${route.access} and needs the key authorizer`);
      // Only metered routes name a usage-plan key: free ones are neither throttled nor counted as metered calls.
      return resource.addMethod(route.method, integration, { authorizer, apiKeyRequired: route.access === 'metered' });
    case 'public':
    case 'stripe-signed':
      return resource.addMethod(route.method, integration, { authorizationType: apigateway.AuthorizationType.NONE, apiKeyRequired: false });
  }
}
