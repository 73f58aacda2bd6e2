/** `npm run bench`: every benchmark, one after another, printing figures, targets and ratios. */
import { benchAggregation } from './aggregation.ts';
import { benchAuthorizer } from './authorizer.ts';
import { benchSync } from './sync.ts';

async function main(): Promise<void> {
  // Node.js 20 is this project's development runtime; Lambda runs 22. The lockfile pins SDK versions that support both.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  await benchAuthorizer();
  await benchAggregation();
  await benchSync();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
