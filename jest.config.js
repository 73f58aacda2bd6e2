/** One DynamoDB Local for the whole run (globalSetup); tables are made per test. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2022' } }],
    // @middy/core ships ES modules only; the handlers (test/handlers) are loaded as CommonJS, as esbuild bundles them.
    '^.+/node_modules/@middy/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  moduleNameMapper: {
    '^#core/(.*)$': '<rootDir>/lambdas/core/$1',
    '^#adapters/(.*)$': '<rootDir>/lambdas/adapters/$1',
  },
  globalSetup: '<rootDir>/test/harness/global-setup.ts',
  globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
  // A local stack's start and a few calls can take most of a minute on a fully loaded 2-core machine;
  // the heavy properties and end-to-end walks set their own, larger budgets.
  testTimeout: 120000,
  maxWorkers: 2,
};
