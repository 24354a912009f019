// The operator's console: a static page that signs in with an admin token (kept in sessionStorage)
// and reads everything through the GraphQL API with it. No build step; Chart.js is vendored beside it.
'use strict';

(() => {
  const TOKEN_KEY = 'sms-notify-admin-token';
  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000', '#999999'];
  const VIEWS = ['costs', 'log', 'queue', 'consent', 'verification', 'webhooks', 'audit'];
  const PAGE = 25;

  const $ = (selector, root = document) => root.querySelector(selector);
  const money = new Intl.NumberFormat('en-US', {
    style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4,
  });
  const dollars = (value) => (value == null ? '–' : money.format(Number(value)));
  const count = (value) => Number(value).toLocaleString('en-US');
  const words = (constant) => constant.charAt(0) + constant.slice(1).toLowerCase().replace(/_/g, ' ');
  // Every time on the page is UTC, `2026-03-02 15:00:00`.
  const when = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) : '–');

  let token = null;
  let chart = null;
  let logCursor = null;
  let logFilter = null;
  const loaded = new Set();

  class ApiError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }

  async function gql(query, variables = {}) {
    let response;
    try {
      response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
    } catch (e) {
      throw new ApiError('NETWORK', 'The service cannot be reached; check that it is running.');
    }
    let body;
    try {
      body = await response.json();
    } catch (e) {
      throw new ApiError('NETWORK', `The service answered ${response.status} without a GraphQL answer.`);
    }
    if (body.errors && body.errors.length) {
      const first = body.errors[0];
      throw new ApiError((first.extensions && first.extensions.code) || 'ERROR', first.message);
    }
    return body.data;
  }

  // ---- notices, sign-in, routing ----

  function notice(message, kind = 'bad') {
    const box = $('#notice');
    if (!message) {
      box.hidden = true;
      box.textContent = '';
      return;
    }
    box.textContent = message;
    box.className = kind;
    box.hidden = false;
  }

  function showSignIn(why) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    loaded.clear();
    VIEWS.forEach((v) => { $(`#view-${v}`).hidden = true; });
    $('#tabs').hidden = true;
    $('#sign-out').hidden = true;
    $('#sign-in').hidden = false;
    if (why) notice(why, 'bad');
    $('#token-input').focus();
  }

  function failed(error) {
    if (error.code === 'UNAUTHENTICATED') {
      showSignIn(`Sign in again: ${error.message}`);
    } else if (error.code === 'FORBIDDEN') {
      showSignIn('Admin only: this console needs a token with role admin, and the one given is not one. '
        + 'Make one with: cargo run -- token --role admin --url (in a checkout), or sms-notify token --role admin --url');
    } else {
      notice(error.message);
    }
  }

  function takeTokenFromAddress() {
    const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      // Out of the address bar and the history at once.
      history.replaceState(null, '', `${location.pathname}#costs`);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function signIn(candidate) {
    token = candidate;
    try {
      const data = await gql(`query SignIn { smsQueue { ${PAUSED} } }`);
      showPause(data.smsQueue.paused);
    } catch (error) {
      failed(error);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    notice(null);
    $('#sign-in').hidden = true;
    $('#tabs').hidden = false;
    $('#sign-out').hidden = false;
    route();
  }

  // ---- the pause banner (every view) ----

  const PAUSED = 'paused { code reason since nextProbeAt }';

  function showPause(paused) {
    const banner = $('#paused-banner');
    banner.hidden = !paused;
    if (!paused) return;
    $('#paused-why').textContent = `Since ${when(paused.since)} the provider refuses the account: `
      + `${paused.code}${paused.reason ? ` (${paused.reason})` : ''}.`;
    $('#paused-probe').textContent = `A DryRun probe runs at ${when(paused.nextProbeAt)} and resumes sending `
      + 'when it passes. Fix the account first (IAM, the origination identity, the spend limit), or the next send pauses again.';
  }

  async function resumeSending() {
    if (!window.confirm('Resume sending now? If the account is still refused, the next send pauses it again.')) return;
    try {
      const data = await gql(`mutation Resume { resumeSending { ${PAUSED} } }`);
      showPause(data.resumeSending.paused);
      notice('Sending resumed.', 'ok');
    } catch (error) {
      failed(error);
    }
  }

  function currentView() {
    const name = location.hash.replace(/^#/, '').split(/[?&]/)[0];
    return VIEWS.includes(name) ? name : 'costs';
  }

  function route() {
    if (!token) return;
    const view = currentView();
    VIEWS.forEach((v) => { $(`#view-${v}`).hidden = v !== view; });
    document.querySelectorAll('#tabs a').forEach((a) => {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    if (!loaded.has(view)) {
      loaded.add(view);
      ({ costs: loadCosts, log: () => loadLog(true), queue: loadQueue, consent: () => {}, verification: loadVerification, webhooks: loadWebhooks, audit: () => loadAudit(true) })[view]();
    }
  }

  // ---- helpers for tables and dates ----

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function statusCell(status) {
    const td = document.createElement('td');
    const badge = document.createElement('span');
    badge.className = `status status-${status}`;
    badge.textContent = status;
    td.append(badge);
    return td;
  }

  function fill(tbody, rows, columns, empty) {
    tbody.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement('tr');
      const td = cell(empty, 'empty');
      td.colSpan = columns;
      tr.append(td);
      tbody.append(tr);
    }
  }

  const isoDay = (date) => date.toISOString().slice(0, 10);
  const dayStart = (day) => `${day}T00:00:00Z`;
  function nextDay(day) {
    const d = new Date(dayStart(day));
    d.setUTCDate(d.getUTCDate() + 1);
    return isoDay(d);
  }
  function daysBetween(first, last) {
    const days = [];
    for (let d = first; d <= last && days.length < 400; d = nextDay(d)) days.push(d);
    return days;
  }
  function defaultRange(form, days) {
    const today = new Date();
    const start = new Date(today);
    start.setUTCDate(start.getUTCDate() - (days - 1));
    if (!form.elements.from.value) form.elements.from.value = isoDay(start);
    if (!form.elements.to.value) form.elements.to.value = isoDay(today);
  }
  // A datetime-local value read as UTC, the zone every time on this page is shown in.
  const utc = (local) => (local ? `${local.length === 16 ? `${local}:00` : local}Z` : null);

  // ---- costs ----

  const COSTS = `query Costs($from: DateTime!, $to: DateTime!) {
    daily: smsCosts(from: $from, to: $to, groupBy: DAY, splitBy: MESSAGE_TYPE) {
      messageCount segmentCount totalCost estimatedCost
      monthToDate monthlyLimit remaining projectedMonthEnd transactionalReserve
      fixedCost fixedCharges { name monthly }
      buckets { key cost parts { key cost } }
      savings {
        total { texts segments cost } smartEncoding { texts segments cost }
        shortLinks { texts segments cost } digests { texts segments cost }
      }
    }
    countries: smsCosts(from: $from, to: $to, groupBy: COUNTRY) {
      buckets { key messageCount segmentCount cost estimatedCost }
    }
  }`;

  async function loadCosts() {
    const form = $('#costs-form');
    defaultRange(form, 30);
    const first = form.elements.from.value;
    const last = form.elements.to.value;
    if (last < first) {
      notice('The range ends before it starts: pick a "To" day on or after "From".');
      return;
    }
    let data;
    try {
      data = await gql(COSTS, { from: dayStart(first), to: dayStart(nextDay(last)) });
    } catch (error) {
      failed(error);
      return;
    }
    notice(null);
    const report = data.daily;
    drawGauge(report);
    $('#range-total').textContent = dollars(report.totalCost);
    $('#range-messages').textContent = count(report.messageCount);
    $('#range-segments').textContent = count(report.segmentCount);
    $('#range-actual').textContent = dollars(Number(report.totalCost) - Number(report.estimatedCost));
    $('#range-estimated').textContent = dollars(report.estimatedCost);
    $('#range-fixed').textContent = dollars(report.fixedCost);
    drawFixed(report.fixedCharges);
    drawSavings(report.savings);
    drawDaily(daysBetween(first, last), report.buckets);
    const tbody = $('#country-table tbody');
    fill(tbody, data.countries.buckets, 5, 'No messages in this range.');
    data.countries.buckets.forEach((b) => {
      const tr = document.createElement('tr');
      tr.append(cell(b.key), cell(count(b.messageCount), 'num'), cell(count(b.segmentCount), 'num'),
        cell(dollars(b.cost), 'num'), cell(dollars(b.estimatedCost), 'num'));
      tbody.append(tr);
    });
  }

  // What smart encoding, short links and digests saved on the range's texts.
  function drawSavings(savings) {
    const said = (s, unit) => `${dollars(s.cost)} (${count(s.segments)} segments, ${count(s.texts)} ${unit})`;
    $('#saved-total').textContent = dollars(savings.total.cost);
    $('#saved-encoding').textContent = said(savings.smartEncoding, 'texts');
    $('#saved-links').textContent = said(savings.shortLinks, 'texts');
    $('#saved-digests').textContent = said(savings.digests, 'texts not sent');
  }

  // ---- what would this cost ----

  const PREVIEW = `query Preview($input: SendSmsInput!) {
    previewSms(input: $input) {
      body segments encoding estimatedCost verdict deferredUntil blockedReason smartEncoded savedSegments
    }
  }`;

  async function loadPreview() {
    const f = $('#preview-form').elements;
    const to = f.to.value.trim();
    const input = {
      body: f.body.value, messageType: f.messageType.value, promotional: f.promotional.checked,
    };
    if (/^[+(\d][\d\s().-]*$/.test(to)) input.to = to; else input.userId = to;
    let data;
    try {
      data = await gql(PREVIEW, { input });
    } catch (error) {
      failed(error);
      return;
    }
    notice(null);
    const p = data.previewSms;
    const verdict = {
      SEND: 'Would be sent now',
      DEFER: `Would wait until ${p.deferredUntil && when(p.deferredUntil)}`,
      BLOCK: `Would be refused: ${p.blockedReason && words(p.blockedReason)}`,
    }[p.verdict];
    $('#preview-verdict').textContent = verdict;
    $('#preview-cost').textContent = p.estimatedCost == null ? 'no price' : dollars(p.estimatedCost);
    $('#preview-segments').textContent = `${p.segments} segment${p.segments === 1 ? '' : 's'} (${p.encoding})`;
    $('#preview-saved').textContent = p.savedSegments
      ? `${p.savedSegments} segment${p.savedSegments === 1 ? '' : 's'} saved by smart encoding and short links`
      : 'nothing to save';
    $('#preview-body').textContent = p.body;
    $('#preview-result').hidden = false;
  }

  // The fixed monthly charges beside the month's texts; they are not part of the budget.
  function drawFixed(charges) {
    const monthly = charges.reduce((sum, c) => sum + Number(c.monthly), 0);
    $('#fixed-month').hidden = charges.length === 0;
    $('#fixed-month-total').textContent = dollars(monthly);
    $('#fixed-month-names').textContent =
      `(${charges.map((c) => `${c.name} ${dollars(c.monthly)}`).join(', ')})`;
  }

  function drawGauge(report) {
    const limit = Number(report.monthlyLimit);
    const spent = Number(report.monthToDate);
    const share = (amount) => (limit > 0 ? Math.min(amount / limit, 1) * 100 : 0);
    const percent = limit > 0 ? (spent / limit) * 100 : 0;
    $('#mtd').textContent = dollars(report.monthToDate);
    $('#limit').textContent = dollars(report.monthlyLimit);
    $('#projection').textContent = dollars(report.projectedMonthEnd);
    $('#reserve').textContent = dollars(report.transactionalReserve);
    const fillBar = $('#gauge-fill');
    fillBar.style.width = `${share(spent)}%`;
    fillBar.className = `gauge-fill${percent >= 100 ? ' bad' : percent >= 80 ? ' warn' : ''}`;
    $('#gauge-reserve').style.width = `${share(Number(report.transactionalReserve))}%`;
    $('#gauge-projection').style.left = `${share(Number(report.projectedMonthEnd))}%`;
    const gauge = $('#gauge');
    gauge.setAttribute('aria-valuenow', String(Math.round(percent)));
    gauge.setAttribute('aria-valuetext',
      `${Math.round(percent)}% of the monthly budget spent; ${dollars(report.remaining)} left`);
  }

  function drawDaily(days, buckets) {
    const byDay = new Map(buckets.map((b) => [b.key, b.parts]));
    const types = [...new Set(buckets.flatMap((b) => b.parts.map((p) => p.key)))].sort();
    const datasets = types.map((type, i) => ({
      label: words(type),
      messageType: type,
      data: days.map((day) => {
        const part = (byDay.get(day) || []).find((p) => p.key === type);
        return part ? Number(part.cost) : 0;
      }),
      backgroundColor: PALETTE[i % PALETTE.length],
      borderColor: '#ffffff',
      borderWidth: 1,
      stack: 'cost',
    }));
    const canvas = $('#daily-chart');
    if (!window.Chart) {
      notice('The chart library did not load; the figures above are still right.');
      return;
    }
    if (chart) chart.destroy();
    chart = new window.Chart(canvas, {
      type: 'bar',
      data: { labels: days, datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { stacked: true, ticks: { color: '#4f5863', maxRotation: 0, autoSkipPadding: 12 } },
          y: {
            stacked: true,
            beginAtZero: true,
            ticks: { color: '#4f5863', callback: (v) => money.format(v) },
          },
        },
        plugins: {
          legend: { position: 'bottom', labels: { color: '#1b1f24' } },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${money.format(c.parsed.y)}` } },
        },
      },
    });
    canvas.setAttribute('aria-label',
      `Daily cost by message type from ${days[0]} to ${days[days.length - 1]}: ${types.map(words).join(', ') || 'no messages'}`);
  }

  // ---- log ----

  const LOG = `query Log($filter: SmsLogFilter, $after: String) {
    smsLogs(filter: $filter, first: ${PAGE}, after: $after) {
      nodes { id createdAt messageType status toPhone userId cost }
      pageInfo { hasNextPage endCursor }
    }
  }`;

  const DETAILS = `query Details($id: ID!) {
    smsLog(id: $id) {
      id toPhone country userId messageType promotional status blockedReason quietHoursZone body segments
      encoding cost estimatedCost costIsActual attempts errorCode errorMessage providerMessageId
      createdAt sentAt deliveredAt nextAttemptAt relatedObjectType relatedObjectId bodyPurgedAt retryOf
      smartEncoded digestId digested links { url shortUrl clicks firstClickedAt }
      events { eventType isFinal messageStatus description price carrierName occurredAt }
    }
  }`;

  function readLogFilter() {
    const f = $('#log-form').elements;
    const filter = {};
    ['status', 'messageType', 'userId', 'phone'].forEach((name) => {
      if (f[name].value.trim()) filter[name] = f[name].value.trim();
    });
    if (f.createdAfter.value) filter.createdAfter = utc(f.createdAfter.value);
    if (f.createdBefore.value) filter.createdBefore = utc(f.createdBefore.value);
    return filter;
  }

  async function loadLog(fresh) {
    if (fresh) {
      logFilter = readLogFilter();
      logCursor = null;
    }
    let data;
    try {
      data = await gql(LOG, { filter: logFilter, after: logCursor });
    } catch (error) {
      failed(error);
      return;
    }
    notice(null);
    const tbody = $('#log-table tbody');
    const page = data.smsLogs;
    if (fresh) fill(tbody, page.nodes, 6, 'No messages match these filters.');
    page.nodes.forEach((m) => {
      const tr = document.createElement('tr');
      tr.className = 'clickable';
      tr.tabIndex = 0;
      tr.dataset.id = m.id;
      tr.append(cell(when(m.createdAt)), cell(words(m.messageType)), statusCell(m.status), cell(m.toPhone),
        cell(m.userId || '–'), cell(dollars(m.cost), 'num'));
      tr.addEventListener('click', () => openDetails(m.id));
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') openDetails(m.id); });
      tbody.append(tr);
    });
    logCursor = page.pageInfo.endCursor;
    $('#log-more').hidden = !page.pageInfo.hasNextPage;
    const shown = tbody.querySelectorAll('tr.clickable').length;
    $('#log-count').textContent = `${count(shown)} shown${page.pageInfo.hasNextPage ? ', more below' : ''}`;
  }

  const CANCEL = 'mutation Cancel($id: ID!) { cancelSms(id: $id) { id status } }';
  const RETRY = 'mutation Retry($id: ID!) { retrySms(id: $id) { id status blockedReason } }';

  // Cancel (while it waits) and send again (after it failed) from the message's details, each confirmed.
  function detailsActions(m) {
    const box = $('#details-actions');
    box.replaceChildren();
    if (m.status === 'PENDING') {
      box.append(actionButton('Cancel message', () => messageAction(
        `Cancel message ${m.id}? It will not be sent and its reserved cost goes back to the budget.`,
        CANCEL, m.id, (r) => `Message ${r.cancelSms.id} is ${words(r.cancelSms.status).toLowerCase()}.`,
      )));
    }
    const again = ['FAILED', 'UNKNOWN', 'EXPIRED'].includes(m.status)
      && m.messageType !== 'PHONE_VERIFICATION' && !m.bodyPurgedAt;
    if (again) {
      box.append(actionButton('Send again', () => messageAction(
        `Send message ${m.id} again as a new message? It goes through every rule again (opt-outs, quiet hours, the budget).`,
        RETRY, m.id, (r) => `Sent again as message ${r.retrySms.id}: ${words(r.retrySms.status).toLowerCase()}`
          + `${r.retrySms.blockedReason ? ` (${words(r.retrySms.blockedReason).toLowerCase()})` : ''}.`,
      )));
    }
  }

  async function messageAction(question, mutation, id, said) {
    if (!window.confirm(question)) return;
    const result = $('#details-result');
    try {
      const answer = await gql(mutation, { id });
      await openDetails(id);
      result.textContent = said(answer);
      result.className = 'ok';
      loadLog(true);
    } catch (error) {
      result.textContent = error.message;
      result.className = 'bad';
    }
    result.hidden = false;
  }

  async function openDetails(id) {
    let data;
    try {
      data = await gql(DETAILS, { id });
    } catch (error) {
      failed(error);
      return;
    }
    const m = data.smsLog;
    if (!m) {
      notice('That message is gone.');
      return;
    }
    const list = $('#details-list');
    list.replaceChildren();
    const rows = [
      ['Id', m.id], ['Status', m.status], ['Blocked because', m.blockedReason && words(m.blockedReason)], ['Type', words(m.messageType)],
      ['Promotional', m.promotional ? 'yes' : 'no'], ['To', m.toPhone], ['Country', m.country], ['User', m.userId],
      ['Quiet hours zone', m.quietHoursZone], ['Segments', `${m.segments} (${m.encoding})`],
      ['Cost', m.cost == null ? null : `${dollars(m.cost)} (${m.costIsActual ? 'charged by AWS' : 'estimate'})`],
      ['Estimated', dollars(m.estimatedCost)], ['Attempts', String(m.attempts)],
      ['Error', m.errorCode ? `${m.errorCode}: ${m.errorMessage || ''}` : null],
      ['Next attempt', m.nextAttemptAt && when(m.nextAttemptAt)], ['Provider id', m.providerMessageId],
      ['Created', when(m.createdAt)], ['Sent', m.sentAt && when(m.sentAt)], ['Delivered', m.deliveredAt && when(m.deliveredAt)],
      ['About', m.relatedObjectType ? `${m.relatedObjectType} ${m.relatedObjectId || ''}` : null],
      ['Sends again', m.retryOf && `message ${m.retryOf}`],
      ['Text removed', m.bodyPurgedAt && when(m.bodyPurgedAt)],
      ['Smart encoding', m.smartEncoded ? 'typographic characters sent as GSM-7' : null],
      ['Carried by', m.digestId && `digest ${m.digestId}`],
      ['Digest of', m.digested ? `${m.digested} requests` : null],
      ...m.links.map((l) => ['Link', `${l.shortUrl} → ${l.url}: ${count(l.clicks)} click${l.clicks === 1 ? '' : 's'}`
        + `${l.firstClickedAt ? ` (first ${when(l.firstClickedAt)})` : ''}`]),
    ];
    rows.filter(([, v]) => v != null && v !== '').forEach(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      list.append(dt, dd);
    });
    $('#details-body').textContent = m.bodyPurgedAt ? '(removed after the retention period, or at an erasure)' : m.body;
    $('#details-result').hidden = true;
    detailsActions(m);
    const events = $('#details-events');
    events.replaceChildren();
    if (!m.events.length) {
      const li = document.createElement('li');
      li.textContent = 'No delivery events yet.';
      li.className = 'muted';
      events.append(li);
    }
    m.events.forEach((e) => {
      const li = document.createElement('li');
      li.textContent = `${when(e.occurredAt)} ${e.eventType}${e.description ? ` (${e.description})` : ''}`
        + `${e.price != null ? ` ${dollars(e.price)}` : ''}${e.carrierName ? ` via ${e.carrierName}` : ''}`;
      events.append(li);
    });
    if (!$('#log-details').open) $('#log-details').showModal();
  }

  // ---- queue ----

  const QUEUE = `query Queue {
    smsQueue { pending sending retrying due failedToday oldestDueWaitSeconds rateLimitPerSecond ${PAUSED} }
    reminderRuns(first: 20) { nodes { kind found enqueued skipped startedAt durationMs } }
  }`;

  function duration(seconds) {
    if (seconds < 1) return '0 s';
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  async function loadQueue() {
    let data;
    try {
      data = await gql(QUEUE);
    } catch (error) {
      failed(error);
      return;
    }
    notice(null);
    const q = data.smsQueue;
    showPause(q.paused);
    loadAccount();
    const cards = $('#queue-cards');
    cards.replaceChildren();
    [['Pending', count(q.pending), `${count(q.due)} due now`], ['Sending', count(q.sending), 'with a worker'],
      ['Retrying', count(q.retrying), 'waiting for another try'], ['Failed today', count(q.failedToday), 'UTC day'],
      ['Oldest due wait', duration(q.oldestDueWaitSeconds), 'since it could have gone']].forEach(([title, value, note]) => {
      const card = document.createElement('div');
      card.className = 'card';
      const h = document.createElement('h3');
      h.textContent = title;
      const p = document.createElement('p');
      p.className = 'count';
      p.textContent = value;
      const n = document.createElement('p');
      n.className = 'muted small';
      n.textContent = note;
      card.append(h, p, n);
      cards.append(card);
    });
    $('#queue-rate').textContent = q.rateLimitPerSecond > 0
      ? `Sending at most ${q.rateLimitPerSecond} message parts a second (SMS_RATE_LIMIT_MPS).`
      : 'No rate limit.';
    const tbody = $('#runs-table tbody');
    const runs = data.reminderRuns.nodes;
    fill(tbody, runs, 6, 'No reminder scan has run yet.');
    runs.forEach((r) => {
      const tr = document.createElement('tr');
      tr.append(cell(when(r.startedAt)), cell(words(r.kind)), cell(count(r.found), 'num'),
        cell(count(r.enqueued), 'num'), cell(count(r.skipped), 'num'), cell(`${r.durationMs} ms`, 'num'));
      tbody.append(tr);
    });
  }

  // ---- the provider account (on the queue view) ----

  const ACCOUNT = `query Account { smsProviderAccount { provider healthy awsSpendLimit
    identities { identity kind uses status registrationStatus }
    configurationSet { name found publishesToSns }
    checks { what permission status detail } } }`;

  async function loadAccount() {
    let data;
    try {
      data = await gql(ACCOUNT);
    } catch (error) {
      $('#account-summary').textContent = `The account could not be read: ${error.message}`;
      return;
    }
    const a = data.smsProviderAccount;
    const parts = [`Provider: ${a.provider}.`];
    if (a.awsSpendLimit != null) parts.push(`AWS's monthly spend limit for texts: ${dollars(a.awsSpendLimit)}.`);
    if (a.configurationSet) {
      const c = a.configurationSet;
      parts.push(`Configuration set ${c.name}: ${c.found === false ? 'not found'
        : c.publishesToSns ? 'publishes events to SNS' : 'no SNS event destination'}.`);
    }
    parts.push(a.healthy ? 'Every check passed.' : 'Some checks need attention (below).');
    $('#account-summary').textContent = parts.join(' ');
    const tbody = $('#account-table tbody');
    fill(tbody, a.identities, 5, 'No origination identity (the console provider prints texts).');
    a.identities.forEach((i) => {
      const tr = document.createElement('tr');
      tr.append(cell(i.identity), cell(i.kind), cell(i.uses.join(', ')), cell(i.status || 'unknown'),
        cell(i.registrationStatus || '–'));
      tbody.append(tr);
    });
    const list = $('#account-checks');
    list.replaceChildren();
    a.checks.forEach((c) => {
      const li = document.createElement('li');
      li.className = `check-${c.status.toLowerCase()}`;
      const permission = c.status === 'DENIED' ? ` Grant ${c.permission}.` : '';
      li.textContent = `${words(c.status)}: ${c.what}: ${c.detail}.${permission}`;
      list.append(li);
    });
  }

  // ---- verification: countries, the guard, conversion ----

  const percent = (share) => (share == null ? '–' : `${Math.round(share * 100)}%`);

  function verificationQuery(last) {
    const days = [];
    for (let i = 6; i >= 0; i -= 1) {
      const from = new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth(), last.getUTCDate() - i));
      const to = new Date(from.getTime() + 86400000);
      days.push({ alias: `d${6 - i}`, day: isoDay(from), from: from.toISOString(), to: to.toISOString() });
    }
    const parts = days.map((d) => `${d.alias}: verificationStats(from: "${d.from}", to: "${d.to}", groupBy: COUNTRY) { key sent confirmed conversion refused }`);
    return {
      days,
      query: `query Verification {
        countrySending { country verification messages updatedAt updatedBy }
        verificationGuard { enabled windowSeconds minSample minConversion heldRanges { range sent confirmed conversion } }
        ${parts.join('\n')}
      }`,
    };
  }

  function actionButton(label, run) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.addEventListener('click', run);
    return button;
  }

  async function act(question, mutation, variables, done) {
    if (!window.confirm(question)) return;
    try {
      await gql(mutation, variables);
      notice(done, 'ok');
      loadVerification();
    } catch (error) {
      failed(error);
    }
  }

  const SET_COUNTRY = `mutation SetCountry($c: String!, $v: Boolean, $m: Boolean) {
    setCountrySending(country: $c, verification: $v, messages: $m) { country } }`;
  const LIFT = 'mutation Lift($r: String!) { liftVerificationGuard(range: $r) { held } }';

  async function loadVerification() {
    const input = $('#verification-form [name=to]');
    if (!input.value) input.value = isoDay(new Date());
    const { days, query } = verificationQuery(new Date(`${input.value}T00:00:00Z`));
    let data;
    try {
      data = await gql(query);
    } catch (error) {
      failed(error);
      return;
    }
    const countries = $('#countries-table tbody');
    fill(countries, data.countrySending, 5, 'No country allowed.');
    data.countrySending.forEach((c) => {
      const tr = document.createElement('tr');
      tr.dataset.country = c.country;
      const actions = cell('');
      actions.append(
        actionButton(c.verification ? 'Stop codes' : 'Allow codes', () => act(
          `${c.verification ? 'Stop' : 'Allow'} verification codes to ${c.country}?`,
          SET_COUNTRY, { c: c.country, v: !c.verification }, `Codes to ${c.country} ${c.verification ? 'stopped' : 'allowed'}.`,
        )),
        actionButton(c.messages ? 'Stop texts' : 'Allow texts', () => act(
          `${c.messages ? 'Stop' : 'Allow'} every other text to ${c.country}?`,
          SET_COUNTRY, { c: c.country, m: !c.messages }, `Texts to ${c.country} ${c.messages ? 'stopped' : 'allowed'}.`,
        )),
      );
      tr.append(cell(c.country), cell(c.verification ? 'on' : 'off'), cell(c.messages ? 'on' : 'off'),
        cell(c.updatedBy ? `${when(c.updatedAt)} by ${c.updatedBy}` : 'never'), actions);
      countries.append(tr);
    });
    const g = data.verificationGuard;
    $('#guard-settings').textContent = g.enabled
      ? `Holds a range when, over ${duration(g.windowSeconds)}, at least ${g.minSample} codes went there and fewer than ${percent(g.minConversion)} were entered.`
      : 'The guard is off (VERIFY_GUARD_ENABLED=false).';
    const held = $('#held-table tbody');
    fill(held, g.heldRanges, 5, 'No range is held.');
    g.heldRanges.forEach((r) => {
      const tr = document.createElement('tr');
      const actions = cell('');
      actions.append(actionButton('Lift', () => act(
        `Lift the guard for ${r.range}? Codes sent there so far will no longer count.`,
        LIFT, { r: r.range }, `The guard no longer holds ${r.range}.`,
      )));
      tr.append(cell(r.range), cell(count(r.sent), 'num'), cell(count(r.confirmed), 'num'),
        cell(percent(r.conversion), 'num'), actions);
      held.append(tr);
    });
    const rows = days.flatMap((d) => data[d.alias].map((b) => ({ day: d.day, ...b })));
    const conversion = $('#conversion-table tbody');
    fill(conversion, rows, 6, 'No code in the last 7 days.');
    rows.forEach((r) => {
      const tr = document.createElement('tr');
      tr.append(cell(r.day), cell(r.key), cell(count(r.sent), 'num'), cell(count(r.confirmed), 'num'),
        cell(percent(r.conversion), 'num'), cell(count(r.refused), 'num'));
      conversion.append(tr);
    });
  }

  // ---- webhooks ----

  const ENDPOINTS = '{ webhookEndpoints { id url eventTypes enabled disabledReason failingSince createdAt } }';
  const DELIVERIES = `query Deliveries($e: ID!) { webhookDeliveries(endpointId: $e, first: ${PAGE}) {
    nodes { id eventId eventType status attemptCount lastStatusCode lastError createdAt deliveredAt } } }`;
  const REPLAY = 'mutation Replay($d: ID!) { replayWebhookDelivery(id: $d) { id status } }';
  let shownEndpoint = null;
  const EVENT_NAMES = {
    MESSAGE_UPDATED: 'message.updated', REPLY_RECEIVED: 'reply.received', OPT_OUT_ADDED: 'opt_out.added',
    OPT_OUT_REMOVED: 'opt_out.removed', VERIFICATION_SUCCEEDED: 'verification.succeeded',
  };

  async function loadWebhooks() {
    let data;
    try {
      data = await gql(ENDPOINTS);
    } catch (error) {
      failed(error);
      return;
    }
    const tbody = $('#endpoints-table tbody');
    fill(tbody, data.webhookEndpoints, 5, 'No webhook endpoint is registered (createWebhookEndpoint).');
    data.webhookEndpoints.forEach((e) => {
      const tr = document.createElement('tr');
      tr.dataset.endpoint = e.id;
      const state = e.enabled
        ? (e.failingSince ? `on, failing since ${when(e.failingSince)}` : 'on')
        : `off (${e.disabledReason || 'disabled'})`;
      const actions = cell('');
      actions.append(actionButton('Deliveries', () => loadDeliveries(e.id, e.url)));
      tr.append(cell(e.url), cell(e.eventTypes.map((t) => EVENT_NAMES[t] || t).join(', ')), cell(state),
        cell(when(e.createdAt)), actions);
      tbody.append(tr);
    });
    if (shownEndpoint) loadDeliveries(shownEndpoint.id, shownEndpoint.url);
  }

  async function loadDeliveries(id, url) {
    shownEndpoint = { id, url };
    let data;
    try {
      data = await gql(DELIVERIES, { e: id });
    } catch (error) {
      failed(error);
      return;
    }
    $('#deliveries-title').textContent = `Recent deliveries to ${url}`;
    const tbody = $('#deliveries-table tbody');
    const rows = data.webhookDeliveries.nodes;
    fill(tbody, rows, 6, 'Nothing was delivered to it yet.');
    rows.forEach((d) => {
      const tr = document.createElement('tr');
      tr.dataset.delivery = d.id;
      const last = d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : (d.lastError || '–');
      const actions = cell('');
      actions.append(actionButton('Replay', async () => {
        if (!window.confirm(`Post ${d.eventType} (${d.eventId}) to ${url} again, under the same id?`)) return;
        try {
          await gql(REPLAY, { d: d.id });
        } catch (error) {
          failed(error);
          return;
        }
        notice(`${d.eventId} is queued again; it goes within a second.`, 'ok');
        loadDeliveries(id, url);
      }));
      tr.append(cell(when(d.createdAt)), cell(d.eventType), statusCell(d.status), cell(String(d.attemptCount), 'num'),
        cell(last), actions);
      tbody.append(tr);
    });
    $('#deliveries').hidden = false;
  }

  // ---- the audit trail ----

  const AUDIT = `query Audit($after: String) { adminActions(first: ${PAGE}, after: $after) {
    nodes { createdAt actor action target note detail } pageInfo { hasNextPage endCursor } } }`;
  let auditCursor = null;

  const RETENTION = `query Retention { retentionStatus { bodyRetentionDays consentRetentionDays
    webhookDedupRetentionDays scanRunRetentionDays schedule
    lastRun { trigger messageBodies replyBodies consentEvents webhookDeliveries scanRuns startedAt finishedAt } } }`;

  async function loadRetention() {
    let r;
    try {
      r = (await gql(RETENTION)).retentionStatus;
    } catch (error) {
      failed(error);
      return;
    }
    const years = (days) => (days >= 365 ? `${(days / 365.25).toFixed(1)} years` : `${Math.round(days)} days`);
    $('#retention-periods').textContent = `Texts of messages and replies are kept ${years(r.bodyRetentionDays)}, `
      + `consent records ${years(r.consentRetentionDays)} after they stop proving a standing consent, `
      + `SNS deduplication rows ${years(r.webhookDedupRetentionDays)}, scan records ${years(r.scanRunRetentionDays)}. `
      + (r.schedule ? `The purge runs on '${r.schedule}' (UTC).` : 'The scheduled purge is off (RETENTION_SCHEDULE=off).');
    const run = r.lastRun;
    $('#retention-last').textContent = run
      ? `Last run ${when(run.finishedAt)} (${words(run.trigger).toLowerCase()}): removed ${count(run.messageBodies)} message texts, `
        + `${count(run.replyBodies)} reply texts, ${count(run.consentEvents)} consent events, `
        + `${count(run.webhookDeliveries)} deduplication rows, ${count(run.scanRuns)} scan records.`
      : 'The purge has not run yet.';
  }

  async function loadAudit(fresh) {
    if (fresh) loadRetention();
    let data;
    try {
      data = await gql(AUDIT, { after: fresh ? null : auditCursor });
    } catch (error) {
      failed(error);
      return;
    }
    const page = data.adminActions;
    const tbody = $('#audit-table tbody');
    if (fresh) fill(tbody, page.nodes, 6, 'No admin has changed anything yet.');
    page.nodes.forEach((a) => {
      const tr = document.createElement('tr');
      tr.append(cell(when(a.createdAt)), cell(a.actor), cell(words(a.action.toUpperCase())), cell(a.target),
        cell(a.note || '–'), cell(a.detail || '–'));
      tbody.append(tr);
    });
    auditCursor = page.pageInfo.endCursor;
    $('#audit-more').hidden = !page.pageInfo.hasNextPage;
  }

  // ---- consent ----

  const CONSENT = `query Consent($userId: ID, $phone: String, $filter: SmsLogFilter) {
    consentEvents(userId: $userId, phone: $phone, first: 100) {
      nodes { occurredAt action method userId phoneNumber phoneLast4 ip disclosureVersion }
    }
    smsLogs(filter: $filter, first: ${PAGE}) { nodes { id createdAt messageType status toPhone } }
  }`;
  const RECIPIENT = 'query Recipient($userId: ID!) { recipient(userId: $userId) { phoneNumber phoneVerified allowSmsInvitations } }';
  const OPT_OUT = 'query OptOut($phone: String!) { smsOptOut(phone: $phone) { phoneNumber source optedOutAt } }';

  function optOutWords(phone, optOut) {
    if (!optOut) return `${phone} is not on the opt-out list.`;
    const how = { KEYWORD: 'the person texted STOP', PROVIDER: 'AWS reported it opted out', ADMIN: 'an operator' }[optOut.source];
    return `${optOut.phoneNumber} is on the opt-out list since ${when(optOut.optedOutAt)} (${how}).`;
  }

  const ADD_OPT_OUT = 'mutation Add($p: String!, $n: String) { addOptOut(phone: $p, note: $n) { phoneNumber } }';
  const REMOVE_OPT_OUT = 'mutation Remove($p: String!, $n: String!) { removeOptOut(phone: $p, note: $n) }';

  // Put a number on the opt-out list, or take it off (with a note saying how the person asked back).
  function optOutAction(number, optOut) {
    const box = $('#consent-actions');
    box.replaceChildren();
    if (!number) return;
    if (optOut) {
      box.append(actionButton('Remove from the opt-out list', async () => {
        const note = window.prompt(`Take ${number} off the opt-out list? Promotions may reach it again. `
          + 'Say how the person asked to come back (needed):');
        if (note === null) return;
        if (!note.trim()) {
          notice('Removing a number needs a note saying how the person asked to come back.');
          return;
        }
        await optOutChange(REMOVE_OPT_OUT, { p: number, n: note.trim() }, `${number} is off the opt-out list.`);
      }));
    } else {
      box.append(actionButton('Add to the opt-out list', async () => {
        const note = window.prompt(`Put ${number} on the opt-out list? No promotion goes to it until it is taken off `
          + 'or the person texts START. A note (optional):');
        if (note === null) return;
        await optOutChange(ADD_OPT_OUT, { p: number, n: note.trim() || null }, `${number} is on the opt-out list.`);
      }));
    }
  }

  async function optOutChange(mutation, variables, said) {
    try {
      await gql(mutation, variables);
    } catch (error) {
      failed(error);
      return;
    }
    await lookUpConsent();
    notice(said, 'ok');
  }

  async function lookUpConsent() {
    const f = $('#consent-form').elements;
    const userId = f.userId.value.trim();
    const phone = f.phone.value.trim();
    if (!userId && !phone) {
      notice('Give a user id or a phone number to look up.');
      return;
    }
    const filter = userId ? { userId } : { phone };
    let data;
    const state = [];
    try {
      data = await gql(CONSENT, { userId: userId || null, phone: userId ? null : phone, filter });
      let number = phone;
      if (userId) {
        const r = (await gql(RECIPIENT, { userId })).recipient;
        state.push(`User ${userId}: ${r.phoneNumber ? `number ${r.phoneNumber}${r.phoneVerified ? ' (verified)' : ' (not verified)'}` : 'no number'}; `
          + `SMS ${r.allowSmsInvitations ? 'on (consent given)' : 'off'}.`);
        number = r.phoneNumber;
      }
      const optOut = number ? (await gql(OPT_OUT, { phone: number })).smsOptOut : null;
      if (number) state.push(optOutWords(number, optOut));
      optOutAction(number && (optOut ? optOut.phoneNumber : number), optOut);
    } catch (error) {
      failed(error);
      return;
    }
    notice(null);
    $('#consent-state').textContent = state.join(' ');
    const events = data.consentEvents.nodes;
    const tbody = $('#consent-table tbody');
    fill(tbody, events, 7, 'No consent recorded.');
    events.forEach((e) => {
      const tr = document.createElement('tr');
      const phone = e.phoneNumber || (e.phoneLast4 ? `erased, …${e.phoneLast4}` : '–');
      tr.append(cell(when(e.occurredAt)), cell(words(e.action)), cell(words(e.method)), cell(e.userId),
        cell(phone), cell(e.ip || '–'), cell(e.disclosureVersion || '–'));
      tbody.append(tr);
    });
    const messages = data.smsLogs.nodes;
    const mbody = $('#consent-messages tbody');
    fill(mbody, messages, 4, 'No messages.');
    messages.forEach((m) => {
      const tr = document.createElement('tr');
      tr.append(cell(when(m.createdAt)), cell(words(m.messageType)), statusCell(m.status), cell(m.toPhone));
      mbody.append(tr);
    });
    $('#consent-result').hidden = false;
  }

  async function exportConsent() {
    const f = $('#export-form').elements;
    const from = f.from.value;
    const to = f.to.value;
    let response;
    try {
      response = await fetch(`/admin/consent.csv?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
    } catch (e) {
      notice('The service cannot be reached; check that it is running.');
      return;
    }
    if (response.status === 401) {
      showSignIn('Sign in again: the token has expired or is not valid.');
      return;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      notice(body.error || `The export failed (${response.status}).`);
      return;
    }
    notice(null);
    const link = document.createElement('a');
    link.href = URL.createObjectURL(await response.blob());
    link.download = `consent-${from}-to-${to}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  // ---- wiring ----

  document.addEventListener('DOMContentLoaded', () => {
    $('#sign-in-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const value = $('#token-input').value.trim().replace(/^Bearer\s+/i, '');
      if (value) signIn(value);
    });
    $('#sign-out').addEventListener('click', () => {
      showSignIn(null);
      notice('Signed out.', 'info');
    });
    $('#costs-form').addEventListener('submit', (e) => { e.preventDefault(); loadCosts(); });
    $('#preview-form').addEventListener('submit', (e) => { e.preventDefault(); loadPreview(); });
    $('#log-form').addEventListener('submit', (e) => { e.preventDefault(); loadLog(true); });
    $('#log-more').addEventListener('click', () => loadLog(false));
    $('#queue-refresh').addEventListener('click', loadQueue);
    $('#resume-sending').addEventListener('click', resumeSending);
    $('#verification-refresh').addEventListener('click', loadVerification);
    $('#audit-refresh').addEventListener('click', () => loadAudit(true));
    $('#webhooks-refresh').addEventListener('click', loadWebhooks);
    $('#audit-more').addEventListener('click', () => loadAudit(false));
    $('#verification-form').addEventListener('submit', (event) => {
      event.preventDefault();
      loadVerification();
    });
    $('#consent-form').addEventListener('submit', (e) => { e.preventDefault(); lookUpConsent(); });
    $('#export-form').addEventListener('submit', (e) => { e.preventDefault(); exportConsent(); });
    defaultRange($('#export-form'), 30);
    window.addEventListener('hashchange', () => {
      if (/token=/.test(location.hash)) {
        const fresh = takeTokenFromAddress();
        if (fresh) signIn(fresh);
        return;
      }
      route();
    });
    const saved = takeTokenFromAddress();
    if (saved) signIn(saved);
    else showSignIn(null);
  });
})();
