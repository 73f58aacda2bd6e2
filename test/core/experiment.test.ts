import fc from 'fast-check';
import {
  billedInStripe,
  conclude,
  experimentReport,
  launch,
  marginOfError,
  npsInterval,
  pickCohort,
  shadowWindow,
  startBeta,
  wilsonInterval,
  Z95,
  type ExperimentData,
  type ExperimentState,
} from '../../lambdas/core/experiment.ts';

describe('experiment statistics', () => {
  it('Wilson: the bounds are the two roots of (p̂ − p)² = z²·p(1 − p)/n, the interval holds p̂, within [0, 1]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, share) => {
        const k = Math.round(share * n);
        const interval = wilsonInterval(k, n)!;
        const p = k / n;
        // Reference: the quadratic (1 + z²/n)·x² − (2p̂ + z²/n)·x + p̂² = 0, solved directly.
        const z2 = Z95 * Z95;
        const a = 1 + z2 / n;
        const b = -(2 * p + z2 / n);
        const c = p * p;
        const root = Math.sqrt(Math.max(0, b * b - 4 * a * c));
        expect(interval.low).toBeCloseTo(Math.max(0, (-b - root) / (2 * a)), 9);
        expect(interval.high).toBeCloseTo(Math.min(1, (-b + root) / (2 * a)), 9);
        expect(interval.low).toBeLessThanOrEqual(p + 1e-12);
        expect(interval.high).toBeGreaterThanOrEqual(p - 1e-12);
      }),
    );
  });

  it('Wilson: a published example, and nothing for n = 0', () => {
    // 15 of 100: the 95% Wilson interval is 0.093–0.233 (Newcombe 1998, method 3).
    const interval = wilsonInterval(15, 100)!;
    expect([interval.estimate, Number(interval.low.toFixed(3)), Number(interval.high.toFixed(3))]).toEqual([0.15, 0.093, 0.233]);
    expect(wilsonInterval(0, 0)).toBeNull();
  });

  it('NPS: % promoters − % detractors, with the trinomial variance (p_P(1−p_P) + p_D(1−p_D) + 2·p_P·p_D)/n', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 2_000 }), (scores) => {
        const result = npsInterval(scores)!;
        const n = scores.length;
        const pP = scores.filter((s) => s >= 9).length / n;
        const pD = scores.filter((s) => s <= 6).length / n;
        // Reference: the variance of the difference of two multinomial shares, written the other way round.
        const variance = (pP * (1 - pP) + pD * (1 - pD) + 2 * pP * pD) / n;
        expect(result.estimate).toBeCloseTo((pP - pD) * 100, 9);
        expect(result.low).toBeCloseTo(Math.max(-100, (pP - pD) * 100 - Z95 * Math.sqrt(variance) * 100), 6);
        expect(result.high).toBeCloseTo(Math.min(100, (pP - pD) * 100 + Z95 * Math.sqrt(variance) * 100), 6);
        expect(result.promoters + result.passives + result.detractors).toBe(n);
        expect(result.distribution.reduce((a, b) => a + b, 0)).toBe(n);
      }),
    );
    expect(npsInterval([])).toBeNull();
  });

  it("gives the seed's margin of error: 5% at 95% confidence needs about 385 answers", () => {
    expect(marginOfError(385)!).toBeLessThan(0.05);
    expect(marginOfError(380)!).toBeGreaterThan(0.05);
    expect(marginOfError(0)).toBeNull();
  });
});

describe('experiment rollout', () => {
  const T = Date.UTC(2026, 10, 10);

  it('goes planned → beta → launched → concluded, and refuses any other step with a reason', () => {
    expect(startBeta(undefined, [], T)).toEqual({ ok: false, reason: expect.stringMatching(/cohort is empty/) });
    const beta = startBeta(undefined, ['a', 'b', 'a'], T);
    expect(beta).toEqual({ ok: true, state: { id: 'api-billing-001', phase: 'beta', cohort: ['a', 'b'], betaStartedAt: T } });
    const state = (beta as { state: ExperimentState }).state;
    expect(startBeta(state, ['c'], T)).toEqual({ ok: false, reason: 'the experiment is already beta' });
    expect(conclude(undefined, T)).toEqual({ ok: false, reason: expect.stringMatching(/planned/) });
    const launched = launch(state, T + 1);
    expect(launched).toMatchObject({ ok: true, state: { phase: 'launched', launchedAt: T + 1 } });
    expect(launch((launched as { state: ExperimentState }).state, T + 2)).toMatchObject({ ok: false });
    expect(conclude((launched as { state: ExperimentState }).state, T + 3)).toMatchObject({ ok: true, state: { phase: 'concluded', concludedAt: T + 3 } });
  });

  it('bills only the cohort during the beta, everyone from the launch, and never back-bills the beta', () => {
    const beta: ExperimentState = { id: 'x', phase: 'beta', cohort: ['a'], betaStartedAt: T };
    expect([billedInStripe('a', T + 1, beta), billedInStripe('b', T + 1, beta), billedInStripe('b', T - 1, beta)]).toEqual([true, false, true]);
    expect(shadowWindow('b', beta)).toEqual({ from: T, until: Number.MAX_SAFE_INTEGER });
    expect(shadowWindow('a', beta)).toBeUndefined();
    const launched = { ...beta, phase: 'launched' as const, launchedAt: T + 100 };
    expect([billedInStripe('b', T + 50, launched), billedInStripe('b', T + 100, launched)]).toEqual([false, true]);
    expect(shadowWindow('b', launched)).toEqual({ from: T, until: T + 100 });
    expect(shadowWindow('b', undefined)).toBeUndefined();
  });

  it('picks a cohort of distinct candidates by the random source it is given', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1 }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 50 }),
        fc.infiniteStream(fc.double({ min: 0, max: 0.999, noNaN: true })),
        (ids, size, stream) => {
          const draws = stream[Symbol.iterator]();
          const cohort = pickCohort(ids, size, () => draws.next().value as number);
          expect(cohort).toHaveLength(Math.min(size, ids.length));
          expect(new Set(cohort).size).toBe(cohort.length);
          expect(cohort.every((id) => ids.includes(id))).toBe(true);
        },
      ),
    );
  });
});

