/**
 * Reconciliation: what was served, counted, pushed, metered and invoiced for one customer and
 * billing month, lined up, corrected where it can be, and turned into the billing error rate the
 * experiment plan bounds (< 1% success, > 5% failure).
 *
 * The figures, cheapest first:
 * 1. the counters (the hour items the sync bills from, and the month item the authorizer reads);
 * 2. what of the count is billable (grandfathered hours out, the cap applied: #core/sync.ts);
 * 3. the outbox: what the sync has pushed (`pushedCalls`) and every identifier it sent under;
 * 4. Stripe's meter event summary for the month (one request);
 * 5. for a month that has ended, the period's invoice: its metered line and its total.
 * The raw usage events (served calls, not voided) are read only when the cheap figures disagree,
 * or on request (`deep`): reading them is a Scan.
 *
 * Corrections, each audited with the figures before and after, and each stable under a re-run:
 * - Stripe holds less than the outbox pushed (a meter event lost): the shortfall is pushed under
 *   an identifier derived from the outbox total it restores, so a second run sends the same one.
 * - Stripe holds more than the outbox pushed (a push sent twice): the duplicate is cancelled by
 *   its identifier while Stripe still allows it (24 hours); after that the excess is credited.
 * - The bill is above what the count makes billable (voids after a push, an excess past 24 h, a
 *   wrong invoice line): a credit on the draft invoice, or a credit note on a finalized one. While
 *   the month is open it waits for the draft (Stripe cannot take calls back from a meter).
 * - Anything else (served calls the counters missed, an undercharge on a finalized invoice, a
 *   push the sync could not make) is reported and alerted, never guessed at.
 */
import type { Alert, AlertSink } from './alerts.ts';
import type { BillingConfig } from './config.ts';
import { feeCreditCents } from './grandfather.ts';
import { shadowWindow } from './experiment.ts';
import { tierBilledIn } from './downgrade.ts';
import type { Customer } from './model.ts';
import type { BillingProvider, PeriodInvoice } from './ports.ts';
import { estimateBill } from './pricing.ts';
import { billableBefore, monthBounds, syncCustomerMonth, syncCutoff, withRunExperiment, type SyncDeps, type SyncOutcome, type SyncState } from './sync.ts';
import { utcHour, utcMonth } from './time.ts';

const HOUR_MS = 3_600_000;
/** Stripe cancels a meter event for 24 hours after receiving it; leave an hour's margin for clocks and the run itself. */
const CANCEL_WINDOW_MS = 23 * HOUR_MS;
/** How long a meter event may take to show in Stripe's (eventually consistent) summaries before its absence means it was lost. */
const SUMMARY_LAG_MS = 15 * 60_000;
/** A customer-month whose error passes this share of its billable calls or cents pages, as the seed's success bar. */
export const PAGE_ERROR_SHARE = 0.01;

/** The log message of each customer-month with a discrepancy: the stack's alarm counts these lines. */
export const RECONCILIATION_DISCREPANCY_MESSAGE = 'billing discrepancy';

export type ReconciliationTrigger = 'daily' | 'invoice' | 'recheck' | 'on-demand';

/** The five figures of one customer-month, in calls unless named in cents. */
export interface ReconciliationFigures {
  /** Served calls (not voided) from the raw events in settled hours (before the cutoff); `null` when not read (the cheap figures agreed). */
  readonly servedCalls: number | null;
  /** Billable calls the hour counters hold for the month so far. */
  readonly countedCalls: number;
  /** Of those, the calls in settled hours (before the cutoff): what the sync has pushed by now. */
  readonly settledCountedCalls: number;
  /** The month counter item (read by the authorizer for its rate-limit headers). */
  readonly monthItemCalls: number;
  /** Of the counted calls, those in grandfathered hours (counted, never charged). */
  readonly grandfatheredCalls: number;
  /** What the month bills so far: the counted calls that are charged, up to the cap. */
  readonly shouldBeBilledCalls: number;
  /** The same over the settled hours: what Stripe must hold by now. */
  readonly settledBillableCalls: number;
  /** What the outbox says it pushed, a pending push included. */
  readonly pushedCalls: number;
  /** A push sent but not yet confirmed (the next sync completes it). */
  readonly pendingCalls: number;
  /** Stripe's meter event summary for the month. */
  readonly stripeCalls: number;
  /** The period's invoice, once Stripe has drafted it. */
  readonly invoice: {
    readonly invoiceId: string;
    readonly status: PeriodInvoice['status'];
    readonly meteredCalls: number;
    readonly totalCents: number;
    readonly creditedCents: number;
    /** Of the credited, an operator's refunds: goodwill after billing, not part of what the month bills. */
    readonly refundedCents: number;
  } | null;
}

