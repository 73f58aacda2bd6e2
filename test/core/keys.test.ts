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
    ['Authorization: Bearer', { Authorization: `Bearer ${key}` }, { ok: true, key }],
    ['x-api-key before Authorization', { 'x-api-key': key, authorization: 'Bearer other' }, { ok: true, key }],
    ['no header', {}, { ok: false, code: 'MISSING_KEY' }],
    ['empty x-api-key', { 'x-api-key': '  ' }, { ok: false, code: 'MISSING_KEY' }],
    ['Basic authorization', { authorization: 'Basic dXNlcjpwYXNz' }, { ok: false, code: 'MALFORMED_KEY' }],
    ['wrong prefix', { 'x-api-key': key.replace('ab_live_', 'sk_live_') }, { ok: false, code: 'MALFORMED_KEY' }],
    ['truncated key', { 'x-api-key': key.slice(0, -1) }, { ok: false, code: 'MALFORMED_KEY' }],
    ['key with a bad character', { 'x-api-key': `${key.slice(0, -1)}!` }, { ok: false, code: 'MALFORMED_KEY' }],
  ])('reads the key from %s', (_name, headers, expected) => {
    expect(extractApiKey(headers)).toEqual(expected);
  });
});
