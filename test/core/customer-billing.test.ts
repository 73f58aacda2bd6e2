import { billingConfig } from '../../lambdas/core/config.ts';
import {
  cachedInvoiceSource,
  customerInvoices,
  customerInvoiceStatus,
  INVOICE_LIST_LIMIT,
  invoiceSource,
  invoiceMonth,
  paymentIssue,
  startBillingPortal,
  unpaidInvoices,
  type CustomerInvoice,
} from '../../lambdas/core/customer-billing.ts';
import type { BillingProvider, InvoiceSummary } from '../../lambdas/core/ports.ts';
import type { StripeSetup } from '../../lambdas/core/subscriptions.ts';
import { TtlCache } from '../../lambdas/core/ttl-cache.ts';

const DAY = 86_400_000;
const NOV_1 = Date.UTC(2026, 10, 1) / 1000;
const DEC_1 = Date.UTC(2026, 11, 1) / 1000;
const NOW = Date.UTC(2026, 11, 3, 12);

function invoice(overrides: Partial<InvoiceSummary> = {}): InvoiceSummary {
  return {
    invoiceId: 'in_1',
    number: 'ABC-0001',
    status: 'open',
    periodStartSec: NOV_1,
    periodEndSec: DEC_1,
    createdSec: DEC_1,
    totalCents: 4900,
    amountRemainingCents: 4900,
    dueDateSec: null,
    paymentFailed: false,
    fromSubscription: true,
    hostedInvoiceUrl: 'https://invoice.stripe.com/i/1',
    ...overrides,
  };
}

describe('customer invoice status', () => {
  it.each([
    ['draft', invoice({ status: 'draft' }), false, 'draft'],
    ['paid', invoice({ status: 'paid' }), true, 'paid'],
    ['void', invoice({ status: 'void' }), false, 'void'],
    ['uncollectible', invoice({ status: 'uncollectible' }), false, 'uncollectible'],
    ['open, not yet charged', invoice(), false, 'open'],
    ['open, its charge failed', invoice({ paymentFailed: true }), false, 'past_due'],
    ['open, due date passed', invoice({ dueDateSec: NOW / 1000 - 60 }), false, 'past_due'],
    ['open, due date ahead', invoice({ dueDateSec: NOW / 1000 + 60 }), false, 'open'],
    ['open, due this very second', invoice({ dueDateSec: NOW / 1000 }), false, 'open'],
    ['open, its subscription behind', invoice(), true, 'past_due'],
    ['open one-off while the subscription is behind', invoice({ fromSubscription: false }), true, 'open'],
  ] as const)('%s', (_name, summary, behind, status) => {
    expect(customerInvoiceStatus(summary, behind, NOW)).toBe(status);
  });

  it('assigns a period invoice to the month it bills and a one-off to the month it was created', () => {
    expect(invoiceMonth(invoice())).toBe('2026-11');
    expect(invoiceMonth(invoice({ periodStartSec: DEC_1, periodEndSec: DEC_1, createdSec: DEC_1 }))).toBe('2026-12');
  });

  it('keeps the invoices still to be paid (open, past due or not, and uncollectible), newest period first', () => {
    const invoices = [
      invoice({ invoiceId: 'in_old', status: 'uncollectible', periodStartSec: NOV_1 - 30 * 86_400 }),
      invoice({ invoiceId: 'in_paid', status: 'paid' }),
      invoice({ invoiceId: 'in_draft', status: 'draft', periodStartSec: DEC_1 }),
      invoice({ invoiceId: 'in_void', status: 'void' }),
      invoice({ invoiceId: 'in_late', paymentFailed: true }),
    ];
    expect(unpaidInvoices(invoices).map((i) => i.invoiceId)).toEqual(['in_late', 'in_old']);
  });

  it('shows an open invoice past due while the customer is behind on payment (the webhook recorded it)', () => {
    expect(customerInvoices([invoice()], { paymentIssueSince: NOW - DAY }, NOW).map((i) => i.status)).toEqual(['past_due']);
    expect(customerInvoices([invoice()], {}, NOW).map((i) => i.status)).toEqual(['open']);
  });

  it('lists newest first, with what is left to pay only on open invoices', () => {
    const list = customerInvoices(
      [
        invoice({ invoiceId: 'in_old', status: 'paid', amountRemainingCents: 0, periodStartSec: NOV_1 - 31 * 86_400, periodEndSec: NOV_1, createdSec: NOV_1 }),
        invoice({ invoiceId: 'in_new', paymentFailed: true, amountRemainingCents: 4000 }),
        invoice({ invoiceId: 'in_draft', status: 'draft', number: null, hostedInvoiceUrl: null, createdSec: DEC_1 + 10 }),
      ],
      {},
      NOW,
    );
    expect(list.map((i) => [i.invoiceId, i.month, i.status, i.amountDueCents])).toEqual([
      ['in_draft', '2026-11', 'draft', 0],
      ['in_new', '2026-11', 'past_due', 4000],
      ['in_old', '2026-10', 'paid', 0],
    ]);
  });
});

