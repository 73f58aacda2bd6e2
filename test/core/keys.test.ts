import { API_KEY_PREFIX, extractApiKey, generateApiKey, hashApiKey, isWellFormedApiKey } from '../../lambdas/core/keys.ts';

describe('API keys', () => {
  it('issues recognisable, well-formed, distinct keys and keeps only a hash', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key.startsWith(API_KEY_PREFIX)).toBe(true);
    expect(isWellFormedApiKey(a.key)).toBe(true);
    expect(a.key).not.toBe(b.key);
    expect(a.keyHash).toBe(hashApiKey(a.key));
    expect(a.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.keyHash).not.toContain(a.key.slice(API_KEY_PREFIX.length));
    // The display prefix identifies the key to a person but is far too short to use.
    expect(a.key.startsWith(a.keyPrefix)).toBe(true);
    expect(a.keyPrefix.length).toBeLessThan(a.key.length / 3);
  });

  it('hashes with SHA-256', () => {
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  const key = generateApiKey().key;
  it.each([
    ['x-api-key', { 'x-api-key': key }, { ok: true, key }],
    ['X-Api-Key in any case', { 'X-API-KEY': key }, { ok: true, key }],
    ['x-api-key beside an Authorization header', { 'x-api-key': key, authorization: 'Bearer other' }, { ok: true, key }],
    ['no header', {}, { ok: false, code: 'MISSING_KEY' }],
    ['empty x-api-key', { 'x-api-key': '  ' }, { ok: false, code: 'MISSING_KEY' }],
    // The key's only header is the authorizer's identity source: Authorization is not read (README, identity source).
    ['Authorization: Bearer alone', { Authorization: `Bearer ${key}` }, { ok: false, code: 'MISSING_KEY' }],
    ['Basic authorization', { authorization: 'Basic dXNlcjpwYXNz' }, { ok: false, code: 'MISSING_KEY' }],
    ['wrong prefix', { 'x-api-key': key.replace('ab_live_', 'sk_live_') }, { ok: false, code: 'MALFORMED_KEY' }],
    ['truncated key', { 'x-api-key': key.slice(0, -1) }, { ok: false, code: 'MALFORMED_KEY' }],
    ['key with a bad character', { 'x-api-key': `${key.slice(0, -1)}!` }, { ok: false, code: 'MALFORMED_KEY' }],
  ])('reads the key from %s', (_name, headers, expected) => {
    expect(extractApiKey(headers)).toEqual(expected);
  });
});

describe('API keys: issue and reading edge cases', () => {
  it('issues ab_live_ and the 43-character base64url of 32 random bytes, and keeps 4 of them for display', () => {
    const issued = generateApiKey((n) => new Uint8Array(n).fill(0xfb));
    expect(issued.key).toBe(`ab_live_${'-_v7'.repeat(10)}-_s`);
    expect(issued.keyPrefix).toBe('ab_live_-_v7');
    expect(issued.keyHash).toBe(hashApiKey(issued.key));
  });

  const key = generateApiKey().key;
  it.each([
    ['x-api-key with surrounding spaces', { 'x-api-key': `  ${key} ` }, { ok: true, key }],
    ['a key in some other header', { 'x-other': `Bearer ${key}` }, { ok: false, code: 'MISSING_KEY' }],
    ['a key as Bearer, beside an empty x-api-key', { 'x-api-key': '', authorization: `Bearer ${key}` }, { ok: false, code: 'MISSING_KEY' }],
    ['a key with one character too many', { 'x-api-key': `${key}A` }, { ok: false, code: 'MALFORMED_KEY' }],
    ['a key after other text', { 'x-api-key': `x${key}` }, { ok: false, code: 'MALFORMED_KEY' }],
    ['null headers', null, { ok: false, code: 'MISSING_KEY' }],
  ])('reads %s', (_name, headers, expected) => {
    expect(extractApiKey(headers)).toEqual(expected);
  });
});
