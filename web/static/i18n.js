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
      'login.hint': 'Ask your administrator for an account.'
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
      'login.hint': 'Учётную запись выдаёт администратор.'
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
