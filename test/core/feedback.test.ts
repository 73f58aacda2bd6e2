import fc from 'fast-check';
import { billingConfig } from '../../lambdas/core/config.ts';
import {
  type FeedbackEntry,
  type FeedbackStore,
  maxFeedbackBodyBytes,
  nextSurveyAt,
  parseFeedbackRequest,
  sanitizeComment,
  shouldAskSurvey,
  submitFeedback,
} from '../../lambdas/core/feedback.ts';
import { propertyBudget } from '../harness/property.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 15, 12);
const config = billingConfig;
const budget = propertyBudget(300, 10_000);

// Characters the comment must never keep: every control character but the newline, and the bidi controls.
const FORBIDDEN = /[^\P{Cc}\n]|[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
const bidi = fc.constantFrom('\u061C', '\u200E', '\u200F', '\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069');
const control = fc
  .integer({ min: 0, max: 0x9f })
  .filter((c) => c < 0x20 || c >= 0x7f)
  .map((c) => String.fromCharCode(c));
/** Text mixing ordinary characters (any plane), line breaks, controls and bidi characters. */
const hostileText = fc
  .array(fc.oneof(fc.string({ unit: 'grapheme' }), bidi, control, fc.constantFrom('\r\n', '\u2028', '\t', ' ')), { maxLength: 30 })
  .map((parts) => parts.join(''));

describe('feedback comment sanitizing', () => {
  it('keeps no control character but the newline, and no bidi control, whatever it is given', () => {
    fc.assert(
      fc.property(hostileText, (raw) => {
        const comment = sanitizeComment(raw);
        expect(comment === undefined || !FORBIDDEN.test(comment)).toBe(true);
        expect(comment?.trim()).toBe(comment);
        expect(comment).not.toBe('');
      }),
      budget.parameters,
    );
  });

  it('is idempotent and leaves clean text as it is', () => {
    fc.assert(
      fc.property(hostileText, (raw) => {
        const once = sanitizeComment(raw);
        expect(once === undefined ? undefined : sanitizeComment(once)).toBe(once);
      }),
      budget.parameters,
    );
    expect(sanitizeComment('Great API 👨‍👩‍👧 — fast\nand cheap')).toBe('Great API 👨‍👩‍👧 — fast\nand cheap');
  });

  it.each([
    ['a right-to-left override (Trojan Source)', 'ok\u202Eevil\u202C!', 'okevil!'],
    ['CR LF and tabs', 'a\r\nb\tc', 'a\nb c'],
    ['a NUL and an escape sequence', 'a\u0000b\u001b[31mc', 'ab[31mc'],
    ['only whitespace and controls', ' \u0007\u200F\n ', undefined],
  ])('strips %s', (_, raw, expected) => {
    expect(sanitizeComment(raw)).toBe(expected);
  });
});

describe('POST /feedback body', () => {
  it('accepts every integer score 0 to 10, with or without a comment, and a dismissal', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.option(fc.string({ maxLength: 200 }), { nil: undefined }), (score, comment) => {
        const parsed = parseFeedbackRequest(JSON.stringify({ score, comment }), config);
        expect(parsed).toEqual({
          ok: true,
          request: { kind: 'answer', score, ...(comment !== undefined && sanitizeComment(comment) !== undefined && { comment: sanitizeComment(comment) }) },
        });
      }),
      budget.parameters,
    );
    expect(parseFeedbackRequest('{"dismissed":true}', config)).toEqual({ ok: true, request: { kind: 'dismissal' } });
  });

  it('refuses any score that is not an integer from 0 to 10', () => {
    const notAScore = fc.oneof(
      fc.integer().filter((n) => n < 0 || n > 10),
      fc.double().filter((n) => !Number.isInteger(n)),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
    );
    fc.assert(
      fc.property(notAScore, (score) => {
        expect(parseFeedbackRequest(JSON.stringify({ score }), config)).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      }),
      budget.parameters,
    );
  });

  it.each([
    ['not JSON', 'score=9', 'NOT_JSON'],
    ['no body', null, 'NOT_JSON'],
    ['an unknown field', '{"score":9,"email":"a@b.c"}', 'BAD_REQUEST'],
    ['a score and a dismissal', '{"score":9,"dismissed":true}', 'BAD_REQUEST'],
    ['a dismissal that is not true', '{"dismissed":false}', 'BAD_REQUEST'],
    ['an array', '[9]', 'BAD_REQUEST'],
    ['a comment that is not a string', '{"score":9,"comment":42}', 'BAD_REQUEST'],
  ])('refuses %s', (_, body, code) => {
    expect(parseFeedbackRequest(body, config)).toMatchObject({ ok: false, code });
  });

  it('bounds the comment once sanitized: the longest passes, one more character is refused, stripped characters do not count', () => {
    const max = config.survey.maxCommentChars;
    expect(parseFeedbackRequest(JSON.stringify({ score: 7, comment: 'x'.repeat(max) }), config)).toMatchObject({ ok: true });
    expect(parseFeedbackRequest(JSON.stringify({ score: 7, comment: 'x'.repeat(max + 1) }), config)).toMatchObject({ ok: false, code: 'COMMENT_TOO_LONG' });
    expect(parseFeedbackRequest(JSON.stringify({ score: 7, comment: `${'x'.repeat(max)}\u202E\u0000` }), config)).toMatchObject({ ok: true });
  });

  it('refuses a body over the size bound before parsing it, counting UTF-8 bytes', () => {
    const limit = maxFeedbackBodyBytes(config);
    // A longest comment of characters JSON escapes as \uXXXX still fits.
    expect(parseFeedbackRequest(JSON.stringify({ score: 1, comment: '\u0001'.repeat(config.survey.maxCommentChars) }), config)).toMatchObject({ ok: true });
    expect(parseFeedbackRequest(`{"score":1}${' '.repeat(limit)}`, config)).toMatchObject({ ok: false, code: 'BODY_TOO_LARGE' });
    // Not JSON at all, but too large: the size is what is reported, so nothing was parsed.
    expect(parseFeedbackRequest('é'.repeat(limit / 2 + 1), config)).toMatchObject({ ok: false, code: 'BODY_TOO_LARGE' });
  });
});

