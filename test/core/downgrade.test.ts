import fc from 'fast-check';
import { billingConfig } from '../../lambdas/core/config.ts';
import {
  CUSTOMER_ACTOR,
  cancelDowngrade,
  downgradeTerms,
  pendingChange,
  scheduleDowngrade,
  tierBilledIn,
  type AuditEntry,
  type DowngradeDeps,
} from '../../lambdas/core/downgrade.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { startOfNextUtcMonth } from '../../lambdas/core/time.ts';
import { testCustomer } from '../harness/customer.ts';

const NOW = Date.UTC(2026, 10, 24, 13, 30); // 24 November 2026, 13:30 UTC
const DECEMBER = Date.UTC(2026, 11, 1);

/** In-memory fakes of the ports: the customer's record, Stripe's subscription (its cancel_at), the audit log. */
function fakes(customer: Customer, options: { now?: number; stripePeriodEnd?: number } = {}) {
  const record: { current: Customer } = { current: customer };
  const subscription = { cancelAtPeriodEnd: false, periodEnd: options.stripePeriodEnd ?? DECEMBER };
  const stripeCalls: boolean[] = [];
  const audit: AuditEntry[] = [];
  const deps: DowngradeDeps = {
    registry: {
      async updateCustomer(_id, fields) {
        record.current = { ...record.current, ...fields };
        for (const [k, v] of Object.entries(fields)) if (v === undefined) delete (record.current as unknown as Record<string, unknown>)[k];
        return true;
      },
    },
    billing: {
      async setCancelAtPeriodEnd(_id, cancel) {
        stripeCalls.push(cancel);
        subscription.cancelAtPeriodEnd = cancel;
        return { cancelAtSec: cancel ? subscription.periodEnd / 1000 : null };
      },
    },
    audit: async (entry) => void audit.push(entry),
    now: () => options.now ?? NOW,
  };
  return { deps, record, subscription, stripeCalls, audit };
}

const pro = (fields: Partial<Customer> = {}) => testCustomer({ tier: 'pro', subscriptionId: 'sub_1', ...fields });

describe('the terms of opting out, shown before the customer confirms', () => {
  it('says in words and figures: Pro until the month ends, this month billed at Pro so far, Free with its quota from the 1st, undoable until then', () => {
    const estimate = estimateBill('pro', 12_000, billingConfig).totalCents; // $49 + 2,000 x $0.002 = $53.00
    expect(downgradeTerms(pro(), estimate, billingConfig, NOW)).toEqual({
      from: 'pro',
      to: 'free',
      takesEffectAt: '2026-12-01T00:00:00.000Z',
      billedThisMonthCents: 5_300,
      freeMonthlyQuota: 1_000,
      summary: [
        'You stay on Pro until the end of this billing month: Free starts on 2026-12-01 at 00:00 UTC.',
        'This month (2026-11) is billed at Pro as usual: $53.00 so far, plus any calls you make before 2026-12-01.',
        'From 2026-12-01 you pay nothing and get 1,000 calls a month; call 1,001 in a month is refused until the next month (or until you upgrade).',
        'You can undo this until 2026-12-01 with "Keep Pro".',
      ],
    });
  });

  it.each([
    ['on Free already', testCustomer({ tier: 'free' })],
    ['with a downgrade pending', pro({ downgradeAt: DECEMBER })],
  ])('offers no terms to a customer %s', (_, customer) => {
    expect(downgradeTerms(customer, 0, billingConfig, NOW)).toBeNull();
  });

  it('always takes effect at the start of the next UTC month, after now, whatever the instant (the last second of a month included)', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }), (now) => {
        const at = Date.parse(downgradeTerms(pro(), 0, billingConfig, now)!.takesEffectAt);
        expect(at).toBe(startOfNextUtcMonth(now));
        expect(at).toBeGreaterThan(now);
        expect(new Date(at).getUTCDate()).toBe(1);
      }),
    );
  });

  it('shows a pending change as the usage API names it', () => {
    expect(pendingChange(pro({ downgradeAt: DECEMBER }))).toEqual({ to: 'free', at: '2026-12-01T00:00:00.000Z' });
    expect(pendingChange(pro())).toBeNull();
    // Moved to Free first (a payment grace that ended): nothing left to show or undo until a paid tier is back.
    expect(pendingChange(testCustomer({ tier: 'free', downgradeAt: DECEMBER }))).toBeNull();
  });
});

