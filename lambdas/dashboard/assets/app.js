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
        invoiceCell(m.invoice),
      ]),
    ),
  );
  renderPaymentIssue(report.paymentIssue);
  renderSurvey(report.survey);
  renderPlan(report);
}

const INVOICE_STATUS_WORDS = /** @type {Record<string, string>} */ ({
  draft: 'Draft',
  open: 'Open',
  past_due: 'Past due',
  paid: 'Paid',
  void: 'Void',
  uncollectible: 'Uncollectible',
});

/**
 * A month's Stripe invoice: its number, status, total and what is left to pay, and a link to Stripe's hosted page.
 * @param {{ number: string | null, status: string, totalCents: number, amountDueCents: number, hostedInvoiceUrl: string | null } | null | undefined} invoice
 * @returns {Node[] | string}
 */
function invoiceCell(invoice) {
  if (!invoice) return '–';
  const line = document.createElement('p');
  line.dataset.field = 'invoice';
  line.dataset.status = invoice.status;
  const status = document.createElement('strong');
  status.textContent = INVOICE_STATUS_WORDS[invoice.status] ?? invoice.status;
  line.append(`${invoice.number ?? 'Draft'} · `, status, ` · ${money(invoice.totalCents)}`);
  if (invoice.amountDueCents > 0) line.append(` · ${money(invoice.amountDueCents)} due`);
  if (!invoice.hostedInvoiceUrl) return [line];
  const link = document.createElement('a');
  link.href = invoice.hostedInvoiceUrl;
  link.textContent = 'View invoice';
  link.rel = 'noopener';
  return [line, link];
}

/**
 * The past-due banner: what is owed, until when the plan is kept (or since when it is on Free), and the way to pay.
 * @param {{ amountDueCents: number, graceEndsAt: string | null, state: string, invoiceUrl: string | null, message: string } | null | undefined} issue
 */
function renderPaymentIssue(issue) {
  $('#payment-issue').hidden = !issue;
  if (!issue) return;
  $('#payment-issue').dataset.state = issue.state;
  setField('payment-issue-message', issue.message);
  setField('payment-issue-amount', issue.amountDueCents > 0 ? money(issue.amountDueCents) : 'see the invoice');
  $('#payment-issue-deadline').hidden = !issue.graceEndsAt;
  setField('payment-issue-date-label', issue.state === 'moved-to-free' ? 'moved to Free on' : 'plan kept until');
  setField('payment-issue-date', issue.graceEndsAt ? `${issue.graceEndsAt.slice(0, 10)} ${issue.graceEndsAt.slice(11, 16)} UTC` : '');
  const invoice = /** @type {HTMLAnchorElement} */ ($('#payment-issue-invoice'));
  invoice.hidden = !issue.invoiceUrl;
  invoice.href = issue.invoiceUrl ?? '#';
}

/** "Manage billing" (and the banner's "Update payment method"): a Stripe customer portal session, opened in this tab. */
async function openBillingPortal() {
  $('#manage-billing-status').textContent = '';
  const response = await api('billing/portal', { method: 'POST' });
  const body = await response.json().catch(() => ({}));
  if (response.ok && body.url) return location.assign(body.url);
  $('#manage-billing-status').textContent = body.message ?? 'Billing management could not be opened; try again shortly.';
  $('#manage-billing-button').focus();
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

const SVG = 'http://www.w3.org/2000/svg';
/** An SVG element with its attributes. */
function svgElement(/** @type {string} */ name, /** @type {Record<string, string | number>} */ attributes = {}) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
  return el;
}

/** The smallest of 1, 2 or 5 times a power of ten that is at least `max`: the y axis's top. */
function niceCeiling(/** @type {number} */ max) {
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= max) ?? 10 * power;
}

/** @type {{ day: string, calls: number }[] | null} */
let drawnDaily = null;

