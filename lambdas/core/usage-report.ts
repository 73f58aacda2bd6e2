/**
 * What a customer sees of its own usage (the usage API and the dashboard): this month's calls,
 * quota, estimated bill with its breakdown, cap, calls per day and per hour, previous months, and
 * for each month the latest reconciliation: what was metered, what was billed, when it was checked
 * and what was corrected, in words.
 */
import { monthlyQuotaOf, type BillingConfig } from './config.ts';
import type { Customer } from './model.ts';
import { estimateBill, type EstimatedBill } from './pricing.ts';
import { reconciliationSummary, type ReconciliationRecord, type ReconciliationSummary } from './reconciliation.ts';
import { startOfNextUtcMonth, utcHour, utcMonth } from './time.ts';
import { upgradePrompt, type UpgradePrompt } from './upgrade.ts';
import { feeCreditCents, freeHours, grandfatherWindow } from './grandfather.ts';
import { billedInStripe, type ExperimentState } from './experiment.ts';
import { downgradeTerms, pendingChange, tierBilledIn, type DowngradeTerms, type PendingChange } from './downgrade.ts';
import { customerInvoices, paymentIssue, type CustomerInvoice, type PaymentIssue } from './customer-billing.ts';
import type { InvoiceSummary } from './ports.ts';

export interface HourCount {
  /** `YYYY-MM-DDTHH`. */
  readonly hour: string;
  readonly billable: number;
}

export interface UsageHistory {
  /** Billable calls per hour in [fromHour, toHour), hours with none left out. */
  hourly(customerId: string, fromHour: string, toHour: string): Promise<HourCount[]>;
  /** Amounts Stripe invoiced per month (`YYYY-MM` -> cents). */
  invoicedByMonth(customerId: string): Promise<Record<string, number>>;
  /** The latest reconciliation record of each of the customer's months (`ReconciliationRecordStore.forCustomer`). */
  reconciliations(customerId: string): Promise<readonly ReconciliationRecord[]>;
  /** The experiment's rollout: during the beta, a customer outside the cohort is shadow billed. */
  experiment?(): Promise<ExperimentState | undefined>;
  /** The customer's latest Stripe invoices (#core/customer-billing.ts cachedInvoiceSource); absent where Stripe is not wired. */
  invoices?(customer: Customer): Promise<InvoiceSummary[]>;
}

/** A month's reconciliation as the customer sees it, with the instant up to which calls are billed while the month is open. */
export interface MonthReconciliation extends ReconciliationSummary {
  /**
   * Stripe holds the calls before this instant (ISO, an hour boundary: the sync's settle window
   * leaves the latest hours for a later push); null once the month is over and billed whole.
   */
  readonly billedBefore: string | null;
}

/** Whether the customer's metered calls are served, and if not, why and what to do, in words. */
export interface AccountStanding {
  readonly state: 'active' | 'suspended' | 'capped';
  readonly message: string | null;
}

export interface UsageReport {
  readonly customerId: string;
  readonly tier: Customer['tier'];
  readonly standing: AccountStanding;
  /**
   * `charged`: the estimate is what Stripe bills. `shadow`: during the experiment's beta this customer's
   * calls are metered and priced (the estimate is what it would pay) but not charged, until the launch.
   */
  readonly billing: { readonly mode: 'charged' | 'shadow'; readonly message: string | null };
  readonly month: string;
  readonly calls: number;
  /** Monthly quota where the tier has one, with what is left and when it resets. */
  readonly quota: { readonly limit: number; readonly remaining: number; readonly resetsAt: string } | null;
  readonly includedCalls: number | null;
  readonly estimate: EstimatedBill;
  readonly cap: {
    readonly capCents: number;
    readonly usedPercent: number;
    readonly state: 'ok' | 'warning' | 'reached';
    readonly behaviour: Customer['capBehaviour'];
  };
  readonly daily: ReadonlyArray<{ readonly day: string; readonly calls: number }>;
  readonly last48Hours: readonly HourCount[];
  readonly upgrade: UpgradePrompt | null;
  /**
   * `pendingChange`: a move to Free the customer scheduled (an opt-out), effective at the end of the
   * billing month, undoable until then. `optOut`: what opting out now would change and when; null on
   * Free or while a change is pending.
   */
  readonly plan: { readonly pendingChange: PendingChange | null; readonly optOut: DowngradeTerms | null };
  /** This month's latest reconciliation; null until one has run (the schedule runs daily). */
  readonly reconciliation: MonthReconciliation | null;
  readonly previousMonths: ReadonlyArray<{
    readonly month: string;
    readonly calls: number;
    readonly estimateCents: number;
    readonly invoicedCents: number | null;
    /** That month's latest reconciliation; null when none has run for it. */
    readonly reconciliation: MonthReconciliation | null;
    /** Stripe's invoice for the month (its number, status, total, what is due, its hosted page); null before Stripe drafts it. */
    readonly invoice: CustomerInvoice | null;
  }>;
  /** The customer's latest invoices in Stripe, newest first; null when Stripe could not be read just now (the rest of the report stands). */
  readonly invoices: readonly CustomerInvoice[] | null;
  /** A failed payment: the amount, where to pay, and when the paid tier ends (the past-due banner); null when nothing is owed late. */
  readonly paymentIssue: PaymentIssue | null;
}

