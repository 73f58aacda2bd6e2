import type { Alert } from '../../lambdas/core/alerts.ts';
import { billingConfig } from '../../lambdas/core/config.ts';
import { checkGuardrails, type GuardrailDeps } from '../../lambdas/core/guardrails.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import { testCustomer } from '../harness/customer.ts';

const NOV_20 = Date.UTC(2026, 10, 20, 12);
const NOV_START = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** In-memory guardrail ports: month counts, a once-only marker, the customer's capped month, the alerts sent. */
function world(counts: Record<string, number>) {
  const alerts: Alert[] = [];
  const marks = new Set<string>();
  const capped: Array<[string, string]> = [];
  const read: string[] = [];
  const deps = (now = NOV_20, config: GuardrailDeps['config'] = billingConfig): GuardrailDeps => ({
    alerts: { publish: async (a) => void alerts.push(a) },
    markOnce: async (id, key) => {
      if (marks.has(`${id}|${key}`)) return false;
      marks.add(`${id}|${key}`);
      return true;
    },
    callsInMonth: async (_id, month) => {
      read.push(month);
      return counts[month] ?? 0;
    },
    setCappedMonth: async (id, month) => void capped.push([id, month]),
    config,
    now,
  });
  return { alerts, capped, read, deps };
}

const customer = (fields: Partial<Customer> = {}): Customer => testCustomer(fields);

describe('guardrails: the billing cap (in-memory ports)', () => {
  // Pro with a $100 cap: $49 fee + 0.2 cent a call past 10,000; last month the same, so no anomaly.
  it.each([
    [25_495, 7_999, []],
    [25_500, 8_000, [80]], // exactly 80%
    [35_495, 9_999, [80]],
    [35_500, 10_000, [80, 100]], // exactly 100%
  ])('with %i calls (%i cents of a 10,000-cent cap) alerts at %j', async (calls, cents, percents) => {
    const w = world({ '2026-10': calls, '2026-11': calls });
    const events = await checkGuardrails(customer(), w.deps());
    expect(events.filter((e) => e.kind === 'cap-alert')).toEqual(
      percents.map((percent) => ({ kind: 'cap-alert', percent, billCents: cents, capCents: 10_000 })),
    );
    expect(w.alerts.map((a) => a.subject)).toEqual(percents.map((p) => `Acme reached ${p}% of its billing cap`));
  });

  it('tells the operator the figures, what happens at the cap, and the command that raises it', async () => {
    const w = world({ '2026-10': 25_500, '2026-11': 25_500 });
    await checkGuardrails(customer(), w.deps());
    expect(w.alerts).toEqual([
      {
        subject: 'Acme reached 80% of its billing cap',
        customerId: 'c1',
        body: 'Acme (pro) has $80.00 billed this month (25500 calls), 80% of its $100.00 cap.\nAt 100% its calls will be refused.',
        action: 'npm run cli -- cap approve --customer c1 --cap <dollars> --reason "<why>"',
      },
    ]);
    const absorbing = world({ '2026-10': 25_500, '2026-11': 25_500 });
    await checkGuardrails(customer({ capBehaviour: 'absorb' }), absorbing.deps());
    expect(absorbing.alerts[0]!.body).toMatch(/\nAt 100% its calls will be served uncharged\.$/);
  });

  it('at the cap blocks a block customer once, and says so; an absorb customer is served', async () => {
    const w = world({ '2026-10': 35_500, '2026-11': 35_500 });
    expect(await checkGuardrails(customer(), w.deps())).toEqual([
      { kind: 'cap-alert', percent: 80, billCents: 10_000, capCents: 10_000 },
      { kind: 'cap-alert', percent: 100, billCents: 10_000, capCents: 10_000 },
      { kind: 'blocked', month: '2026-11' },
    ]);
    expect(w.capped).toEqual([['c1', '2026-11']]);
    expect(w.alerts[1]!.body).toMatch(/\nIts calls are now refused \(403, billing cap reached\) until the cap is raised or the month ends\.$/);
    // The next run: no alert again, and a customer already blocked this month is not blocked again.
    expect(await checkGuardrails(customer({ cappedMonth: '2026-11' }), w.deps())).toEqual([]);
    expect(w.capped).toHaveLength(1);
    // Blocked last month only: blocked again this month.
    expect(await checkGuardrails(customer({ cappedMonth: '2026-10' }), world({ '2026-10': 35_500, '2026-11': 35_500 }).deps())).toContainEqual({
      kind: 'blocked',
      month: '2026-11',
    });

    const absorbing = world({ '2026-10': 40_000, '2026-11': 40_000 });
    expect((await checkGuardrails(customer({ capBehaviour: 'absorb' }), absorbing.deps())).map((e) => e.kind)).toEqual(['cap-alert', 'cap-alert']);
    expect(absorbing.capped).toEqual([]);
    expect(absorbing.alerts[1]!.body).toMatch(/\nIts calls are still served; nothing past the cap is charged\.$/);
  });

  it('does not block below the cap', async () => {
    const w = world({ '2026-10': 35_495, '2026-11': 35_495 });
    expect((await checkGuardrails(customer(), w.deps())).map((e) => e.kind)).toEqual(['cap-alert']);
    expect(w.capped).toEqual([]);
  });

  it('alerts again in the next month', async () => {
    const w = world({ '2026-10': 25_500, '2026-11': 25_500, '2026-12': 25_500 });
    await checkGuardrails(customer(), w.deps());
    await checkGuardrails(customer(), w.deps(Date.UTC(2026, 11, 20)));
    expect(w.alerts.map((a) => a.subject)).toEqual(['Acme reached 80% of its billing cap', 'Acme reached 80% of its billing cap']);
  });

  it('uses the default $1,000 cap for a customer without one, and the percentages in increasing order', async () => {
    const w = world({ '2026-10': 485_502, '2026-11': 485_502 }); // exactly $1,000 on Pro
    const events = await checkGuardrails(customer({ capCents: undefined }), w.deps(NOV_20, { ...billingConfig, capAlertPercents: [100, 80] }));
    expect(events.filter((e) => e.kind === 'cap-alert')).toEqual([
      { kind: 'cap-alert', percent: 80, billCents: 100_000, capCents: 100_000 },
      { kind: 'cap-alert', percent: 100, billCents: 100_000, capCents: 100_000 },
    ]);
    expect(w.alerts[0]!.body).toContain('of its $1000.00 cap');
  });
});