/**
 * Calls per day: bars on labelled axes (calls, day of the month), drawn in the chart's own pixels (no
 * stretched text; redrawn on resize). Each day has a tooltip (SVG title); the image's label sums it up
 * and the visually hidden table below gives every day's figure to a screen reader.
 * @param {{ day: string, calls: number }[]} daily
 */
function drawDaily(daily) {
  drawnDaily = daily;
  const svg = $('#daily-chart');
  const width = Math.round(svg.getBoundingClientRect().width) || 620;
  const height = 200;
  const top = 24;
  const bottom = height - 44;
  const yMax = niceCeiling(Math.max(1, ...daily.map((d) => d.calls)));
  const ticks = yMax >= 2 ? [0, yMax / 2, yMax] : [0, yMax];
  const left = 10 + 7 * Math.max(...ticks.map((t) => t.toLocaleString('en-US').length));
  const right = width - 8;
  const y = (/** @type {number} */ calls) => bottom - (calls / yMax) * (bottom - top);
  // A day with calls gets at least a pixel, so it never reads as a day without.
  const barTop = (/** @type {number} */ calls) => (calls > 0 ? Math.min(y(calls), bottom - 1) : bottom);
  const slot = (right - left) / Math.max(daily.length, 1);
  const gap = Math.min(2, slot * 0.15);
  // Label every day that fits (about 28 px a label), always the first and the last.
  const labelEvery = Math.max(1, Math.ceil(28 / slot));

  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  /** @type {Element[]} */
  const parts = [svgElement('text', { x: 0, y: 12, class: 'axis-title' })];
  parts[0].textContent = 'Calls';
  for (const tick of ticks) {
    parts.push(svgElement('line', { x1: left, x2: right, y1: y(tick), y2: y(tick), class: tick === 0 ? 'axis' : 'grid' }));
    const label = svgElement('text', { x: left - 6, y: y(tick) + 4, 'text-anchor': 'end' });
    label.textContent = tick.toLocaleString('en-US');
    parts.push(label);
  }
  parts.push(svgElement('line', { x1: left, x2: left, y1: top, y2: bottom, class: 'axis' }));
  daily.forEach((d, i) => {
    const group = svgElement('g', { class: 'day' });
    const title = svgElement('title');
    title.textContent = `${d.day}: ${callCount(d.calls)}`;
    const bar = svgElement('rect', {
      class: 'bar',
      x: left + i * slot + gap,
      y: barTop(d.calls),
      width: Math.max(slot - 2 * gap, 1),
      height: bottom - barTop(d.calls),
    });
    bar.setAttribute('data-day', d.day);
    bar.setAttribute('data-calls', String(d.calls));
    // A full-height target, so a day with few or no calls still shows its tooltip.
    group.append(title, svgElement('rect', { class: 'hit', x: left + i * slot, y: top, width: slot, height: bottom - top }), bar);
    parts.push(group);
    if (i % labelEvery === 0 || i === daily.length - 1) {
      const label = svgElement('text', { x: left + (i + 0.5) * slot, y: bottom + 16, 'text-anchor': 'middle' });
      label.textContent = String(Number(d.day.slice(8, 10)));
      parts.push(label);
    }
  });
  const xTitle = svgElement('text', { x: (left + right) / 2, y: height - 6, 'text-anchor': 'middle', class: 'axis-title' });
  xTitle.textContent = 'Day of the month (UTC)';
  parts.push(xTitle);
  svg.replaceChildren(...parts);

  const total = daily.reduce((sum, d) => sum + d.calls, 0);
  const busiest = daily.reduce((best, d) => (d.calls > best.calls ? d : best), daily[0] ?? { day: '', calls: 0 });
  svg.setAttribute(
    'aria-label',
    daily.length === 0
      ? 'Calls per day: no days yet this month.'
      : `Calls per day from ${daily[0]?.day} to ${daily.at(-1)?.day}: ${callCount(total)} in total, the most on ${busiest.day} (${callCount(busiest.calls)}). Each day's figure is in the table that follows.`,
  );
  $('#daily-table tbody').replaceChildren(...daily.map((d) => row([d.day, d.calls.toLocaleString('en-US')])));
}

