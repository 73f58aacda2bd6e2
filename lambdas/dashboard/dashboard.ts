/**
 * Serves the dashboard's three bundled assets (no CDN) with a strict Content-Security-Policy, and
 * the pricing page, rendered from the billing config.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { billingConfig } from '#core/config.ts';
import { apiBasePath } from '#core/gateway-contract.ts';
import { ROUTES } from '#core/routes.ts';
import { PRICING_CONTENT_SECURITY_POLICY, type PricingPageConfig, renderPricingPage } from './pricing-page.ts';

const ASSETS = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  'app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  'styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' },
} as const;

/** Same-origin everything: the page talks only to this API, runs only its own script, frames nothing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const page = (type: string, csp: string, body: string): APIGatewayProxyResult => ({
  statusCode: 200,
  headers: {
    'content-type': type,
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  },
  body,
});

/**
 * The dashboard's handler: the page (with its base path filled in), its script and styles, and
 * `GET /pricing` (the pricing page of `config`, its links on the request's base path).
 */
export function createDashboard(assetsDir: string, config: PricingPageConfig = billingConfig) {
  const files = Object.fromEntries(
    Object.entries(ASSETS).map(([name, asset]) => [name, { body: readFileSync(join(assetsDir, asset.file), 'utf8'), type: asset.type }]),
  );
  return async (event: Pick<APIGatewayProxyEvent, 'resource' | 'pathParameters' | 'path' | 'requestContext'>): Promise<APIGatewayProxyResult> => {
    if (event.resource === ROUTES.pricing.resource)
      return page('text/html; charset=utf-8', PRICING_CONTENT_SECURITY_POLICY, renderPricingPage(config, apiBasePath(event)));
    const name = event.pathParameters?.asset ?? '';
    const asset = files[name];
    if (!asset)
      return {
        statusCode: 404,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: 'not_found', message: 'No such dashboard asset.' }),
      };
    return page(asset.type, CONTENT_SECURITY_POLICY, name === '' ? asset.body.replaceAll('{{base}}', apiBasePath(event)) : asset.body);
  };
}