export type DifferenceKind =
  | 'counters-missed-calls'
  | 'counters-extra-calls'
  | 'month-item-trails'
  | 'held-by-pause'
  | 'awaiting-sync'
  | 'push-failed'
  | 'push-in-flight'
  | 'voided-after-push'
  | 'meter-event-lost'
  | 'meter-event-duplicated'
  | 'invoice-line-wrong'
  | 'overcharged'
  | 'undercharged';

export interface Difference {
  readonly kind: DifferenceKind;
  /** Signed: the later figure minus the earlier one (e.g. Stripe minus outbox). */
  readonly calls: number;
  readonly cents?: number;
  /** In words, for the operator. */
  readonly detail: string;
  /** Expected by the design and settled by it (a pause, a push in flight, voids credited on the invoice). */
  readonly explained: boolean;
}

export type CorrectionKind = 'push-shortfall' | 'cancel-meter-event' | 'credit-draft-invoice' | 'credit-note';

export interface Correction {
  readonly kind: CorrectionKind;
  readonly calls?: number;
  readonly cents?: number;
  readonly identifier?: string;
  readonly invoiceId?: string;
  /** What was done, in words the customer can read. */
  readonly description: string;
  /** Done, or only planned (a dry run) or failed (retried by the next run). */
  readonly status: 'applied' | 'planned' | 'failed';
  readonly error?: string;
}

/** One run's result for a customer-month: stored (the latest per customer-month), shown to the customer, summed into the error rate. */
export interface ReconciliationRecord {
  readonly customerId: string;
  readonly month: string;
  /** Epoch ms. */
  readonly ranAt: number;
  readonly trigger: ReconciliationTrigger;
  readonly dryRun: boolean;
  /** Hours before this instant (epoch ms) are settled: the sync has pushed them. The month's end once it is over. */
  readonly cutoff: number;
  readonly before: ReconciliationFigures;
  /** The figures after the corrections (equal to `before` when none applied). */
  readonly after: ReconciliationFigures;
  readonly differences: readonly Difference[];
  readonly corrections: readonly Correction[];
  /** The denominators of the error rate. */
  readonly shouldBeBilled: { readonly calls: number; readonly cents: number };
  /** What the customer is billed, before and after the corrections. */
  readonly billed: { readonly calls: number; readonly cents: number };
  readonly billedAfter: { readonly calls: number; readonly cents: number };
  /** |billed − should be billed| not explained by the design, before the corrections. */
  readonly error: { readonly calls: number; readonly cents: number };
  /** The same after the corrections: what is still wrong. */
  readonly residual: { readonly calls: number; readonly cents: number };
  /** A difference the design does not explain was found. */
  readonly discrepancy: boolean;
  /**
   * Set when Stripe's figures could not be judged yet (a push too recent for its summary) on a month
   * whose invoice is not final: the scheduled run reconciles it again from this instant (epoch ms), so
   * a loss hidden behind a fresh push is still found before the invoice finalizes.
   */
  readonly recheckAfter?: number;
}

export interface ReconciliationRecordStore {
  /** Stores the record as its customer-month's latest, and keeps the month's recheck marker in step with `recheckAfter`. */
  put(record: ReconciliationRecord): Promise<void>;
  /** Customer-months whose latest record asks for a recheck by `now`. */
  dueRechecks(now: number): Promise<Array<{ readonly customerId: string; readonly month: string }>>;
  /** The latest record of each of the customer's months, newest month first. */
  forCustomer(customerId: string): Promise<ReconciliationRecord[]>;
  /** Every customer's latest record of the month. */
  forMonth(month: string): Promise<ReconciliationRecord[]>;
}

