/* The live calls board: a /ws feed of call.live / call.ended, and the last 50 finished calls. */
(function () {
  'use strict';

  const i18n = window.ctiI18n;
  const t = (key, vars) => i18n.t(key, vars);
  const RECENT_LIMIT = 50;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 30000;

  const live = new Map(); // linkedid -> call.live payload
  const recent = new Map(); // linkedid -> finished call record
  let clockOffsetMs = 0; // server clock minus browser clock, from the snapshot
  let lastSeq = -1;
  let socket = null;
  let attempt = 0;
  let everConnected = false;

  const $ = (id) => document.getElementById(id);

  // Caller IDs come from the phone network and are attacker-controlled: every piece of data
  // goes in as textContent, never as markup.
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null && text !== '') node.textContent = String(text);
    return node;
  }

  function cell(className) {
    return el('td', className);
  }

  function pad2(n) {
    return String(n).padStart(2, '0');
  }

  function duration(seconds) {
    const total = Math.max(0, Math.floor(Number(seconds) || 0));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h > 0 ? h + ':' + pad2(m) + ':' + pad2(s) : m + ':' + pad2(s);
  }

  function since(iso) {
    const started = Date.parse(iso);
    if (Number.isNaN(started)) return '';
    return duration((Date.now() + clockOffsetMs - started) / 1000);
  }

  function clockTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    const today = new Date();
    const options = { hour: '2-digit', minute: '2-digit', second: '2-digit' };
    if (date.toDateString() !== today.toDateString()) {
      options.day = '2-digit';
      options.month = '2-digit';
    }
    return new Intl.DateTimeFormat(i18n.locale, options).format(date);
  }

  function callerCell(number, name) {
    const td = cell('caller');
    td.appendChild(el('div', 'caller-number', number || t('caller.unknown')));
    if (name && name !== number) td.appendChild(el('div', 'caller-name', name));
    return td;
  }

  function chips(extensions, className) {
    const td = cell('chips');
    (extensions || []).forEach((ext) => td.appendChild(el('span', 'chip ' + className, ext)));
    return td;
  }

  function liveRow(call) {
    const tr = el('tr');
    tr.dataset.linkedid = call.linkedid;
    tr.appendChild(callerCell(call.caller, call.caller_name));

    const customer = cell('customer');
    if (call.customer) {
      customer.appendChild(el('div', 'customer-name', call.customer.name));
      if (call.customer.company) {
        customer.appendChild(el('div', 'customer-company', call.customer.company));
      }
    }
    tr.appendChild(customer);

    const did = cell('did');
    did.textContent = call.did || '';
    tr.appendChild(did);

    const state = cell();
    state.appendChild(el('span', 'badge state-' + safeClass(call.state), t('state.' + call.state)));
    tr.appendChild(state);

    tr.appendChild(chips(call.agents_ringing, 'chip-ringing'));
    tr.appendChild(chips(call.answered_by, 'chip-answered'));

    const timer = cell('num timer');
    // talking and on hold count the conversation; before that, the wait
    timer.dataset.since = call.answered_at || call.started_at;
    timer.textContent = since(timer.dataset.since);
    tr.appendChild(timer);
    return tr;
  }

  function recentRow(record) {
    const tr = el('tr');
    tr.dataset.linkedid = record.linkedid;
    tr.appendChild(el('td', 'when', clockTime(record.started_at)));
    tr.appendChild(el('td', 'dir dir-' + safeClass(record.direction),
      t('dir.' + record.direction)));
    tr.appendChild(callerCell(record.caller, record.caller_name));
    tr.appendChild(el('td', 'did', record.did));

    const outcome = cell('outcome');
    outcome.appendChild(el('span', 'badge outcome-' + safeClass(record.outcome),
      t('outcome.' + record.outcome)));
    if (record.missed_kind) {
      outcome.appendChild(el('span', 'missed-kind', t('missed.' + record.missed_kind)));
    }
    if (record.short_abandon) {
      const mark = el('span', 'mark mark-short', t('short_abandon'));
      mark.title = t('short_abandon.title');
      outcome.appendChild(mark);
    }
    if (record.transferred) outcome.appendChild(el('span', 'mark', t('transferred')));
    tr.appendChild(outcome);

    tr.appendChild(el('td', 'num', duration(record.wait_seconds)));
    tr.appendChild(el('td', 'num', record.outcome === 'answered' ? duration(record.talk_seconds) : '—'));
    tr.appendChild(chips(record.answered_by, 'chip-answered'));
    return tr;
  }

  function safeClass(value) {
    return String(value || 'unknown').replace(/[^a-z_]/g, '');
  }

  function renderLive() {
    const calls = Array.from(live.values()).sort(
      (a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
    $('live-body').replaceChildren(...calls.map(liveRow));
    $('live-count').textContent = String(calls.length);
    $('live-empty').hidden = calls.length > 0;
    $('live-table').hidden = calls.length === 0;
  }

  function renderRecent() {
    const records = Array.from(recent.values());
    $('recent-body').replaceChildren(...records.map(recentRow));
    $('recent-empty').hidden = records.length > 0;
    $('recent-table').hidden = records.length === 0;
  }

  function addRecent(records) {
    records.forEach((record) => {
      recent.set(record.linkedid, record);
      live.delete(record.linkedid);
    });
    const newest = Array.from(recent.values()).sort(
      (a, b) => Date.parse(b.ended_at || b.started_at) - Date.parse(a.ended_at || a.started_at));
    recent.clear();
    newest.slice(0, RECENT_LIMIT).forEach((record) => recent.set(record.linkedid, record));
  }

  function tick() {
    document.querySelectorAll('[data-since]').forEach((node) => {
      node.textContent = since(node.dataset.since);
    });
  }

  function setConnection(state) {
    const conn = $('conn');
    conn.className = 'conn conn-' + state;
    const text = $('conn-text');
    text.dataset.i18n = state === 'online' ? 'conn.online'
      : state === 'reconnecting' ? 'conn.reconnecting' : 'conn.connecting';
    text.textContent = t(text.dataset.i18n);
    $('banner').hidden = state !== 'reconnecting';
  }

  function toLogin(ended) {
    window.location.assign(ended ? '/login?ended=1' : '/login');
  }

  async function loadRecent() {
    try {
      const response = await fetch('/api/calls?limit=' + RECENT_LIMIT, {
        headers: { Accept: 'application/json' },
        credentials: 'same-origin'
      });
      if (response.status === 401) return toLogin();
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const body = await response.json();
      addRecent(body.calls || []);
      $('recent-error').hidden = true;
      renderLive();
      renderRecent();
    } catch (e) {
      $('recent-error').hidden = false;
    }
  }

  function handle(message) {
    if (message.type === 'snapshot') {
      live.clear();
      (message.calls || []).forEach((call) => {
        if (!recent.has(call.linkedid)) live.set(call.linkedid, call);
      });
      const serverNow = Date.parse(message.server_time);
      clockOffsetMs = Number.isNaN(serverNow) ? 0 : serverNow - Date.now();
      lastSeq = typeof message.seq === 'number' ? message.seq : 0;
      attempt = 0;
      setConnection('online');
      renderLive();
      // after a reconnect, calls may have finished while we were away
      if (everConnected) loadRecent();
      everConnected = true;
      return;
    }
    if (typeof message.seq === 'number') {
      if (message.seq !== lastSeq + 1) {
        socket.close(4000, 'gap in seq'); // start over from a fresh snapshot
        return;
      }
      lastSeq = message.seq;
    }
    if (message.type === 'call.live' && message.call) {
      if (!recent.has(message.call.linkedid)) live.set(message.call.linkedid, message.call);
      renderLive();
    } else if (message.type === 'call.ended' && message.call) {
      addRecent([message.call]);
      renderLive();
      renderRecent();
    }
  }

  function connect() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(scheme + '//' + window.location.host + '/ws');
    socket = ws;
    let opened = false;
    ws.addEventListener('open', () => { opened = true; });
    ws.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handle(message);
    });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return;
      if (event.code === 4401) return toLogin(true); // access ended: logout, expiry, disabled
      socket = null;
      setConnection('reconnecting');
      scheduleReconnect(!opened);
    });
  }

  function scheduleReconnect(handshakeFailed) {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    const delay = ceiling / 2 + Math.random() * ceiling / 2;
    attempt += 1;
    window.setTimeout(async () => {
      if (handshakeFailed) {
        // a refused handshake may mean the session expired: ask in a way that says so
        try {
          const probe = await fetch('/api/calls/live', { headers: { Accept: 'application/json' } });
          if (probe.status === 401) return toLogin(true);
        } catch (e) {
          // server still down: keep trying
        }
      }
      connect();
    }, delay);
  }

  document.addEventListener('cti:lang', () => {
    renderLive();
    renderRecent();
  });

  renderLive();
  renderRecent();
  loadRecent();
  connect();
  window.setInterval(tick, 1000);
})();