const HOUR_MS = 3_600_000;

/** The same rules the authorizer applies to metered routes, told to the customer (free routes still answer). */
export function accountStanding(customer: Customer, capCents: number, now: number): AccountStanding {
  if (customer.status === 'suspended') {
    return {
      state: 'suspended',
      message: 'Your account is suspended, so API calls are refused. Report a billing problem below: billing support answers within 4 hours.',
    };
  }
  if (customer.capBehaviour === 'block' && customer.cappedMonth === utcMonth(now)) {
    const cap = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(capCents / 100);
    const resumes = new Date(startOfNextUtcMonth(now)).toISOString().slice(0, 10);
    return {
      state: 'capped',
      message: `Your account reached its ${cap} monthly billing cap, so API calls are refused until ${resumes}. To keep calling now, ask billing support for a higher cap (report below) or upgrade.`,
    };
  }
  return { state: 'active', message: null };
}

export async function usageReport(
  customer: Customer,
  history: UsageHistory,
  config: Pick<BillingConfig, 'tiers' | 'billingCapCents' | 'capAlertPercents' | 'pastDueGraceDays'>,
  now: number,
  monthsBack = 3,
): Promise<UsageReport> {
  const month = utcMonth(now);
  const nextHour = utcHour(now + HOUR_MS);
  const [y, m] = month.split('-').map(Number) as [number, number];
  const firstMonthStart = Date.UTC(y, m - 1 - monthsBack, 1);
  const [hours, invoiced, records, experiment, stripeInvoices] = await Promise.all([
    history.hourly(customer.customerId, utcHour(firstMonthStart), nextHour),
    history.invoicedByMonth(customer.customerId),
    history.reconciliations(customer.customerId),
    history.experiment?.(),
    // Stripe being unreachable must not take the usage page down with it: the invoices are left out.
    history.invoices ? history.invoices(customer).catch(() => null) : Promise.resolve([]),
  ]);
  const invoices = stripeInvoices && customerInvoices(stripeInvoices, customer, now);
  const reconciled = new Map(records.map((record) => [record.month, record]));
  const reconciliationOf = (of: string): MonthReconciliation | null => {
    const record = reconciled.get(of);
    if (!record) return null;
    const billedBefore = record.cutoff < startOfNextUtcMonth(Date.parse(`${of}-01T00:00:00Z`)) ? new Date(record.cutoff).toISOString() : null;
    return { ...reconciliationSummary(record), billedBefore };
  };

  const byMonth = new Map<string, number>();
  const byDay = new Map<string, number>();
  for (const h of hours) {
    byMonth.set(h.hour.slice(0, 7), (byMonth.get(h.hour.slice(0, 7)) ?? 0) + h.billable);
    if (h.hour.startsWith(month)) byDay.set(h.hour.slice(0, 10), (byDay.get(h.hour.slice(0, 10)) ?? 0) + h.billable);
  }
  const calls = byMonth.get(month) ?? 0;
  const tier = config.tiers[customer.tier];
  const quotaLimit = monthlyQuotaOf(tier);
  // Grandfathered calls are counted (they show in `calls`) but not charged, nor the fee for the free days.
  const window = grandfatherWindow(customer);
  const monthStart = Date.UTC(y, m - 1, 1);
  const freeCalls = window
    ? hours
        .filter(
          (h) =>
            h.hour.startsWith(month) &&
            Date.parse(`${h.hour}:00:00Z`) >= freeHours(window).fromHourStart &&
            Date.parse(`${h.hour}:00:00Z`) < freeHours(window).untilHourStart,
        )
        .reduce((sum, h) => sum + h.billable, 0)
    : 0;
  const charged = estimateBill(customer.tier, calls - freeCalls, config);
  const feeCredit = feeCreditCents(customer, monthStart, startOfNextUtcMonth(now), config);
  const estimate: EstimatedBill = window
    ? {
        ...charged,
        lines: [
          ...charged.lines,
          {
            description: `Grandfathered until ${new Date(window.until).toISOString().slice(0, 10)}: ${freeCalls} calls and the fee for those days free`,
            quantity: freeCalls,
            amountCents: -feeCredit,
          },
        ],
        totalCents: charged.totalCents - feeCredit,
      }
    : charged;
  const capCents = customer.capCents ?? config.billingCapCents;
  const usedPercent = Math.floor((estimate.totalCents * 100) / capCents);
  const warnAt = Math.min(...config.capAlertPercents);

  const daily = [];
  for (let d = Date.UTC(y, m - 1, 1); utcMonth(d) === month && d <= now; d += 24 * HOUR_MS) {
    const day = new Date(d).toISOString().slice(0, 10);
    daily.push({ day, calls: byDay.get(day) ?? 0 });
  }
  const last48Hours = [];
  for (let t = now - 47 * HOUR_MS; utcHour(t) < nextHour; t += HOUR_MS) {
    const hour = utcHour(t);
    last48Hours.push({ hour, billable: hours.find((h) => h.hour === hour)?.billable ?? 0 });
  }
  const previousMonths = [];
  for (let i = 1; i <= monthsBack; i++) {
    const previous = utcMonth(Date.UTC(y, m - 1 - i, 1));
    const previousCalls = byMonth.get(previous) ?? 0;
    previousMonths.push({
      month: previous,
      calls: previousCalls,
      estimateCents: estimateBill(tierBilledIn(customer, previous), previousCalls, config).totalCents,
      invoicedCents: invoiced[previous] ?? null,
      reconciliation: reconciliationOf(previous),
      // The month's subscription invoice (a one-off of the same month stays in `invoices` only).
      invoice: invoices?.find((i) => i.month === previous && i.fromSubscription) ?? null,
    });
  }

  return {
    customerId: customer.customerId,
    tier: customer.tier,
    standing: accountStanding(customer, capCents, now),
    billing: billedInStripe(customer.customerId, now, experiment)
      ? { mode: 'charged', message: null }
      : {
          mode: 'shadow',
          message:
            'You are not charged during our billing beta: your calls are metered and priced, and the estimate shows what you would pay. Billing starts when the beta ends, never for beta usage.',
        },
    month,
    calls,
    quota:
      quotaLimit === undefined
        ? null
        : { limit: quotaLimit, remaining: Math.max(0, quotaLimit - calls), resetsAt: new Date(startOfNextUtcMonth(now)).toISOString() },
    includedCalls: tier.pricing === 'included-plus-overage' ? tier.includedCalls : (quotaLimit ?? null),
    estimate,
    cap: { capCents, usedPercent, state: usedPercent >= 100 ? 'reached' : usedPercent >= warnAt ? 'warning' : 'ok', behaviour: customer.capBehaviour },
    daily,
    last48Hours,
    upgrade: upgradePrompt(customer.tier, calls, config),
    plan: { pendingChange: pendingChange(customer), optOut: downgradeTerms(customer, estimate.totalCents, config, now) },
    reconciliation: reconciliationOf(month),
    previousMonths,
    invoices,
    paymentIssue: paymentIssue(customer, invoices ?? [], config, now),
  };
}
