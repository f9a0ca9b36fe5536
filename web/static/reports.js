/* The supervisor's reports page: period picker, KPI tiles against the goals, charts (Chart.js,
   served by cti), agents and missed calls with filters and CSV. Figures come from
   /api/reports/...; what an agent may see is decided by the server. */
(function () {
  'use strict';

  const i18n = window.ctiI18n;
  const f = window.ctiFormat;
  const el = f.el;
  const $ = (id) => document.getElementById(id);

  const STRINGS = {
    en: {
      'title': 'Reports · CTI', 'heading': 'Reports', 'period': 'Period', 'period.day': 'Day',
      'period.week': 'Week', 'period.month': 'Month', 'period.custom': 'Dates', 'from': 'From', 'to': 'To',
      'did': 'Line (DID)', 'agent': 'Agent', 'agent.all': 'Everyone', 'did.all': 'All lines', 'show': 'Show',
      'kpis': 'Key figures', 'csv': 'CSV:', 'csv.summary': 'summary', 'csv.hour': 'by hour', 'csv.day': 'by day',
      'csv.agent': 'by agent', 'csv.did': 'by line', 'csv.missed': 'Download CSV', 'xlsx.missed': 'Download XLSX', 'xlsx.summary': 'summary (XLSX)',
      'chart.hour': 'Calls and missed calls by hour of day', 'chart.day': 'Service level and missed rate by day',
      'chart.agent': 'Agents', 'missed': 'Missed calls', 'kind': 'Kind', 'kind.all': 'All kinds',
      'resolved': 'Called back', 'resolved.all': 'All', 'resolved.no': 'Not yet', 'resolved.yes': 'Called back',
      'col.agent': 'Agent', 'col.offered': 'Offered', 'col.answered': 'Answered', 'col.missed': 'Missed',
      'col.asa': 'Speed of answer', 'col.talk': 'Average talk', 'col.callbacks': 'Callbacks (open)',
      'col.cb_median': 'Callback median', 'col.available': 'Available', 'col.paused': 'Paused', 'col.dnd': 'DND',
      'col.on_shift': 'On shift', 'col.occupancy': 'Occupancy',
      'col.when': 'When', 'col.rung': 'Rang at', 'col.callback': 'Callback',
      'missed.empty': 'No missed calls in this period',
      'missed.more': 'The newest 500 are shown; the CSV has up to 10,000.',
      'loading': 'Calculating…', 'loaded': 'Updated {time}',
      'error.network': 'The server did not answer. Check the connection and press Show again.',
      'error.input': '{detail} Correct it and press Show again.',
      'error.denied': 'These figures are not yours to see. Clear the agent field to see your own.',
      'error.server': 'The report failed on the server ({status}). Try a shorter period, or ask your administrator to look at the server log.',
      'tile.service_level': 'Service level', 'tile.service_level.sub': 'answered within {t} s of offered in business hours',
      'tile.service_level_answered': 'Service level (answered)', 'tile.service_level_answered.sub': 'within {t} s of answered, as Asterisk counts',
      'tile.missed_rate': 'Missed', 'tile.missed_rate.sub': 'of offered in business hours, short abandons left out',
      'tile.abandon_rate': 'Abandoned', 'tile.abandon_rate.sub': 'caller hung up while waiting',
      'tile.offered': 'Offered', 'tile.offered.sub': 'inbound calls, {h} in business hours',
      'tile.missed_out_of_hours': 'Out of hours', 'tile.missed_out_of_hours.sub': 'missed while the line was closed: not in the rates',
      'tile.missed_no_agent': 'No agent free', 'tile.missed_no_agent.sub': 'line open, nobody could be offered the call',
      'tile.answered': 'Answered', 'tile.missed': 'Missed calls',
      'tile.missed.sub': 'abandoned {a} · no answer {n} · busy {b} · no agent free {g} · out of hours {o}',
      'tile.short_abandons': 'Short abandons', 'tile.short_abandons.sub': 'hung up within seconds',
      'tile.average_speed_of_answer': 'Speed of answer', 'tile.average_speed_of_answer.sub': 'average wait of answered calls',
      'tile.average_wait': 'Average wait', 'tile.longest_wait': 'Longest wait', 'tile.average_talk': 'Average talk',
      'tile.callbacks_within_sla': 'Called back in time', 'tile.callbacks_within_sla.sub': 'within {m} min, of {n} callbacks',
      'tile.callback_median': 'Callback time', 'tile.callback_median.sub': 'median · 90% within {p90}',
      'tile.callbacks_open': 'Open callbacks', 'tile.callbacks_open.sub': 'of them overdue: {n}',
      'tile.duty_fallbacks': 'To the duty operator', 'tile.duty_fallbacks.sub': 'fallbacks: {n}',
      'goal.service_level': 'goal ≥ 80%', 'goal.missed_rate': 'goal ≤ 3%', 'goal.callbacks_within_sla': 'goal ≥ 80%',
      'status.good': 'on goal', 'status.warning': 'near the goal', 'status.bad': 'off goal',
      'sl.note': 'Two service levels: of offered calls (short abandons left out) and of answered calls (Asterisk\'s servicelevel). Times in {tz}.',
      'series.offered': 'Offered', 'series.answered': 'Answered', 'series.missed': 'Missed',
      'series.sl': 'Service level, %', 'series.missed_rate': 'Missed, %', 'nodata': '—',
      'cb.open': 'open', 'cb.resolved': 'called back', 'cb.none': 'none', 'short': 'short', 'sec': '{n} s'
    },
    ru: {
      'title': 'Отчёты · CTI', 'heading': 'Отчёты', 'period': 'Период', 'period.day': 'День',
      'period.week': 'Неделя', 'period.month': 'Месяц', 'period.custom': 'Даты', 'from': 'С', 'to': 'По',
      'did': 'Линия (DID)', 'agent': 'Оператор', 'agent.all': 'Все', 'did.all': 'Все линии', 'show': 'Показать',
      'kpis': 'Главные цифры', 'csv': 'CSV:', 'csv.summary': 'сводка', 'csv.hour': 'по часам', 'csv.day': 'по дням',
      'csv.agent': 'по операторам', 'csv.did': 'по линиям', 'csv.missed': 'Скачать CSV', 'xlsx.missed': 'Скачать XLSX', 'xlsx.summary': 'сводка (XLSX)',
      'chart.hour': 'Звонки и пропущенные по часам', 'chart.day': 'Уровень сервиса и доля пропущенных по дням',
      'chart.agent': 'Операторы', 'missed': 'Пропущенные звонки', 'kind': 'Причина', 'kind.all': 'Все причины',
      'resolved': 'Перезвонили', 'resolved.all': 'Все', 'resolved.no': 'Ещё нет', 'resolved.yes': 'Перезвонили',
      'col.agent': 'Оператор', 'col.offered': 'Поступило', 'col.answered': 'Принято', 'col.missed': 'Пропущено',
      'col.asa': 'Скорость ответа', 'col.talk': 'Средний разговор', 'col.callbacks': 'Перезвоны (открыто)',
      'col.cb_median': 'Медиана перезвона', 'col.available': 'На линии', 'col.paused': 'Перерыв', 'col.dnd': 'Не беспокоить',
      'col.on_shift': 'По графику', 'col.occupancy': 'Занятость',
      'col.when': 'Когда', 'col.rung': 'Звонил у', 'col.callback': 'Перезвон',
      'missed.empty': 'За этот период пропущенных нет',
      'missed.more': 'Показаны последние 500; в CSV — до 10 000.',
      'loading': 'Считаем…', 'loaded': 'Обновлено {time}',
      'error.network': 'Сервер не ответил. Проверьте связь и нажмите «Показать» ещё раз.',
      'error.input': '{detail} Исправьте и нажмите «Показать» ещё раз.',
      'error.denied': 'Эти цифры вам недоступны. Очистите поле «Оператор», чтобы увидеть свои.',
      'error.server': 'Отчёт не построился на сервере ({status}). Возьмите период короче или попросите администратора посмотреть журнал сервера.',
      'tile.service_level': 'Уровень сервиса', 'tile.service_level.sub': 'отвечено за {t} с от поступивших в рабочее время',
      'tile.service_level_answered': 'Уровень сервиса (от принятых)', 'tile.service_level_answered.sub': 'за {t} с от принятых, как считает Asterisk',
      'tile.missed_rate': 'Пропущено', 'tile.missed_rate.sub': 'от поступивших в рабочее время, без коротких сбросов',
      'tile.abandon_rate': 'Брошено', 'tile.abandon_rate.sub': 'клиент положил трубку в ожидании',
      'tile.offered': 'Поступило', 'tile.offered.sub': 'входящих звонков, {h} в рабочее время',
      'tile.missed_out_of_hours': 'В нерабочее время', 'tile.missed_out_of_hours.sub': 'пропущены, пока линия закрыта: не входят в доли',
      'tile.missed_no_agent': 'Нет свободных', 'tile.missed_no_agent.sub': 'линия открыта, звонок некому было предложить',
      'tile.answered': 'Принято', 'tile.missed': 'Пропущенных',
      'tile.missed.sub': 'брошено {a} · без ответа {n} · занято {b} · нет свободных {g} · нерабочее время {o}',
      'tile.short_abandons': 'Короткие сбросы', 'tile.short_abandons.sub': 'положили трубку за секунды',
      'tile.average_speed_of_answer': 'Скорость ответа', 'tile.average_speed_of_answer.sub': 'среднее ожидание принятых',
      'tile.average_wait': 'Среднее ожидание', 'tile.longest_wait': 'Самое долгое ожидание', 'tile.average_talk': 'Средний разговор',
      'tile.callbacks_within_sla': 'Перезвонили вовремя', 'tile.callbacks_within_sla.sub': 'за {m} мин, из {n} перезвонов',
      'tile.callback_median': 'Время перезвона', 'tile.callback_median.sub': 'медиана · 90% за {p90}',
      'tile.callbacks_open': 'Ждут перезвона', 'tile.callbacks_open.sub': 'из них просрочено: {n}',
      'tile.duty_fallbacks': 'Дежурному', 'tile.duty_fallbacks.sub': 'переадресаций дальше по цепочке: {n}',
      'goal.service_level': 'цель ≥ 80%', 'goal.missed_rate': 'цель ≤ 3%', 'goal.callbacks_within_sla': 'цель ≥ 80%',
      'status.good': 'в норме', 'status.warning': 'близко к границе', 'status.bad': 'вне нормы',
      'sl.note': 'Два уровня сервиса: от поступивших (без коротких сбросов) и от принятых (servicelevel Asterisk). Время — {tz}.',
      'series.offered': 'Поступило', 'series.answered': 'Принято', 'series.missed': 'Пропущено',
      'series.sl': 'Уровень сервиса, %', 'series.missed_rate': 'Пропущено, %', 'nodata': '—',
      'cb.open': 'ждёт', 'cb.resolved': 'перезвонили', 'cb.none': 'нет', 'short': 'короткий', 'sec': '{n} с'
    }
  };

  function rt(key, vars) {
    let text = (STRINGS[i18n.lang] || STRINGS.en)[key];
    if (text === undefined) text = STRINGS.en[key];
    if (text === undefined) return i18n.t(key, vars);
    if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
    return text;
  }

  function translate() {
    document.querySelectorAll('[data-r]').forEach((node) => { node.textContent = rt(node.dataset.r); });
    document.querySelectorAll('[data-r-aria]').forEach((node) => node.setAttribute('aria-label', rt(node.dataset.rAria)));
    document.title = rt('title');
  }

  // --- numbers for people ----------------------------------------------------------------------
  function pct(value) {
    if (value === null || value === undefined) return rt('nodata');
    return new Intl.NumberFormat(i18n.locale, { style: 'percent', maximumFractionDigits: 1 }).format(value);
  }
  function num(value) {
    return new Intl.NumberFormat(i18n.locale).format(Number(value) || 0);
  }
  function secs(value) {
    if (value === null || value === undefined) return rt('nodata');
    if (value < 60) return rt('sec', { n: new Intl.NumberFormat(i18n.locale, { maximumFractionDigits: 1 }).format(value) });
    return f.duration(value);
  }

  // a calendar day as given (YYYY-MM-DD), whatever the browser's zone
  function dayLabel(isoDate) {
    const date = new Date(isoDate + 'T00:00:00Z');
    if (Number.isNaN(date.getTime())) return String(isoDate || '');
    return new Intl.DateTimeFormat(i18n.locale, { day: '2-digit', month: '2-digit', year: 'numeric', timeZone: 'UTC' }).format(date);
  }

  // an instant in the office's time zone (the report's), not the browser's
  function officeTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    const options = { day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit' };
    try {
      options.timeZone = data.summary.settings.timezone;
      return new Intl.DateTimeFormat(i18n.locale, options).format(date);
    } catch (e) {
      delete options.timeZone;
      return new Intl.DateTimeFormat(i18n.locale, options).format(date);
    }
  }

  // --- state -----------------------------------------------------------------------------------
  let me = null;
  let data = null;
  let missedRows = [];
  const charts = {};
  const SHOWN = 500; // rows of the missed-calls table; the CSV has up to 10,000

  function todayIso() {
    const d = new Date();
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  }

  function periodParams() {
    const params = new URLSearchParams();
    const kind = $('period').value;
    const from = $('from').value;
    if (kind === 'custom') {
      if (from) params.set('from', from);
      if ($('to').value) params.set('to', $('to').value);
    } else {
      params.set('period', kind);
      if (from) params.set('date', from);
    }
    const did = $('did').value.trim();
    if (did) params.set('did', did);
    if ($('agent').value) params.set('agent', $('agent').value);
    return params;
  }

  function url(path, params, extra) {
    const p = new URLSearchParams(params);
    Object.entries(extra || {}).forEach(([k, v]) => { if (v !== '' && v !== null && v !== undefined) p.set(k, v); });
    return path + '?' + p.toString();
  }

  class ReportFailure extends Error {
    constructor(message) { super(message); this.name = 'ReportFailure'; }
  }

  async function get(path) {
    let response;
    try {
      response = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    } catch (e) {
      throw new ReportFailure(rt('error.network'));
    }
    if (response.status === 401) {
      window.location.assign('/login');
      throw new ReportFailure('signed out');
    }
    if (!response.ok) {
      let detail = '';
      try { detail = (await response.json()).detail || ''; } catch (e) { detail = ''; }
      if (response.status === 400) throw new ReportFailure(rt('error.input', { detail: detail }));
      if (response.status === 403) throw new ReportFailure(rt('error.denied'));
      throw new ReportFailure(rt('error.server', { status: response.status }));
    }
    return response.json();
  }

  function showError(message) {
    $('error').textContent = message;
    $('error').hidden = !message;
  }

  function setBusy(busy) {
    document.body.dataset.state = busy ? 'loading' : 'ready';
    document.querySelector('#period-form button[type=submit]').disabled = busy;
    $('status').textContent = busy ? rt('loading') : '';
    document.querySelector('main').setAttribute('aria-busy', String(busy));
  }

  async function load() {
    setBusy(true);
    showError('');
    const params = periodParams();
    try {
      const [summary, hour, day, agent, did] = await Promise.all([
        get(url('/api/reports/summary', params)),
        get(url('/api/reports/breakdown', params, { by: 'hour' })),
        get(url('/api/reports/breakdown', params, { by: 'day' })),
        get(url('/api/reports/breakdown', params, { by: 'agent' })),
        get(url('/api/reports/breakdown', params, { by: 'did' }))
      ]);
      data = { summary: summary, hour: hour, day: day, agent: agent, did: did, params: params };
      render();
      await loadMissed();
      $('status').textContent = rt('loaded', { time: f.clock(new Date()) });
      document.body.dataset.state = 'ready';
    } catch (e) {
      showError(e instanceof ReportFailure ? e.message : rt('error.network'));
      setBusy(false);
      document.body.dataset.state = 'error';
      return;
    }
    document.querySelector('#period-form button[type=submit]').disabled = false;
    document.querySelector('main').setAttribute('aria-busy', 'false');
  }

  // --- tiles -----------------------------------------------------------------------------------
  function tile(name, value, sub, status, goal) {
    const node = el('div', 'tile' + (status ? ' tile-' + f.safeClass(status) : ''));
    node.dataset.kpi = name;
    node.appendChild(el('div', 'tile-label', rt('tile.' + name)));
    node.appendChild(el('div', 'tile-value', value));
    if (sub) node.appendChild(el('div', 'tile-sub', sub));
    if (goal) node.appendChild(el('div', 'tile-goal', rt('goal.' + name) + (status ? ' · ' + rt('status.' + status) : '')));
    return node;
  }

  function renderTiles() {
    const s = data.summary;
    const x = s.figures;
    const g = s.goals;
    const t = s.settings.service_level_seconds;
    const tiles = [
      tile('service_level', pct(x.service_level), rt('tile.service_level.sub', { t: t }), g.service_level.status, true),
      tile('service_level_answered', pct(x.service_level_answered), rt('tile.service_level_answered.sub', { t: t })),
      tile('missed_rate', pct(x.missed_rate), rt('tile.missed_rate.sub'), g.missed_rate.status, true),
      tile('callbacks_within_sla', pct(x.callbacks_within_sla),
        rt('tile.callbacks_within_sla.sub', { m: s.settings.callback_sla_minutes, n: num(x.callbacks) }),
        g.callbacks_within_sla.status, true),
      tile('offered', num(x.offered), rt('tile.offered.sub', { h: num(x.offered_in_hours) })),
      tile('answered', num(x.answered)),
      tile('missed', num(x.missed), rt('tile.missed.sub', {
        a: num(x.missed_abandoned), n: num(x.missed_no_answer), b: num(x.missed_busy), o: num(x.missed_out_of_hours), g: num(x.missed_no_agent)
      })),
      tile('missed_out_of_hours', num(x.missed_out_of_hours), rt('tile.missed_out_of_hours.sub')),
      tile('missed_no_agent', num(x.missed_no_agent), rt('tile.missed_no_agent.sub')),
      tile('short_abandons', num(x.short_abandons), rt('tile.short_abandons.sub')),
      tile('abandon_rate', pct(x.abandon_rate), rt('tile.abandon_rate.sub')),
      tile('average_speed_of_answer', secs(x.average_speed_of_answer), rt('tile.average_speed_of_answer.sub')),
      tile('average_wait', secs(x.average_wait)),
      tile('longest_wait', secs(x.longest_wait)),
      tile('average_talk', secs(x.average_talk)),
      tile('callback_median', secs(x.callback_median), rt('tile.callback_median.sub', { p90: secs(x.callback_p90) })),
      tile('callbacks_open', num(x.callbacks_open), rt('tile.callbacks_open.sub', { n: num(x.callbacks_overdue) }),
        x.callbacks_overdue > 0 ? 'bad' : null),
      tile('duty_fallbacks', num(x.duty_fallbacks), rt('tile.duty_fallbacks.sub', { n: num(x.fallbacks) }))
    ];
    $('tiles').replaceChildren(...tiles);
    const p = s.period;
    $('period-label').textContent = p.from === p.to ? dayLabel(p.from) : dayLabel(p.from) + ' – ' + dayLabel(p.to);
    $('sl-note').textContent = rt('sl.note', { tz: s.settings.timezone });
    const csv = (by, format) => url(by ? '/api/reports/breakdown' : '/api/reports/summary', data.params,
      Object.assign(by ? { by: by } : {}, { format: format || 'csv', lang: i18n.lang }));
    $('csv-summary').href = csv(null);
    $('xlsx-summary').href = csv(null, 'xlsx');
    ['hour', 'day', 'agent', 'did'].forEach((by) => { $('csv-' + by).href = csv(by); });
  }

  // --- charts ----------------------------------------------------------------------------------
  const COLORS = { offered: '#2563eb', answered: '#059669', missed: '#dc2626', sl: '#059669', missedRate: '#dc2626' };

  function chart(id, config) {
    if (!window.Chart) return;
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { position: 'bottom' } }
    }, config.options || {});
    charts[id] = new window.Chart($(id), config);
  }

  function renderCharts() {
    const hours = data.hour.rows;
    chart('chart-hour', {
      type: 'bar',
      data: {
        labels: hours.map((r) => r.label),
        datasets: [
          { label: rt('series.answered'), data: hours.map((r) => r.answered), backgroundColor: COLORS.answered, stack: 'calls' },
          { label: rt('series.missed'), data: hours.map((r) => r.missed), backgroundColor: COLORS.missed, stack: 'calls' }
        ]
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    });
    const days = data.day.rows;
    const asPct = (v) => (v === null ? null : Math.round(v * 1000) / 10);
    chart('chart-day', {
      type: 'line',
      data: {
        labels: days.map((r) => dayLabel(r.day)),
        datasets: [
          { label: rt('series.sl'), data: days.map((r) => asPct(r.service_level)), borderColor: COLORS.sl,
            backgroundColor: COLORS.sl, spanGaps: true },
          { label: rt('series.missed_rate'), data: days.map((r) => asPct(r.missed_rate)), borderColor: COLORS.missedRate,
            backgroundColor: COLORS.missedRate, spanGaps: true }
        ]
      },
      options: { scales: { y: { min: 0, max: 100 } } }
    });
    const agents = data.agent.rows.filter((r) => r.offered || r.answered);
    chart('chart-agent', {
      type: 'bar',
      data: {
        labels: agents.map((r) => r.label),
        datasets: [
          { label: rt('series.offered'), data: agents.map((r) => r.offered), backgroundColor: COLORS.offered },
          { label: rt('series.answered'), data: agents.map((r) => r.answered), backgroundColor: COLORS.answered },
          { label: rt('series.missed'), data: agents.map((r) => r.missed), backgroundColor: COLORS.missed }
        ]
      },
      options: { indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  // --- tables ----------------------------------------------------------------------------------
  function cell(text, cls) {
    return el('td', cls || '', text);
  }

  function renderAgents() {
    const rows = data.agent.rows.map((r) => {
      const tr = el('tr');
      tr.append(
        cell(r.label), cell(num(r.offered), 'num'), cell(num(r.answered), 'num'), cell(num(r.missed), 'num'),
        cell(secs(r.average_speed_of_answer), 'num'), cell(secs(r.average_talk), 'num'),
        cell(num(r.callbacks) + ' (' + num(r.callbacks_open) + ')', 'num'), cell(secs(r.callback_median), 'num'),
        cell(f.duration(r.time_available), 'num'), cell(f.duration(r.time_paused), 'num'), cell(f.duration(r.time_dnd), 'num'),
        cell(r.time_on_shift == null ? rt('nodata') : f.duration(r.time_on_shift), 'num'), cell(pct(r.occupancy), 'num')
      );
      return tr;
    });
    $('agents-body').replaceChildren(...rows);
  }

  function fillSelect(select, options) {
    const keep = select.value;
    const first = select.options[0];
    select.replaceChildren(first);
    options.forEach(([value, label]) => {
      const option = el('option', '', label);
      option.value = value;
      select.appendChild(option);
    });
    select.value = options.some(([v]) => v === keep) ? keep : '';
  }

  function renderFilters() {
    const agents = data.agent.rows.filter((r) => r.login).map((r) => [r.login, r.label]);
    if (me && me.everything) {
      fillSelect($('agent'), agents);
      fillSelect($('m-agent'), agents);
    }
    fillSelect($('m-did'), data.did.rows.map((r) => [r.did, r.did ? f.phone(r.did) : '-']));
  }

  function missedParams() {
    const extra = {
      kind: $('m-kind').value, resolved: $('m-resolved').value, agent: $('m-agent').value || $('agent').value,
      did: $('m-did').value || $('did').value.trim()
    };
    const base = new URLSearchParams(data.params);
    base.delete('agent');
    base.delete('did');
    return [base, extra];
  }

  function missedLinks() {
    const [base, extra] = missedParams();
    ['csv', 'xlsx'].forEach((format) => {
      $(format + '-missed').href = url('/api/reports/missed', base,
        Object.assign({ format: format, lang: i18n.lang }, extra));
    });
  }

  async function loadMissed() {
    const [base, extra] = missedParams();
    missedLinks();
    const body = await get(url('/api/reports/missed', base, Object.assign({ limit: SHOWN }, extra)));
    missedRows = body.missed;
    renderMissed();
  }

  function renderMissed() {
    const rows = missedRows.map((m) => {
      const tr = el('tr');
      tr.dataset.kind = m.kind;
      const kind = el('td');
      kind.appendChild(el('span', 'missed-kind', i18n.t('missed.' + m.kind)));
      if (m.short_abandon) kind.appendChild(el('span', 'chip', ' ' + rt('short')));
      const cb = m.callback_state === 'resolved' ? rt('cb.resolved') : m.callback_state === 'open' ? rt('cb.open') : rt('cb.none');
      tr.append(
        cell(officeTime(m.missed_at)),
        cell(f.phone(m.caller) || i18n.t('caller.unknown')),
        cell(f.phone(m.did)),
        kind,
        cell(secs(m.wait_seconds), 'num'),
        cell((m.agents_rung || []).join(', ')),
        cell(cb + (m.callback_owner ? ' · ' + m.callback_owner : ''))
      );
      return tr;
    });
    $('missed-body').replaceChildren(...rows);
    $('missed-count').textContent = num(missedRows.length);
    $('missed-more').hidden = missedRows.length < SHOWN;
    $('missed-empty').hidden = missedRows.length > 0;
  }

  function render() {
    renderTiles();
    renderCharts();
    renderAgents();
    renderFilters();
  }

  function syncPeriodInputs() {
    const custom = $('period').value === 'custom';
    $('to-label').hidden = !custom;
  }

  async function start() {
    translate();
    $('from').value = todayIso();
    $('to').value = todayIso();
    syncPeriodInputs();
    try {
      const who = await get('/api/me');
      me = { login: who.login, everything: who.role === 'supervisor' || who.role === 'admin' };
      $('me').textContent = who.name || who.login;
    } catch (e) {
      me = { everything: false };
    }
    $('agent-label').hidden = !me.everything;
    $('m-agent').closest('label').hidden = !me.everything;
    $('nav-supervisor').hidden = !me.everything;
    $('period').addEventListener('change', () => { syncPeriodInputs(); load(); });
    $('period-form').addEventListener('submit', (event) => { event.preventDefault(); load(); });
    ['m-agent', 'm-did', 'm-kind', 'm-resolved'].forEach((id) => $(id).addEventListener('change', () => {
      if (!data) return;
      document.body.dataset.state = 'loading';
      loadMissed().then(() => { document.body.dataset.state = 'ready'; },
        (e) => { showError(e.message); document.body.dataset.state = 'error'; });
    }));
    document.addEventListener('cti:lang', () => {
      translate();
      if (data) { render(); renderMissed(); missedLinks(); }
    });
    await load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
