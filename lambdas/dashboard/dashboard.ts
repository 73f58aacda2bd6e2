/** Serves the dashboard's three bundled assets (no CDN) with a strict Content-Security-Policy. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

const ASSETS = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  'app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  'styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' },
} as const;

/** Same-origin everything: the page talks only to this API, runs only its own script, frames nothing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/**
 * The path the browser sees in front of the API's routes, ending in `/`: `/prod/` on the default
 * invoke URL (which carries the stage), `/` or a base path on a custom domain. The page builds
 * every URL on it, so it works at both.
 */
export function apiBasePath(event: Pick<APIGatewayProxyEvent, 'path' | 'requestContext'>): string {
  const seen = event.requestContext.path ?? event.path;
  const prefix = seen.endsWith(event.path) ? seen.slice(0, seen.length - event.path.length) : '';
  return `${prefix}/`;
}

/** The dashboard's handler: the page (with its base path filled in), its script and styles. */
export function createDashboard(assetsDir: string) {
  const files = Object.fromEntries(Object.entries(ASSETS).map(([name, asset]) => [name, { body: readFileSync(join(assetsDir, asset.file), 'utf8'), type: asset.type }]));
  return async (event: Pick<APIGatewayProxyEvent, 'pathParameters' | 'path' | 'requestContext'>): Promise<APIGatewayProxyResult> => {
    const name = event.pathParameters?.asset ?? '';
    const asset = files[name];
    if (!asset) return { statusCode: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'not_found', message: 'No such dashboard asset.' }) };
    return {
      statusCode: 200,
      headers: {
        'content-type': asset.type,
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-cache',
      },
      body: name === '' ? asset.body.replaceAll('{{base}}', apiBasePath(event)) : asset.body,
    };
  };
}
