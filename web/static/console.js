/* The agent console: /ws feed (pops, own state, callbacks), own state, callbacks with a
   countdown, click-to-call, recent calls. Pops survive a reload (sessionStorage) and are
   reconciled with the server: a resume replays what was missed, a snapshot is the truth. */
(function () {
  'use strict';

  const i18n = window.ctiI18n;
  const t = (key, vars) => i18n.t(key, vars);
  const f = window.ctiFormat;
  const P = window.ctiPops;
  const el = f.el;
  const $ = (id) => document.getElementById(id);

  const STORE = 'cti.console.v1';
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const CLOSED_LINGER_MS = 15000; // a closed pop stays this long (unless a form is being filled)
  const STATES = {
    available: { state: 'available' },
    lunch: { state: 'paused', reason: 'lunch' },
    away: { state: 'paused', reason: 'away' },
    dnd: { state: 'dnd' }
  };

  let me = null;
  let stream = null;
  let lastSeq = -1;
  let socket = null;
  let attempt = 0;
  let everConnected = false;
  let callbacks = [];
  let myState = null;
  const pops = new Map(); // linkedid -> { pop, status: 'open'|'closed', note, closedAt }
  const nodes = new Map(); // linkedid -> element
  const notices = new Map(); // linkedid -> Notification

  // --- persistence across a reload ---------------------------------------------------------

  function save() {
    try {
      window.sessionStorage.setItem(STORE, JSON.stringify({
        login: me && me.login, stream: stream, seq: lastSeq, pops: Array.from(pops.values())
      }));
    } catch (e) {
      // storage full or disabled: the next snapshot restores the pops anyway
    }
  }

  function restore() {
    try {
      const data = JSON.parse(window.sessionStorage.getItem(STORE) || 'null');
      if (!data || data.login !== me.login) return;
      stream = typeof data.stream === 'string' ? data.stream : null;
      lastSeq = typeof data.seq === 'number' ? data.seq : -1;
      (data.pops || []).forEach((entry) => {
        if (entry && entry.pop && entry.pop.linkedid) pops.set(entry.pop.linkedid, entry);
      });
    } catch (e) {
      // unreadable: start from the server's snapshot
    }
  }

  // --- pops ----------------------------------------------------------------------------------

  const handlers = {
    dismiss: (linkedid) => {
      pops.delete(linkedid);
      render();
      save();
    },
    create: (pop, data, allow) => createCustomer(pop, data, allow).then((customer) => {
      show(pop, customer, { key: 'new.saved' });
      return customer;
    }),
    // the existing card a 409 named, instead of a new one
    open: (pop, id) => api('/api/customers/' + encodeURIComponent(id)).then((view) => show(pop, view, null)),
    // a shared number: the agent says who is calling (remembered for the next call)
    choose: (pop, id) => post('/api/customers/lookup/choice', {
      phone: (pop.caller && (pop.caller.e164 || pop.caller.number)) || '', customer_id: id
    }).then(() => api('/api/customers/' + encodeURIComponent(id))).then((view) => show(pop, view, null)),
    merge: async (pop, target, others) => {
      for (const id of others) {
        await post('/api/customers/' + encodeURIComponent(target) + '/merge', { from: id });
      }
      const view = await api('/api/customers/' + encodeURIComponent(target));
      show(pop, view, { key: 'cand.merged' }, []);
      return view;
    },
    edit: (pop) => api('/api/customers/' + encodeURIComponent(pop.customer.id)),
    save: (pop, id, body, allow) => api('/api/customers/' + encodeURIComponent(id) + (allow ? '?allow_duplicates=1' : ''), {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body)
    }).then((view) => show(pop, view, { key: 'edit.saved' })),
    canMerge: () => Boolean(me && (me.role === 'supervisor' || me.role === 'admin'))
  };

  // the pop shows this customer (from the customers API) from now on
  function show(pop, view, note, candidates) {
    const entry = pops.get(pop.linkedid);
    if (entry) {
      const changes = { customer: card(view), new_customer: null };
      if (candidates) changes.candidates = candidates;
      entry.pop = Object.assign({}, entry.pop, changes);
      entry.note = note;
      window.setTimeout(() => { refresh(pop.linkedid, true); save(); }, 0);
    }
    return view;
  }

  // the customers API's view as the pop's card
  function card(view) {
    return {
      id: view.id,
      name: view.name,
      company: view.company || '',
      vip: Boolean(view.vip),
      manager: view.manager_login ? { login: view.manager_login, name: view.manager_login, extension: '' } : null,
      timezone: view.timezone || null,
      orders: view.orders || { count: 0, total: '0.00', currency: null, last: [] },
      crm_url: view.crm_url || null,
      source: view.source || 'manual'
    };
  }

  function render() {
    const root = $('pops');
    for (const [linkedid, node] of nodes) {
      if (!pops.has(linkedid)) {
        node.remove();
        nodes.delete(linkedid);
      }
    }
    const ordered = Array.from(pops.values()).sort((a, b) =>
      (a.status === b.status ? 0 : a.status === 'open' ? -1 : 1) ||
      String(b.pop.rang_at).localeCompare(String(a.pop.rang_at)));
    let place = root.firstElementChild;
    ordered.forEach((entry) => {
      let node = nodes.get(entry.pop.linkedid);
      if (!node) {
        node = P.build(entry, handlers);
        nodes.set(entry.pop.linkedid, node);
      }
      // moved only when out of order: moving a node takes the focus out of a field in it
      if (node === place) place = place.nextElementSibling;
      else root.insertBefore(node, place);
    });
    $('pops-empty').hidden = pops.size > 0;
    P.tick(root);
  }

  function refresh(linkedid, full) {
    const entry = pops.get(linkedid);
    const node = nodes.get(linkedid);
    if (!entry || !node) return render();
    if (full) P.fill(node, entry, handlers);
    else P.status(node, entry);
    render();
  }

  function open(pop, note) {
    const known = pops.get(pop.linkedid);
    pops.set(pop.linkedid, { pop: pop, status: 'open', note: note || null, closedAt: null });
    if (known) refresh(pop.linkedid, true);
    else render();
  }

  function close(linkedid, note) {
    const entry = pops.get(linkedid);
    if (!entry) return;
    entry.status = 'closed';
    entry.note = note;
    entry.closedAt = Date.now();
    const notice = notices.get(linkedid);
    if (notice) {
      notice.close();
      notices.delete(linkedid);
    }
    refresh(linkedid, false);
  }

  function sweepClosed() {
    const now = Date.now();
    let changed = false;
    for (const [linkedid, entry] of pops) {
      if (entry.status !== 'closed' || now - (entry.closedAt || 0) < CLOSED_LINGER_MS) continue;
      const node = nodes.get(linkedid);
      const form = node && node.querySelector('.pop-new');
      if (form && (form.dataset.dirty || form.contains(document.activeElement))) continue;
      pops.delete(linkedid);
      changed = true;
    }
    if (changed) {
      render();
      save();
    }
  }

  function notify(pop, key) {
    if (!('Notification' in window) || Notification.permission !== 'granted' || !document.hidden) return;
    try {
      const notice = new Notification(t(key, { who: P.title(pop) }), {
        body: P.number(pop), tag: 'cti-' + pop.linkedid
      });
      notice.onclick = () => { window.focus(); notice.close(); };
      notices.set(pop.linkedid, notice);
    } catch (e) {
      // some browsers only notify from a service worker: the pop is on the page anyway
    }
  }

  async function createCustomer(pop, data, allow) {
    const response = await fetch('/api/customers' + (allow ? '?allow_duplicates=1' : ''), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(data)
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw failure(response, body);
    return body;
  }

  // an error that keeps the problem+json (a 409 names the customer a number belongs to)
  function failure(response, body) {
    const error = new Error(body.detail || ('HTTP ' + response.status));
    error.status = response.status;
    error.problem = body;
    return error;
  }

  // --- the feed ------------------------------------------------------------------------------

  function reconcile(snapshotPops) {
    const open = new Set();
    (snapshotPops || []).forEach((pop) => {
      open.add(pop.linkedid);
      const known = pops.get(pop.linkedid);
      const note = pop.state === 'talking' ? { key: 'pop.answered_by_you' } : (known && known.note) || null;
      pops.set(pop.linkedid, { pop: pop, status: 'open', note: note, closedAt: null });
      if (nodes.has(pop.linkedid)) P.fill(nodes.get(pop.linkedid), pops.get(pop.linkedid), handlers);
    });
    for (const [linkedid, entry] of pops) {
      if (entry.status === 'open' && !open.has(linkedid)) close(linkedid, { key: 'pop.ended' });
    }
    render();
  }

  function handle(message) {
    if (message.type === 'snapshot' || message.type === 'resume') {
      stream = message.stream;
      lastSeq = message.seq;
      attempt = 0;
      setConnection('online');
      if (message.type === 'snapshot') reconcile(message.pops);
      if (everConnected) {
        loadCallbacks();
        loadMine();
      }
      everConnected = true;
      save();
      return;
    }
    if (typeof message.seq === 'number') {
      if (message.seq <= lastSeq) return; // seen already
      lastSeq = message.seq;
    }
    const mine = message.agent === (me && me.login);
    switch (message.type) {
      case 'call.ringing':
        if (mine) {
          open(message.pop);
          notify(message.pop, 'notify.title');
        }
        break;
      case 'call.transferred':
        if (!mine) break;
        if (message.direction === 'to_you') {
          open(message.pop, { key: 'pop.transferred_from', vars: { name: (message.other || []).map(personName).join(', ') } });
          notify(message.pop, 'notify.transfer');
        } else {
          close(message.linkedid, { key: 'pop.transferred_to', vars: { name: (message.other || []).map(personName).join(', ') } });
        }
        break;
      case 'pop.updated':
        if (mine && pops.has(message.linkedid)) {
          const entry = pops.get(message.linkedid);
          entry.pop = message.pop;
          refresh(message.linkedid, true);
        }
        break;
      case 'call.answered':
        if (!mine) break;
        if (message.closes) {
          close(message.linkedid, { key: 'pop.answered_by', vars: { name: personName(message.by) } });
        } else if (pops.has(message.linkedid)) {
          const entry = pops.get(message.linkedid);
          entry.pop = Object.assign({}, entry.pop, { state: 'talking', answered_by: message.by });
          entry.note = { key: 'pop.answered_by_you' };
          refresh(message.linkedid, false);
          const notice = notices.get(message.linkedid);
          if (notice) notice.close();
        }
        break;
      case 'call.ended':
        if (mine && message.call) {
          close(message.call.linkedid, { key: message.call.outcome === 'missed' ? 'pop.ended.missed' : 'pop.ended' });
        } else if (!message.agent) {
          loadMineSoon();
        }
        break;
      case 'agent.state':
        if (mine) showState({ state: message.state, reason: message.reason, since: message.since });
        break;
      default:
        if (mine && String(message.type).startsWith('callback.')) loadCallbacks();
    }
    save();
  }

  function personName(ref) {
    return ref ? (ref.name || ref.login || f.phone(ref.extension)) : '';
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
    if (stream && lastSeq >= 0) {
      url += '?since=' + encodeURIComponent(lastSeq) + '&stream=' + encodeURIComponent(stream);
    }
    const ws = new WebSocket(url);
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
      if (event.code === 4401) return toLogin(true); // access ended: never reconnect with it
      socket = null;
      setConnection('reconnecting');
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
      attempt += 1;
      window.setTimeout(async () => {
        if (!opened) {
          try {
            const probe = await fetch('/api/me', { headers: { Accept: 'application/json' } });
            if (probe.status === 401) return toLogin(true);
          } catch (e) {
            // the server is still away: keep trying
          }
        }
        connect();
      }, ceiling / 2 + Math.random() * ceiling / 2);
    });
  }

  function toLogin(ended) {
    window.location.assign(ended ? '/login?ended=1' : '/login');
  }

  // --- API -----------------------------------------------------------------------------------

  async function api(path, options) {
    const response = await fetch(path, Object.assign({
      headers: { Accept: 'application/json' }, credentials: 'same-origin'
    }, options || {}));
    if (response.status === 401) {
      toLogin();
      throw new Error('signed out');
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw failure(response, body);
    return body;
  }

  function post(path, data, extraHeaders) {
    return api(path, {
      method: 'POST',
      headers: Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json' }, extraHeaders || {}),
      body: JSON.stringify(data)
    });
  }

  // --- own state -------------------------------------------------------------------------------

  function stateKind(state, reason) {
    if (state === 'paused') return reason === 'lunch' ? 'lunch' : 'away';
    return state;
  }

  function showState(row) {
    myState = row;
    const kind = stateKind(row.state, row.reason);
    document.querySelectorAll('#states button').forEach((b) => {
      b.setAttribute('aria-pressed', String(b.dataset.state === kind));
    });
    $('state-time').dataset.since = row.since || '';
    tick();
  }

  async function loadState() {
    try {
      const body = await api('/api/agents/states');
      const row = (body.agents || []).find((a) => a.login === me.login);
      if (row) showState(row);
    } catch (e) {
      // routing is not set up (or not reachable): the state buttons still try
    }
  }

  async function setState(kind) {
    $('state-error').hidden = true;
    try {
      const body = await post('/api/agents/' + encodeURIComponent(me.login) + '/state', STATES[kind]);
      showState(body);
    } catch (e) {
      $('state-error').hidden = false;
    }
  }

  // --- callbacks and click-to-call ----------------------------------------------------------

  function key(prefix) {
    const random = window.crypto && window.crypto.randomUUID
      ? window.crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
    return prefix + '-' + random;
  }

  async function originate(number, idempotencyKey) {
    return post('/api/originate', { number: number }, { 'Idempotency-Key': idempotencyKey });
  }

  async function dial(number, button, idempotencyKey) {
    const status = $('dial-status');
    button.disabled = true; // a double click is one call (and the key makes sure of it)
    try {
      const placed = await originate(number, idempotencyKey);
      status.className = 'dial-status';
      status.textContent = t('dial.calling', { number: f.phone(placed.number) });
    } catch (e) {
      status.className = 'dial-status load-error';
      status.textContent = t('dial.error', { detail: e.message });
    } finally {
      window.setTimeout(() => { button.disabled = false; }, 3000);
    }
  }

  function callbackItem(cb) {
    const li = el('li', 'callback');
    li.dataset.id = String(cb.id);
    const head = el('div', 'callback-head');
    head.appendChild(el('span', 'callback-number', f.phone(cb.number)));
    const due = el('span', 'callback-due');
    due.dataset.deadline = cb.deadline_at || '';
    head.appendChild(due);
    li.appendChild(head);
    if (cb.note) li.appendChild(el('div', 'callback-note', cb.note));
    const meta = el('div', 'muted');
    if (cb.misses) meta.textContent = t('callbacks.misses', { n: cb.misses });
    if (cb.held_by && cb.held_by !== me.login) meta.textContent += ' ' + t('callbacks.held_by', { who: cb.held_by_name || cb.held_by });
    li.appendChild(meta);
    if (cb.shared) {
      // nobody owns it yet: on the line's shared list, taken with one click (the first wins)
      li.classList.add('callback-shared');
      li.appendChild(el('div', 'callback-shared-note', cb.team ? t('callbacks.shared', { team: cb.team }) : t('callbacks.shared_all')));
      const claim = el('button', 'callback-call callback-claim', t('callbacks.claim'));
      claim.type = 'button';
      const problem = el('div', 'load-error callback-claim-error');
      problem.hidden = true;
      claim.addEventListener('click', async () => {
        claim.disabled = true;
        try {
          await post('/api/callbacks/' + cb.id + '/claim', {});
        } catch (e) {
          problem.textContent = t('callbacks.claim_error', { detail: e.message });
          problem.hidden = false;
          claim.disabled = false;
          return;
        }
        loadCallbacks();
      });
      li.appendChild(claim);
      li.appendChild(problem);
      return li;
    }
    const call = el('button', 'callback-call', t('callbacks.call'));
    call.type = 'button';
    call.addEventListener('click', async () => {
      call.disabled = true;
      const attemptKey = key('cb' + cb.id);
      try {
        await post('/api/callbacks/' + cb.id + '/hold', {});
        await dial(cb.number, call, attemptKey);
        loadCallbacks();
      } catch (e) {
        $('dial-status').className = 'dial-status load-error';
        $('dial-status').textContent = t('dial.error', { detail: e.message });
        call.disabled = false;
      }
    });
    li.appendChild(call);
    return li;
  }

  function renderCallbacks() {
    const sorted = callbacks.slice().sort((a, b) => String(a.deadline_at).localeCompare(String(b.deadline_at)));
    $('callbacks').replaceChildren(...sorted.map(callbackItem));
    $('callbacks-count').textContent = String(sorted.length);
    $('callbacks-empty').hidden = sorted.length > 0;
    tick();
  }

  async function loadCallbacks() {
    try {
      const body = await api('/api/callbacks?state=open');
      callbacks = (body.callbacks || []).filter((cb) => cb.owner === me.login || cb.held_by === me.login || cb.shared);
      $('callbacks-error').hidden = true;
      renderCallbacks();
    } catch (e) {
      $('callbacks-error').hidden = false;
    }
  }

  // --- recent calls ---------------------------------------------------------------------------

  let mineTimer = null;

  function loadMineSoon() {
    if (mineTimer) return;
    mineTimer = window.setTimeout(() => {
      mineTimer = null;
      loadMine();
    }, 700);
  }

  function otherParty(call) {
    return call.direction === 'inbound' ? call.caller : call.did;
  }

  async function loadMine() {
    try {
      const body = await api('/api/calls?limit=15');
      const rows = (body.calls || []).map((call) => {
        const li = el('li', 'mine-call');
        li.dataset.linkedid = call.linkedid;
        li.appendChild(el('span', 'when', f.when(call.started_at)));
        li.appendChild(el('span', 'dir dir-' + f.safeClass(call.direction), t('dir.' + call.direction)));
        li.appendChild(el('span', 'mine-number', f.phone(otherParty(call)) || t('caller.unknown')));
        li.appendChild(el('span', 'badge outcome-' + f.safeClass(call.outcome), t('outcome.' + call.outcome)));
        return li;
      });
      $('mine').replaceChildren(...rows);
      $('mine-empty').hidden = rows.length > 0;
    } catch (e) {
      // shown empty; the next call's end tries again
    }
  }

  // --- clocks ------------------------------------------------------------------------------------

  function tick() {
    const now = Date.now();
    const since = Date.parse($('state-time').dataset.since);
    $('state-time').textContent = Number.isNaN(since) ? ''
      : t('state.for', { time: f.duration((now - since) / 1000) });
    document.querySelectorAll('.callback-due[data-deadline]').forEach((node) => {
      const deadline = Date.parse(node.dataset.deadline);
      if (Number.isNaN(deadline)) return;
      const left = (deadline - now) / 1000;
      node.textContent = left >= 0 ? t('callbacks.due_in', { time: f.duration(left) })
        : t('callbacks.overdue', { time: f.duration(-left) });
      node.classList.toggle('overdue', left < 0);
    });
    P.tick($('pops'));
  }

  // --- notifications -----------------------------------------------------------------------------

  function showNotifyButton() {
    const button = $('notify');
    if (!('Notification' in window)) {
      button.hidden = true;
      return;
    }
    const key = Notification.permission === 'granted' ? 'notify.on'
      : Notification.permission === 'denied' ? 'notify.blocked' : 'notify.enable';
    button.dataset.i18n = key;
    button.textContent = t(key);
    button.disabled = Notification.permission !== 'default';
  }

  // --- start -----------------------------------------------------------------------------------

  async function start() {
    try {
      me = await api('/api/me');
    } catch (e) {
      return; // signed out: on the way to /login
    }
    $('me').textContent = me.name || me.login;
    $('nav-supervisor').hidden = !(me.role === 'supervisor' || me.role === 'admin');
    document.querySelectorAll('#states button').forEach((b) => {
      b.addEventListener('click', () => setState(b.dataset.state));
    });
    $('notify').addEventListener('click', async () => {
      if ('Notification' in window) await Notification.requestPermission();
      showNotifyButton();
    });
    $('dial').addEventListener('submit', (event) => {
      event.preventDefault();
      const number = $('dial-number').value.trim();
      if (number) dial(number, event.submitter || $('dial').querySelector('button'), key('dial'));
    });
    document.addEventListener('cti:lang', () => {
      for (const [linkedid, node] of nodes) {
        const entry = pops.get(linkedid);
        if (entry) P.fill(node, entry, handlers);
      }
      renderCallbacks();
      loadMine();
      showNotifyButton();
      tick();
    });
    showNotifyButton();
    restore();
    render();
    connect();
    loadState();
    loadCallbacks();
    loadMine();
    window.setInterval(tick, 1000);
    window.setInterval(sweepClosed, 1000);
    window.setInterval(loadState, 30000);
  }

  start();
})();
