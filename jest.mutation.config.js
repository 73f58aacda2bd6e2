/**
 * The fast, pure unit tests (test/core) that `npm run mutation` runs against each mutant: no
 * DynamoDB Local (no globalSetup), so a mutant costs milliseconds. Same transform and aliases as
 * jest.config.js.
 */
const base = require('./jest.config.js');

module.exports = {
  testEnvironment: base.testEnvironment,
  transform: base.transform,
  moduleNameMapper: base.moduleNameMapper,
  // The sources are roots too, so Stryker's --findRelatedTests finds the tests that import a mutated module.
  roots: ['<rootDir>/lambdas/core', '<rootDir>/test/core'],
  testMatch: ['<rootDir>/test/core/**/*.test.ts'],
  // The one test/core suite that needs DynamoDB Local (its store is the adapter's).
  testPathIgnorePatterns: ['/node_modules/', '/test/core/tickets\\.test\\.ts$'],
  testTimeout: 30000,
};
