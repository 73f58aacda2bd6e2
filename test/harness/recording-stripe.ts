/**
 * An in-memory stand-in for the BillingProvider *port* (not for Stripe's HTTP API) for core sync
 * tests: it keeps accepted meter events, forgets identifiers after 24 hours as Stripe does, and
 * injects the faults the sync must survive.
 */
import { ApiBillingError } from '../../lambdas/core/errors.ts';
import type { BillingProvider, MeterEventPush } from '../../lambdas/core/ports.ts';

export type StripeFault = 'none' | 'fail-before-accept' | 'time-out-after-accept';

export class RecordingStripe implements BillingProvider {
  readonly accepted: Array<MeterEventPush & { receivedAt: number }> = [];
  readonly faults: StripeFault[] = [];
  requests = 0;

  constructor(private readonly now: () => number) {}

  async pushMeterEvent(event: MeterEventPush): Promise<'accepted' | 'duplicate'> {
    this.requests += 1;
    const fault = this.faults.shift() ?? 'none';
    if (fault === 'fail-before-accept') throw new ApiBillingError('Stripe answered 500', { retryable: true });
    const remembered = this.accepted.some((e) => e.identifier === event.identifier && this.now() - e.receivedAt < 24 * 3_600_000);
    if (remembered) return 'duplicate';
    this.accepted.push({ ...event, receivedAt: this.now() });
    if (fault === 'time-out-after-accept') throw new ApiBillingError('Stripe timed out', { retryable: true });
    return 'accepted';
  }

  async meteredTotal(_meterId: string, stripeCustomerId: string, fromSec: number, toSec: number): Promise<number> {
    return this.meteredTotalSync(stripeCustomerId, fromSec, toSec);
  }

  /** Calls Stripe holds for a customer in a month (`YYYY-MM`). */
  total(stripeCustomerId: string, month: string): number {
    const [y, m] = month.split('-').map(Number) as [number, number];
    return this.meteredTotalSync(stripeCustomerId, Date.UTC(y, m - 1, 1) / 1000, Date.UTC(y, m, 1) / 1000);
  }

  private meteredTotalSync(stripeCustomerId: string, fromSec: number, toSec: number): number {
    return this.accepted.filter((e) => e.stripeCustomerId === stripeCustomerId && e.timestampSec >= fromSec && e.timestampSec < toSec).reduce((s, e) => s + e.value, 0);
  }

  async ensureCatalog(): Promise<never> {
    throw new Error('not used by the sync');
  }
  async createSubscriber(): Promise<never> {
    throw new Error('not used by the sync');
  }
  async createCheckoutSession(): Promise<never> {
    throw new Error('not used by the sync');
  }
  async creditLatestInvoice(): Promise<never> {
    throw new Error('not used by the sync');
  }
  async creditDraftInvoice(): Promise<never> {
    throw new Error('not used by the sync');
  }
  async cancelSubscription(): Promise<never> {
    throw new Error('not used by the sync');
  }
  async replacePrices(): Promise<never> {
    throw new Error('not used by the sync');
  }
}