/** An in-memory fake of the port, holding the same rule in its write as the DynamoDB adapter's condition. */
function memoryStore(): FeedbackStore & { entries: FeedbackEntry[] } {
  const entries: FeedbackEntry[] = [];
  const last = async (customerId: string) => entries.filter((e) => e.customerId === customerId).at(-1);
  return {
    entries,
    last,
    async record(entry, lastAtMost) {
      const previous = await last(entry.customerId);
      if (previous && previous.at > lastAtMost) return false;
      entries.push(entry);
      return true;
    },
    async answers(fromMs, toMs) {
      return entries.flatMap((e) => (e.kind === 'answer' && e.at >= fromMs && e.at < toMs ? [{ customerId: e.customerId, score: e.score, at: e.at }] : []));
    },
  };
}

describe('the survey rule: at most once per customer per 30 days', () => {
  it('ships a 30-day interval, a first ask after 7 days, and a 1,000-character comment', () => {
    expect(config.survey).toMatchObject({ intervalDays: 30, minCustomerAgeDays: 7, maxCommentChars: 1_000 });
  });

  it.each([
    ['an answer', { kind: 'answer', score: 9 } as const],
    ['a dismissal', { kind: 'dismissal' } as const],
  ])('after %s, refuses another until 30 days have passed, with when, and changes nothing', async (_, first) => {
    const store = memoryStore();
    expect(await submitFeedback('cust_1', first, { store, config, now: T0 })).toEqual({
      ok: true,
      entry: { ...first, customerId: 'cust_1', at: T0 },
      nextSurveyAt: T0 + 30 * DAY,
    });
    for (const later of [T0 + 1, T0 + 30 * DAY - 1]) {
      expect(await submitFeedback('cust_1', { kind: 'answer', score: 3 }, { store, config, now: later })).toEqual({
        ok: false,
        code: 'TOO_SOON',
        retryAt: T0 + 30 * DAY,
      });
    }
    expect(store.entries).toHaveLength(1);
    expect(await submitFeedback('cust_1', { kind: 'answer', score: 3 }, { store, config, now: T0 + 30 * DAY })).toMatchObject({ ok: true });
    // Another customer is not held by the first one's answer.
    expect(await submitFeedback('cust_2', { kind: 'dismissal' }, { store, config, now: T0 + 1 })).toMatchObject({ ok: true });
  });

  it("refuses, with the winner's date, when a concurrent post's write lands between this one's read and its write", async () => {
    const store = memoryStore();
    let reads = 0;
    // The first read predates the winner's write; the store's conditional write still sees it.
    const staleFirstRead = { ...store, last: async (customerId: string) => (reads++ === 0 ? undefined : store.last(customerId)) };
    await store.record({ kind: 'answer', customerId: 'cust_1', score: 10, at: T0 }, T0 - 30 * DAY);
    const outcome = await submitFeedback('cust_1', { kind: 'answer', score: 0 }, { store: staleFirstRead, config, now: T0 + 5 });
    expect(outcome).toEqual({ ok: false, code: 'TOO_SOON', retryAt: nextSurveyAt(T0, config) });
    expect(store.entries).toHaveLength(1);
  });

  it('asks a customer of at least 7 days who has neither answered nor dismissed within 30 days', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 400 * DAY }),
        fc.option(fc.integer({ min: 0, max: 400 * DAY }), { nil: undefined }),
        fc.boolean(),
        (ageMs, sinceLastMs, dismissed) => {
          const customer = { createdAt: new Date(T0 - ageMs).toISOString() };
          const last: FeedbackEntry | undefined =
            sinceLastMs === undefined
              ? undefined
              : dismissed
                ? { kind: 'dismissal', customerId: 'c', at: T0 - sinceLastMs }
                : { kind: 'answer', customerId: 'c', score: 5, at: T0 - sinceLastMs };
          const expected = ageMs >= 7 * DAY && (sinceLastMs === undefined || sinceLastMs >= 30 * DAY);
          expect(shouldAskSurvey(customer, last, config, T0)).toBe(expected);
        },
      ),
      budget.parameters,
    );
  });
});
