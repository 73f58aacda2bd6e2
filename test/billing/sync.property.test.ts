import fc from 'fast-check';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { billingConfig, type BillingConfig, type TierName } from '../../lambdas/core/config.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import { callsBillableUnderCap, estimateBill } from '../../lambdas/core/pricing.ts';
import { monthsToSync, runSync, syncCustomerMonth, type SyncDeps, type SyncStateStore } from '../../lambdas/core/sync.ts';
import { utcHour, utcMonth } from '../../lambdas/core/time.ts';
import { CounterUsageReader, DynamoSyncStateStore } from '../../lambdas/adapters/sync-store.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';
import { RecordingStripe, type StripeFault } from '../harness/recording-stripe.ts';

/** Small figures so that caps are reached by small histories. */
const config: Pick<BillingConfig, 'tiers' | 'billingCapCents' | 'settleWindowMinutes'> = {
  ...billingConfig,
  tiers: { ...billingConfig.tiers, pro: { pricing: 'included-plus-overage', monthlyFeeCents: 4_900, includedCalls: 100, overageUnitMillicents: 200 } },
  settleWindowMinutes: 15,
};

const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('tier' as const), customer: fc.nat({ max: 2 }), tier: fc.constantFrom<TierName>('free', 'pro', 'enterprise') }),
  fc.record({ kind: fc.constant('usage' as const), customer: fc.nat({ max: 2 }), hoursAgo: fc.nat({ max: 4 }), calls: fc.integer({ min: 1, max: 400 }) }),
  fc.record({ kind: fc.constant('advance' as const), minutes: fc.oneof(fc.integer({ min: 1, max: 180 }), fc.constant(25 * 60)) }),
  fc.record({
    kind: fc.constant('sync' as const),
    fault: fc.constantFrom<StripeFault>('none', 'none', 'fail-before-accept', 'time-out-after-accept'),
    crashBeforeMark: fc.boolean(),
    paused: fc.boolean(),
  }),
);

const customerArb = fc.record({ tier: fc.constantFrom<TierName>('free', 'pro', 'enterprise'), capCents: fc.constantFrom(undefined, 4_950, 60_000) });

/** A state store whose next markSent dies, as a Lambda killed between the send and the write would. */
function crashingOnce(store: SyncStateStore): SyncStateStore & { armed: boolean } {
  const wrapped = {
    armed: false,
    get: store.get.bind(store),
    reserve: store.reserve.bind(store),
    replacePending: store.replacePending.bind(store),
    async markSent(customerId: string, month: string, identifier: string) {
      if (wrapped.armed) {
        wrapped.armed = false;
        throw new Error('crashed between send and mark');
      }
      return store.markSent(customerId, month, identifier);
    },
  };
  return wrapped;
}

describe('Stripe sync property (state in DynamoDB Local)', () => {
  let t: TestTables;
  let run = 0;
  beforeAll(async () => {
    t = await freshTables();
  });

  it('leaves Stripe holding exactly the billable calls (capped) per customer and month, whatever the faults', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(customerArb, { minLength: 1, maxLength: 3 }), fc.array(stepArb, { minLength: 1, maxLength: 25 }), async (customerSpecs, steps) => {
        run += 1;
        // Start near a month's end so histories cross into the next billing month.
        let now = Date.UTC(2026, 10, 30, 20, 0);
        const clock = () => now;
        const stripe = new RecordingStripe(clock);
        const state = crashingOnce(new DynamoSyncStateStore(t.doc, t.tables.billing));
        const deps: SyncDeps = { stripe, state, usage: new CounterUsageReader(t.doc, t.tables.counters), meterId: 'mtr_test', config, now: clock };
        const customers: Customer[] = customerSpecs.map((spec, i) => ({
          customerId: `r${run}c${i}`,
          name: 'c',
          tier: spec.tier,
          status: 'active',
          capBehaviour: 'absorb',
          gatewayKeyId: 'g',
          gatewayKeyValue: 'g',
          createdAt: '2026-11-01T00:00:00Z',
          stripeCustomerId: `cus_r${run}c${i}`,
          ...(spec.capCents !== undefined && { capCents: spec.capCents }),
        }));
        const counted = new Map<string, number>(); // `${customerId}|${month}` -> calls the aggregator counted

        const tierChanged = new Set<string>();
        for (const step of steps) {
          if (step.kind === 'tier') {
            const index = step.customer % customers.length;
            if (customers[index]!.tier !== step.tier) tierChanged.add(customers[index]!.customerId);
            customers[index] = { ...customers[index]!, tier: step.tier };
          }
          if (step.kind === 'advance') now += step.minutes * 60_000;
          if (step.kind === 'usage') {
            const customer = customers[step.customer % customers.length]!;
            const at = now - step.hoursAgo * 3_600_000;
            await t.doc.send(
              new UpdateCommand({
                TableName: t.tables.counters,
                Key: { pk: `CUSTOMER#${customer.customerId}`, sk: `HOUR#${utcHour(at)}` },
                UpdateExpression: 'ADD billable :n',
                ExpressionAttributeValues: { ':n': step.calls },
              }),
            );
            const key = `${customer.customerId}|${utcMonth(at)}`;
            counted.set(key, (counted.get(key) ?? 0) + step.calls);
          }
          if (step.kind === 'sync') {
            stripe.faults.push(step.fault);
            state.armed = step.crashBeforeMark;
            await runSync(customers, deps, { paused: step.paused });
            state.armed = false;
          }
        }

        // Settle, then let unfaulted runs catch up; each month's invoice flush takes its last hours.
        now += 2 * 3_600_000;
        stripe.faults.length = 0;
        for (let i = 0; i < 3; i++) await runSync(customers, deps, { paused: false });
        for (const customer of customers) for (const month of monthsToSync(now)) await syncCustomerMonth(customer, month, deps, { flush: true });
        for (const customer of customers) for (const month of monthsToSync(now)) await syncCustomerMonth(customer, month, deps, { flush: true });

        for (const customer of customers) {
          const cap = customer.capCents ?? config.billingCapCents;
          for (const month of monthsToSync(now)) {
            const calls = counted.get(`${customer.customerId}|${month}`) ?? 0;
            const expected = callsBillableUnderCap(customer.tier, calls, cap, config);
            const inStripe = stripe.total(customer.stripeCustomerId!, month);
            if (!tierChanged.has(customer.customerId)) {
              expect({ customer: customer.customerId, month, inStripe }).toEqual({ customer: customer.customerId, month, inStripe: expected });
              continue;
            }
            // After tier changes, calls pushed under a cheaper tier's cap may exceed the new one's: nothing is
            // lost, and the invoice's credit for the excess (see webhooks.ts) brings the bill to the cap or under.
            expect(inStripe).toBeGreaterThanOrEqual(expected);
            const invoiced = estimateBill(customer.tier, inStripe, config).totalCents - Math.max(0, estimateBill(customer.tier, inStripe, config).totalCents - estimateBill(customer.tier, expected, config).totalCents);
            if (estimateBill(customer.tier, 0, config).totalCents <= cap) expect(invoiced).toBeLessThanOrEqual(cap);
          }
        }
        // Never more than one meter event per customer and month in a run: at most one request per customer-month-run.
        expect(stripe.accepted.every((e) => Number.isInteger(e.value) && e.value > 0)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
