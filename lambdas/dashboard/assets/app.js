// @ts-check
// The usage dashboard: the key lives in this tab's sessionStorage only, never in a URL or a log.

const KEY_STORAGE = 'api-billing-key';
/** The API's base path as the browser sees it (`/prod/` on the default invoke URL), filled in by the server. */
const BASE = document.documentElement.dataset.base ?? '/';
const $ = (/** @type {string} */ selector) => /** @type {HTMLElement} */ (document.querySelector(selector));
const money = (/** @type {number} */ cents) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(cents / 100);

function setField(/** @type {string} */ name, /** @type {string | number} */ value) {
  for (const el of document.querySelectorAll(`[data-field="${name}"]`)) el.textContent = String(value);
}

async function api(/** @type {string} */ path, /** @type {RequestInit} */ init = {}) {
  const key = sessionStorage.getItem(KEY_STORAGE) ?? '';
  return fetch(`${BASE}${path}`, { ...init, headers: { 'x-api-key': key, 'content-type': 'application/json', ...(init.headers ?? {}) } });
}

async function load() {
  const response = await api('usage');
  // Only an unknown or revoked key is refused here: a suspended or capped account still sees its usage.
  if (response.status === 401 || response.status === 403) {
    sessionStorage.removeItem(KEY_STORAGE);
    const body = await response.json().catch(() => ({}));
    showSignIn(response.status === 403 && body.message ? `${body.message} Sign in with another key.` : 'That key was not accepted. Check it and try again.');
    return;
  }
  if (!response.ok) {
    showSignIn('Your usage could not be loaded; try again shortly.');
    return;
  }
  render(await response.json());
}

function showSignIn(/** @type {string} */ error) {
  $('#usage').hidden = true;
  $('#sign-in').hidden = false;
  $('#sign-in-error').textContent = error;
  $('#api-key').focus();
}

/** @param {any} report */
function render(report) {
  $('#sign-in').hidden = true;
  $('#usage').hidden = false;
  setField('month', report.month);
  setField('tier', report.tier[0].toUpperCase() + report.tier.slice(1));
  setField('calls', report.calls.toLocaleString('en-US'));
  $('#reconciliation').replaceChildren(...reconciliation(report.reconciliation));
  $('#standing').hidden = report.standing.state === 'active';
  $('#standing').dataset.state = report.standing.state;
  setField('standing-message', report.standing.message ?? '');
  // The experiment's beta: this customer's calls are priced, not charged.
  $('#shadow-billing').hidden = report.billing?.mode !== 'shadow';
  setField('shadow-message', report.billing?.message ?? '');

  $('#quota').hidden = !report.quota;
  if (report.quota) {
    const bar = /** @type {HTMLProgressElement} */ ($('#quota-bar'));
    bar.max = report.quota.limit;
    bar.value = Math.min(report.calls, report.quota.limit);
    setField('quota-used', report.calls.toLocaleString('en-US'));
    setField('quota-limit', report.quota.limit.toLocaleString('en-US'));
    setField('quota-remaining', report.quota.remaining.toLocaleString('en-US'));
    setField('quota-resets', report.quota.resetsAt.slice(0, 10));
  }

  setField('estimate-total', money(report.estimate.totalCents));
  const lines = $('#estimate-lines tbody');
  lines.replaceChildren(
    ...report.estimate.lines.map((/** @type {any} */ line) => row([line.description, line.quantity.toLocaleString('en-US'), money(line.amountCents)])),
  );

  setField('cap-used', report.cap.usedPercent);
  setField('cap-amount', money(report.cap.capCents));
  setField('cap-state', report.cap.state === 'reached' ? 'cap reached' : report.cap.state === 'warning' ? 'approaching the cap' : 'within the cap');

  const prompt = $('#upgrade-prompt');
  prompt.hidden = !report.upgrade;
  prompt.dataset.level = report.upgrade?.level ?? '';
  if (report.upgrade) {
    setField('upgrade-message', report.upgrade.message);
    setField('upgrade-tier', report.upgrade.targetTier[0].toUpperCase() + report.upgrade.targetTier.slice(1));
    $('#upgrade-button').dataset.tier = report.upgrade.targetTier;
  }

  drawDaily(report.daily);
  const previous = $('#previous-months tbody');
  previous.replaceChildren(
    ...report.previousMonths.map((/** @type {any} */ m) =>
      row([
        m.month,
        m.calls.toLocaleString('en-US'),
        m.invoicedCents === null ? '–' : money(m.invoicedCents),
        // A month without calls or record is one before the account (reconciliation skips those), not one waiting for a run.
        m.reconciliation === null && m.calls === 0 ? '–' : reconciliation(m.reconciliation),
      ]),
    ),
  );
}

/** A table row; a cell is text or the nodes to put in it. */
function row(/** @type {Array<string | Node[]>} */ cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (typeof cell === 'string') td.textContent = cell;
    else td.append(...cell);
    tr.append(td);
  }
  return tr;
}

