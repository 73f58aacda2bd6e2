/**
 * `report` as an operator runs it against `npm start`'s stack: the experiment's report as JSON with
 * every key, as Markdown, and as three files whose HTML page Chromium renders (screenshot in
 * test-output/screenshots/experiment-report.png). The stack and the CLI run on one mid-month clock.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { billingConfig } from '../../lambdas/core/config.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import type { ExperimentReport } from '../../lambdas/core/experiment.ts';
import { fileTicket } from '../../lambdas/core/tickets.ts';
import { DynamoTicketStore } from '../../lambdas/adapters/tickets-store.ts';
import { utcMonth } from '../../lambdas/core/time.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { writeLocalState } from '../../local/state.ts';
import { launchChromium } from '../harness/browser.ts';
import { midMonthClock } from '../harness/clock.ts';
import { cliOnClock } from '../harness/cli-clock.ts';
import { serveCalls } from '../harness/counters.ts';

const now = midMonthClock();
const SCREENSHOTS = resolve(__dirname, '../../test-output/screenshots');
const KEYS = ['revenue', 'callsPerDay', 'upgradeRate', 'errorRate', 'nps', 'billingTickets', 'billingErrorRate', 'churn', 'sampleSize', 'criteria', 'verdict'];

describe('report (CLI child process, local stack)', () => {
  let stack: LocalStack;
  let dir: string;
  let cli: ReturnType<typeof cliOnClock>;
  const month = utcMonth(now());

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-report-'));
    stack = await startLocalStack({
      dir,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `rp${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000,
      now,
    });
    writeLocalState(stack.state(), dir);
    cli = cliOnClock(dir, now);
    // Two customers with calls on three days (recorded as the authorizer does, counted by the stack's aggregator), and a billing ticket.
    const { stripe } = await stack.billing!.services.ready();
    const deps = { registry: stack.store, gatewayKeys: stack.gatewayKeys, now, stripe };
    const { customer: free } = await createCustomer({ name: 'Free Co', tier: 'free' }, deps);
    const { customer: pro } = await createCustomer({ name: 'Pro <b>Co</b>', tier: 'pro' }, deps);
    for (const [customer, hour, n] of [
      [free, `${month}-12T09`, 40],
      [free, `${month}-13T10`, 60],
      [pro, `${month}-13T15`, 150],
      [pro, `${month}-14T20`, 210],
    ] as const)
      await serveCalls(stack.doc, stack.tables, customer.customerId, hour, n, { counted: false });
    await stack.settle();
    const store = new DynamoTicketStore(stack.doc, stack.tables.billing);
    await fileTicket(pro.customerId, 'My bill counts <script>alert(1)</script> twice', {
      store,
      alerts: { publish: async () => undefined },
      config: billingConfig,
      now: now() - 3_600_000,
      newId: () => 'tkt_report_1',
    });
  }, 120_000);
  afterAll(async () => stack?.stop());

  it('--json prints every key of the report with the figures of the stack', async () => {
    const result = await cli('report', '--json');
    expect([result.code, result.stderr]).toEqual([0, '']);
    const report = JSON.parse(result.stdout) as ExperimentReport;
    expect(Object.keys(report)).toEqual(['experiment', 'window', ...KEYS]);
    expect(report.experiment).toMatchObject({ id: 'api-billing-001', phase: 'planned' });
    expect(report.callsPerDay.days.filter((d) => d.billable > 0).map((d) => [d.day, d.billable])).toEqual([
      [`${month}-12`, 40],
      [`${month}-13`, 210],
      [`${month}-14`, 210],
    ]);
    expect(report.sampleSize).toMatchObject({ activeUsers: 2, minimum: 100, target: 500 });
    expect(report.billingTickets).toMatchObject({ count: 1, open: 1, slaBreaches: 0 });
    expect(report.criteria.map((c) => c.id)).toEqual([
      'revenue',
      'callsPerDay',
      'upgradeRate',
      'billingErrorRate',
      'nps',
      'revenueFloor',
      'upgradeRateFloor',
      'billingErrorRateCeiling',
      'churn',
    ]);
  });

  it('prints the Markdown by default, verdict first, with a row per criterion', async () => {
    const result = await cli('report', '--from', `${month}-13`);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^# Experiment api-billing-001: (Success|Failure|Inconclusive)$/);
    expect(lines[2]).toMatch(/^\*\*Verdict: /);
    expect(lines.find((l) => l.startsWith('- Window:'))).toMatch(new RegExp(`^- Window: ${month}-13 00:00 to ${month}-15 12:\\d\\d UTC \\(3 days\\)$`));
    expect(lines.filter((l) => /^\| .+ \| (success|failure) \| /.test(l))).toHaveLength(9);
  });

  it('--out DIR writes report.json, report.md and report.html and prints their paths; Chromium renders the page with every chart and its table', async () => {
    const out = join(dir, 'out', 'nested');
    const result = await cli('report', '--out', out);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(['report.json', 'report.md', 'report.html'].map((f) => join(out, f)));
    expect(readdirSync(out).sort()).toEqual(['report.html', 'report.json', 'report.md']);
    expect(Object.keys(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')))).toEqual(['experiment', 'window', ...KEYS]);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/^# Experiment api-billing-001/);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const requests: string[] = [];
      const problems: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      const url = pathToFileURL(join(out, 'report.html')).href;
      await page.goto(url);
      // Self-contained: the file itself is the only request.
      expect(requests).toEqual([url]);
      expect(problems).toEqual([]);
      const charts = await page.$$eval('figure', (figures) =>
        figures.map((f) => {
          const svg = f.querySelector('svg[role="img"]');
          const labelledBy = (svg?.getAttribute('aria-labelledby') ?? '').split(' ');
          return {
            id: f.id,
            name: labelledBy.map((id) => document.getElementById(id)?.textContent ?? '').join(' | '),
            axes: [...f.querySelectorAll('.axis-title')].map((t) => t.textContent),
            tableRows: f.querySelectorAll('table tbody tr').length,
            visible: (svg?.getBoundingClientRect().height ?? 0) > 100,
          };
        }),
      );
      expect(charts.map((c) => c.id)).toEqual(['chart-calls', 'chart-revenue', 'chart-funnel', 'chart-nps', 'chart-tickets']);
      for (const chart of charts) {
        expect(chart.name).toMatch(/^.+ \| .+The figures are in the table below\.$|^.+ \| .+no answers yet\.$/);
        expect(chart.axes).toHaveLength(2);
        expect(chart.tableRows).toBeGreaterThan(0);
        expect(chart.visible).toBe(true);
      }
      // The calls table reads the days' figures to a screen reader.
      const callRows = await page.$$eval('#chart-calls tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
      expect(callRows).toContainEqual([`${month}-13`, '210', '210', '0', '0']);
      expect(await page.title()).toMatch(/^Experiment api-billing-001: /);
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, 'experiment-report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 120_000);

  it.each([
    ['2026-13-01', 'error: --from must be a day like 2026-11-01 (UTC), not "2026-13-01"'],
    ['2026-02-30', 'error: --from must be a day like 2026-11-01 (UTC), not "2026-02-30"'],
    ['yesterday', 'error: --from must be a day like 2026-11-01 (UTC), not "yesterday"'],
    ['2999-01-01', 'error: --from 2999-01-01 is in the future: the report covers days already begun'],
  ])('refuses --from %s in one line, exit 1', async (from, message) => {
    const result = await cli('report', '--from', from);
    expect([result.code, result.stdout, result.stderr.trim()]).toEqual([1, '', message]);
  });
});
