/* How the console writes numbers, times and durations for people (no data is ever HTML here). */
(function () {
  'use strict';

  const i18n = window.ctiI18n;

  function digitsOf(text) {
    return String(text || '').replace(/[^\d]/g, '');
  }

  // Russian numbers the way people read them: +7 916 123-45-67 (a national 8 916... too);
  // anything else exactly as given (E.164 is unambiguous; guessing other countries' groups is not)
  function phone(value) {
    const raw = String(value || '').trim();
    if (!raw) return '';
    if (!/^[+\d\s\-().]+$/.test(raw)) return raw;
    const digits = digitsOf(raw);
    let national = null;
    if (raw.startsWith('+7') && digits.length === 11) national = digits.slice(1);
    else if (!raw.startsWith('+') && digits.length === 11 && /^[78]/.test(digits)) national = digits.slice(1);
    if (national) {
      return '+7 ' + national.slice(0, 3) + ' ' + national.slice(3, 6) + '-' +
        national.slice(6, 8) + '-' + national.slice(8, 10);
    }
    return raw;
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

  // a time of day in the agent's own zone (the browser's), or in `timeZone` (a customer's)
  function clock(date, timeZone) {
    const options = { hour: '2-digit', minute: '2-digit' };
    if (timeZone) options.timeZone = timeZone;
    try {
      return new Intl.DateTimeFormat(i18n.locale, options).format(date);
    } catch (e) {
      return new Intl.DateTimeFormat(i18n.locale, { hour: '2-digit', minute: '2-digit' }).format(date);
    }
  }

  function when(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    const today = new Date();
    const options = { hour: '2-digit', minute: '2-digit' };
    if (date.toDateString() !== today.toDateString()) {
      options.day = '2-digit';
      options.month = '2-digit';
    }
    return new Intl.DateTimeFormat(i18n.locale, options).format(date);
  }

  function money(amount, currency) {
    const value = Number(amount);
    if (!Number.isFinite(value)) return String(amount || '');
    try {
      return new Intl.NumberFormat(i18n.locale, currency
        ? { style: 'currency', currency: currency, maximumFractionDigits: 2 }
        : { maximumFractionDigits: 2 }).format(value);
    } catch (e) {
      return value.toFixed(2) + (currency ? ' ' + currency : '');
    }
  }

  function day(isoDate) {
    const date = new Date(isoDate);
    if (Number.isNaN(date.getTime())) return String(isoDate || '');
    return new Intl.DateTimeFormat(i18n.locale, { day: '2-digit', month: '2-digit', year: 'numeric' }).format(date);
  }

  // Caller IDs and directory data are attacker-controlled: only ever textContent
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null && text !== '') node.textContent = String(text);
    return node;
  }

  function safeClass(value) {
    return String(value || 'unknown').replace(/[^a-z_]/g, '');
  }

  window.ctiFormat = {
    phone: phone, duration: duration, clock: clock, when: when, money: money, day: day,
    el: el, safeClass: safeClass
  };
})();
