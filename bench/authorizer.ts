/**
 * Authorizer benchmark: the deployed bundle's size, its module init time in a fresh Node.js
 * process, and metered calls per second through the full handler against DynamoDB Local.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { billingConfig } from '../lambdas/core/config.ts';
import { createCustomer } from '../lambdas/core/customers.ts';
import { DynamoCustomerStore } from '../lambdas/adapters/customer-store.ts';
import { connectDynamoDb } from '../lambdas/adapters/dynamodb.ts';
import { tableEnvironment } from '../test/harness/dynamodb.ts';
import { LocalGatewayKeyRegistry } from '../lambdas/adapters/gateway-keys-local.ts';
import { startDynamoDbLocal } from '../local/dynamodb-local.ts';
import { createTables, synthesizeTableDefinitions } from '../local/tables.ts';

const ROOT = resolve(__dirname, '..');
const ENTRY = join(ROOT, 'lambdas/authorizer/handler.ts');

/** Bundles the authorizer as the stack does (minified CJS for Node 22; AWS SDK bundled or left to the runtime). */
export async function bundle(outfile: string, sdkExternal: boolean): Promise<number> {
  await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: sdkExternal ? ['@aws-sdk/*'] : [],
    logLevel: 'error',
  });
  return statSync(outfile).size;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** Milliseconds to `require` the bundle in a fresh process: the module-init part of a cold start. */
function initTimeMs(bundlePath: string, env: Record<string, string>): number {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(bundlePath)});console.log(Number(process.hrtime.bigint()-t)/1e6)`;
  const runs = Array.from({ length: 7 }, () =>
    Number(
      execFileSync(process.execPath, ['-e', script], { env: { ...process.env, ...env } })
        .toString()
        .trim(),
    ),
  );
  return median(runs);
}

export async function benchAuthorizer(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-authorizer-'));
  const bundled = join(dir, 'bundled/index.js');
  const external = join(dir, 'external/index.js');
  const [bundledSize, externalSize] = await Promise.all([bundle(bundled, false), bundle(external, true)]);

  const dynamo = await startDynamoDbLocal();
  try {
    const { client, doc } = connectDynamoDb({ endpoint: dynamo.endpoint });
    const tables = await createTables(client, synthesizeTableDefinitions(), 'bench-');
    const env = {
      ...tableEnvironment(tables),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING: '1',
    };
    const initBundled = initTimeMs(bundled, env);
    // The external variant finds the SDK in node_modules, as Lambda finds its runtime's copy.
    const externalInProject = join(ROOT, 'node_modules/.cache/bench-authorizer-external.js');
    await bundle(externalInProject, true);
    const initExternal = initTimeMs(externalInProject, env);

    // Drive the bundled handler in this process, as Lambda would, with many distinct calls.
    Object.assign(process.env, env);
    const { handler } = require(bundled) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
    const store = new DynamoCustomerStore(doc, tables);
    const gatewayKeys = new LocalGatewayKeyRegistry(join(dir, 'keys.json'));
    const keys = await Promise.all(
      Array.from({ length: 50 }, (_, i) => createCustomer({ name: `c${i}`, tier: 'enterprise' }, { registry: store, gatewayKeys, now: Date.now })),
    );
    const context = { functionName: 'bench', awsRequestId: 'bench', getRemainingTimeInMillis: () => 30_000 };
    const calls = 5_000;
    const concurrency = 32;
    let next = 0;
    const worker = async () => {
      while (next < calls) {
        const i = next++;
        await handler(
          {
            type: 'REQUEST',
            methodArn: 'arn:aws:execute-api:us-east-1:1:api/prod/GET/api/x',
            resource: '/api/{proxy+}',
            path: '/api/x',
            httpMethod: 'GET',
            headers: { 'x-api-key': keys[i % keys.length]!.apiKey.key },
            requestContext: { requestId: `bench-${i}` },
          },
          context,
        );
      }
    };
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    client.destroy();

    console.log('authorizer');
    console.log(`  bundle size, AWS SDK bundled              ${(bundledSize / 1024).toFixed(0)} KiB`);
    console.log(`  bundle size, AWS SDK from the runtime     ${(externalSize / 1024).toFixed(0)} KiB`);
    console.log(`  module init, SDK bundled (median of 7)    ${initBundled.toFixed(1)} ms`);
    console.log(`  module init, SDK from node_modules        ${initExternal.toFixed(1)} ms  (ratio ${(initExternal / initBundled).toFixed(2)})`);
    console.log(
      `  metered calls/s, full handler -> DynamoDB Local, ${concurrency} concurrent: ${(calls / seconds).toFixed(0)} (${calls} calls in ${seconds.toFixed(2)} s, key cache TTL ${billingConfig.keyCacheTtlSeconds} s)`,
    );
  } finally {
    await dynamo.stop();
  }
}

if (require.main === module) void benchAuthorizer();
