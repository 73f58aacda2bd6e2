/** `npm run bench`: every benchmark, one after another, printing figures and ratios. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { benchAuthorizer } from './authorizer.ts';

async function main(): Promise<void> {
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