const callCount = (/** @type {number} */ n) => `${n.toLocaleString('en-US')} call${n === 1 ? '' : 's'}`;

/**
 * A month's reconciliation in words: what was metered and billed, when it was checked (UTC), what was corrected.
 * @param {{ meteredCalls: number, billedCalls: number, reconciledAt: string, billedBefore: string | null, corrections: string[], matches: boolean } | null} summary
 * @returns {Node[]}
 */
function reconciliation(summary) {
  const line = (/** @type {string} */ field, /** @type {Array<string | Node>} */ ...content) => {
    const p = document.createElement('p');
    p.dataset.field = field;
    p.append(...content);
    return p;
  };
  if (!summary) return [line('reconciliation-none', 'Not reconciled yet: reconciliation runs daily.')];
  const time = (/** @type {string} */ iso) => {
    const el = document.createElement('time');
    el.dateTime = iso;
    el.textContent = `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
    return el;
  };
  /** @type {HTMLElement[]} */
  const nodes = [
    line('reconciliation-figures', `Metered ${callCount(summary.meteredCalls)} · billed ${callCount(summary.billedCalls)}`),
    // While the month is open Stripe holds the settled hours only: say up to when, so the two figures can be compared.
    line(
      'reconciliation-checked',
      'Checked ',
      time(summary.reconciledAt),
      ...(summary.billedBefore ? [', billed for calls before ', time(summary.billedBefore)] : []),
    ),
  ];
  if (summary.corrections.length) {
    const list = document.createElement('ul');
    list.dataset.field = 'reconciliation-corrections';
    list.append(
      ...summary.corrections.map((description) => {
        const li = document.createElement('li');
        li.textContent = `Corrected: ${description}.`;
        return li;
      }),
    );
    nodes.push(list);
  }
  if (!summary.matches)
    nodes.push(
      line(
        'reconciliation-open',
        'The figures do not agree yet: the next reconciliation checks again, and our billing team is alerted to any difference it cannot explain.',
      ),
    );
  else if (summary.meteredCalls !== summary.billedCalls)
    nodes.push(
      line(
        'reconciliation-note',
        'The difference is by design: calls of the last hours are billed once their hour settles; grandfathered calls and calls past an absorbing cap are not charged; calls voided after they were reported are credited on the invoice.',
      ),
    );
  return nodes;
}

/** @param {{ day: string, calls: number }[]} daily */
function drawDaily(daily) {
  const svg = $('#daily-chart');
  const max = Math.max(1, ...daily.map((d) => d.calls));
  const width = 620 / Math.max(daily.length, 1);
  svg.replaceChildren(
    ...daily.map((d, i) => {
      const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      const height = (d.calls / max) * 150;
      rect.setAttribute('x', String(i * width + 1));
      rect.setAttribute('y', String(160 - height));
      rect.setAttribute('width', String(Math.max(width - 2, 1)));
      rect.setAttribute('height', String(height));
      rect.dataset.day = d.day;
      rect.dataset.calls = String(d.calls);
      const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      title.textContent = `${d.day}: ${d.calls} calls`;
      rect.append(title);
      return rect;
    }),
  );
  $('#daily-table tbody').replaceChildren(...daily.map((d) => row([d.day, String(d.calls)])));
}

document.addEventListener('DOMContentLoaded', () => {
  const params = new URLSearchParams(location.search);
  if (params.get('upgraded')) {
    $('#upgraded').hidden = false;
    $('#upgraded').textContent = 'Thank you: your upgrade is being applied.';
    history.replaceState(null, '', location.pathname);
  }
  $('#sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = /** @type {HTMLInputElement} */ ($('#api-key')).value.trim();
    if (!key) return showSignIn('Enter your API key.');
    sessionStorage.setItem(KEY_STORAGE, key);
    /** @type {HTMLInputElement} */ ($('#api-key')).value = '';
    void load();
  });
  $('#sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    showSignIn('');
  });
  $('#upgrade-button').addEventListener('click', async () => {
    const tier = $('#upgrade-button').dataset.tier;
    const response = await api('billing/upgrade', { method: 'POST', body: JSON.stringify({ tier }) });
    const body = await response.json();
    if (response.ok && body.url) return location.assign(body.url);
    $('#upgraded').hidden = false;
    $('#upgraded').textContent = body.message ?? 'The upgrade could not be started.';
  });
  $('#report-problem').addEventListener('click', (event) => {
    event.preventDefault();
    $('#report-form').hidden = false;
    $('#report-text').focus();
  });
  $('#report-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const message = /** @type {HTMLTextAreaElement} */ ($('#report-text')).value.trim();
    const response = await api('support/tickets', { method: 'POST', body: JSON.stringify({ message }) });
    $('#report-status').textContent = response.ok ? 'Sent: billing support answers within 4 hours.' : 'Could not send; please try again.';
  });
  if (sessionStorage.getItem(KEY_STORAGE)) void load();
});
