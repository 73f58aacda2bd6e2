// Mutation testing of the pure billing core: `npm run mutation` (not part of `npm test`).
// Each mutant is run against the fast unit tests in test/core (jest.mutation.config.js).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  jest: { projectType: 'custom', configFile: 'jest.mutation.config.js', enableFindRelatedTests: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'lambdas/core/pricing.ts',
    'lambdas/core/keys.ts',
    'lambdas/core/metering.ts',
    'lambdas/core/guardrails.ts',
    'lambdas/core/catalog.ts',
    'lambdas/core/usage-report.ts',
    'lambdas/core/grandfather.ts',
    'lambdas/core/upgrade.ts',
    'lambdas/core/outcomes.ts',
    'lambdas/core/routes.ts',
    'lambdas/core/customer-billing.ts',
  ],
  // The sandbox needs only the sources the tests import and the configuration. No tsconfig.json:
  // swc does not read it, and Stryker would parse it with the TypeScript API, which TypeScript 7 has not.
  ignorePatterns: ['/*', '!/lambdas/core', '!/test/core', '!/test/harness/customer.ts', '!/package.json', '!/jest.config.js', '!/jest.mutation.config.js'],
  concurrency: 2,
  timeoutMS: 10000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false, reportTests: false, reportScoreTable: true },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
