/**
 * A clock for tests that act, then read "this month": it runs at the wall clock's pace from
 * 12:00 UTC on the 15th of the month the test starts in, so no test straddles a month change,
 * whatever the date or hour it runs at (the last minutes of a month included).
 */
export function midMonthClock(wall = Date.now()): () => number {
  const d = new Date(wall);
  const offset = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 15, 12) - wall;
  return () => Date.now() + offset;
}