describe('opting out and undoing it', () => {
  it('sets the subscription to cancel at period end, records when Free applies and audits it as the customer', async () => {
    const { deps, record, subscription, audit } = fakes(pro());
    expect(await scheduleDowngrade(record.current, '2026-12-01T00:00:00.000Z', deps)).toEqual({ ok: true, at: DECEMBER });
    expect(subscription.cancelAtPeriodEnd).toBe(true);
    expect(record.current.downgradeAt).toBe(DECEMBER);
    expect(record.current.tier).toBe('pro'); // the tier moves only when the subscription ends
    expect(audit).toEqual([
      {
        customerId: 'c1',
        action: 'downgrade-scheduled-pro-to-free',
        by: CUSTOMER_ACTOR,
        reason: 'opted out to Free from the dashboard, effective 2026-12-01T00:00:00.000Z',
        at: NOW,
        details: { from: 'pro', to: 'free', takesEffectAt: '2026-12-01T00:00:00.000Z' },
      },
    ]);
    expect(CUSTOMER_ACTOR).toBe('the customer');
  });

  it('undoes it ("Keep Pro"): the subscription no longer ends, the record forgets the date, the audit log says who', async () => {
    const { deps, record, subscription, audit } = fakes(pro());
    await scheduleDowngrade(record.current, '2026-12-01T00:00:00.000Z', deps);
    expect(await cancelDowngrade(record.current, deps)).toEqual({ ok: true, at: DECEMBER });
    expect(subscription.cancelAtPeriodEnd).toBe(false);
    expect(record.current.downgradeAt).toBeUndefined();
    expect(audit.map((a) => [a.action, a.by])).toEqual([
      ['downgrade-scheduled-pro-to-free', 'the customer'],
      ['downgrade-cancelled-stays-pro', 'the customer'],
    ]);
    // And again: opting out after an undo is allowed.
    expect(await scheduleDowngrade(record.current, '2026-12-01T00:00:00.000Z', deps)).toEqual({ ok: true, at: DECEMBER });
  });

  it.each([
    ['a Free customer', testCustomer({ tier: 'free', subscriptionId: 'sub_1' }), '2026-12-01T00:00:00.000Z', 'ALREADY_FREE'],
    ['a customer whose downgrade is pending', pro({ downgradeAt: DECEMBER }), '2026-12-01T00:00:00.000Z', 'ALREADY_SCHEDULED'],
    ['a customer without a subscription', pro({ subscriptionId: undefined }), '2026-12-01T00:00:00.000Z', 'NOT_SUBSCRIBED'],
    ['terms of another month (shown before the month turned)', pro(), '2026-11-01T00:00:00.000Z', 'TERMS_CHANGED'],
  ])('refuses %s and changes nothing', async (_, customer, confirmed, code) => {
    const { deps, record, stripeCalls, audit } = fakes(customer);
    expect(await scheduleDowngrade(customer, confirmed, deps)).toMatchObject({ ok: false, code });
    expect(stripeCalls).toEqual([]);
    expect(record.current).toEqual(customer);
    expect(audit).toEqual([]);
  });

  it("takes Stripe's change back when Stripe would end the subscription at another time than the customer was shown", async () => {
    // Stripe's period rolled to December before our clock did: cancelling at its end would mean January.
    const { deps, record, subscription, stripeCalls, audit } = fakes(pro(), { stripePeriodEnd: Date.UTC(2027, 0, 1) });
    expect(await scheduleDowngrade(record.current, '2026-12-01T00:00:00.000Z', deps)).toMatchObject({ ok: false, code: 'TERMS_CHANGED' });
    expect(stripeCalls).toEqual([true, false]);
    expect(subscription.cancelAtPeriodEnd).toBe(false);
    expect(record.current.downgradeAt).toBeUndefined();
    expect(audit).toEqual([]);
  });

  it.each([
    ['nothing is pending', pro(), NOW, 'NOT_SCHEDULED'],
    ['the customer is on Free already', testCustomer({ tier: 'free', subscriptionId: 'sub_1', downgradeAt: DECEMBER }), NOW, 'NOT_SCHEDULED'],
    ['the downgrade has taken effect (its webhook not in yet)', pro({ downgradeAt: DECEMBER }), DECEMBER, 'ALREADY_EFFECTIVE'],
  ])('refuses an undo when %s, and changes nothing', async (_, customer, now, code) => {
    const { deps, record, stripeCalls, audit } = fakes(customer, { now });
    expect(await cancelDowngrade(customer, deps)).toMatchObject({ ok: false, code });
    expect([stripeCalls, audit, record.current]).toEqual([[], [], customer]);
  });
});

describe('the tier a month is billed at', () => {
  const optedOut = testCustomer({ tier: 'free', downgradedFrom: 'pro', downgradedAt: DECEMBER + 5_000 });

  it('is the paid tier for the month that ended as the opt-out took effect, and Free from then on', () => {
    expect(tierBilledIn(optedOut, '2026-11')).toBe('pro');
    expect(tierBilledIn(optedOut, '2026-10')).toBe('pro');
    expect(tierBilledIn(optedOut, '2026-12')).toBe('free');
  });

  it('is Free for a month that ended before the upgrade the customer later left', () => {
    const upgradedInOctober = { ...optedOut, upgradedAt: Date.UTC(2026, 9, 10) };
    expect(tierBilledIn(upgradedInOctober, '2026-10')).toBe('pro');
    expect(tierBilledIn(upgradedInOctober, '2026-09')).toBe('free');
  });

  it('is the current tier of a customer who never left a paid tier, or left it mid-month (an operator downgrade)', () => {
    expect(tierBilledIn(pro(), '2026-11')).toBe('pro');
    const midMonth = testCustomer({ tier: 'free', downgradedFrom: 'pro', downgradedAt: Date.UTC(2026, 10, 15) });
    expect(tierBilledIn(midMonth, '2026-11')).toBe('free');
    expect(tierBilledIn(midMonth, '2026-10')).toBe('pro');
  });
});
