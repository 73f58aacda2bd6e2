/** Serves the dashboard's three bundled assets (no CDN) with a strict Content-Security-Policy. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { apiBasePath } from '#core/gateway-contract.ts';

const ASSETS = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  'app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  'styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' },
} as const;

/** Same-origin everything: the page talks only to this API, runs only its own script, frames nothing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** The dashboard's handler: the page (with its base path filled in), its script and styles. */
export function createDashboard(assetsDir: string) {
  const files = Object.fromEntries(
    Object.entries(ASSETS).map(([name, asset]) => [name, { body: readFileSync(join(assetsDir, asset.file), 'utf8'), type: asset.type }]),
  );
  return async (event: Pick<APIGatewayProxyEvent, 'pathParameters' | 'path' | 'requestContext'>): Promise<APIGatewayProxyResult> => {
    const name = event.pathParameters?.asset ?? '';
    const asset = files[name];
    if (!asset)
      return {
        statusCode: 404,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: 'not_found', message: 'No such dashboard asset.' }),
      };
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