describe('guardrails: the anomaly alert (in-memory ports)', () => {
  const rich = { capCents: 10_000_000 };

  it('alerts once when a month is billed over twice the previous one', async () => {
    const w = world({ '2026-10': 20_000, '2026-11': 60_000 }); // $69, then $149
    expect(await checkGuardrails(customer(rich), w.deps())).toEqual([{ kind: 'anomaly', billCents: 14_900, baselineCents: 6_900, projected: false }]);
    expect(w.alerts).toEqual([
      {
        subject: "Acme: this month's bill is over 2x last month",
        customerId: 'c1',
        body: 'Acme (pro) has $149.00 billed this month, against $69.00 last month (2026-10).',
        action: 'npm run cli -- billing status   (then, if wrong: npm run cli -- billing pause --reason "<why>")',
      },
    ]);
    expect(await checkGuardrails(customer(rich), w.deps())).toEqual([]);
  });

  it('at exactly twice last month is not over it: only the projection can alert', async () => {
    // 54,500 calls are $138.00, twice October's $69.00. Late on the month's last day the run rate projects a few more.
    const late = Date.UTC(2026, 10, 30, 23);
    const w = world({ '2026-10': 20_000, '2026-11': 54_500 });
    const [event] = await checkGuardrails(customer(rich), w.deps(late));
    expect(event).toEqual({ kind: 'anomaly', billCents: 13_815, baselineCents: 6_900, projected: true });
    expect(w.alerts[0]!.subject).toBe("Acme: this month's bill is heading to over 2x last month");
    expect(w.alerts[0]!.body).toBe('Acme (pro) is on course for $138.15 ($138.00 so far, 54500 calls) this month, against $69.00 last month (2026-10).');
  });

  it('projects from the run rate from day 3 on, not before', async () => {
    // 10,000 calls in 2 days project 150,000 in the month ($329 against 2 x $69).
    const counts = { '2026-10': 20_000, '2026-11': 10_000 };
    expect(await checkGuardrails(customer(rich), world(counts).deps(NOV_START + 2 * DAY - 1))).toEqual([]);
    expect(await checkGuardrails(customer(rich), world(counts).deps(NOV_START + 2 * DAY))).toEqual([
      { kind: 'anomaly', billCents: 32_900, baselineCents: 6_900, projected: true },
    ]);
  });

  it('does not alert on a projection of exactly twice last month', async () => {
    // Half-way through November, 27,250 calls project to 54,500: $138.00, exactly 2 x $69.00.
    expect(await checkGuardrails(customer(rich), world({ '2026-10': 20_000, '2026-11': 27_250 }).deps(Date.UTC(2026, 10, 16)))).toEqual([]);
    expect(await checkGuardrails(customer(rich), world({ '2026-10': 20_000, '2026-11': 27_255 }).deps(Date.UTC(2026, 10, 16)))).toEqual([
      { kind: 'anomaly', billCents: 13_802, baselineCents: 6_900, projected: true },
    ]);
  });

  it('alerts an anomaly once a month, and again in the next month', async () => {
    const w = world({ '2026-10': 20_000, '2026-11': 60_000, '2026-12': 150_000 });
    await checkGuardrails(customer(rich), w.deps());
    await checkGuardrails(customer(rich), w.deps());
    await checkGuardrails(customer(rich), w.deps(Date.UTC(2026, 11, 20)));
    expect(w.alerts.map((a) => a.body)).toEqual([
      'Acme (pro) has $149.00 billed this month, against $69.00 last month (2026-10).',
      'Acme (pro) has $329.00 billed this month, against $149.00 last month (2026-11).',
    ]);
  });

  it('does not alert when the projection stays within twice last month', async () => {
    expect(await checkGuardrails(customer(rich), world({ '2026-10': 20_000, '2026-11': 5_000 }).deps(Date.UTC(2026, 10, 16)))).toEqual([]);
  });

  it('judges a customer new this month against its tier fee', async () => {
    const w = world({ '2026-10': 1_000_000, '2026-11': 35_000 }); // $99 > 2 x $49; October is not its month
    expect(await checkGuardrails(customer({ ...rich, createdAt: '2026-11-01T00:00:00.000Z' }), w.deps())).toEqual([
      { kind: 'anomaly', billCents: 9_900, baselineCents: 4_900, projected: false },
    ]);
    expect(w.read).toEqual(['2026-11']);
    expect(w.alerts[0]!.subject).toBe("Acme: this month's bill is over 2x its tier fee");
    expect(w.alerts[0]!.body).toBe('Acme (pro) has $99.00 billed this month, against $49.00 as its tier fee (no previous month).');
  });

  it('never alerts a Free customer, whose baseline is nothing', async () => {
    expect(await checkGuardrails(customer({ tier: 'free', createdAt: '2026-11-05T00:00:00Z' }), world({ '2026-11': 1_000 }).deps())).toEqual([]);
  });

  it('compares January with December of the year before', async () => {
    const w = world({ '2026-12': 20_000, '2027-01': 60_000 });
    expect(await checkGuardrails(customer(rich), w.deps(Date.UTC(2027, 0, 20)))).toEqual([
      { kind: 'anomaly', billCents: 14_900, baselineCents: 6_900, projected: false },
    ]);
    expect(w.read).toEqual(['2027-01', '2026-12']);
  });

  it('runs at the first instant of a month (no division by a zero elapsed time)', async () => {
    await expect(checkGuardrails(customer(rich), world({ '2026-10': 20_000, '2026-11': 100 }).deps(NOV_START))).resolves.toEqual([]);
  });

  it('sends the cap alert and the anomaly alert of one month independently', async () => {
    const w = world({ '2026-10': 20_000, '2026-11': 60_000 }); // $149 of a $100 cap, over twice $69
    const kinds = (await checkGuardrails(customer({ capBehaviour: 'absorb' }), w.deps())).map((e) => e.kind);
    expect(kinds).toEqual(['cap-alert', 'cap-alert', 'anomaly']);
  });
});
