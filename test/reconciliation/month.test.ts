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
    result = await simulateMonth({ dynamo: t, customers: 41, calls: 40_000, seed: 7, faults: MONTH_FAULTS });
    t.client.destroy();
  }, 120_000);

  it('bills every served call exactly once: no discrepancy, a 0% error rate', () => {
    expect(result.calls).toBeGreaterThan(30_000);
    expect(result.records).toHaveLength(41);
    expect(result.rate.discrepancies).toBe(0);
    expect(result.rate.rate).toEqual({ calls: 0, cents: 0 });
    expect(result.records.filter((r) => r.discrepancy)).toEqual([]);
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
    expect(f.resentAsDuplicate).toBeGreaterThan(0);
    expect(f.crashesBeforeMark).toBeGreaterThan(0);
    expect(f.webhooksOutOfOrder).toBe(1);
    expect(f.webhooksReplayed).toBeGreaterThan(0);
    expect(f.lateVoids).toBeGreaterThan(0);
    expect(f.outcomeBatchesRedelivered).toBeGreaterThan(0);
    // Every drafted invoice was reconciled by its invoice.created webhook.
    expect(result.webhookOutcomes.reconciled).toBe(41);
  });

  it('exercised the levers: a customer blocked at its cap, voids, a credited draft', () => {
    expect(result.denied).toBeGreaterThan(0);
    expect(result.voided).toBeGreaterThan(0);
    expect(result.records.some((r) => r.corrections.some((c) => c.kind === 'credit-draft-invoice'))).toBe(false);
    expect(result.records.some((r) => r.differences.some((d) => d.kind === 'voided-after-push'))).toBe(true);
  });
});