/** The NPS survey: shown when the usage API says to ask (`survey.ask`); an answer or "Not now" hides it for the survey interval. */
function renderSurvey(/** @type {{ ask: boolean } | undefined} */ survey) {
  $('#survey').hidden = !survey?.ask;
  $('#survey-done').hidden = true;
  $('#survey-error').textContent = '';
}

function setUpSurvey() {
  const form = /** @type {HTMLFormElement} */ ($('#survey-form'));
  const done = (/** @type {string} */ message) => {
    $('#survey').hidden = true;
    $('#survey-done').hidden = false;
    $('#survey-done').textContent = message;
    $('#survey-done').focus();
  };
  const post = async (/** @type {object} */ body) => {
    for (const button of form.querySelectorAll('button')) button.disabled = true;
    try {
      const response = await api('feedback', { method: 'POST', body: JSON.stringify(body) });
      const answer = await response.json().catch(() => ({}));
      // too_soon: already answered or dismissed (another tab, say) within the interval; nothing more to ask.
      // A 429 that is the gateway's throttle (rate_limited) is not an answer: the customer may send again.
      if (response.ok || answer.error === 'too_soon') return { ok: true, answer };
      return { ok: false, message: answer.message ?? 'Could not send; please try again.' };
    } catch {
      return { ok: false, message: 'Could not send; please try again.' };
    } finally {
      for (const button of form.querySelectorAll('button')) button.disabled = false;
    }
  };
  form.addEventListener('change', () => {
    $('#survey-error').textContent = '';
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const checked = /** @type {HTMLInputElement | null} */ (form.querySelector('input[name="score"]:checked'));
    if (!checked) {
      $('#survey-error').textContent = 'Choose a score from 0 to 10, or choose "Not now".';
      return;
    }
    const comment = /** @type {HTMLTextAreaElement} */ ($('#survey-comment')).value.trim();
    const sent = await post({ score: Number(checked.value), ...(comment && { comment }) });
    if (sent.ok) done('Thank you for your answer.');
    else $('#survey-error').textContent = sent.message;
  });
  $('#survey-dismiss').addEventListener('click', async () => {
    const sent = await post({ dismissed: true });
    if (sent.ok) done('We will not ask again for a while.');
    else $('#survey-error').textContent = sent.message;
  });
}

document.addEventListener('DOMContentLoaded', () => {
  setUpSurvey();
  setUpPlan();
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
  $('#manage-billing-button').addEventListener('click', () => void openBillingPortal());
  $('#payment-issue-update').addEventListener('click', () => void openBillingPortal());
  $('#report-problem').addEventListener('click', (event) => {
    event.preventDefault();
    $('#report-form').hidden = false;
    $('#report-text').focus();
  });
  $('#report-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const message = /** @type {HTMLTextAreaElement} */ ($('#report-text')).value.trim();
    const response = await api('support/tickets', { method: 'POST', body: JSON.stringify({ message }) });
    // The API says why (too long, or too_many_tickets: the hour's allowance is filed and says from when).
    const answer = response.ok ? {} : await response.json().catch(() => ({}));
    $('#report-status').textContent = response.ok ? 'Sent: billing support answers within 4 hours.' : (answer.message ?? 'Could not send; please try again.');
  });
  if (sessionStorage.getItem(KEY_STORAGE)) void load();
});

/** The opt-out terms the dashboard shows now: the confirmation sends their date back, so the customer agrees to what was shown. */
/** @type {{ takesEffectAt: string } | null} */
let shownOptOut = null;
const tierLabel = (/** @type {string} */ tier) => tier[0].toUpperCase() + tier.slice(1);
const utcDay = (/** @type {string} */ iso) => iso.slice(0, 10);