export interface ReconciliationDeps {
  /** The sync's wiring: the outbox, the counters, the meter id, the config and the clock. */
  readonly sync: SyncDeps;
  readonly stripe: Pick<BillingProvider, 'meteredTotal' | 'pushMeterEvent' | 'cancelMeterEvent' | 'periodInvoice' | 'creditDraftInvoice' | 'creditInvoice'>;
  /** Stripe price ids of the metered (usage) prices: they name the invoice's metered line. */
  readonly usagePriceIds: ReadonlySet<string>;
  /** The month counter item's billable calls. */
  readonly monthItem: (customerId: string, month: string) => Promise<number>;
  /** Served (not voided) raw events of the customer in the month, in hours before `beforeHour` (`YYYY-MM-DDTHH`; all when absent). A Scan: read only when needed. */
  readonly servedCalls: (customerId: string, month: string, beforeHour?: string) => Promise<number>;
  readonly records: ReconciliationRecordStore;
  readonly audit: (entry: { customerId: string; action: string; by: string; reason: string; at: number; details: Record<string, unknown> }) => Promise<void>;
  readonly alerts: AlertSink;
  readonly config: Pick<BillingConfig, 'tiers' | 'billingCapCents' | 'settleWindowMinutes'>;
}

export interface ReconcileOptions {
  readonly trigger: ReconciliationTrigger;
  /** Plan the corrections, change nothing (no sync, no Stripe writes, no record, no alert). */
  readonly dryRun?: boolean;
  /** Read the raw events even when the cheap figures agree. */
  readonly deep?: boolean;
  /** Billing is paused: nothing is pushed, and what the pause holds back is not an error. */
  readonly paused?: boolean;
}

