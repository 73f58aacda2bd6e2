import fc from 'fast-check';
import { authorizerEvent, meteringFixture, type MeteringFixture } from '../harness/metering.ts';
import { propertyBudget } from '../harness/property.ts';

type KeyKind = 'valid' | 'malformed' | 'unknown' | 'revoked' | 'missing';

/** One call: its key kind and how many times API Gateway delivers it to the authorizer. */
const callArb = fc.record({
  kind: fc.constantFrom<KeyKind>('valid', 'valid', 'malformed', 'unknown', 'revoked', 'missing'),
  customer: fc.nat({ max: 2 }),
  deliveries: fc.integer({ min: 1, max: 3 }),
  concurrent: fc.boolean(),
});

const budget = propertyBudget(100, 90_000);

describe('metering property (against DynamoDB Local)', () => {
  let f: MeteringFixture;
  let customers: Array<{ customerId: string; key: string }>;
  let revokedKey: string;
  let run = 0;

  beforeAll(async () => {
    f = await meteringFixture();
    customers = await Promise.all([f.addCustomer('free'), f.addCustomer('pro'), f.addCustomer('enterprise')]);
    const revoked = await f.addCustomer('pro');
    await f.revoke(revoked.customerId, revoked.keyId);
    revokedKey = revoked.key;
  });

  it(
    'holds exactly one event per allowed distinct request and none for a denied one',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(callArb, { minLength: 1, maxLength: 12 }), fc.infiniteStream(fc.nat()), async (calls, order) => {
          run += 1;
          const before = new Set((await f.events()).map((e) => e.requestId));
          const headersFor = (kind: KeyKind, customer: number): Record<string, string> => {
            switch (kind) {
              case 'valid':
                return { 'x-api-key': customers[customer]!.key };
              case 'malformed':
                return { 'x-api-key': 'ab_live_short' };
              case 'unknown':
                return { 'x-api-key': `ab_live_${'Z'.repeat(43)}` };
              case 'revoked':
                return { 'x-api-key': revokedKey };
              case 'missing':
                return {};
            }
          };
          // Every delivery of every call, shuffled: retries of one request may come in any order.
          const deliveries = calls.flatMap((call, i) => Array.from({ length: call.deliveries }, () => ({ call, requestId: `run${run}-req${i}` })));
          const it = order[Symbol.iterator]();
          for (let i = deliveries.length - 1; i > 0; i--) {
            const j = (it.next().value as number) % (i + 1);
            [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
          }
          // The clock moves on between deliveries: a retry that overwrote its event would change `at`.
          // The first group of deliveries of a request (one, or two racing) may each win the write.
          const firstGroupTimes = new Map<string, number[]>();
          let group = 0;
          const groupOf = new Map<string, number>();
          const deliver = async ({ call, requestId }: (typeof deliveries)[number]) => {
            f.clock.now += 1_000;
            if (!groupOf.has(requestId)) groupOf.set(requestId, group);
            if (groupOf.get(requestId) === group) firstGroupTimes.set(requestId, [...(firstGroupTimes.get(requestId) ?? []), f.clock.now]);
            try {
              await f.authorize(authorizerEvent({ requestId, headers: headersFor(call.kind, call.customer) }));
            } catch (error) {
              if (!(error instanceof Error && error.message === 'Unauthorized')) throw error;
            }
          };
          for (const delivery of deliveries) {
            group += 1;
            // Some retries race their twin, as concurrent authorizer invocations would.
            await (delivery.call.concurrent ? Promise.all([deliver(delivery), deliver(delivery)]) : deliver(delivery));
          }

          const written = (await f.events()).filter((e) => !before.has(e.requestId));
          const expected = calls.flatMap((call, i) => {
            const requestId = `run${run}-req${i}`;
            return call.kind === 'valid' ? [{ requestId, customerId: customers[call.customer]!.customerId, at: firstGroupTimes.get(requestId) }] : [];
          });
          const byId = (a: { requestId: string }, b: { requestId: string }) => a.requestId.localeCompare(b.requestId);
          const writtenFirst = written.map((e) => ({
            requestId: e.requestId,
            customerId: e.customerId,
            writtenByFirstDelivery: firstGroupTimes.get(e.requestId)?.includes(e.at),
          }));
          expect(writtenFirst.sort(byId)).toEqual(expected.sort(byId).map(({ at: _at, ...e }) => ({ ...e, writtenByFirstDelivery: true })));
        }),
        budget.parameters,
      );
    },
    budget.timeoutMs,
  );
});
