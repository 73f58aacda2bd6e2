/**
 * The plan's guardrails, checked on every scheduled run: the billing cap (alerts at 80% and 100%;
 * at the cap, `block` customers are denied, `absorb` customers are served and not charged past
 * it, which the sync enforces) and the anomaly alert (a month billed above twice the previous
 * one, or projected to be by its run rate). Each alert is sent once per customer, month and kind.
 */
import type { AlertSink } from './alerts.ts';
import type { BillingConfig } from './config.ts';
import type { Customer } from './model.ts';
import { estimateBill } from './pricing.ts';
import { startOfNextUtcMonth, utcMonth } from './time.ts';

export interface GuardrailDeps {
  readonly alerts: AlertSink;
  /** Records that an alert was sent; false when it already was (so it is not sent twice). */
  markOnce(customerId: string, key: string, at: number): Promise<boolean>;
  /** Billable calls of the customer in a month (the month counter). */
  callsInMonth(customerId: string, month: string): Promise<number>;
  /** Sets fields of the customer (the block at the cap). */
  setCappedMonth(customerId: string, month: string): Promise<void>;
  readonly config: Pick<BillingConfig, 'tiers' | 'billingCapCents' | 'capAlertPercents' | 'anomalyFactor'>;
  readonly now: number;
}

export type GuardrailEvent =
  | { kind: 'cap-alert'; percent: number; billCents: number; capCents: number }
  | { kind: 'blocked'; month: string }
  | { kind: 'anomaly'; billCents: number; baselineCents: number; projected: boolean };

const dollars = (cents: number) => `$${(cents / 100).toFixed(2)}`;

export async function checkGuardrails(customer: Customer, deps: GuardrailDeps): Promise<GuardrailEvent[]> {
  const events: GuardrailEvent[] = [];
  const month = utcMonth(deps.now);
  const calls = await deps.callsInMonth(customer.customerId, month);
  const bill = estimateBill(customer.tier, calls, deps.config).totalCents;
  const cap = customer.capCents ?? deps.config.billingCapCents;
  const id = customer.customerId;

  for (const percent of [...deps.config.capAlertPercents].sort((a, b) => a - b)) {
    if (bill * 100 < percent * cap) continue;
    if (!(await deps.markOnce(id, `CAP#${month}#${percent}`, deps.now))) continue;
    events.push({ kind: 'cap-alert', percent, billCents: bill, capCents: cap });
    await deps.alerts.publish({
      subject: `${customer.name} reached ${percent}% of its billing cap`,
      customerId: id,
      body:
        `${customer.name} (${customer.tier}) has ${dollars(bill)} billed this month (${calls} calls), ${percent}% of its ${dollars(cap)} cap.\n` +
        (percent >= 100
          ? customer.capBehaviour === 'block'
            ? 'Its calls are now refused (403, billing cap reached) until the cap is raised or the month ends.'
            : 'Its calls are still served; nothing past the cap is charged.'
          : `At 100% its ${customer.capBehaviour === 'block' ? 'calls will be refused' : 'calls will be served uncharged'}.`),
      action: `npm run cli -- cap approve --customer ${id} --cap <dollars> --reason "<why>"`,
    });
  }
  if (bill >= cap && customer.capBehaviour === 'block' && customer.cappedMonth !== month) {
    await deps.setCappedMonth(id, month);
    events.push({ kind: 'blocked', month });
  }

  // Anomaly: against last month's bill, or, with no last month, the tier's included amount (its fee).
  const previousMonth = utcMonth(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 2, 1));
  const monthStart = Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 1, 1);
  const hadPreviousMonth = Date.parse(customer.createdAt) < monthStart;
  const previousBill = hadPreviousMonth ? estimateBill(customer.tier, await deps.callsInMonth(id, previousMonth), deps.config).totalCents : 0;
  const baseline = hadPreviousMonth ? previousBill : estimateBill(customer.tier, 0, deps.config).totalCents;
  if (baseline > 0) {
    const elapsed = Math.max(deps.now - monthStart, 3_600_000);
    const projectedCalls = Math.round((calls * (startOfNextUtcMonth(deps.now) - monthStart)) / elapsed);
    const projectedBill = estimateBill(customer.tier, projectedCalls, deps.config).totalCents;
    const limit = deps.config.anomalyFactor * baseline;
    const actual = bill > limit;
    // Projections are noisy in the first days of a month: only from day 3 on.
    const projected = !actual && elapsed >= 2 * 86_400_000 && projectedBill > limit;
    if ((actual || projected) && (await deps.markOnce(id, `ANOMALY#${month}`, deps.now))) {
      events.push({ kind: 'anomaly', billCents: actual ? bill : projectedBill, baselineCents: baseline, projected });
      await deps.alerts.publish({
        subject: `${customer.name}: this month's bill ${actual ? 'is' : 'is heading to'} over ${deps.config.anomalyFactor}x ${hadPreviousMonth ? 'last month' : 'its tier fee'}`,
        customerId: id,
        body:
          `${customer.name} (${customer.tier}) ${actual ? `has ${dollars(bill)} billed` : `is on course for ${dollars(projectedBill)} (${dollars(bill)} so far, ${calls} calls)`} this month, ` +
          `against ${dollars(baseline)} ${hadPreviousMonth ? `last month (${previousMonth})` : 'as its tier fee (no previous month)'}.`,
        action: `npm run cli -- billing status   (then, if wrong: npm run cli -- billing pause --reason "<why>")`,
      });
    }
  }
  return events;
}
