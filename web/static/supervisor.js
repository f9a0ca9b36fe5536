/* The supervisor's live view: calls in progress (from /ws), every agent's state and time in
   state, the duty operator now, open and overdue callbacks (from the API, refreshed). */
(function () {
  'use strict';

  const i18n = window.ctiI18n;
  const t = (key, vars) => i18n.t(key, vars);
  const f = window.ctiFormat;
  const el = f.el;
  const $ = (id) => document.getElementById(id);

  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const live = new Map();
  let agents = [];
  let duty = [];
  let callbacks = [];
  let clockOffsetMs = 0;
  let stream = null;
  let lastSeq = -1;
  let attempt = 0;
  let socket = null;

  async function api(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (response.status === 401) {
      window.location.assign('/login');
      throw new Error('signed out');
    }
    if (!response.ok) throw new Error('HTTP ' + response.status);
    return response.json();
  }

  function sinceNow(iso) {
    const at = Date.parse(iso);
    return Number.isNaN(at) ? '' : f.duration((Date.now() + clockOffsetMs - at) / 1000);
  }

  // --- calls -----------------------------------------------------------------------------------

  function chips(list, className) {
    const td = el('td', 'chips');
    (list || []).forEach((x) => td.appendChild(el('span', 'chip ' + className, x)));
    return td;
  }

  function callRow(call) {
    const tr = el('tr');
    tr.dataset.linkedid = call.linkedid;
    const caller = el('td', 'caller');
    caller.appendChild(el('div', 'caller-number', f.phone(call.caller) || t('caller.unknown')));
    if (call.caller_name && call.caller_name !== call.caller) caller.appendChild(el('div', 'caller-name', call.caller_name));
    tr.appendChild(caller);
    const customer = el('td', 'customer');
    if (call.customer) {
      customer.appendChild(el('div', 'customer-name', call.customer.name));
      if (call.customer.company) customer.appendChild(el('div', 'customer-company', call.customer.company));
    }
    tr.appendChild(customer);
    tr.appendChild(el('td', 'did', f.phone(call.did)));
    const state = el('td');
    const waiting = call.state === 'queued' || call.state === 'dialplan';
    state.appendChild(el('span', 'badge state-' + f.safeClass(call.state),
      waiting && call.state === 'queued' ? t('sup.waiting') : t('state.' + call.state)));
    tr.appendChild(state);
    tr.appendChild(chips(call.agents_ringing, 'chip-ringing'));
    tr.appendChild(chips(call.answered_by, 'chip-answered'));
    const timer = el('td', 'num timer');
    timer.dataset.since = call.answered_at || call.started_at;
    tr.appendChild(timer);
    return tr;
  }

  function renderCalls() {
    const calls = Array.from(live.values()).sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
    $('calls-body').replaceChildren(...calls.map(callRow));
    $('calls-count').textContent = String(calls.length);
    $('calls-empty').hidden = calls.length > 0;
    $('calls-table').hidden = calls.length === 0;
    tick();
  }

  function handle(message) {
    if (message.type === 'snapshot' || message.type === 'resume') {
      stream = message.stream;
      lastSeq = message.seq;
      attempt = 0;
      setConnection('online');
      if (message.type === 'snapshot') {
        live.clear();
        (message.calls || []).forEach((c) => live.set(c.linkedid, c));
        const serverNow = Date.parse(message.server_time);
        clockOffsetMs = Number.isNaN(serverNow) ? 0 : serverNow - Date.now();
      }
      renderCalls();
      return;
    }
    if (typeof message.seq === 'number') {
      if (message.seq <= lastSeq) return;
      lastSeq = message.seq;
    }
    if (message.agent) return; // personal messages (my own pops) belong to the console
    if (message.type === 'call.live' && message.call) {
      live.set(message.call.linkedid, message.call);
      renderCalls();
    } else if (message.type === 'call.ended' && message.call) {
      live.delete(message.call.linkedid);
      renderCalls();
    } else if (message.type === 'agents.changed') {
      loadAgents();
    } else if (message.type === 'callback.escalated' || message.type === 'call.missed') {
      loadCallbacks();
    }
  }

  function setConnection(state) {
    $('conn').className = 'conn conn-' + state;
    const text = $('conn-text');
    text.dataset.i18n = state === 'online' ? 'conn.online'
      : state === 'reconnecting' ? 'conn.reconnecting' : 'conn.connecting';
    text.textContent = t(text.dataset.i18n);
    $('banner').hidden = state !== 'reconnecting';
  }

  function connect() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = scheme + '//' + window.location.host + '/ws';
    if (stream && lastSeq >= 0) url += '?since=' + lastSeq + '&stream=' + encodeURIComponent(stream);
    const ws = new WebSocket(url);
    socket = ws;
    let opened = false;
    ws.addEventListener('open', () => { opened = true; });
    ws.addEventListener('message', (event) => {
      try {
        handle(JSON.parse(event.data));
      } catch (e) {
        // not JSON: ignore
      }
    });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return;
      // access ended (sign-out, expiry, disabled, revoked): never reconnect with it
      if (event.code === 4401) return window.location.assign('/login?ended=1');
      socket = null;
      setConnection('reconnecting');
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
      attempt += 1;
      window.setTimeout(async () => {
        if (!opened) {
          // a refused handshake may mean the session ended: ask in a way that says so
          try {
            const probe = await fetch('/api/me', { headers: { Accept: 'application/json' } });
            if (probe.status === 401) return window.location.assign('/login?ended=1');
          } catch (e) {
            // the server is still away: keep trying
          }
        }
        connect();
      }, ceiling / 2 + Math.random() * ceiling / 2);
    });
  }

  // --- agents, duty, callbacks --------------------------------------------------------------------

  function stateText(row) {
    if (row.state === 'paused') {
      if (row.reason === 'lunch') return t('state.lunch');
      return row.reason ? t('state.away') + ' (' + row.reason + ')' : t('state.away');
    }
    return t('state.' + row.state);
  }

  function renderAgents() {
    $('agents-body').replaceChildren(...agents.map((row) => {
      const tr = el('tr');
      tr.dataset.login = row.login;
      const who = el('td');
      who.appendChild(el('div', 'customer-name', row.name || row.login));
      who.appendChild(el('div', 'muted', row.login));
      tr.appendChild(who);
      tr.appendChild(el('td', row.available ? 'agent-available' : 'agent-unavailable', stateText(row)));
      const since = el('td', 'num timer');
      since.dataset.since = row.since || '';
      tr.appendChild(since);
      tr.appendChild(el('td', null, t('phone.' + (row.phone || 'UNKNOWN'))));
      tr.appendChild(el('td', 'num', String(row.calls || 0)));
      return tr;
    }));
    tick();
  }

  async function loadAgents() {
    try {
      agents = (await api('/api/agents/states')).agents || [];
      renderAgents();
      renderAssignees();
    } catch (e) {
      // routing not configured: the table stays empty
    }
  }

  function renderDuty() {
    $('duty').replaceChildren(...duty.map((row) => {
      const li = el('li');
      li.appendChild(el('span', 'customer-name', row.name || row.login));
      const shift = row.shift || {};
      li.appendChild(el('span', 'muted', ' ' + (shift.start || '') + '–' + (shift.end || '')));
      if (!row.available && row.why_not) li.appendChild(el('div', 'load-error', row.why_not));
      return li;
    }));
    $('duty-empty').hidden = duty.length > 0;
  }

  async function loadDuty() {
    try {
      duty = (await api('/api/duty/now')).on_duty || [];
      renderDuty();
    } catch (e) {
      // not configured
    }
  }

  function renderCallbacks() {
    const now = Date.now();
    const overdue = callbacks.filter((cb) => Date.parse(cb.deadline_at) < now);
    $('cb-open').textContent = t('sup.callbacks.open', { n: callbacks.length });
    $('cb-overdue').textContent = t('sup.callbacks.overdue', { n: overdue.length });
    $('cb-body').replaceChildren(...callbacks.map((cb) => {
      const tr = el('tr', Date.parse(cb.deadline_at) < now ? 'overdue-row' : '');
      tr.dataset.id = String(cb.id);
      const pick = el('td');
      const box = el('input', 'cb-pick');
      box.type = 'checkbox';
      box.value = String(cb.id);
      box.checked = chosen.has(cb.id);
      box.setAttribute('aria-label', t('sup.select') + ' ' + f.phone(cb.number));
      box.addEventListener('change', () => { if (box.checked) chosen.add(cb.id); else chosen.delete(cb.id); });
      pick.appendChild(box);
      tr.appendChild(pick);
      tr.appendChild(el('td', 'caller-number', f.phone(cb.number)));
      tr.appendChild(el('td', 'cb-owner', cb.owner ? ownerName(cb.owner)
        : t('sup.shared', { team: cb.team || 'all' })));
      const due = el('td', 'num');
      due.dataset.deadline = cb.deadline_at || '';
      tr.appendChild(due);
      return tr;
    }));
    tick();
  }

  // --- assigning callbacks (one or many) ---------------------------------------------------------

  const chosen = new Set();

  function ownerName(login) {
    const agent = agents.find((a) => a.login === login);
    return agent && agent.name ? agent.name + ' (' + login + ')' : login;
  }

  function renderAssignees() {
    const select = $('cb-assign-to');
    const picked = select.value;
    const options = agents.map((a) => {
      const option = el('option', null, (a.name || a.login) + ' (' + a.login + ')');
      option.value = a.login;
      return option;
    });
    const shared = el('option', null, t('sup.assign.shared_list'));
    shared.value = '';
    select.replaceChildren(...options, shared);
    if (picked !== undefined && [...select.options].some((o) => o.value === picked)) select.value = picked;
  }

  async function assign(event) {
    event.preventDefault();
    const status = $('cb-assign-status');
    const ids = callbacks.map((cb) => cb.id).filter((id) => chosen.has(id));
    if (!ids.length) {
      status.className = 'load-error';
      status.textContent = t('sup.assign.none');
      return;
    }
    const owner = $('cb-assign-to').value || null;
    const response = await fetch('/api/callbacks/assign', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ ids: ids, owner: owner })
    });
    if (response.status === 401) return window.location.assign('/login');
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      status.className = 'load-error';
      status.textContent = t('sup.assign.error', { detail: body.detail || ('HTTP ' + response.status) });
      return;
    }
    status.className = '';
    status.textContent = t('sup.assign.done', { n: (body.callbacks || []).length });
    chosen.clear();
    loadCallbacks();
  }

  async function loadCallbacks() {
    try {
      callbacks = (await api('/api/callbacks?state=open')).callbacks || [];
      renderCallbacks();
    } catch (e) {
      // shown empty
    }
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll('[data-since]').forEach((node) => {
      node.textContent = node.dataset.since ? sinceNow(node.dataset.since) : '';
    });
    document.querySelectorAll('[data-deadline]').forEach((node) => {
      const deadline = Date.parse(node.dataset.deadline);
      if (Number.isNaN(deadline)) return;
      const left = (deadline - now) / 1000;
      node.textContent = left >= 0 ? t('callbacks.due_in', { time: f.duration(left) })
        : t('callbacks.overdue', { time: f.duration(-left) });
    });
  }

  document.addEventListener('cti:lang', () => {
    renderCalls();
    renderAgents();
    renderDuty();
    renderCallbacks();
    renderAssignees();
  });

  $('cb-assign').addEventListener('submit', assign);
  renderAssignees();
  renderCalls();
  connect();
  loadAgents();
  loadDuty();
  loadCallbacks();
  window.setInterval(tick, 1000);
  window.setInterval(loadAgents, 10000);
  window.setInterval(loadDuty, 30000);
  window.setInterval(loadCallbacks, 15000);
})();
