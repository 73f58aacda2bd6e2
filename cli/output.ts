/** Printing for the CLI: aligned tables for people, `--json` for scripts; nothing printed can drive the terminal. */

export type Row = Record<string, string | number | boolean | undefined>;

// What a terminal would act on or reorder rather than show: control characters (C0 with ESC and
// newlines, DEL, C1 with CSI) and bidirectional formatting characters, and the Unicode line and
// paragraph separators. Stored text from customers (ticket messages) may contain any of them.
const UNPRINTABLE = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2028\u2029]/gu;
const escapeCode = (char: string) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;

/** `text` with every control and bidi character shown as a visible `\uXXXX` escape, so it prints as one inert line. */
export function terminalSafe(text: string): string {
  return text.replace(UNPRINTABLE, escapeCode);
}

// What JSON.stringify leaves raw inside strings: it escapes C0 itself, and its own newlines are layout.
const UNPRINTABLE_IN_JSON = /[\u007f-\u009f\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2028\u2029]/g;

/** JSON whose strings carry no raw control or bidi character (JSON.stringify leaves DEL, C1 and bidi raw). */
export function terminalSafeJson(value: unknown): string {
  // `\uXXXX` is a valid JSON escape, so the output parses to the same value.
  return JSON.stringify(value, null, 2).replace(UNPRINTABLE_IN_JSON, escapeCode);
}

/** Prints rows as a table with aligned columns (or as JSON). */
export function printRows(rows: readonly Row[], json: boolean): void {
  if (json) return void console.log(terminalSafeJson(rows));
  if (rows.length === 0) return void console.log('(none)');
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cell = (row: Row, column: string) => terminalSafe(String(row[column] ?? ''));
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
  if (json) return void console.log(terminalSafeJson(record));
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [key, value] of Object.entries(record)) if (value !== undefined) console.log(`${`${key}:`.padEnd(width + 1)} ${terminalSafe(String(value))}`);
}