/**
 * Your plan: a pending move to Free with its date and "Keep <tier>", or, for a paid tier, "Switch to
 * Free…", which first shows what changes and when (the usage API's `plan.optOut`), then asks to confirm.
 * @param {{ tier: string, plan: { pendingChange: { to: string, at: string } | null, optOut: { takesEffectAt: string, summary: string[] } | null } }} report
 */
function renderPlan(report) {
  const { pendingChange, optOut } = report.plan;
  shownOptOut = optOut;
  $('#plan').hidden = !pendingChange && !optOut;
  $('#plan-pending').hidden = !pendingChange;
  $('#opt-out').hidden = !optOut;
  $('#opt-out-confirm').hidden = true;
  $('#opt-out-start').setAttribute('aria-expanded', 'false');
  $('#plan-error').textContent = '';
  setField('plan-tier', tierLabel(report.tier));
  if (pendingChange)
    setField(
      'plan-pending-message',
      `You are moving to Free on ${utcDay(pendingChange.at)} at 00:00 UTC. Until then you stay on ${tierLabel(report.tier)}, and this month is billed at ${tierLabel(report.tier)}. You can undo it until then.`,
    );
  if (optOut) {
    setField('opt-out-date', utcDay(optOut.takesEffectAt));
    $('#opt-out-terms').replaceChildren(
      ...optOut.summary.map((sentence) => {
        const li = document.createElement('li');
        li.textContent = sentence;
        return li;
      }),
    );
  }
}

function setUpPlan() {
  const buttons = ['#keep-plan', '#opt-out-confirm-button', '#opt-out-cancel', '#opt-out-start'];
  /** Sends the change; on success reloads the usage (the plan shows the new state) and says what happened. */
  const change = async (/** @type {RequestInit} */ init, /** @type {string} */ done) => {
    for (const button of buttons) /** @type {HTMLButtonElement} */ ($(button)).disabled = true;
    try {
      const response = await api('billing/downgrade', init);
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        // The terms changed (the month turned) or the change is refused: show why, with the plan as it now is.
        if (response.status === 409) await load();
        $('#plan-error').textContent = body.message ?? 'Your plan could not be changed; please try again.';
        return;
      }
      await load();
      $('#plan-done').hidden = false;
      $('#plan-done').textContent = done;
      $('#plan-done').focus();
    } catch {
      $('#plan-error').textContent = 'Your plan could not be changed; please try again.';
    } finally {
      for (const button of buttons) /** @type {HTMLButtonElement} */ ($(button)).disabled = false;
    }
  };
  $('#opt-out-start').addEventListener('click', () => {
    $('#opt-out-confirm').hidden = false;
    $('#opt-out-start').setAttribute('aria-expanded', 'true');
    $('#plan-done').hidden = true;
    $('#opt-out-confirm-button').focus();
  });
  $('#opt-out-cancel').addEventListener('click', () => {
    $('#opt-out-confirm').hidden = true;
    $('#opt-out-start').setAttribute('aria-expanded', 'false');
    $('#opt-out-start').focus();
  });
  $('#opt-out-confirm-button').addEventListener('click', () => {
    if (!shownOptOut) return;
    const at = utcDay(shownOptOut.takesEffectAt);
    void change(
      { method: 'POST', body: JSON.stringify({ takesEffectAt: shownOptOut.takesEffectAt }) },
      `Done: you move to Free on ${at}. You can undo it until then.`,
    );
  });
  $('#keep-plan').addEventListener('click', () => {
    void change({ method: 'DELETE' }, `Done: you keep ${$('[data-field="plan-tier"]').textContent}; nothing changes on the 1st.`);
  });
}

// The chart is drawn in its own pixels: draw it again at the new width.
window.addEventListener('resize', () => {
  if (drawnDaily && !$('#usage').hidden) drawDaily(drawnDaily);
});
