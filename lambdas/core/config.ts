/**
 * The one typed configuration of tiers, prices and guardrails.
 *
 * Every figure the product uses (quotas, prices, rate limits, cap, anomaly factor, retention)
 * lives here and nowhere else: the CDK stack reads it for usage plans and TTLs, the Lambdas
 * for pricing and guardrails. Money is in integer US cents; per-call prices are in
 * millicents (1/1000 of a cent) so that fractional-cent overage stays exact.
 */
import * as z from 'zod';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

const VolumeBandSchema = z.object({
  /** Upper bound of the band in calls per month; `null` is the open-ended last band. */
  upTo: positiveInt.nullable(),
  /** Price of every call in the month when the month's volume lands in this band. */
  unitMillicents: nonNegativeInt,
});

const TierSchema = z.discriminatedUnion('pricing', [
  z.object({
    pricing: z.literal('free'),
    /** Hard monthly quota, enforced by the usage plan: the next call is a 429. */
    monthlyQuota: positiveInt,
  }),
  z.object({
    pricing: z.literal('included-plus-overage'),
    monthlyFeeCents: nonNegativeInt,
    includedCalls: nonNegativeInt,
    overageUnitMillicents: positiveInt,
  }),
  z.object({
    pricing: z.literal('volume'),
    monthlyFeeCents: nonNegativeInt,
    bands: z.array(VolumeBandSchema).min(1),
  }),
]);

export const BillingConfigSchema = z
  .object({
    tiers: z.object({ free: TierSchema, pro: TierSchema, enterprise: TierSchema }),
    rateLimit: z.object({
      /** Steady-state requests per minute per API key (the seed's guardrail). */
      requestsPerMinute: positiveInt,
      /** Token-bucket size: how many requests a key may send at once. */
      burst: positiveInt,
    }),
    /** No customer is billed more than this in a calendar month without an operator's approval. */
    billingCapCents: positiveInt,
    /** Percentages of the cap at which an alert is sent. */
    capAlertPercents: z.array(z.number().int().min(1).max(100)).min(1),
    /** A month billed above `anomalyFactor` x the previous month raises an alert. */
    anomalyFactor: z.number().gt(1),
    /** Length of the grandfathering lever: usage is counted but not charged. */
    grandfatherDays: positiveInt,
    /** Raw usage events expire after this many days (Stripe accepts meter events up to 35 days old). */
    usageEventRetentionDays: z.number().int().min(36),
    /** How long a resolved key stays cached in the authorizer; revocation takes effect within it. */
    keyCacheTtlSeconds: z.number().int().min(1).max(60),
    /** Bound on the authorizer's cache of found keys (real customers' entries). */
    keyCacheMaxEntries: positiveInt,
    /** Bound on the authorizer's separate cache of unknown keys, so random keys never evict found ones. */
    unknownKeyCacheMaxEntries: positiveInt,
    /** An hour's usage is pushed to Stripe once it ended this long ago, so late voids land first. */
    settleWindowMinutes: z
      .number()
      .int()
      .min(0)
      .max(24 * 60),
    /**
     * Where a 429 for an exhausted quota (or the rate limit) sends the customer. Unset, it is the
     * API's own pricing page (`GET /pricing` on the deployed API's URL, or on the local gateway's):
     * set it when the pricing lives on a page of your own.
     */
    upgradeUrl: z.string().url().optional(),
    /**
     * Days a customer whose subscription is behind on payment (`past_due` or `unpaid`) keeps its
     * paid tier, counted from the first webhook that reported it; then it is moved to Free. 0 means at once.
     */
    pastDueGraceDays: z.number().int().min(0).max(60),
    /**
     * Stage throttle of each free route (`access: 'free'` in routes.ts) that has none of its own,
     * across all callers: free routes have no usage plan, so this bounds what a looping key can
     * spend (read units, Checkout sessions, alert e-mails) before the handlers' per-customer limits.
     */
    freeRouteThrottle: z.object({ rateLimit: positiveInt, burstLimit: positiveInt }),
    /** The dashboard's NPS survey and its `POST /feedback` route (lambdas/core/feedback.ts). */
    survey: z.object({
      /** A customer is asked, and may answer or dismiss, at most once in this many days. */
      intervalDays: positiveInt,
      /** A customer is first asked once its account is this many days old: it has used the API by then. */
      minCustomerAgeDays: nonNegativeInt,
      /** Longest comment kept, in UTF-16 code units (a browser's `maxlength`), after control and bidi characters are stripped. */
      maxCommentChars: z.number().int().min(1).max(10_000),
      /** Stage throttle of `POST /feedback`, across all callers (a free route has no per-key usage plan). */
      throttle: z.object({ rateLimit: positiveInt, burstLimit: positiveInt }),
    }),
    /**
     * Lifetime of a Checkout session `POST /billing/upgrade` creates (Stripe allows 30 minutes to 24
     * hours); the same session is handed out again until shortly before it ends (lambdas/core/checkout-reuse.ts).
     */
    checkoutSessionMinutes: z
      .number()
      .int()
      .min(30)
      .max(24 * 60),
    /** Billing support tickets (`POST /support/tickets`, lambdas/core/tickets.ts). */
    supportTickets: z.object({
      /** Longest message kept, in UTF-16 code units, after control and bidi characters are stripped. */
      maxMessageChars: z.number().int().min(1).max(10_000),
      /** Tickets a customer may file per clock hour (UTC): each one e-mails the operators. */
      perCustomerPerHour: positiveInt,
      /** A resolved ticket is deleted (DynamoDB TTL) this many days after it was resolved. */
      resolvedRetentionDays: positiveInt,
    }),
  })
  .superRefine((config, ctx) => {
    const free = config.tiers.free;
    if (free.pricing !== 'free') ctx.addIssue({ code: 'custom', path: ['tiers', 'free'], message: 'the free tier must use "free" pricing' });
    for (const [name, tier] of Object.entries(config.tiers)) {
      if (tier.pricing !== 'volume') continue;
      const last = tier.bands[tier.bands.length - 1];
      if (last?.upTo !== null)
        ctx.addIssue({ code: 'custom', path: ['tiers', name, 'bands'], message: 'the last volume band must be open-ended (upTo: null)' });
      const bounds = tier.bands.slice(0, -1).map((b) => b.upTo ?? Infinity);
      if (bounds.some((b, i) => i > 0 && b <= (bounds[i - 1] ?? 0)))
        ctx.addIssue({ code: 'custom', path: ['tiers', name, 'bands'], message: 'volume band bounds must increase' });
    }
  });