const usd = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${Math.abs(n) === 1 ? '' : 's'}`;

/** Reconciles one customer's billing month. Never throws for Stripe's faults: a failed step is a failed correction or a `push-failed` difference. */
export async function reconcileCustomerMonth(
  customerNow: Customer,
  month: string,
  deps: ReconciliationDeps,
  options: ReconcileOptions,
): Promise<ReconciliationRecord> {
  // The month is priced at the tier its invoice bills: a customer who opted out is on Free from the 1st, not before.
  const customer: Customer = { ...customerNow, tier: tierBilledIn(customerNow, month) };
  const now = deps.sync.now();
  const { start, end } = monthBounds(month);
  const ended = now >= end;
  const subscribed = customer.stripeCustomerId;
  const dryRun = options.dryRun ?? false;

  const invoiceBefore = ended && subscribed ? await deps.stripe.periodInvoice(subscribed, start / 1000) : undefined;
  const finalized = invoiceBefore !== undefined && invoiceBefore.status !== 'draft';
  // Push what is due first (the month's end once it is over, while its invoice can still take usage),
  // so that the comparison below sees the outbox as the sync leaves it.
  let sync: SyncOutcome | undefined;
  if (!dryRun && subscribed && !finalized) sync = await syncCustomerMonth(customer, month, deps.sync, { flush: ended, paused: options.paused });
  const cutoff = syncCutoff(month, now, deps.config, { flush: ended });

  // The outbox is read before and after Stripe's total: a sync pushing in between (the scheduled run
  // racing this one) would make a correct month look short or doubled, so such a read is taken again.
  let outbox: SyncState | undefined;
  let outboxSteady = true;
  const readOutboxAndStripe = async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const first = await deps.sync.state.get(customer.customerId, month);
      const stripeCalls = subscribed ? await deps.stripe.meteredTotal(deps.sync.meterId, subscribed, start / 1000, end / 1000) : 0;
      outbox = await deps.sync.state.get(customer.customerId, month);
      outboxSteady = sameOutbox(first, outbox);
      if (outboxSteady) return stripeCalls;
    }
    return subscribed ? deps.stripe.meteredTotal(deps.sync.meterId, subscribed, start / 1000, end / 1000) : 0;
  };
  const read = async (invoice: PeriodInvoice | undefined, served: number | null): Promise<ReconciliationFigures> => {
    const [count, settled, monthItemCalls, stripeCalls] = await Promise.all([
      billableBefore(customer, month, end, deps.sync),
      cutoff >= end ? undefined : billableBefore(customer, month, cutoff, deps.sync),
      deps.monthItem(customer.customerId, month),
      readOutboxAndStripe(),
    ]);
    return {
      servedCalls: served,
      countedCalls: count.counted,
      settledCountedCalls: (settled ?? count).counted,
      monthItemCalls,
      grandfatheredCalls: count.grandfathered,
      shouldBeBilledCalls: subscribed ? count.billable : 0,
      settledBillableCalls: subscribed ? (settled ?? count).billable : 0,
      pushedCalls: outbox?.pushedCalls ?? 0,
      pendingCalls: outbox?.pending?.value ?? 0,
      stripeCalls,
      invoice: invoice
        ? {
            invoiceId: invoice.invoiceId,
            status: invoice.status,
            meteredCalls: meteredLineCalls(invoice, deps.usagePriceIds) ?? stripeCalls,
            totalCents: invoice.totalCents,
            creditedCents: invoice.creditedCents,
            refundedCents: invoice.refundedCents,
          }
        : null,
    };
  };

  let before = await read(invoiceBefore, null);
  // What Stripe may not show yet without anything being wrong: a pending push, and the pushes of the last
  // minutes (its summaries are eventually consistent). All of it when a push raced the read.
  const attempts = outbox?.attempts ?? [];
  const pendingId = outbox?.pending?.identifier;
  const recent = attempts.filter((a) => now - a.at < SUMMARY_LAG_MS || a.identifier === pendingId).reduce((sum, a) => sum + a.value, 0);
  const pendingUnlisted = pendingId !== undefined && !attempts.some((a) => a.identifier === pendingId) ? before.pendingCalls : 0;
  const unsure = outboxSteady ? recent + pendingUnlisted : before.pushedCalls;
  const inFlight = before.stripeCalls < before.pushedCalls ? Math.min(before.pushedCalls - before.stripeCalls, unsure) : 0;
  const lostCalls = before.pushedCalls - before.stripeCalls - inFlight;
  // The raw events are a Scan: read them only when the counters disagree with themselves or the bill with the counters.
  const cheapFiguresAgree =
    before.monthItemCalls === before.countedCalls &&
    lostCalls === 0 &&
    before.stripeCalls <= before.pushedCalls &&
    (before.pushedCalls >= before.settledBillableCalls || options.paused || dryRun) &&
    (!before.invoice || before.invoice.status === 'draft' || before.invoice.meteredCalls === before.stripeCalls);
  // Never inside the webhook's 30 seconds (a drafted invoice) or the sync's recheck: a Scan of the raw events
  // grows with the table. The daily run and an operator's run read them; corrections never depend on them.
  const mayScan = options.trigger === 'daily' || options.trigger === 'on-demand';
  if (mayScan && (options.deep || !cheapFiguresAgree)) {
    const served = await deps.servedCalls(customer.customerId, month, cutoff >= end ? undefined : utcHour(cutoff));
    before = { ...before, servedCalls: served };
  }

  const differences: Difference[] = [];
  const corrections: Correction[] = [];
  const apply = async (correction: Omit<Correction, 'status'>, act: () => Promise<unknown>) => {
    if (dryRun) return void corrections.push({ ...correction, status: 'planned' });
    try {
      await act();
      corrections.push({ ...correction, status: 'applied' });
    } catch (error) {
      corrections.push({ ...correction, status: 'failed', error: error instanceof Error ? error.message : String(error) });
    }
  };

  // 1. Served against counted: the aggregation.
  if (before.servedCalls !== null && before.servedCalls !== before.settledCountedCalls) {
    const missed = before.servedCalls - before.settledCountedCalls;
    differences.push({
      kind: missed > 0 ? 'counters-missed-calls' : 'counters-extra-calls',
      calls: -missed,
      detail:
        missed > 0
          ? `the counters miss ${plural(missed, 'served call')}: replay the aggregator's dead letters (dlq replay), then recount`
          : `the counters hold ${plural(-missed, 'call')} more than were served: recount the month`,
      explained: false,
    });
  }
  if (before.monthItemCalls !== before.countedCalls) {
    differences.push({
      kind: 'month-item-trails',
      calls: before.monthItemCalls - before.countedCalls,
      detail: 'the month counter item differs from its hours; bills use the hours, which match the raw events',
      explained: true,
    });
  }

  // 2. Billable against the outbox: the sync. Calls of hours not settled yet are pushed once they are.
  const backlog = before.shouldBeBilledCalls - before.pushedCalls;
  const unsettled = Math.min(Math.max(0, backlog), Math.max(0, before.shouldBeBilledCalls - before.settledBillableCalls));
  const due = Math.max(0, backlog) - unsettled;
  /** Billable calls the design keeps out of Stripe for now: unsettled hours, a pause's hold, a dry run's next push. */
  let deferred = unsettled;
  let held = 0;
  if (unsettled > 0)
    differences.push({
      kind: 'awaiting-sync',
      calls: -unsettled,
      detail: `${plural(unsettled, 'call')} of the last hours are reported once their hour settles`,
      explained: true,
    });
  if (due > 0) {
    if (options.paused) {
      held = due;
      deferred += due;
      differences.push({
        kind: 'held-by-pause',
        calls: -due,
        detail: `${plural(due, 'call')} held by the billing pause; pushed when billing resumes`,
        explained: true,
      });
    } else if (dryRun && !finalized) {
      deferred += due;
      differences.push({ kind: 'awaiting-sync', calls: -due, detail: `the next sync pushes ${plural(due, 'call')}`, explained: true });
    } else {
      const why =
        sync?.kind === 'failed' ? `: ${sync.error}` : finalized ? ': the invoice was final before they reached Stripe' : sync ? ` (${sync.kind})` : '';
      differences.push({ kind: 'push-failed', calls: -due, detail: `${plural(due, 'billable call')} not pushed${why}`, explained: false });
    }
  }

  // The bill in cents: what is billable, and what the customer is billed (a final invoice's total less its
  // credit notes; before that, the meter's total priced, plus the credits already on the draft).
  const shadow = shadowWindow(customer.customerId, await deps.sync.experiment?.());
  const shouldCents = billCents(customer, before.shouldBeBilledCalls, month, invoiceBefore !== undefined, deps.config, shadow);
  const billedNow = (calls: number, invoice: ReconciliationFigures['invoice'], draftItems: number) =>
    invoice && invoice.status !== 'draft'
      ? invoice.totalCents - invoice.creditedCents + invoice.refundedCents
      : meterCents(customer, calls, deps.config) + draftItems;
  const draftItemsCents = (invoice: PeriodInvoice | undefined) =>
    invoice?.status === 'draft' ? invoice.lines.filter((l) => l.kind === 'invoice-item').reduce((sum, l) => sum + l.amountCents, 0) : 0;
  const billedCentsBefore = billedNow(before.stripeCalls, before.invoice, draftItemsCents(invoiceBefore));
  // An invoice already credited down to the bill: what the meter holds over it is settled.
  const alreadyCredited = invoiceBefore !== undefined && billedCentsBefore <= shouldCents;

  // 3. The outbox against Stripe's meter.
  let stripeCalls = before.stripeCalls;
  if (inFlight > 0)
    differences.push({
      kind: 'push-in-flight',
      calls: -inFlight,
      detail: `${plural(inFlight, 'call')} pushed in the last minutes or not confirmed yet; the next run compares again`,
      explained: true,
    });
  if (lostCalls > 0) {
    const lost = lostCalls;
    differences.push({
      kind: 'meter-event-lost',
      calls: -lost,
      detail: `Stripe's meter holds ${plural(lost, 'call')} fewer than were pushed`,
      explained: false,
    });
    if (!finalized && subscribed) {
      // Named by the figures it reconciles: a re-run that finds the same gap sends the same identifier, which Stripe refuses as a repeat.
      const identifier = `${customer.customerId}:${month}:fix:${before.pushedCalls}:${before.stripeCalls}`;
      const timestampSec = Math.floor((Math.min(cutoff, now) - 1000) / 1000);
      await apply(
        { kind: 'push-shortfall', calls: lost, identifier, description: `${plural(lost, 'call')} that had not reached Stripe were reported again` },
        async () => {
          await deps.stripe.pushMeterEvent({ identifier, stripeCustomerId: subscribed, value: lost, timestampSec });
          await deps.sync.state.recordAttempt(customer.customerId, month, { identifier, value: lost, at: now });
          stripeCalls += lost;
        },
      );
    }
  } else if (stripeCalls > before.pushedCalls && outboxSteady) {
    const duplicated = stripeCalls - before.pushedCalls;
    differences.push({
      kind: 'meter-event-duplicated',
      calls: duplicated,
      detail: `Stripe's meter holds ${plural(duplicated, 'call')} more than were pushed${alreadyCredited ? '; the invoice credits them' : ''}`,
      explained: alreadyCredited,
    });
    // The duplicate is the latest send of that size still inside Stripe's cancel window.
    const candidate = [...attempts].reverse().find((a) => a.value === duplicated && now - a.at < CANCEL_WINDOW_MS);
    if (candidate && !finalized) {
      await apply(
        {
          kind: 'cancel-meter-event',
          calls: duplicated,
          identifier: candidate.identifier,
          description: `${plural(duplicated, 'call')} reported to Stripe twice were taken back`,
        },
        async () => {
          await deps.stripe.cancelMeterEvent(candidate.identifier);
          stripeCalls -= duplicated;
        },
      );
    }
  }

  // 4. The bill against what is billable, in cents.
  if (before.invoice && finalized && before.invoice.meteredCalls !== before.stripeCalls) {
    differences.push({
      kind: 'invoice-line-wrong',
      calls: before.invoice.meteredCalls - before.stripeCalls,
      detail: `the invoice bills ${plural(before.invoice.meteredCalls, 'call')}; Stripe's meter holds ${before.stripeCalls.toLocaleString('en-US')}${billedCentsBefore === shouldCents ? '; credited to the bill' : ''}`,
      explained: billedCentsBefore === shouldCents,
    });
  }
  const overPushed = Math.max(0, before.pushedCalls - before.shouldBeBilledCalls);
  if (overPushed > 0)
    differences.push({
      kind: 'voided-after-push',
      calls: overPushed,
      detail: `${plural(overPushed, 'call')} voided (throttled, over quota or failed) after they were reported: credited on the month's invoice`,
      explained: true,
    });
  const excessCents = billedNow(stripeCalls, before.invoice, draftItemsCents(invoiceBefore)) - shouldCents;
  if (excessCents > 0 && invoiceBefore) {
    const reasons = overPushed > 0 ? 'calls voided after they were reported' : 'calls billed that were not billable';
    const key = `reconcile-${invoiceBefore.invoiceId}-${billedCentsBefore}-${shouldCents}`;
    if (finalized) {
      differences.push({
        kind: 'overcharged',
        calls: 0,
        cents: excessCents,
        detail: `the final invoice is ${usd(excessCents)} above the bill`,
        explained: overPushed > 0 && before.invoice?.meteredCalls === before.pushedCalls,
      });
      const room = invoiceBefore.totalCents - invoiceBefore.creditedCents;
      const amount = Math.min(excessCents, room);
      if (amount > 0)
        await apply(
          { kind: 'credit-note', cents: amount, invoiceId: invoiceBefore.invoiceId, description: `a credit note of ${usd(amount)}: ${reasons}` },
          () => deps.stripe.creditInvoice({ invoiceId: invoiceBefore.invoiceId, amountCents: amount, memo: `Correction: ${reasons}`, idempotencyKey: key }),
        );
    } else {
      await apply(
        {
          kind: 'credit-draft-invoice',
          cents: excessCents,
          invoiceId: invoiceBefore.invoiceId,
          description: `a credit of ${usd(excessCents)} on the invoice: ${reasons}`,
        },
        () =>
          deps.stripe.creditDraftInvoice({
            stripeCustomerId: subscribed!,
            invoiceId: invoiceBefore.invoiceId,
            amountCents: excessCents,
            description: `Correction: ${reasons}`,
            idempotencyKey: key,
          }),
      );
    }
  } else if (excessCents < 0 && finalized && held === 0) {
    differences.push({
      kind: 'undercharged',
      calls: 0,
      cents: excessCents,
      detail: `the final invoice is ${usd(-excessCents)} below the bill; a finalized invoice cannot be raised`,
      explained: false,
    });
  }

  // The figures after the corrections (read again only when something was applied).
  const changed = corrections.some((c) => c.status === 'applied');
  const invoiceAfter = changed && invoiceBefore ? await deps.stripe.periodInvoice(subscribed!, start / 1000) : invoiceBefore;
  const after = changed ? { ...(await read(invoiceAfter, before.servedCalls)), stripeCalls } : before;

  const billedCalls = (f: ReconciliationFigures) => (f.invoice && f.invoice.status !== 'draft' ? f.invoice.meteredCalls : f.stripeCalls);
  const billed = { calls: billedCalls(before), cents: billedCentsBefore };
  const billedAfter = { calls: billedCalls(after), cents: billedNow(after.stripeCalls, after.invoice, draftItemsCents(invoiceAfter)) };
  // Where the design leaves the bill: billable calls, less what is deferred (unsettled hours, a pause's hold) or in flight,
  // plus calls voided after their push (Stripe's meter cannot take them back: the invoice credits them).
  const target = before.shouldBeBilledCalls - deferred + overPushed - inFlight;
  const errorOf = (b: { calls: number; cents: number }, f: ReconciliationFigures, invoice: PeriodInvoice | undefined) => {
    const final = f.invoice !== null && f.invoice.status !== 'draft';
    const expectedCents = final ? shouldCents : meterCents(customer, target, deps.config) + draftItemsCents(invoice);
    const miscounted = f.servedCalls === null ? 0 : Math.abs(f.servedCalls - f.countedCalls);
    return { calls: Math.abs(b.calls - target) + miscounted, cents: Math.abs(b.cents - expectedCents) };
  };
  const record: ReconciliationRecord = {
    customerId: customer.customerId,
    month,
    ranAt: now,
    trigger: options.trigger,
    dryRun,
    cutoff,
    before,
    after,
    differences,
    corrections,
    shouldBeBilled: { calls: before.shouldBeBilledCalls, cents: shouldCents },
    billed,
    billedAfter,
    error: errorOf(billed, before, invoiceBefore),
    residual: errorOf(billedAfter, after, invoiceAfter),
    discrepancy: differences.some((d) => !d.explained),
    ...(inFlight > 0 && !finalized && { recheckAfter: now + SUMMARY_LAG_MS }),
  };
  if (!dryRun) await report(record, deps);
  return record;
}

