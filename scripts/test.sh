#!/usr/bin/env bash
# The test command: type-check, lint, then every jest suite against one DynamoDB Local, then the count.
set -uo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit -p . || { echo "0 passed, 1 failed"; exit 1; }
# Biome, as Powertools for TypeScript uses it: the formatter (npm run format fixes it) and the linter
# (unused imports, focused or skipped tests, ==, ...).
npx biome check --error-on-warnings . || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p test-output
npx jest --json --outputFile=test-output/jest.json "$@"
status=$?
node -e '
  const r = require("./test-output/jest.json");
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed${r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""}`);
' || { echo "0 passed, 1 failed"; exit 1; }
exit $status