export type BillingConfig = z.infer<typeof BillingConfigSchema>;
export type TierConfig = z.infer<typeof TierSchema>;
export const TIER_NAMES = ['free', 'pro', 'enterprise'] as const;
export type TierName = (typeof TIER_NAMES)[number];
export const TierNameSchema = z.enum(TIER_NAMES);

/** The shipped defaults; the README's configuration table documents each one. */
export const billingConfig: BillingConfig = BillingConfigSchema.parse({
  tiers: {
    free: { pricing: 'free', monthlyQuota: 1_000 },
    pro: { pricing: 'included-plus-overage', monthlyFeeCents: 4_900, includedCalls: 10_000, overageUnitMillicents: 200 },
    enterprise: {
      pricing: 'volume',
      monthlyFeeCents: 49_900,
      bands: [
        { upTo: 100_000, unitMillicents: 150 },
        { upTo: 1_000_000, unitMillicents: 100 },
        { upTo: null, unitMillicents: 50 },
      ],
    },
  },
  rateLimit: { requestsPerMinute: 1_000, burst: 100 },
  billingCapCents: 100_000,
  capAlertPercents: [80, 100],
  anomalyFactor: 2,
  grandfatherDays: 30,
  usageEventRetentionDays: 40,
  keyCacheTtlSeconds: 30,
  keyCacheMaxEntries: 10_000,
  unknownKeyCacheMaxEntries: 1_000,
  settleWindowMinutes: 15,
  pastDueGraceDays: 7,
  freeRouteThrottle: { rateLimit: 25, burstLimit: 50 },
  survey: { intervalDays: 30, minCustomerAgeDays: 7, maxCommentChars: 1_000, throttle: { rateLimit: 10, burstLimit: 20 } },
  checkoutSessionMinutes: 60,
  supportTickets: { maxMessageChars: 2_000, perCustomerPerHour: 3, resolvedRetentionDays: 90 },
} satisfies z.input<typeof BillingConfigSchema>);

/** The monthly quota a tier's usage plan enforces, or `undefined` where the tier has none. */
export function monthlyQuotaOf(tier: TierConfig): number | undefined {
  return tier.pricing === 'free' ? tier.monthlyQuota : undefined;
}