/**
 * The calls the invoice's metered lines bill; `undefined` when it has none: a tier without a usage
 * price (Free) bills its calls at $0 on no line, so the meter's total stands for them.
 */
function meteredLineCalls(invoice: PeriodInvoice, usagePriceIds: ReadonlySet<string>): number | undefined {
  const lines = invoice.lines.filter((line) => line.kind === 'subscription' && line.priceId !== null && usagePriceIds.has(line.priceId));
  return lines.length === 0 ? undefined : lines.reduce((sum, line) => sum + line.quantity, 0);
}

function sameOutbox(a: SyncState | undefined, b: SyncState | undefined): boolean {
  return a?.seq === b?.seq && a?.pending?.identifier === b?.pending?.identifier && a?.attempts?.length === b?.attempts?.length;
}

/** What `calls` on the customer's tier come to on its invoice before any credit. */
function meterCents(customer: Customer, calls: number, config: Pick<BillingConfig, 'tiers'>): number {
  return estimateBill(customer.tier, calls, config).totalCents;
}

/** The month's bill for `calls` billable calls: the fee for grandfathered (or shadow-billed) days is credited once the invoice exists. */
function billCents(
  customer: Customer,
  calls: number,
  month: string,
  invoiced: boolean,
  config: Pick<BillingConfig, 'tiers'>,
  shadow: { from: number; until: number } | undefined,
): number {
  if (!customer.stripeCustomerId) return 0;
  const { start, end } = monthBounds(month);
  return meterCents(customer, calls, config) - (invoiced ? feeCreditCents(customer, start, end, config, shadow) : 0);
}

