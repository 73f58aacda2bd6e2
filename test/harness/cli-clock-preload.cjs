/**
 * Preloaded into a CLI child process (NODE_OPTIONS=--require) by cli-clock.ts: moves the process's
 * Date.now by API_BILLING_TEST_CLOCK_OFFSET_MS, so the CLI reads "this month" on the test's clock.
 */
const offset = Number(process.env.API_BILLING_TEST_CLOCK_OFFSET_MS ?? 0);
if (Number.isFinite(offset) && offset !== 0) {
  const wall = Date.now;
  Date.now = () => wall() + offset;
}
