/**
 * The reconciliation property: whatever goes wrong between the counters and Stripe during a month
 * (meter events lost, pushes sent twice with or without the outbox knowing, calls voided after their
 * push, a pause), the daily runs and the run on the drafted invoice leave the final invoice at the
 * bill of the calls served: none billed twice, none lost, no voided call billed. A further run then
 * corrects nothing. DynamoDB Local and the local Stripe, through the real adapters.
 */
import fc from 'fast-check';
import { BatchWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Customer } from '../../lambdas/core/model.ts';
import { estimateBill } from '../../lambdas/core/pricing.ts';
import { syncCustomerMonth } from '../../lambdas/core/sync.ts';
import { utcHour, utcMonth } from '../../lambdas/core/time.ts';
import { billingFixture, setTime, type BillingFixture } from '../harness/billing.ts';
import { addHourCounts } from '../harness/counters.ts';
import { propertyBudget } from '../harness/property.ts';
import { usageEvent } from '../harness/stream-records.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

type Step =
  | { kind: 'calls'; hoursAgo: number; n: number }
  | { kind: 'void'; n: number }
  | { kind: 'sync' }
  | { kind: 'reconcile' }
  | { kind: 'advance'; minutes: number }
  | { kind: 'lose' }
  | { kind: 'duplicate'; known: boolean }
  | { kind: 'pause'; on: boolean };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('calls' as const), hoursAgo: fc.integer({ min: 0, max: 6 }), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('void' as const), n: fc.integer({ min: 1, max: 10 }) }),
  fc.constant({ kind: 'sync' as const }),
  fc.constant({ kind: 'reconcile' as const }),
  fc.record({ kind: fc.constant('advance' as const), minutes: fc.integer({ min: 1, max: 30 * 60 }) }),
  fc.constant({ kind: 'lose' as const }),
  fc.record({ kind: fc.constant('duplicate' as const), known: fc.boolean() }),
  fc.record({ kind: fc.constant('pause' as const), on: fc.boolean() }),
);

const budget = propertyBudget(12, 240_000);