describe('experiment verdicts', () => {
  const NOW = Date.UTC(2026, 11, 10, 12);
  const DAY = 86_400_000;
  const start = NOW - 30 * DAY;
  /** Data with `active` customers calling daily, `startedFree` of them new on Free of whom `upgraded` upgraded, and the rest as given. */
  function data(o: {
    active: number;
    upgraded: number;
    startedFree: number;
    scores: number[];
    errorRate: number;
    churned?: number;
    paidAtStart?: number;
    callsEach?: number;
  }): ExperimentData {
    const customers = Array.from({ length: o.active }, (_, i) => {
      const isNew = i < o.startedFree;
      const paidOld = !isNew && i < o.startedFree + (o.paidAtStart ?? 0);
      const churned = paidOld && i < o.startedFree + (o.churned ?? 0);
      return {
        customerId: `c${i}`,
        name: `c${i}`,
        tier: (isNew ? (i < o.upgraded ? 'pro' : 'free') : paidOld && !churned ? 'pro' : 'free') as 'free' | 'pro',
        initialTier: (isNew ? 'free' : paidOld ? 'pro' : 'free') as 'free' | 'pro',
        status: 'active' as const,
        capBehaviour: 'block' as const,
        gatewayKeyId: 'g',
        gatewayKeyValue: 'g',
        createdAt: new Date(isNew ? start + DAY : start - 10 * DAY).toISOString(),
        ...(churned && { downgradedAt: start + 5 * DAY }),
      };
    });
    return {
      customers: async () => customers,
      days: async () =>
        customers.flatMap((c) =>
          Array.from({ length: 30 }, (_, d) => ({
            customerId: c.customerId,
            day: new Date(start + d * DAY).toISOString().slice(0, 10),
            billable: o.callsEach ?? 5,
            s2xx: o.callsEach ?? 5,
            s4xx: 0,
            s5xx: 0,
          })),
        ),
      paidInvoices: async () => [],
      tickets: async () => [],
      feedback: async () => o.scores.map((score, i) => ({ customerId: `c${i}`, score, at: start + DAY })),
      billingErrorRate: async () => ({
        customerMonths: o.active,
        discrepancies: 0,
        shouldBeBilled: { calls: 1_000, cents: 1_000 },
        error: { calls: o.errorRate * 1_000, cents: o.errorRate * 1_000 },
        rate: { calls: o.errorRate, cents: o.errorRate },
        residualRate: { calls: 0, cents: 0 },
      }),
    };
  }
  const verdictOf = async (d: ExperimentData) => {
    const report = await experimentReport(d, { id: 'x', phase: 'launched', cohort: [], betaStartedAt: start, launchedAt: start + 3 * DAY }, { now: NOW });
    return { overall: report.verdict.overall, criteria: Object.fromEntries(report.criteria.map((c) => [c.id, c.verdict])) };
  };

  it('is inconclusive below the minimum sample, whatever the point estimates', async () => {
    const v = await verdictOf(data({ active: 50, startedFree: 40, upgraded: 30, scores: Array(40).fill(10), errorRate: 0 }));
    expect(v.criteria.upgradeRate).toBe('inconclusive');
    expect(v.overall).toBe('inconclusive');
  });

  it('fails on a billing error rate above 5%, and on churn above 10% with its interval clear of the bar', async () => {
    expect((await verdictOf(data({ active: 200, startedFree: 100, upgraded: 40, scores: Array(60).fill(10), errorRate: 0.06 }))).overall).toBe('failure');
    const churn = await verdictOf(
      data({ active: 300, startedFree: 100, upgraded: 40, scores: Array(60).fill(10), errorRate: 0, paidAtStart: 150, churned: 60 }),
    );
    expect([churn.criteria.churn, churn.overall]).toEqual(['met', 'failure']);
  });

  it('calls an upgrade rate whose interval straddles 15% inconclusive, and one clear of it met', async () => {
    const straddles = await verdictOf(data({ active: 200, startedFree: 100, upgraded: 16, scores: Array(60).fill(10), errorRate: 0 }));
    expect(straddles.criteria.upgradeRate).toBe('inconclusive');
    const clear = await verdictOf(data({ active: 200, startedFree: 100, upgraded: 40, scores: Array(60).fill(10), errorRate: 0 }));
    expect(clear.criteria.upgradeRate).toBe('met');
  });

  it('succeeds only when every success criterion is met and no failure criterion', async () => {
    // 200 customers × 5 calls a day = 1,000 calls a day; 40 Pro upgrades bill $49 each = $1,960 this month.
    const v = await verdictOf(data({ active: 200, startedFree: 100, upgraded: 40, scores: [...Array(50).fill(10), ...Array(10).fill(8)], errorRate: 0.001 }));
    expect(v.criteria).toEqual({
      revenue: 'met',
      callsPerDay: 'met',
      upgradeRate: 'met',
      billingErrorRate: 'met',
      nps: 'met',
      revenueFloor: 'not-met',
      upgradeRateFloor: 'not-met',
      billingErrorRateCeiling: 'not-met',
      churn: 'inconclusive',
    });
    expect(v.overall).toBe('success');
  });
});
