/**
 * API keys: their format, how they are read from a request, and how they are hashed.
 * A key is shown once, at issue; only its SHA-256 hash is stored or compared.
 */
import { createHash, randomBytes } from 'node:crypto';
import { API_KEY_HEADER } from './gateway-contract.ts';

/** Recognisable prefix, so a leaked key is easy to spot in a repository or a ticket. */
export const API_KEY_PREFIX = 'ab_live_';
const SECRET_BYTES = 32;
/** 32 random bytes in base64url are 43 characters. */
const API_KEY_PATTERN = /^ab_live_[A-Za-z0-9_-]{43}$/;
/** Characters of the key kept for display: the prefix and 4 characters of the secret. */
const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 4;

export interface IssuedKey {
  /** The full key: return it to the operator once and never store or log it. */
  readonly key: string;
  readonly keyHash: string;
  readonly keyPrefix: string;
}

/** Creates a new high-entropy key (256 random bits). */
export function generateApiKey(random: (bytes: number) => Uint8Array = randomBytes): IssuedKey {
  const key = API_KEY_PREFIX + Buffer.from(random(SECRET_BYTES)).toString('base64url');
  return { key, keyHash: hashApiKey(key), keyPrefix: key.slice(0, DISPLAY_PREFIX_LENGTH) };
}

/** SHA-256, hex: with 256-bit random keys a slow hash buys nothing and would cost the hot path. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function isWellFormedApiKey(candidate: string): boolean {
  return API_KEY_PATTERN.test(candidate);
}

export type KeyExtraction = { ok: true; key: string } | { ok: false; code: 'MISSING_KEY' | 'MALFORMED_KEY' };

/**
 * Reads the key from `x-api-key`, the authorizer's identity source (API_KEY_HEADER): API Gateway
 * invokes the authorizer only for calls that carry it, so no other header is read.
 * Header names are matched case-insensitively, as HTTP requires.
 */
export function extractApiKey(headers: Readonly<Record<string, string | undefined>> | null | undefined): KeyExtraction {
  let apiKeyHeader: string | undefined;
  for (const [name, value] of Object.entries(headers ?? {})) if (name.toLowerCase() === API_KEY_HEADER) apiKeyHeader = value;
  const candidate = apiKeyHeader?.trim();
  if (!candidate) return { ok: false, code: 'MISSING_KEY' };
  return isWellFormedApiKey(candidate) ? { ok: true, key: candidate } : { ok: false, code: 'MALFORMED_KEY' };
}
