/* Screen-pops on the agent console: one card per call, built once, updated in place (so a
   create-customer form being typed into is never thrown away). Caller IDs, customer names and
   everything from the directory are attacker-controlled: textContent only, links http(s) only. */
(function () {
  'use strict';

  const i18n = window.ctiI18n;
  const t = (key, vars) => i18n.t(key, vars);
  const f = window.ctiFormat;
  const el = f.el;

  function safeUrl(value) {
    try {
      const url = new URL(String(value || ''));
      return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function personName(ref) {
    if (!ref) return '';
    return ref.name || ref.login || f.phone(ref.extension);
  }

  function callerNumber(pop) {
    const caller = pop.caller || {};
    return f.phone(caller.e164 || caller.number);
  }

  function title(pop) {
    if (pop.customer) return pop.customer.name;
    if (pop.colleague) return t('pop.colleague', { name: personName(pop.colleague) });
    const caller = pop.caller || {};
    if (caller.name && caller.name !== caller.number) return caller.name;
    return caller.number ? t('pop.unknown') : t('pop.withheld');
  }

  function routeText(route) {
    if (!route) return '';
    let text = t('route.' + route.kind);
    const skipped = (route.skipped || [])[0];
    if (skipped && ['paused', 'dnd', 'offline', 'off_shift', 'unreachable', 'at_limit'].includes(skipped.code)) {
      const name = skipped.name || skipped.agent || '';
      const key = skipped.code === 'paused' && !skipped.detail ? 'skip.paused.plain' : 'skip.' + skipped.code;
      text += ' · ' + t('route.because', { text: t(key, { name: name, detail: skipped.detail }) });
    } else if (skipped) {
      text += ' · ' + t('route.because', { text: skipped.text });
    }
    return text;
  }

  function section(className, heading) {
    const box = el('section', 'pop-section ' + className);
    box.appendChild(el('h3', null, heading));
    return box;
  }

  function customerBlock(pop, handlers) {
    const c = pop.customer;
    const box = el('div', 'pop-customer');
    if (c.source === 'auto') box.appendChild(el('p', 'pop-lead', t('lead.note')));
    if (c.company) box.appendChild(el('div', 'pop-company', c.company));
    box.appendChild(el('div', 'pop-manager',
      c.manager ? t('pop.manager', { name: personName(c.manager) }) : t('pop.no_manager')));
    if (c.timezone) {
      const local = el('div', 'pop-local-time');
      local.dataset.tz = c.timezone;
      box.appendChild(local);
    }
    const orders = c.orders; // null until the card's database part arrives (pop.updated)
    if (orders) {
      box.appendChild(el('div', 'pop-orders', orders.count
        ? t('pop.orders', { count: orders.count, total: f.money(orders.total, orders.currency) })
        : t('pop.no_orders')));
    }
    if (orders && (orders.last || []).length) {
      const last = section('orders-last', t('pop.last_orders'));
      const list = el('ul', 'plain');
      orders.last.forEach((o) => {
        const li = el('li', 'order');
        li.appendChild(el('span', 'order-number', '№ ' + o.number));
        li.appendChild(el('span', 'order-date', f.day(o.date)));
        li.appendChild(el('span', 'order-status', o.status));
        li.appendChild(el('span', 'order-amount', f.money(o.amount, o.currency)));
        list.appendChild(li);
      });
      last.appendChild(list);
      box.appendChild(last);
    }
    const crm = safeUrl(c.crm_url);
    if (crm) {
      const link = el('a', 'pop-crm', t('pop.crm'));
      link.href = crm;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      box.appendChild(link);
    }
    if (handlers && handlers.edit) {
      const edit = el('button', 'pop-edit link', t('edit.open'));
      edit.type = 'button';
      edit.addEventListener('click', () => {
        edit.disabled = true;
        handlers.edit(pop).then((view) => {
          if (box.querySelector('.pop-edit-form')) return;
          box.appendChild(editForm(pop, view, handlers));
        }).catch(() => { edit.disabled = false; });
      });
      box.appendChild(edit);
    }
    return box;
  }

  /* "This number belongs to ...": open that card, or add the number anyway. */
  function duplicateBox(problem, onOpen, onAnyway) {
    const box = el('div', 'pop-duplicate');
    box.setAttribute('role', 'alert');
    const existing = (problem && problem.existing) || [];
    const who = existing.map((c) => (c.visible === false ? t('dup.hidden')
      : [c.name, c.company].filter(Boolean).join(', '))).join('; ');
    box.appendChild(el('p', null, t('dup.heading', { who: who })));
    const first = existing.find((c) => c.visible !== false);
    if (first && onOpen) {
      const open = el('button', 'dup-open', t('dup.open'));
      open.type = 'button';
      open.addEventListener('click', () => onOpen(first.id));
      box.appendChild(open);
    }
    const anyway = el('button', 'dup-anyway', t('dup.anyway'));
    anyway.type = 'button';
    anyway.addEventListener('click', () => { anyway.disabled = true; onAnyway(); });
    box.appendChild(anyway);
    return box;
  }

  const EDIT_FIELDS = ['name', 'company', 'phones', 'notes', 'manager_login', 'vip', 'timezone', 'crm_url'];

  function editValue(view, name) {
    if (name === 'phones') return (view.phones || []).map((p) => p.raw || p.e164).join(', ');
    if (name === 'vip') return Boolean(view.vip);
    if (name === 'timezone') return view.timezone_source === 'customer' ? view.timezone : '';
    return view[name] == null ? '' : String(view[name]);
  }

  /* The card's fields; those the role may not change are disabled (the server refuses them too). */
  function editForm(pop, view, handlers) {
    const form = el('form', 'pop-edit-form');
    form.autocomplete = 'off';
    form.appendChild(el('h3', null, t('edit.heading')));
    const editable = new Set(view.editable || []);
    if (EDIT_FIELDS.some((name) => !editable.has(name))) form.appendChild(el('p', 'muted', t('edit.readonly')));
    const suffix = '-' + pop.linkedid.replace(/[^A-Za-z0-9]/g, '_');
    EDIT_FIELDS.forEach((name) => {
      const id = 'edit-' + name + suffix;
      const label = el('label', null, t('edit.' + name));
      label.htmlFor = id;
      let input;
      if (name === 'notes') input = el('textarea');
      else input = el('input');
      if (name === 'vip') input.type = 'checkbox';
      input.id = id;
      input.name = name;
      const value = editValue(view, name);
      if (name === 'vip') input.checked = value;
      else input.value = value;
      input.dataset.initial = String(value);
      input.disabled = !editable.has(name);
      form.appendChild(label);
      form.appendChild(input);
    });
    const save = el('button', 'edit-save', t('edit.save'));
    save.type = 'submit';
    const cancel = el('button', 'edit-cancel link', t('edit.cancel'));
    cancel.type = 'button';
    cancel.addEventListener('click', () => form.remove());
    form.appendChild(save);
    form.appendChild(cancel);
    const status = el('p', 'pop-edit-status');
    status.setAttribute('role', 'status');
    form.appendChild(status);
    function changes() {
      const body = {};
      EDIT_FIELDS.forEach((name) => {
        const input = form.elements[name];
        if (input.disabled) return;
        const value = name === 'vip' ? input.checked : input.value;
        if (String(value) === input.dataset.initial) return;
        if (name === 'phones') body.phones = input.value.split(',').map((v) => v.trim()).filter(Boolean);
        else if (name === 'vip') body.vip = input.checked;
        else if (['manager_login', 'timezone', 'crm_url'].includes(name)) body[name] = input.value.trim() || null;
        else body[name] = input.value;
      });
      return body;
    }
    function submit(allow) {
      const body = changes();
      if (!Object.keys(body).length) {
        status.textContent = t('edit.nothing');
        return;
      }
      save.disabled = true;
      const old = form.querySelector('.pop-duplicate');
      if (old) old.remove();
      handlers.save(pop, view.id, body, allow).then(() => {
        form.remove(); // the card shows what was saved, the note says so
      }).catch((error) => {
        save.disabled = false;
        if (error.status === 409 && error.problem && error.problem.existing) {
          form.insertBefore(duplicateBox(error.problem, null, () => submit(true)), status);
          return;
        }
        status.textContent = t('edit.error', { detail: error.message });
      });
    }
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submit(false);
    });
    return form;
  }

  function candidatesBlock(pop, handlers) {
    const box = section('pop-candidates', t('cand.heading'));
    const list = el('ul', 'plain');
    const current = pop.customer ? pop.customer.id : null;
    const status = el('p', 'cand-status');
    status.setAttribute('role', 'status');
    pop.candidates.forEach((c) => {
      const li = el('li', 'pop-candidate');
      li.dataset.id = String(c.id);
      li.appendChild(el('span', 'cand-name', c.name));
      if (c.company) li.appendChild(el('span', 'muted', c.company));
      if (c.manager) li.appendChild(el('span', 'muted', t('pop.manager', { name: personName(c.manager) })));
      if (c.id === current) {
        li.appendChild(el('span', 'badge cand-current', t('cand.current')));
        if (handlers.canMerge && handlers.canMerge()) {
          const merge = el('button', 'cand-merge link', t('cand.merge'));
          merge.type = 'button';
          merge.addEventListener('click', () => {
            merge.disabled = true;
            const others = pop.candidates.map((o) => o.id).filter((id) => id !== current);
            handlers.merge(pop, current, others).then(() => {
              status.textContent = t('cand.merged');
            }).catch((error) => {
              merge.disabled = false;
              status.textContent = t('cand.error', { detail: error.message });
            });
          });
          li.appendChild(merge);
        }
      } else {
        const pick = el('button', 'cand-pick link', t('cand.pick'));
        pick.type = 'button';
        pick.addEventListener('click', () => {
          pick.disabled = true;
          handlers.choose(pop, c.id).catch((error) => {
            pick.disabled = false;
            status.textContent = t('cand.error', { detail: error.message });
          });
        });
        li.appendChild(pick);
      }
      list.appendChild(li);
    });
    box.appendChild(list);
    box.appendChild(status);
    return box;
  }

  function newCustomerForm(pop, onCreate, onOpen) {
    const form = el('form', 'pop-new');
    form.autocomplete = 'off';
    form.appendChild(el('h3', null, t('new.heading')));
    const fields = [['name', 'new.name', ''], ['company', 'new.company', ''],
      ['phone', 'new.phone', f.phone(pop.new_customer.phone)]];
    fields.forEach(([name, key, value]) => {
      const id = 'new-' + name + '-' + pop.linkedid.replace(/[^A-Za-z0-9]/g, '_');
      const label = el('label', null, t(key));
      label.htmlFor = id;
      const input = el('input');
      input.id = id;
      input.name = name;
      input.maxLength = name === 'phone' ? 40 : 200;
      input.value = value;
      if (name === 'name') input.required = true;
      form.appendChild(label);
      form.appendChild(input);
    });
    const save = el('button', null, t('new.save'));
    save.type = 'submit';
    form.appendChild(save);
    const status = el('p', 'pop-new-status');
    status.setAttribute('role', 'status');
    form.appendChild(status);
    form.addEventListener('input', () => { form.dataset.dirty = '1'; });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      save.disabled = true;
      send(false);
    });
    function send(allow) {
      const data = new FormData(form);
      const old = form.querySelector('.pop-duplicate');
      if (old) old.remove();
      onCreate({
        name: String(data.get('name') || '').trim(),
        company: String(data.get('company') || '').trim(),
        phones: [String(data.get('phone') || '').trim()].filter(Boolean)
      }, allow).then((customer) => {
        status.textContent = t('new.saved');
        form.dataset.dirty = '';
        form.dataset.saved = '1';
        return customer;
      }).catch((error) => {
        save.disabled = false;
        if (error.status === 409 && error.problem && error.problem.existing) {
          status.textContent = '';
          form.insertBefore(duplicateBox(error.problem,
            (id) => { form.dataset.dirty = ''; onOpen(id); },
            () => send(true)), status);
          return;
        }
        status.textContent = t('new.error', { detail: error.message });
      });
    }
    return form;
  }

  function historyBlock(pop) {
    const box = document.createDocumentFragment();
    if ((pop.callbacks || []).length) {
      const s = section('pop-callbacks', t('pop.callbacks'));
      const list = el('ul', 'plain');
      pop.callbacks.forEach((cb) => {
        const li = el('li');
        li.appendChild(el('span', null, f.phone(cb.number)));
        if (cb.note) li.appendChild(el('span', 'muted', cb.note));
        if (cb.deadline_at) li.appendChild(el('span', 'muted', f.when(cb.deadline_at)));
        list.appendChild(li);
      });
      s.appendChild(list);
      box.appendChild(s);
    }
    if ((pop.recent_calls || []).length) {
      const s = section('pop-recent', t('pop.recent'));
      const list = el('ul', 'plain');
      pop.recent_calls.forEach((call) => {
        const li = el('li');
        li.appendChild(el('span', null, f.when(call.started_at)));
        li.appendChild(el('span', 'dir dir-' + f.safeClass(call.direction), t('dir.' + call.direction)));
        li.appendChild(el('span', 'badge outcome-' + f.safeClass(call.outcome), t('outcome.' + call.outcome)));
        if ((call.answered_by || []).length) li.appendChild(el('span', 'muted', call.answered_by.join(', ')));
        const recording = safeUrl(call.recording_url);
        if (recording) {
          const link = el('a', 'pop-recording', t('pop.recording'));
          link.href = recording;
          link.target = '_blank';
          link.rel = 'noopener noreferrer';
          li.appendChild(link);
        }
        list.appendChild(li);
      });
      s.appendChild(list);
      box.appendChild(s);
    }
    return box;
  }

  /* One pop's element: `render` the whole card; `status` only the parts that change. */
  function build(entry, handlers) {
    const node = el('article', 'pop');
    node.dataset.linkedid = entry.pop.linkedid;
    const head = el('header', 'pop-head');
    const who = el('div', 'pop-who');
    who.appendChild(el('div', 'pop-title'));
    who.appendChild(el('div', 'pop-number'));
    head.appendChild(who);
    head.appendChild(el('span', 'badge pop-vip'));
    head.appendChild(el('span', 'badge pop-state'));
    const dismiss = el('button', 'pop-dismiss link');
    dismiss.type = 'button';
    dismiss.addEventListener('click', () => handlers.dismiss(entry.pop.linkedid));
    head.appendChild(dismiss);
    node.appendChild(head);
    node.appendChild(el('p', 'pop-route'));
    node.appendChild(el('p', 'pop-note'));
    node.appendChild(el('div', 'pop-body'));
    fill(node, entry, handlers);
    return node;
  }

  function fill(node, entry, handlers) {
    const pop = entry.pop;
    node.querySelector('.pop-title').textContent = title(pop);
    node.querySelector('.pop-number').textContent = callerNumber(pop);
    const vip = node.querySelector('.pop-vip');
    vip.textContent = t('pop.vip');
    vip.hidden = !(pop.customer && pop.customer.vip);
    node.querySelector('.pop-route').textContent = routeText(pop.route);
    const form = node.querySelector('.pop-new');
    if (form && form.dataset.dirty) return status(node, entry); // keep what is being typed
    if (node.querySelector('.pop-edit-form')) return status(node, entry);
    const body = node.querySelector('.pop-body');
    // A create-customer form still wanted is kept as it is (an update arriving while the agent
    // has just focused the name field must not take the field away); rebuilt only for a new
    // language, and only while nobody is in it.
    const wanted = !pop.customer && pop.new_customer;
    const focused = form && form.contains(document.activeElement);
    const keep = wanted && form && (focused || form.dataset.lang === i18n.lang) ? form : null;
    Array.from(body.children).forEach((child) => { if (child !== keep) child.remove(); });
    const top = document.createDocumentFragment();
    if (pop.lookup_failed) top.appendChild(el('p', 'load-error', t('pop.lookup_failed')));
    if ((pop.candidates || []).length > 1) top.appendChild(candidatesBlock(pop, handlers));
    if (pop.customer) top.appendChild(customerBlock(pop, handlers));
    else if (wanted && !keep) {
      const fresh = newCustomerForm(pop, (data, allow) => handlers.create(pop, data, allow),
        (id) => handlers.open(pop, id));
      fresh.dataset.lang = i18n.lang;
      top.appendChild(fresh);
    }
    body.insertBefore(top, keep);
    body.appendChild(historyBlock(pop));
    status(node, entry);
  }

  function status(node, entry) {
    node.dataset.status = entry.status;
    node.dataset.state = entry.pop.state;
    const badge = node.querySelector('.pop-state');
    const key = entry.status === 'closed' ? 'pop.closed' : 'pop.' + entry.pop.state;
    badge.textContent = t(key);
    badge.className = 'badge pop-state state-' + (entry.status === 'closed' ? 'closed' : f.safeClass(entry.pop.state));
    node.querySelector('.pop-note').textContent = entry.note ? t(entry.note.key, entry.note.vars) : '';
    node.querySelector('.pop-dismiss').textContent = t('pop.dismiss');
    node.querySelector('.pop-dismiss').hidden = entry.status !== 'closed';
  }

  function tick(root) {
    const now = new Date();
    root.querySelectorAll('.pop-local-time[data-tz]').forEach((node) => {
      node.textContent = t('pop.local_time', {
        time: f.clock(now, node.dataset.tz), mine: f.clock(now)
      });
    });
  }

  window.ctiPops = { build: build, fill: fill, status: status, tick: tick, title: title, number: callerNumber };
})();
