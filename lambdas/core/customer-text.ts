/**
 * Text a customer sends (ticket messages, survey comments) and the request bodies that carry it:
 * bounded before it is parsed, and stripped of what could disguise it once stored and shown.
 */

// Bidirectional formatting characters (Trojan Source, CVE-2021-42574): ALM, LRM, RLM, the
// embeddings and overrides, and the isolates. Joiners are kept: emoji sequences need them.
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
// Control characters (C0, DEL, C1: Unicode's Cc), except the newline multi-line text keeps.
const CONTROL = /[^\P{Cc}\n]/gu;

/**
 * Customer text as it is stored and shown: line breaks normalised to `\n`, tabs to spaces, other
 * control and bidi characters removed, surrounding whitespace trimmed; empty means none.
 */
export function sanitizeCustomerText(raw: string): string | undefined {
  const text = raw
    .replace(/\r\n?|[\u2028\u2029]/g, '\n')
    .replace(/\t/g, ' ')
    .replace(CONTROL, '')
    .replace(BIDI, '')
    .trim();
  return text === '' ? undefined : text;
}

/**
 * The largest JSON body worth reading for a text field of `maxChars` UTF-16 code units: every
 * character JSON-escaped as `\uXXXX` (6 bytes) plus room for the rest of the object.
 */
export function maxJsonBodyBytes(maxChars: number): number {
  return maxChars * 6 + 512;
}

export type BoundedJson = { ok: true; json: unknown } | { ok: false; code: 'BODY_TOO_LARGE' | 'NOT_JSON'; maxBytes: number };

/** Parses a request body as JSON only if it is at most `maxBytes` of UTF-8: size first, so a huge body costs no parse. */
export function parseBoundedJson(body: string | null | undefined, maxBytes: number): BoundedJson {
  const text = body ?? '';
  // A string's UTF-8 size is at least its length: the cheap check first, then the exact one.
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) return { ok: false, code: 'BODY_TOO_LARGE', maxBytes };
  try {
    return { ok: true, json: JSON.parse(text) };
  } catch {
    return { ok: false, code: 'NOT_JSON', maxBytes };
  }
}
