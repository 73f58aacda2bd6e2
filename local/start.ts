/**
 * `npm start`: the whole product on this machine with embedded defaults. Prints how to issue a
 * key and make a call; Ctrl-C stops everything it started.
 */
import { spawnSync } from 'node:child_process';
import { DynamoUsageEventLog } from '../lambdas/adapters/usage-event-log.ts';
import { seedDemoCustomer } from './demo.ts';
import { startLocalStack } from './stack.ts';
import { clearLocalState, LOCAL_DIR, readLocalState, writeLocalState } from './state.ts';

async function main(): Promise<void> {
  // Node.js 20 is this project's development runtime; Lambda runs 22. The lockfile pins SDK versions that support both.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return fail(`PORT must be a TCP port number, not "${process.env.PORT}"`);
  const running = readLocalState();
  if (running) return fail(`a local stack is already running (pid ${running.pid}) at ${running.gatewayUrl}`);
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).error) {
    return fail('Java is needed to run DynamoDB Local: install it (apt-get install -y default-jre-headless) and try again');
  }

  console.log('Starting DynamoDB Local and creating the tables from the synthesized template…');
  const testModeSecretKey = process.env.STRIPE_SECRET_KEY;
  const stack = await startLocalStack({
    dir: LOCAL_DIR,
    port,
    stripe: testModeSecretKey ? { testModeSecretKey } : 'local',
    echoAlerts: true,
    billingHeld: true,
  }).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    return fail(/EADDRINUSE/.test(message) ? `port ${port} is in use: set PORT to another one (PORT=3001 npm start)` : message);
  });
  writeLocalState(stack.state());

  const stripe = (await stack.billing!.services.ready()).stripe;
  const demo = await seedDemoCustomer(
    { registry: stack.store, gatewayKeys: stack.gatewayKeys, now: Date.now, stripe },
    new DynamoUsageEventLog(stack.doc, stack.tables.usageEvents),
    stack.gateway,
    Date.now(),
  );
  // The demo month counted, the scheduled runs (sync, daily reconciliation) start from a settled stack.
  await stack.settle();
  stack.billing!.resume();
  const api = `${stack.gateway.url}/api/hello`;
  console.log(`
api-billing is running locally.

  API gateway     ${stack.gateway.url}   (metered routes: /api and /api/*)
  Dashboard       ${stack.gateway.url}/dashboard
  Pricing         ${stack.gateway.url}/pricing
  Usage API       ${stack.gateway.url}/usage
  Stripe          ${stack.billing?.stripeApiBase ?? 'Stripe test mode (STRIPE_SECRET_KEY)'}
  DynamoDB Local  ${stack.dynamoDbEndpoint}
  Access log      ${stack.accessLogFile}

A demo customer on the Free tier (1,000 calls a month) with ${demo.seededCalls} calls this month:
  customer  ${demo.customer.customerId}
  API key   ${demo.apiKey.key}

Sign in to the dashboard with that key: ${stack.gateway.url}/dashboard

Make a call:
  curl -s -H "x-api-key: ${demo.apiKey.key}" ${api}
  curl -s -H "x-api-key: ${demo.apiKey.key}" ${stack.gateway.url}/usage

Issue a key for a customer of your own (in another terminal):
  npm run cli -- customers create --name "Acme" --tier pro

Press Ctrl-C to stop.`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping…');
    clearLocalState();
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(1);
}

void main();
