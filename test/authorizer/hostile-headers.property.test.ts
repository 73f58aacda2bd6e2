/**
 * The authorizer under hostile headers: arbitrary header maps (case variants of `x-api-key` and
 * `authorization`, both at once, repeated and comma-joined values, unicode and control characters,
 * 0 to 100 KB, prefixes of and near-misses to real keys) are never allowed, never metered, and
 * only ever take the 401 path. Against DynamoDB Local: a well-formed near-miss (one key character
 * changed) goes through the real key lookup, and the events table is counted, not a fake.
 */
import fc from 'fast-check';
import { API_KEY_PREFIX } from '../../lambdas/core/keys.ts';
import { authorizerEvent, meteringFixture, type MeteringFixture } from '../harness/metering.ts';
import { propertyBudget } from '../harness/property.ts';

// About 400 authorizer calls, some 10 MB of header values: a second or two on an idle machine.
const budget = propertyBudget(150, 90_000);
const MAX_VALUE_BYTES = 100 * 1024;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** `name` with each letter's case chosen by `upper`. */
const caseVariant = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));

/** A near-miss to `key`: one edit away, or a wrong or partial form of it. Never the key itself. */
const nearMiss = (key: string): fc.Arbitrary<string> => {
  const secret = key.slice(API_KEY_PREFIX.length);
  const at = fc.nat({ max: key.length - 1 });
  return fc.oneof(
    // One character changed: to another key character (a well-formed unknown key: a real lookup), or to anything.
    fc.tuple(at, fc.constantFrom(...BASE64URL), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.boolean()).map(([i, b64, any, wellFormed]) => {
      const replacement = wellFormed ? b64 : any;
      return `${key.slice(0, i)}${replacement === key[i] ? (key[i] === 'A' ? 'B' : 'A') : replacement}${key.slice(i + 1)}`;
    }),
    // One character deleted or inserted; whitespace, a zero-width or a control character inside it.
    at.map((i) => key.slice(0, i) + key.slice(i + 1)),
    fc
      .tuple(fc.integer({ min: 1, max: key.length - 1 }), fc.constantFrom(' ', '\t', '\u00a0', '\u200b', '\u0000', '\n', '\u202e', 'x', '\u00e9'))
      .map(([i, c]) => key.slice(0, i) + c + key.slice(i)),
    // Prefixes of it, and the key with something after it.
    fc.nat({ max: key.length - 1 }).map((n) => key.slice(0, n)),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }).map((tail) => key + (tail.trim() === '' ? `${tail}x` : tail)),
    // A different prefix, a different case, a different encoding of the same secret.
    fc.constantFrom('ab_test_', 'AB_LIVE_', 'ab-live-', 'ab_live', 'ab_live__', 'sk_live_', '').map((prefix) => prefix + secret),
    fc.constantFrom(key.toUpperCase(), key.toLowerCase(), encodeURIComponent(key).replace(/_/g, '%5F'), Buffer.from(key).toString('base64')),
    // Repeated and comma-joined, as proxies fold repeated headers.
    fc.constantFrom(`${key},${key}`, `${key}, ${key}`, `${key},`, `,${key}`, `${key};`),
  );
};

/** Anything at all, from empty to 100 KB: unicode, control characters, long runs. */
const junk = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc
    .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }), fc.nat({ max: MAX_VALUE_BYTES }))
    .map(([chunk, size]) => chunk.repeat(Math.ceil(size / chunk.length)).slice(0, size)),
  fc.constantFrom('', ' ', 'Bearer', 'Bearer ', 'Bearer\t\t', 'Basic dXNlcjpwYXNz', API_KEY_PREFIX, `${API_KEY_PREFIX}${'A'.repeat(43)}`),
);

/** How a value is presented: bare, or in an Authorization-style scheme, or padded. */
const presented = (value: fc.Arbitrary<string>) =>
  fc
    .tuple(value, fc.constantFrom('', '', '', 'Bearer ', 'Bearer ', 'bearer\t', 'BEARER  ', 'Bearer', 'Basic ', 'Token ', ' ', 'Bearer Bearer '))
    .map(([v, scheme]) => scheme + v);

describe('authorizer under hostile headers (property, against DynamoDB Local)', () => {
  let f: MeteringFixture;
  let keys: string[];
  let run = 0;

  beforeAll(async () => {
    f = await meteringFixture();
    keys = (await Promise.all([f.addCustomer('free'), f.addCustomer('pro'), f.addCustomer('enterprise')])).map((c) => c.key);
  });

  /** True when `value` is a real key as HTTP and the documented forms present it (surrounding whitespace is not part of a header value). */
  const presentsRealKey = (value: string) => {
    const bare = value.trim();
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1];
    return keys.includes(bare) || (bearer !== undefined && keys.includes(bearer));
  };

  it(
    'allows and meters nothing for any header map without a real key, and answers each with the 401 path only',
    async () => {
      const headerName = fc.oneof(caseVariant('x-api-key'), caseVariant('authorization'), fc.constantFrom('x-api-key ', 'x_api_key', 'apikey', 'cookie'));
      // Mostly near-misses: they are where a lenient parser or a loose comparison would let a call in.
      const headerValue = fc.oneof(
        { weight: 6, arbitrary: presented(fc.constantFrom(0, 1, 2).chain((i) => nearMiss(keys[i] as string))) },
        { weight: 2, arbitrary: presented(junk) },
        { weight: 2, arbitrary: junk },
      );
      const headerMap = fc.oneof(
        { weight: 1, arbitrary: fc.constant(null) },
        { weight: 10, arbitrary: fc.dictionary(headerName, headerValue, { minKeys: 0, maxKeys: 6 }) },
      );
      let allowed = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(headerMap, { minLength: 1, maxLength: 4 }), async (maps) => {
          for (const headers of maps) fc.pre(!Object.values(headers ?? {}).some(presentsRealKey));
          for (const [i, headers] of maps.entries()) {
            run += 1;
            const event = { ...authorizerEvent({ requestId: `fuzz-${run}-${i}` }), headers } as Parameters<MeteringFixture['authorize']>[0];
            const outcome = await f.authorize(event).then(
              (result) => ({ resolved: result }),
              (error: unknown) => ({ rejected: error }),
            );
            if ('resolved' in outcome) allowed += 1;
            // The 401 path: exactly the error API Gateway maps to 401 UNAUTHORIZED, nothing else.
            expect(outcome).toEqual({ rejected: new Error('Unauthorized') });
          }
        }),
        budget.parameters,
      );
      expect(allowed).toBe(0);
      expect(await f.events()).toEqual([]);
    },
    budget.timeoutMs,
  );
});
