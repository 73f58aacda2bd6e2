/**
 * The experiment's NPS survey: "How likely are you to recommend this API to a colleague?" (0–10,
 * an optional comment), asked on the dashboard at most once per customer per survey interval and
 * dismissible. An answer or a dismissal starts the interval; another within it is refused and
 * changes nothing. The answers feed the experiment's NPS figure (`FeedbackStore.answers`).
 */
import * as z from 'zod';
import type { BillingConfig } from './config.ts';
import { maxJsonBodyBytes, parseBoundedJson, sanitizeCustomerText } from './customer-text.ts';
import type { Customer } from './model.ts';

const DAY_MS = 86_400_000;

type SurveyConfig = Pick<BillingConfig, 'survey'>;

/** One answer or dismissal, as stored. */
export type FeedbackEntry =
  | { readonly kind: 'answer'; readonly customerId: string; readonly at: number; readonly score: number; readonly comment?: string }
  | { readonly kind: 'dismissal'; readonly customerId: string; readonly at: number };

/** One NPS answer, as the experiment report reads it. */
export interface FeedbackAnswer {
  readonly customerId: string;
  readonly score: number;
  readonly comment?: string;
  readonly at: number;
}

/** Where answers and dismissals are kept (lambdas/adapters/feedback-store.ts). */
export interface FeedbackStore {
  /** The customer's latest answer or dismissal. */
  last(customerId: string): Promise<FeedbackEntry | undefined>;
  /**
   * Stores `entry` only if the customer has no answer or dismissal after `lastAtMost` (epoch ms):
   * of two concurrent writes, one is stored. False when the condition did not hold.
   */
  record(entry: FeedbackEntry, lastAtMost: number): Promise<boolean>;
  /** Every answer (not dismissals) given in [fromMs, toMs), oldest first. */
  answers(fromMs: number, toMs: number): Promise<FeedbackAnswer[]>;
}

/** The largest `POST /feedback` body read, in UTF-8 bytes: room for a longest comment, every character escaped. */
export function maxFeedbackBodyBytes(config: SurveyConfig): number {
  return maxJsonBodyBytes(config.survey.maxCommentChars);
}

/** A comment as it is stored and shown (see `sanitizeCustomerText`); empty means none. */
export const sanitizeComment = sanitizeCustomerText;

const FeedbackRequestSchema = z.union([
  z.object({ score: z.number().int().min(0).max(10), comment: z.string().optional() }).strict(),
  z.object({ dismissed: z.literal(true) }).strict(),
]);

/** What a customer sent, once checked: an answer (the comment sanitized) or a dismissal. */
export type FeedbackRequest = { readonly kind: 'answer'; readonly score: number; readonly comment?: string } | { readonly kind: 'dismissal' };

export type ParseFeedbackOutcome =
  | { ok: true; request: FeedbackRequest }
  | { ok: false; code: 'BODY_TOO_LARGE' | 'NOT_JSON' | 'BAD_REQUEST' | 'COMMENT_TOO_LONG'; message: string };

/** Checks a `POST /feedback` body: size first (before any parsing), then JSON, then the schema, then the comment's length once sanitized. */
export function parseFeedbackRequest(body: string | null | undefined, config: SurveyConfig): ParseFeedbackOutcome {
  const usage = 'The body must be JSON: {"score": 0 to 10, "comment": "optional"} or {"dismissed": true}.';
  const read = parseBoundedJson(body, maxFeedbackBodyBytes(config));
  if (!read.ok) return { ok: false, code: read.code, message: read.code === 'BODY_TOO_LARGE' ? `The body must be at most ${read.maxBytes} bytes.` : usage };
  const parsed = FeedbackRequestSchema.safeParse(read.json);
  if (!parsed.success) return { ok: false, code: 'BAD_REQUEST', message: usage };
  if ('dismissed' in parsed.data) return { ok: true, request: { kind: 'dismissal' } };
  const comment = parsed.data.comment === undefined ? undefined : sanitizeComment(parsed.data.comment);
  if (comment !== undefined && comment.length > config.survey.maxCommentChars)
    return { ok: false, code: 'COMMENT_TOO_LONG', message: `Keep the comment to ${config.survey.maxCommentChars.toLocaleString('en-US')} characters.` };
  return { ok: true, request: { kind: 'answer', score: parsed.data.score, ...(comment !== undefined && { comment }) } };
}

/** When a customer whose latest answer or dismissal was at `lastAt` may answer again. */
export function nextSurveyAt(lastAt: number, config: SurveyConfig): number {
  return lastAt + config.survey.intervalDays * DAY_MS;
}

/**
 * Whether the dashboard asks the survey: the account is at least `minCustomerAgeDays` old (it has
 * used the API), and it has neither answered nor dismissed within the interval.
 */
export function shouldAskSurvey(customer: Pick<Customer, 'createdAt'>, last: FeedbackEntry | undefined, config: SurveyConfig, now: number): boolean {
  const age = now - Date.parse(customer.createdAt);
  if (!(age >= config.survey.minCustomerAgeDays * DAY_MS)) return false;
  return last === undefined || now >= nextSurveyAt(last.at, config);
}

/** The usage API's `survey` field. */
export async function surveyPrompt(
  customer: Pick<Customer, 'customerId' | 'createdAt'>,
  store: Pick<FeedbackStore, 'last'>,
  config: SurveyConfig,
  now: number,
): Promise<{ ask: boolean }> {
  return { ask: shouldAskSurvey(customer, await store.last(customer.customerId), config, now) };
}

export type SubmitFeedbackOutcome = { ok: true; entry: FeedbackEntry; nextSurveyAt: number } | { ok: false; code: 'TOO_SOON'; retryAt: number };

/** Stores an answer or a dismissal unless the customer gave one within the interval (then nothing changes). */
export async function submitFeedback(
  customerId: string,
  request: FeedbackRequest,
  deps: { store: Pick<FeedbackStore, 'last' | 'record'>; config: SurveyConfig; now: number },
): Promise<SubmitFeedbackOutcome> {
  const { store, config, now } = deps;
  const last = await store.last(customerId);
  if (last && now < nextSurveyAt(last.at, config)) return { ok: false, code: 'TOO_SOON', retryAt: nextSurveyAt(last.at, config) };
  const entry: FeedbackEntry = request.kind === 'dismissal' ? { kind: 'dismissal', customerId, at: now } : { ...request, customerId, at: now };
  // The store re-checks the rule in its write: a concurrent post may have landed since the read.
  if (!(await store.record(entry, now - config.survey.intervalDays * DAY_MS))) {
    const winner = await store.last(customerId);
    return { ok: false, code: 'TOO_SOON', retryAt: nextSurveyAt(winner?.at ?? now, config) };
  }
  return { ok: true, entry, nextSurveyAt: nextSurveyAt(now, config) };
}