/** Stores the record, audits each applied correction, alerts on what the design does not explain. */
async function report(record: ReconciliationRecord, deps: ReconciliationDeps): Promise<void> {
  await deps.records.put(record);
  for (const correction of record.corrections) {
    if (correction.status === 'planned') continue;
    await deps.audit({
      customerId: record.customerId,
      action: `reconcile-${correction.kind}`,
      by: `reconciliation (${record.trigger})`,
      reason: correction.description,
      at: record.ranAt,
      details: {
        month: record.month,
        status: correction.status,
        ...(correction.error && { error: correction.error }),
        before: { stripeCalls: record.before.stripeCalls, billedCents: record.billed.cents },
        after: { stripeCalls: record.after.stripeCalls, billedCents: record.billedAfter.cents },
      },
    });
  }
  if (!record.discrepancy) return;
  const share = Math.max(record.error.calls / Math.max(1, record.shouldBeBilled.calls), record.error.cents / Math.max(1, record.shouldBeBilled.cents));
  const page = share > PAGE_ERROR_SHARE;
  const alert: Alert = {
    subject: `${page ? 'PAGE: ' : ''}billing discrepancy for ${record.customerId} in ${record.month}`,
    customerId: record.customerId,
    severity: page ? 'page' : 'notify',
    body: [
      `Reconciliation (${record.trigger}) of ${record.month} found ${record.differences.filter((d) => !d.explained).length} unexplained difference(s):`,
      ...record.differences.filter((d) => !d.explained).map((d) => `- ${d.detail}`),
      `Billed ${plural(record.billed.calls, 'call')} (${usd(record.billed.cents)}); billable ${plural(record.shouldBeBilled.calls, 'call')} (${usd(record.shouldBeBilled.cents)}): error ${(share * 100).toFixed(2)}% of the month.`,
      ...(record.corrections.length
        ? ['Corrections:', ...record.corrections.map((c) => `- ${c.description} (${c.status}${c.error ? `: ${c.error}` : ''})`)]
        : []),
      `Still wrong after the corrections: ${plural(record.residual.calls, 'call')}, ${usd(record.residual.cents)}.`,
    ].join('\n'),
    action: `npm run cli -- reconcile --customer ${record.customerId} --month ${record.month}`,
  };
  await deps.alerts.publish(alert);
}

