/** `npm run bench`: every benchmark, one after another, printing figures and ratios. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { benchAuthorizer } from './authorizer.ts';

async function main(): Promise<void> {
  // Node.js 20 is this project's development runtime; Lambda runs 22. The lockfile pins SDK versions that support both.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  await benchAuthorizer();
  if (existsSync(join(__dirname, 'aggregation.ts'))) {
    const { benchAggregation } = (await import('./aggregation.ts')) as { benchAggregation: () => Promise<void> };
    await benchAggregation();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
