/**
 * `npm run bench`: every benchmark, one after another, printing figures, targets and ratios.
 * `npm run bench -- month` (or any names: authorizer, aggregation, sync, cost, month) runs only those.
 */
import { benchAggregation } from './aggregation.ts';
import { benchAuthorizer } from './authorizer.ts';
import { benchCost } from './cost.ts';
import { benchMonth } from './month-bench.ts';
import { benchSync } from './sync.ts';

const BENCHES: Record<string, () => Promise<void>> = {
  authorizer: benchAuthorizer,
  aggregation: benchAggregation,
  sync: benchSync,
  cost: benchCost,
  month: benchMonth,
};
/** The month takes minutes (a million calls through DynamoDB Local): only when asked for by name. */
const DEFAULT = ['authorizer', 'aggregation', 'sync', 'cost'];

async function main(): Promise<void> {
  // Node.js 20 is this project's development runtime; Lambda runs 22. The lockfile pins SDK versions that support both.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const names = process.argv.slice(2);
  const unknown = names.filter((name) => !(name in BENCHES));
  if (unknown.length) {
    console.error(`error: unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
    process.exit(1);
  }
  for (const name of names.length ? names : DEFAULT) await BENCHES[name]!();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