/** The billing error rate over records: Σ|billed − should be billed| / Σ should be billed, in calls and in cents. */
export interface ErrorRate {
  readonly customerMonths: number;
  readonly discrepancies: number;
  readonly shouldBeBilled: { readonly calls: number; readonly cents: number };
  readonly error: { readonly calls: number; readonly cents: number };
  /** Fractions (0.01 is 1%); 0 when nothing was billable. */
  readonly rate: { readonly calls: number; readonly cents: number };
  /** The same after corrections. */
  readonly residualRate: { readonly calls: number; readonly cents: number };
}

export function errorRate(records: readonly ReconciliationRecord[]): ErrorRate {
  const sum = (pick: (r: ReconciliationRecord) => number) => records.reduce((total, r) => total + pick(r), 0);
  const should = { calls: sum((r) => r.shouldBeBilled.calls), cents: sum((r) => r.shouldBeBilled.cents) };
  const error = { calls: sum((r) => r.error.calls), cents: sum((r) => r.error.cents) };
  const residual = { calls: sum((r) => r.residual.calls), cents: sum((r) => r.residual.cents) };
  const ratio = (n: number, d: number) => (d === 0 ? (n === 0 ? 0 : 1) : n / d);
  return {
    customerMonths: records.length,
    discrepancies: records.filter((r) => r.discrepancy).length,
    shouldBeBilled: should,
    error,
    rate: { calls: ratio(error.calls, should.calls), cents: ratio(error.cents, should.cents) },
    residualRate: { calls: ratio(residual.calls, should.calls), cents: ratio(residual.cents, should.cents) },
  };
}

