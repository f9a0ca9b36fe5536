/* Every user-visible string of the console in Russian and English, and the RU/EN switch. */
(function () {
  'use strict';

  const STRINGS = {
    en: {
      'app.title': 'Calls now · CTI',
      'header.title': 'Calls now',
      'lang.label': 'Language',
      'logout': 'Sign out',
      'conn.connecting': 'Connecting…',
      'conn.online': 'Live',
      'conn.reconnecting': 'Reconnecting…',
      'banner.reconnecting': 'Connection to the server lost. Reconnecting…',
      'live.heading': 'Live calls',
      'live.empty': 'No calls right now',
      'recent.heading': 'Last 50 calls',
      'recent.empty': 'No finished calls yet',
      'recent.error': 'Could not load the finished calls. Retrying on reconnect.',
      'col.caller': 'Caller',
      'col.customer': 'Customer',
      'col.did': 'Line (DID)',
      'col.state': 'State',
      'col.ringing': 'Ringing at',
      'col.answered': 'Answered by',
      'col.timer': 'Time',
      'col.time': 'Time',
      'col.direction': 'Direction',
      'col.outcome': 'Outcome',
      'col.wait': 'Wait',
      'col.talk': 'Talk',
      'caller.unknown': 'Number withheld',
      'state.ringing': 'Ringing',
      'state.queued': 'In queue',
      'state.talking': 'Talking',
      'state.on_hold': 'On hold',
      'state.dialplan': 'In voice menu',
      'dir.inbound': 'Inbound',
      'dir.outbound': 'Outbound',
      'dir.internal': 'Internal',
      'outcome.answered': 'Answered',
      'outcome.missed': 'Missed',
      'outcome.unanswered': 'Not answered',
      'missed.abandoned': 'caller hung up',
      'missed.out_of_hours': 'out of hours',
      'missed.no_agent': 'no agent free',
      'missed.busy': 'busy',
      'missed.no_answer': 'no answer',
      'short_abandon': 'short',
      'short_abandon.title': 'The caller hung up within the first seconds',
      'transferred': 'transferred',
      'queue': 'queue {name}',
      'login.title': 'Sign in · CTI',
      'login.heading': 'Sign in to the call board',
      'login.login': 'Login',
      'login.password': 'Password',
      'login.submit': 'Sign in',
      'login.invalid': 'Wrong login or password.',
      'login.invalid_token': 'That token is not accepted.',
      'login.throttled': 'Too many failed attempts. Try again later.',
      'login.hint': 'Ask your administrator for an account.',
      'nav.board': 'Live board',
      'nav.console': 'My console',
      'nav.supervisor': 'Supervisor',
      'nav.reports': 'Reports',
      'console.title': 'Console · CTI',
      'console.heading': 'My console',
      'state.label': 'My state',
      'state.available': 'Available',
      'state.lunch': 'Lunch',
      'state.away': 'Away',
      'state.dnd': 'Do not disturb',
      'state.paused': 'Away',
      'state.offline': 'Offline',
      'state.for': 'for {time}',
      'state.error': 'Could not change the state.',
      'notify.enable': 'Notify me of calls',
      'notify.on': 'Notifications on',
      'notify.blocked': 'Notifications blocked in the browser',
      'notify.title': 'Call from {who}',
      'notify.transfer': 'Call passed to you: {who}',
      'pops.heading': 'Calls for me',
      'pops.empty': 'No call right now. When your phone rings, the caller shows here.',
      'pop.ringing': 'Ringing',
      'pop.talking': 'Talking',
      'pop.closed': 'Closed',
      'pop.dismiss': 'Close',
      'pop.vip': 'VIP',
      'pop.unknown': 'Unknown number',
      'pop.withheld': 'Number withheld',
      'pop.colleague': 'Internal call: {name}',
      'pop.manager': 'Account manager: {name}',
      'pop.no_manager': 'No account manager',
      'pop.local_time': 'Their time {time} · yours {mine}',
      'pop.orders': 'Orders: {count} for {total}',
      'pop.no_orders': 'No orders yet',
      'pop.last_orders': 'Last orders',
      'pop.callbacks': 'Open callbacks',
      'pop.recent': 'Last calls',
      'pop.crm': 'Open in CRM',
      'pop.recording': 'Recording',
      'pop.lookup_failed': 'The customer directory did not answer in time.',
      'pop.answered_by_you': 'You answered',
      'pop.answered_by': 'Answered by {name}',
      'pop.transferred_to': 'You passed the call to {name}',
      'pop.transferred_from': 'Passed to you by {name}',
      'pop.ended': 'Call ended',
      'pop.ended.missed': 'Call missed',
      'route.manager': 'You are the account manager',
      'route.manager_mobile': 'The account manager\'s mobile',
      'route.vip_senior': 'Senior agent for a VIP customer',
      'route.distribution': 'Next available agent',
      'route.duty': 'You are on duty',
      'route.voicemail': 'Voicemail',
      'route.because': 'because: {text}',
      'skip.paused': '{name} is away ({detail})',
      'skip.paused.plain': '{name} is away',
      'skip.dnd': '{name} has do-not-disturb on',
      'skip.offline': '{name} is offline',
      'skip.unreachable': '{name}\'s phone is unreachable',
      'skip.at_limit': '{name} is busy',
      'skip.off_shift': '{name} is off shift',
      'new.heading': 'New customer',
      'new.name': 'Name',
      'new.company': 'Company',
      'new.phone': 'Phone',
      'new.save': 'Create customer',
      'new.saved': 'Customer card created.',
      'new.error': 'Could not create the customer: {detail}',
      'callbacks.heading': 'My callbacks',
      'callbacks.empty': 'No open callbacks',
      'callbacks.due_in': 'due in {time}',
      'callbacks.overdue': 'overdue {time}',
      'callbacks.misses': '{n} missed',
      'callbacks.held_by': 'being called back by {who}',
      'callbacks.call': 'Call back',
      'callbacks.error': 'Could not load the callbacks.',
      'dial.heading': 'Call a number',
      'dial.number': 'Number',
      'dial.call': 'Call',
      'dial.calling': 'Your phone rings: pick up to call {number}',
      'dial.error': 'Could not place the call: {detail}',
      'mine.heading': 'My recent calls',
      'mine.empty': 'No calls yet',
      'sup.title': 'Supervisor · CTI',
      'sup.heading': 'Contact centre now',
      'sup.calls': 'Calls in progress',
      'sup.calls.empty': 'No calls right now',
      'sup.waiting': 'Waiting',
      'sup.agents': 'Agents',
      'sup.agent': 'Agent',
      'sup.state': 'State',
      'sup.in_state': 'In state',
      'sup.phone': 'Phone',
      'sup.calls_now': 'Calls',
      'sup.duty': 'On duty now',
      'sup.duty.none': 'Nobody is on duty now',
      'sup.callbacks': 'Callbacks',
      'sup.callbacks.open': 'Open: {n}',
      'sup.callbacks.overdue': 'Overdue: {n}',
      'sup.owner': 'Owner',
      'sup.deadline': 'Deadline',
      'sup.number': 'Number',
      'sup.nobody': 'nobody',
      'phone.NOT_INUSE': 'idle',
      'phone.INUSE': 'on a call',
      'phone.BUSY': 'busy',
      'phone.RINGING': 'ringing',
      'phone.RINGINUSE': 'ringing',
      'phone.ONHOLD': 'on hold',
      'phone.UNAVAILABLE': 'unreachable',
      'phone.INVALID': 'no such phone',
      'phone.UNKNOWN': 'unknown'
    },
    ru: {
      'app.title': 'Звонки сейчас · CTI',
      'header.title': 'Звонки сейчас',
      'lang.label': 'Язык',
      'logout': 'Выйти',
      'conn.connecting': 'Подключение…',
      'conn.online': 'В эфире',
      'conn.reconnecting': 'Переподключение…',
      'banner.reconnecting': 'Связь с сервером потеряна. Переподключаемся…',
      'live.heading': 'Текущие звонки',
      'live.empty': 'Сейчас звонков нет',
      'recent.heading': 'Последние 50 звонков',
      'recent.empty': 'Завершённых звонков пока нет',
      'recent.error': 'Не удалось загрузить завершённые звонки. Повторим после переподключения.',
      'col.caller': 'Кто звонит',
      'col.customer': 'Клиент',
      'col.did': 'Линия (DID)',
      'col.state': 'Состояние',
      'col.ringing': 'Звонит у',
      'col.answered': 'Ответил',
      'col.timer': 'Время',
      'col.time': 'Время',
      'col.direction': 'Направление',
      'col.outcome': 'Итог',
      'col.wait': 'Ожидание',
      'col.talk': 'Разговор',
      'caller.unknown': 'Номер скрыт',
      'state.ringing': 'Звонит',
      'state.queued': 'В очереди',
      'state.talking': 'Разговор',
      'state.on_hold': 'На удержании',
      'state.dialplan': 'В голосовом меню',
      'dir.inbound': 'Входящий',
      'dir.outbound': 'Исходящий',
      'dir.internal': 'Внутренний',
      'outcome.answered': 'Отвечен',
      'outcome.missed': 'Пропущен',
      'outcome.unanswered': 'Без ответа',
      'missed.abandoned': 'абонент положил трубку',
      'missed.out_of_hours': 'нерабочее время',
      'missed.no_agent': 'нет свободных операторов',
      'missed.busy': 'занято',
      'missed.no_answer': 'не ответили',
      'short_abandon': 'короткий',
      'short_abandon.title': 'Абонент положил трубку в первые секунды',
      'transferred': 'переведён',
      'queue': 'очередь {name}',
      'login.title': 'Вход · CTI',
      'login.heading': 'Вход в табло звонков',
      'login.login': 'Логин',
      'login.password': 'Пароль',
      'login.submit': 'Войти',
      'login.invalid': 'Неверный логин или пароль.',
      'login.invalid_token': 'Этот токен не принят.',
      'login.throttled': 'Слишком много неудачных попыток. Попробуйте позже.',
      'login.hint': 'Учётную запись выдаёт администратор.',
      'nav.board': 'Табло',
      'nav.console': 'Мой пульт',
      'nav.supervisor': 'Руководитель',
      'nav.reports': 'Отчёты',
      'console.title': 'Пульт · CTI',
      'console.heading': 'Мой пульт',
      'state.label': 'Мой статус',
      'state.available': 'На месте',
      'state.lunch': 'Обед',
      'state.away': 'Отошёл',
      'state.dnd': 'Не беспокоить',
      'state.paused': 'Отошёл',
      'state.offline': 'Не в сети',
      'state.for': '{time}',
      'state.error': 'Не удалось сменить статус.',
      'notify.enable': 'Уведомлять о звонках',
      'notify.on': 'Уведомления включены',
      'notify.blocked': 'Уведомления запрещены в браузере',
      'notify.title': 'Звонит {who}',
      'notify.transfer': 'Вам перевели звонок: {who}',
      'pops.heading': 'Звонки мне',
      'pops.empty': 'Сейчас звонков нет. Когда зазвонит телефон, здесь появится, кто звонит.',
      'pop.ringing': 'Звонит',
      'pop.talking': 'Разговор',
      'pop.closed': 'Закрыт',
      'pop.dismiss': 'Закрыть',
      'pop.vip': 'VIP',
      'pop.unknown': 'Неизвестный номер',
      'pop.withheld': 'Номер скрыт',
      'pop.colleague': 'Внутренний звонок: {name}',
      'pop.manager': 'Менеджер: {name}',
      'pop.no_manager': 'Менеджер не назначен',
      'pop.local_time': 'У клиента {time} · у вас {mine}',
      'pop.orders': 'Заказов: {count} на {total}',
      'pop.no_orders': 'Заказов пока нет',
      'pop.last_orders': 'Последние заказы',
      'pop.callbacks': 'Ждут перезвона',
      'pop.recent': 'Последние звонки',
      'pop.crm': 'Открыть в CRM',
      'pop.recording': 'Запись',
      'pop.lookup_failed': 'Справочник клиентов не ответил вовремя.',
      'pop.answered_by_you': 'Вы ответили',
      'pop.answered_by': 'Ответил(а) {name}',
      'pop.transferred_to': 'Вы перевели звонок: {name}',
      'pop.transferred_from': 'Звонок перевёл(а) {name}',
      'pop.ended': 'Звонок завершён',
      'pop.ended.missed': 'Звонок пропущен',
      'route.manager': 'Вы — ответственный менеджер',
      'route.manager_mobile': 'Мобильный ответственного менеджера',
      'route.vip_senior': 'Старший специалист для VIP-клиента',
      'route.distribution': 'Следующий свободный сотрудник',
      'route.duty': 'Вы дежурный',
      'route.voicemail': 'Голосовая почта',
      'route.because': 'причина: {text}',
      'skip.paused': '{name}: {detail}',
      'skip.paused.plain': '{name} отошёл(ла)',
      'skip.dnd': '{name}: «не беспокоить»',
      'skip.offline': '{name} не в сети',
      'skip.unreachable': 'телефон {name} недоступен',
      'skip.at_limit': '{name} занят(а)',
      'skip.off_shift': '{name} не на смене',
      'new.heading': 'Новый клиент',
      'new.name': 'Имя',
      'new.company': 'Компания',
      'new.phone': 'Телефон',
      'new.save': 'Создать клиента',
      'new.saved': 'Карточка клиента создана.',
      'new.error': 'Не удалось создать клиента: {detail}',
      'callbacks.heading': 'Мои перезвоны',
      'callbacks.empty': 'Перезвонов нет',
      'callbacks.due_in': 'через {time}',
      'callbacks.overdue': 'просрочен на {time}',
      'callbacks.misses': 'пропущено: {n}',
      'callbacks.held_by': 'перезванивает {who}',
      'callbacks.call': 'Перезвонить',
      'callbacks.error': 'Не удалось загрузить перезвоны.',
      'dial.heading': 'Позвонить',
      'dial.number': 'Номер',
      'dial.call': 'Позвонить',
      'dial.calling': 'Звонит ваш телефон: снимите трубку, чтобы позвонить на {number}',
      'dial.error': 'Не удалось позвонить: {detail}',
      'mine.heading': 'Мои последние звонки',
      'mine.empty': 'Звонков пока нет',
      'sup.title': 'Руководитель · CTI',
      'sup.heading': 'Контакт-центр сейчас',
      'sup.calls': 'Идущие звонки',
      'sup.calls.empty': 'Сейчас звонков нет',
      'sup.waiting': 'Ожидание',
      'sup.agents': 'Сотрудники',
      'sup.agent': 'Сотрудник',
      'sup.state': 'Статус',
      'sup.in_state': 'В статусе',
      'sup.phone': 'Телефон',
      'sup.calls_now': 'Звонки',
      'sup.duty': 'Дежурный сейчас',
      'sup.duty.none': 'Сейчас никто не дежурит',
      'sup.callbacks': 'Перезвоны',
      'sup.callbacks.open': 'Открыто: {n}',
      'sup.callbacks.overdue': 'Просрочено: {n}',
      'sup.owner': 'Ответственный',
      'sup.deadline': 'Срок',
      'sup.number': 'Номер',
      'sup.nobody': 'никто',
      'phone.NOT_INUSE': 'свободен',
      'phone.INUSE': 'разговор',
      'phone.BUSY': 'занят',
      'phone.RINGING': 'звонит',
      'phone.RINGINUSE': 'звонит',
      'phone.ONHOLD': 'удержание',
      'phone.UNAVAILABLE': 'недоступен',
      'phone.INVALID': 'нет такого телефона',
      'phone.UNKNOWN': 'неизвестно'
    }
  };

  const STORAGE_KEY = 'cti.lang';
  const LOCALES = { en: 'en-GB', ru: 'ru-RU' };

  function storedLang() {
    try {
      const value = window.localStorage.getItem(STORAGE_KEY);
      return value in STRINGS ? value : null;
    } catch (e) {
      return null; // storage disabled: fall back to the browser's preference
    }
  }

  function browserLang() {
    const first = (navigator.languages && navigator.languages[0]) || navigator.language || '';
    return first.toLowerCase().startsWith('ru') ? 'ru' : 'en';
  }

  let lang = storedLang() || browserLang();

  function t(key, vars) {
    let text = STRINGS[lang][key];
    if (text === undefined) text = STRINGS.en[key];
    if (text === undefined) return key;
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
    }
    return text;
  }

  function apply(root) {
    document.documentElement.lang = lang;
    root.querySelectorAll('[data-i18n]').forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    root.querySelectorAll('[data-i18n-aria-label]').forEach((el) => {
      el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
    });
    root.querySelectorAll('[data-i18n-title]').forEach((el) => {
      el.setAttribute('title', t(el.dataset.i18nTitle));
    });
    root.querySelectorAll('[data-lang]').forEach((button) => {
      button.setAttribute('aria-pressed', String(button.dataset.lang === lang));
    });
  }

  function setLang(next) {
    if (!(next in STRINGS)) return;
    lang = next;
    try {
      window.localStorage.setItem(STORAGE_KEY, next);
    } catch (e) {
      // not persisted; the switch still works for this page
    }
    apply(document);
    document.dispatchEvent(new CustomEvent('cti:lang', { detail: next }));
  }

  document.addEventListener('click', (event) => {
    const button = event.target.closest('[data-lang]');
    if (button) setLang(button.dataset.lang);
  });

  window.ctiI18n = {
    t: t,
    apply: apply,
    setLang: setLang,
    get lang() { return lang; },
    get locale() { return LOCALES[lang]; }
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => apply(document));
  } else {
    apply(document);
  }
})();