describe('the past-due banner', () => {
  const since = Date.UTC(2026, 11, 1, 1, 10);
  const late: CustomerInvoice = {
    month: '2026-11',
    invoiceId: 'in_1',
    number: 'ABC-0001',
    status: 'past_due',
    totalCents: 4900,
    amountDueCents: 4900,
    hostedInvoiceUrl: 'https://invoice.stripe.com/i/1',
    fromSubscription: true,
  };

  it('is absent while nothing is owed late', () => {
    expect(paymentIssue({ tier: 'pro' }, [{ ...late, status: 'paid', amountDueCents: 0 }], billingConfig, NOW)).toBeNull();
  });

  it('during the grace: the amount, the invoice to pay, and the date the paid tier ends (pastDueGraceDays after the first failure)', () => {
    const issue = paymentIssue({ tier: 'pro', paymentIssueSince: since }, [late], billingConfig, NOW);
    const ends = since + billingConfig.pastDueGraceDays * DAY;
    expect(issue).toEqual({
      amountDueCents: 4900,
      since: new Date(since).toISOString(),
      graceEndsAt: new Date(ends).toISOString(),
      state: 'grace',
      invoiceUrl: late.hostedInvoiceUrl,
      message: expect.stringContaining(`before ${new Date(ends).toISOString().slice(0, 10)}: your Pro plan stays active until then`),
    });
    expect(issue!.message).toMatch(/^Your payment of \$49\.00 failed\./);
  });

  it('after the grace: the account moved to Free on the grace end, and paying restores the plan', () => {
    const ends = since + billingConfig.pastDueGraceDays * DAY;
    const issue = paymentIssue({ tier: 'free', paymentIssueSince: since }, [late], billingConfig, ends + 1);
    expect(issue).toMatchObject({ state: 'moved-to-free', graceEndsAt: new Date(ends).toISOString() });
    expect(issue!.message).toContain(`moved to Free on ${new Date(ends).toISOString().slice(0, 10)}`);
  });

  it('at the grace end a paid customer the scheduled run has not moved yet is told it moved; a customer on Free during the grace too', () => {
    const ends = since + billingConfig.pastDueGraceDays * DAY;
    expect(paymentIssue({ tier: 'pro', paymentIssueSince: since }, [late], billingConfig, ends - 1)?.state).toBe('grace');
    expect(paymentIssue({ tier: 'pro', paymentIssueSince: since }, [late], billingConfig, ends)?.state).toBe('moved-to-free');
    expect(paymentIssue({ tier: 'free', paymentIssueSince: since }, [late], billingConfig, since + DAY)?.state).toBe('moved-to-free');
  });

  it('an invoice past its due date without a subscription behind: no grace date', () => {
    expect(paymentIssue({ tier: 'pro' }, [late], billingConfig, NOW)).toMatchObject({
      state: 'invoice-overdue',
      graceEndsAt: null,
      amountDueCents: 4900,
      message: '$49.00 is past due. Update your payment method in Manage billing and pay the invoice.',
    });
  });
});

describe('the invoice source', () => {
  it('asks Stripe once per customer within the TTL, again when a subscription event or payment issue changed the customer', async () => {
    let now = NOW;
    const asked: string[] = [];
    const source = cachedInvoiceSource(
      async (id) => {
        asked.push(id);
        return [invoice()];
      },
      new TtlCache(100, 30_000, () => now),
    );
    const customer = { customerId: 'c1', stripeCustomerId: 'cus_1', lastSubscriptionEventAt: 1 };
    await source(customer);
    await source(customer);
    expect(asked).toEqual(['cus_1']);
    await source({ ...customer, paymentIssueSince: NOW });
    expect(asked).toHaveLength(2);
    now += 30_001;
    await source({ ...customer, paymentIssueSince: NOW });
    expect(asked).toHaveLength(3);
    await source({ ...customer, paymentIssueSince: NOW, lastSubscriptionEventAt: 2 });
    expect(asked).toHaveLength(4);
    await source({ ...customer, paymentIssueSince: undefined, lastSubscriptionEventAt: 2 });
    expect(asked).toHaveLength(5);
    expect(await source({ customerId: 'c2' })).toEqual([]);
    expect(asked).toHaveLength(5);
  });

  it('lists the latest INVOICE_LIST_LIMIT invoices in one request', async () => {
    const asked: Array<[string, number]> = [];
    const source = invoiceSource({
      listInvoices: async (id, limit) => {
        asked.push([id, limit]);
        return [];
      },
    });
    await source({ customerId: 'c1', stripeCustomerId: 'cus_1' });
    await source({ customerId: 'c1', stripeCustomerId: 'cus_1' });
    expect(asked).toEqual([['cus_1', INVOICE_LIST_LIMIT]]);
  });
});

describe('the customer portal', () => {
  const setup = (portalConfigurationId?: string) => {
    const sessions: unknown[] = [];
    const provider = {
      createPortalSession: async (input: unknown) => {
        sessions.push(input);
        return { url: 'https://billing.stripe.com/p/session/x' };
      },
    } as unknown as BillingProvider;
    return { sessions, setup: { provider, catalogIds: { meterId: 'm', priceIds: {}, portalConfigurationId }, catalog: {} } as unknown as StripeSetup };
  };

  it("opens a session with the product's configuration, returning to the dashboard", async () => {
    const { sessions, setup: s } = setup('bpc_1');
    expect(await startBillingPortal({ stripeCustomerId: 'cus_1' }, 'https://x/prod/dashboard', s)).toEqual({
      ok: true,
      url: 'https://billing.stripe.com/p/session/x',
    });
    expect(sessions).toEqual([{ stripeCustomerId: 'cus_1', configurationId: 'bpc_1', returnUrl: 'https://x/prod/dashboard' }]);
  });

  it.each([
    ['a customer without a Stripe customer', {}, 'bpc_1', 'NOT_SUBSCRIBED'],
    ['a setup that has not created the configuration', { stripeCustomerId: 'cus_1' }, undefined, 'PORTAL_NOT_SET_UP'],
  ])('refuses %s', async (_name, customer, configurationId, code) => {
    const { sessions, setup: s } = setup(configurationId);
    expect(await startBillingPortal(customer, 'https://x/d', s)).toMatchObject({ ok: false, code, message: expect.stringMatching(/^[A-Z].{20,}\.$/) });
    expect(sessions).toEqual([]);
  });
});
