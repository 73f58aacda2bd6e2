/** Printing for the CLI: aligned tables for people, `--json` for scripts. */

export type Row = Record<string, string | number | boolean | undefined>;

/** Prints rows as a table with aligned columns (or as JSON). */
export function printRows(rows: readonly Row[], json: boolean): void {
  if (json) return void console.log(JSON.stringify(rows, null, 2));
  if (rows.length === 0) return void console.log('(none)');
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cell = (row: Row, column: string) => String(row[column] ?? '');
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((row) => cell(row, c).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(line(columns.map((c) => c.toUpperCase())));
  for (const row of rows) console.log(line(columns.map((c) => cell(row, c))));
}

/** Prints one record as `key: value` lines (or as JSON). */
export function printRecord(record: Row, json: boolean): void {
  if (json) return void console.log(JSON.stringify(record, null, 2));
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [key, value] of Object.entries(record)) if (value !== undefined) console.log(`${`${key}:`.padEnd(width + 1)} ${value}`);
}
