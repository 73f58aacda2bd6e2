/**
 * A small billing month through the real path (bench/month.ts) with every fault injected: the
 * reconciliation must find no discrepancy and a 0% billing error rate, and each fault must really have
 * happened, so that a month without faults cannot pass for one with them.
 */
import { MONTH_FAULTS, simulateMonth, type MonthResult } from '../../bench/month.ts';
import { freshTables } from '../harness/dynamodb.ts';

describe('a billing month with faults at every seam (DynamoDB Local, the local Stripe)', () => {
  let result: MonthResult;
  beforeAll(async () => {
    const t = await freshTables();
    result = await simulateMonth({ dynamo: t, customers: 25, calls: 12_000, seed: 7, faults: MONTH_FAULTS, syncEveryHours: 24 });
    t.client.destroy();
  }, 360_000); // about a minute alone; several on a loaded 2-core machine

  it('bills every served call exactly once: no discrepancy, a 0% error rate in calls and in cents (the refund is goodwill, not an error)', () => {
    expect(result.calls).toBeGreaterThan(9_000);
    expect(result.records).toHaveLength(25);
    expect(result.records.filter((r) => r.discrepancy).map((r) => [r.customerId, r.differences])).toEqual([]);
    expect(result.rate).toMatchObject({ discrepancies: 0, error: { calls: 0, cents: 0 }, rate: { calls: 0, cents: 0 } });
    // The refunded customer's invoice carries the operator's credit note, told apart as a refund.
    expect(result.records.some((r) => (r.after.invoice?.refundedCents ?? 0) === 500)).toBe(true);
  });

  it('met every fault it was given', () => {
    const f = result.faults;
    expect(f.storeFailures).toBeGreaterThan(0);
    expect(f.redeliveredBatches).toBeGreaterThan(0);
    expect(f.bisectedBatches).toBeGreaterThan(0);
    expect(f.deadLetters).toBeGreaterThan(0);
    expect(f.replayedRecords).toBe(f.deadLetteredRecords);
    expect(f.stripe500s).toBeGreaterThan(0);
    expect(f.stripeTimeouts).toBeGreaterThan(0);
    expect(f.crashesBeforeMark).toBeGreaterThan(0);
    expect(f.webhooksOutOfOrder).toBe(1);
    expect(f.webhooksReplayed).toBeGreaterThan(0);
    expect(f.lateVoids).toBeGreaterThan(0);
    expect(f.outcomeBatchesRedelivered).toBeGreaterThan(0);
    // Every drafted invoice was reconciled by its invoice.created webhook.
    expect(result.webhookOutcomes.reconciled).toBe(25);
  });

  it('exercised the levers: a customer blocked at its cap, and voids', () => {
    expect(result.denied).toBeGreaterThan(0);
    expect(result.voided).toBeGreaterThan(0);
  });
});