/** The months a scheduled run reconciles: this one, and the previous one until its invoice is final. */
export function monthsToReconcile(now: number): string[] {
  const current = utcMonth(now);
  return [utcMonth(monthBounds(current).start - 1), current];
}

export interface ReconciliationRun {
  readonly records: readonly ReconciliationRecord[];
  readonly months: readonly string[];
  readonly rate: ErrorRate;
}

/** Every customer's months (or the given ones), a few customers at a time. */
export async function reconcileAll(
  customers: readonly Customer[],
  months: readonly string[],
  deps: ReconciliationDeps,
  options: ReconcileOptions & { concurrency?: number },
): Promise<ReconciliationRun> {
  const records: ReconciliationRecord[] = [];
  deps = { ...deps, sync: withRunExperiment(deps.sync) };
  let next = 0;
  // A customer's months run in sequence: Stripe takes one concurrent meter-event call per customer and meter.
  const worker = async () => {
    while (next < customers.length) {
      const customer = customers[next++]!;
      for (const month of months) {
        // A customer created after the month has nothing to reconcile in it.
        if (Date.parse(customer.createdAt) >= monthBounds(month).end) continue;
        records.push(await reconcileCustomerMonth(customer, month, deps, options));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  records.sort((a, b) => a.customerId.localeCompare(b.customerId) || a.month.localeCompare(b.month));
  return { records, months, rate: errorRate(records) };
}

/** What the customer sees of a month's reconciliation, in words: "metered N calls · billed N calls", when, and what was corrected. */
export interface ReconciliationSummary {
  readonly month: string;
  readonly meteredCalls: number;
  readonly billedCalls: number;
  readonly reconciledAt: string;
  readonly corrections: readonly string[];
  readonly matches: boolean;
}

export function reconciliationSummary(record: ReconciliationRecord): ReconciliationSummary {
  return {
    month: record.month,
    meteredCalls: record.after.countedCalls,
    billedCalls: record.billedAfter.calls,
    reconciledAt: new Date(record.ranAt).toISOString(),
    corrections: record.corrections.filter((c) => c.status === 'applied').map((c) => c.description),
    matches: record.residual.calls === 0 && record.residual.cents === 0,
  };
}