describe('reconciliation property (DynamoDB Local, local Stripe)', () => {
  let f: BillingFixture;
  let monthIndex = 0;
  beforeAll(async () => {
    f = await billingFixture(Date.UTC(2027, 0, 10));
  });
  afterAll(async () => f?.stop());

  it(
    'leaves every final invoice at the bill of the calls served, whatever was lost, doubled or voided, and a further run corrects nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('pro' as const, 'enterprise' as const), fc.array(stepArb, { minLength: 1, maxLength: 14 }), async (tier, steps) => {
          // Each run has a month of its own, later than the last: the clocks only move forward.
          monthIndex += 1;
          const monthStart = Date.UTC(2027, monthIndex, 1);
          const monthEnd = Date.UTC(2027, monthIndex + 1, 1);
          const month = utcMonth(monthStart);
          setTime(f, monthStart + 9 * 24 * HOUR);
          const customer: Customer = await f.addCustomer(tier);
          const { sync } = await f.services.ready();
          const served: Array<{ requestId: string; hour: string; voided: boolean }> = [];
          const reconcile = (trigger: 'daily' | 'invoice' = 'daily') =>
            f.services.reconcile({ alerts: f.alertSink, trigger, customerId: customer.customerId, months: [month] });
          let seq = 0;

          for (const step of steps) {
            switch (step.kind) {
              case 'calls': {
                const at = Math.max(monthStart, f.clock.now - step.hoursAgo * HOUR);
                const hour = utcHour(at);
                // Kept a year from now: DynamoDB Local's TTL deletes expired raw events, as DynamoDB does.
                const expiresAt = Math.floor(Date.now() / 1000) + 365 * 86_400;
                const events = Array.from({ length: step.n }, () => ({
                  ...usageEvent(`${customer.customerId}-${++seq}`, customer.customerId, hour),
                  expiresAt,
                }));
                for (let i = 0; i < events.length; i += 25)
                  await f.doc.send(
                    new BatchWriteCommand({ RequestItems: { [f.tables.usageEvents]: events.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }),
                  );
                await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour, billable: step.n }]);
                served.push(...events.map((e) => ({ requestId: e.requestId, hour, voided: false })));
                break;
              }
              case 'void': {
                // The outcome path: the raw event marked voided and its hour's counter taken down, perhaps after the push.
                for (const call of served.filter((c) => !c.voided).slice(0, step.n)) {
                  await f.doc.send(
                    new UpdateCommand({
                      TableName: f.tables.usageEvents,
                      Key: { requestId: call.requestId },
                      UpdateExpression: 'SET voided = :t, voidReason = :r',
                      ExpressionAttributeValues: { ':t': true, ':r': 'SERVER_ERROR' },
                    }),
                  );
                  await addHourCounts(f.doc, f.tables.counters, customer.customerId, [{ hour: call.hour, billable: -1 }]);
                  call.voided = true;
                }
                break;
              }
              case 'sync':
                await syncCustomerMonth((await f.services.customers.getCustomer(customer.customerId))!, month, sync, {
                  paused: (await f.services.state.getPause())?.paused ?? false,
                });
                break;
              case 'reconcile':
                await reconcile();
                break;
              case 'advance':
                // Within the month: the end is played out below.
                setTime(f, Math.min(f.clock.now + step.minutes * MINUTE, monthEnd - 2 * HOUR));
                break;
              case 'lose': {
                const last = f.stripe.state.meterEvents.filter((e) => e.customer === customer.stripeCustomerId).at(-1);
                if (last) f.stripe.loseMeterEvent(last.identifier);
                break;
              }
              case 'duplicate': {
                const last = f.stripe.state.meterEvents.filter((e) => e.customer === customer.stripeCustomerId).at(-1);
                if (!last) break;
                const identifier = `${last.identifier}:dup${++seq}`;
                await f.services.provider.pushMeterEvent({
                  identifier,
                  stripeCustomerId: customer.stripeCustomerId!,
                  value: last.value,
                  timestampSec: last.timestamp,
                });
                if (step.known) await sync.state.recordAttempt(customer.customerId, month, { identifier, value: last.value, at: f.clock.now });
                break;
              }
              case 'pause':
                await f.services.state.setPause({ paused: step.on, by: 'property', reason: 'test', at: new Date(f.clock.now).toISOString() });
                break;
            }
          }
          await f.services.state.setPause({ paused: false, by: 'property', reason: 'end of month', at: new Date(f.clock.now).toISOString() });

          // The month ends: Stripe drafts the invoice (its webhook reconciles the draft), and finalizes it an hour later.
          setTime(f, monthEnd + 5 * MINUTE);
          await f.stripe.advanceBillingPeriods();
          await reconcile('invoice');
          // The scheduled run, a while later: what the draft's reconciliation could not judge yet (a fresh push) is judged now.
          setTime(f, monthEnd + 25 * MINUTE);
          await f.services.recheckReconciliations(f.alertSink);
          setTime(f, monthEnd + 70 * MINUTE);
          await f.stripe.advanceBillingPeriods();

          const bill = estimateBill(tier, served.filter((c) => !c.voided).length).totalCents;
          const invoice = (await f.stripe.client().invoices.list({ customer: customer.stripeCustomerId! })).data.find(
            (i) => i.period_start === monthStart / 1000,
          );
          const credited = (invoice?.pre_payment_credit_notes_amount ?? 0) + (invoice?.post_payment_credit_notes_amount ?? 0);
          expect({ status: invoice?.status, billed: (invoice?.total ?? 0) - credited }).toEqual({ status: 'paid', billed: bill });

          const after = (await reconcile()).records[0]!;
          expect({ corrections: after.corrections, residualCents: after.residual.cents, discrepancy: after.discrepancy }).toEqual({
            corrections: [],
            residualCents: 0,
            discrepancy: false,
          });
          // Its subscription ends with its month: later months' runs draft nothing for it.
          await f.services.provider.cancelSubscription(customer.subscriptionId!);
        }),
        budget.parameters,
      );
    },
    budget.timeoutMs,
  );
});
