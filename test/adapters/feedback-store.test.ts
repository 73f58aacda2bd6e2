import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { billingConfig } from '../../lambdas/core/config.ts';
import { submitFeedback, type FeedbackEntry } from '../../lambdas/core/feedback.ts';
import { DynamoFeedbackStore } from '../../lambdas/adapters/feedback-store.ts';
import { billingFixture, type BillingFixture } from '../harness/billing.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 30, 23, 59); // the last minute of November
const answer = (customerId: string, score: number, at: number, comment?: string): FeedbackEntry => ({
  kind: 'answer',
  customerId,
  score,
  at,
  ...(comment !== undefined && { comment }),
});

describe('NPS feedback in the Billing table (DynamoDB Local)', () => {
  let t: TestTables;
  let store: DynamoFeedbackStore;
  beforeEach(async () => {
    t = await freshTables();
    store = new DynamoFeedbackStore(t.doc, t.tables.billing);
  });
  afterEach(() => t.client.destroy());

  const items = async () => (await t.doc.send(new ScanCommand({ TableName: t.tables.billing, ConsistentRead: true }))).Items ?? [];

  it("keeps the customer's latest answer and one item per answer in its month's partition", async () => {
    expect(await store.record(answer('cust_1', 9, T0, 'Fast and clear'), T0 - 30 * DAY)).toBe(true);
    expect(await store.last('cust_1')).toEqual(answer('cust_1', 9, T0, 'Fast and clear'));
    expect(await store.last('cust_2')).toBeUndefined();
    expect((await items()).map((i) => [i.pk, i.sk]).sort()).toEqual([
      ['CUSTOMER#cust_1', 'FEEDBACK'],
      ['FEEDBACK#2026-11', `${new Date(T0).toISOString()}#cust_1`],
    ]);
  });

  it('refuses a write within the interval and changes nothing; takes one after it', async () => {
    await store.record(answer('cust_1', 9, T0), T0 - 30 * DAY);
    const before = await items();
    expect(await store.record({ kind: 'dismissal', customerId: 'cust_1', at: T0 + DAY }, T0 + DAY - 30 * DAY)).toBe(false);
    expect(await items()).toEqual(before);
    expect(await store.record(answer('cust_1', 4, T0 + 30 * DAY), T0)).toBe(true);
    expect(await store.last('cust_1')).toEqual(answer('cust_1', 4, T0 + 30 * DAY));
  });

  it('stores one of two concurrent writes of the same customer (the condition and the transaction, not a read, decide)', async () => {
    for (let round = 0; round < 5; round++) {
      const at = T0 + round * 31 * DAY;
      const written = await Promise.all([store.record(answer('cust_1', 10, at), at - 30 * DAY), store.record(answer('cust_1', 0, at + 1), at + 1 - 30 * DAY)]);
      expect(written.filter(Boolean)).toHaveLength(1);
    }
    expect(await items()).toHaveLength(1 + 5);
  });

  it('answers one of two concurrent posts that both read "never answered": the other is refused with when it may answer again', async () => {
    // Both posts read before either writes: each waits for the other's read.
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const racing = {
      last: async (customerId: string) => {
        const last = await store.last(customerId);
        if (++arrived === 2) release();
        await bothRead;
        return last;
      },
      record: store.record.bind(store),
    };
    const outcomes = await Promise.all([
      submitFeedback('cust_1', { kind: 'answer', score: 10 }, { store: racing, config: billingConfig, now: T0 }),
      submitFeedback('cust_1', { kind: 'answer', score: 0, comment: 'second' }, { store: racing, config: billingConfig, now: T0 + 1 }),
    ]);
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    const stored = await store.last('cust_1');
    expect(outcomes.find((o) => !o.ok)).toEqual({ ok: false, code: 'TOO_SOON', retryAt: stored!.at + 30 * DAY });
    expect((await store.answers(T0 - DAY, T0 + DAY)).map((a) => [a.customerId, a.at])).toEqual([['cust_1', stored!.at]]);
    expect(await items()).toHaveLength(2);
  });

  it('lists the answers of [from, to), across months, oldest first, without dismissals', async () => {
    await store.record(answer('a', 10, T0 - 40 * DAY, 'great'), 0); // October
    await store.record(answer('b', 3, T0), 0); // the last minute of November
    await store.record(answer('c', 8, T0 + 2 * 60_000), 0); // December
    await store.record({ kind: 'dismissal', customerId: 'd', at: T0 + 60_000 }, 0);
    expect(await store.answers(T0 - 60 * DAY, T0 + DAY)).toEqual([
      { customerId: 'a', score: 10, comment: 'great', at: T0 - 40 * DAY },
      { customerId: 'b', score: 3, at: T0 },
      { customerId: 'c', score: 8, at: T0 + 2 * 60_000 },
    ]);
    // Half-open: `from` is in, `to` is out.
    expect((await store.answers(T0, T0 + 2 * 60_000)).map((a) => a.customerId)).toEqual(['b']);
    expect(await store.answers(T0 + DAY, T0)).toEqual([]);
  });
});

describe('the experiment report reads the stored answers (billing services, DynamoDB Local)', () => {
  let f: BillingFixture;
  beforeEach(async () => {
    f = await billingFixture(T0 + DAY);
  });
  afterEach(async () => f.stop());

  it('counts every answer of the window in the NPS, and no dismissal', async () => {
    const store = new DynamoFeedbackStore(f.doc, f.tables.billing);
    const scores = [10, 9, 9, 7, 3];
    for (const [i, score] of scores.entries()) await store.record(answer(`c${i}`, score, T0 - i * DAY), 0);
    await store.record({ kind: 'dismissal', customerId: 'quiet', at: T0 }, 0);
    await store.record(answer('before', 0, T0 - 40 * DAY), 0); // outside the window
    const report = await f.services.experimentReport({ from: T0 - 30 * DAY });
    // 3 promoters, 1 passive, 1 detractor of 5: NPS (3 - 1) / 5 = 40.
    expect(report.nps).toMatchObject({ n: 5, estimate: 40 });
  });
});
