/** Calendar buckets in UTC: billing periods, quotas and counters all use these, so they agree. */

/** `YYYY-MM-DDTHH` of the UTC hour containing `epochMs`. */
export function utcHour(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 13);
}

/** `YYYY-MM` of the UTC calendar month containing `epochMs`. */
export function utcMonth(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 7);
}

/** Epoch ms of the first instant of the UTC month after the one containing `epochMs`. */
export function startOfNextUtcMonth(epochMs: number): number {
  const d = new Date(epochMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
