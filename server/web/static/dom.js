// Building the page. Every string from the server is untrusted (agents report file names, process
// names, USB product strings): it only ever reaches the DOM as a text node or a form value. No HTML
// parsing anywhere, and links only to fixed routes built from encodeURIComponent'd parts.
import { t, tIn, lang } from './i18n.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
// Attributes that could run script or fetch something are never set from here.
const FORBIDDEN = /^(on|href$|src$|srcdoc$|style$|formaction$|action$|xlink:href$)/i;

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v);
    } else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled') {
      el[k] = v;
    } else if (FORBIDDEN.test(k)) {
      throw new Error(`attribute ${k} is not set by h(); use link() or apiLink()`);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An element: h('td', {class: 'x'}, 'text', otherNode). Strings become text nodes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  // Forms check their values themselves and say what is wrong in the console's language.
  if (tag === 'form') el.noValidate = true;
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element (the trend chart). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (FORBIDDEN.test(k)) throw new Error(`attribute ${k} is not set by s()`);
    el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** A link to a console route: route('hosts', id) → #/hosts/<id>; query values are encoded too. */
export function routeHref(parts, query) {
  const path = parts.map((p) => encodeURIComponent(String(p))).join('/');
  const q = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '' && v !== undefined && v !== null)).toString() : '';
  return `#/${path}${q ? `?${q}` : ''}`;
}

export function link(parts, text, query, attrs = {}) {
  const a = h('a', attrs, text);
  a.href = routeHref(Array.isArray(parts) ? parts : [parts], query);
  return a;
}

/** A link to a fixed API download path (attestation, reports); path parts and query are encoded. */
export function apiLink(parts, query, text, attrs = {}) {
  const path = parts.map((p) => encodeURIComponent(String(p))).join('/');
  const q = new URLSearchParams(query ?? {}).toString();
  const a = h('a', attrs, text);
  a.href = `/api/${path}${q ? `?${q}` : ''}`;
  return a;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** A time in the user's own time zone. */
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium', timeStyle: 'medium' }).format(d);
}

export function fmtNum(n) {
  return typeof n === 'number' ? new Intl.NumberFormat(lang()).format(n) : '—';
}

/** A value from agent data as one line of text (objects as JSON). */
export function text(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** A table: cols = [{label, cell: (row) => node|string, class?}]. */
export function table(cols, rows, opts = {}) {
  const thead = h('thead', null, h('tr', null, cols.map((c) => h('th', { class: c.class, scope: 'col' }, c.label))));
  const tbody = h('tbody', null);
  if (!rows.length) tbody.append(h('tr', null, h('td', { colspan: cols.length, class: 'empty' }, opts.empty ?? t('common.none'))));
  for (const r of rows) {
    const tr = h('tr', { class: opts.rowClass?.(r) }, cols.map((c) => h('td', { class: c.class }, c.cell(r))));
    tbody.append(tr);
    opts.after?.(r, tr, tbody);
  }
  return h('div', { class: 'table-wrap' }, h('table', { class: opts.class ?? 'data' }, thead, tbody));
}

/** Key/value pairs as a two-column table; values are text. */
export function kvTable(pairs, cls = 'kv') {
  return h('table', { class: cls }, h('tbody', null, pairs.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v instanceof Node ? v : text(v))))));
}

/** Flatten nested agent data into dotted keys (arrays of scalars stay one JSON value). */
export function flatten(obj, prefix = '', out = []) {
  if (obj === null || typeof obj !== 'object') {
    out.push([prefix || '(value)', obj]);
    return out;
  }
  const entries = Array.isArray(obj) ? obj.map((v, i) => [String(i), v]) : Object.entries(obj);
  if (!entries.length) out.push([prefix || '(value)', Array.isArray(obj) ? '[]' : '{}']);
  for (const [k, v] of entries) {
    const key = prefix ? (Array.isArray(obj) ? `${prefix}[${k}]` : `${prefix}.${k}`) : k;
    if (v !== null && typeof v === 'object' && !(Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object'))) flatten(v, key, out);
    else out.push([key, Array.isArray(v) ? JSON.stringify(v) : v]);
  }
  return out;
}

/** A labelled form field. */
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}

export function button(label, onClick, cls = '', attrs = {}) {
  return h('button', { type: 'button', class: cls, on: { click: onClick }, ...attrs }, label);
}

/** A message area that shows errors and results as text. */
export function messageBox() {
  const el = h('div', { class: 'msg', role: 'status', 'aria-live': 'polite' });
  return {
    el,
    ok(msg) { clear(el); el.className = 'msg ok'; el.append(msg); },
    error(e) { clear(el); el.className = 'msg error'; el.append(errorText(e)); },
    clear() { clear(el); el.className = 'msg'; },
  };
}

/** An API error as a person reads it: the translated label, plus the server's detail when it adds something. */
export function errorText(e) {
  if (e && typeof e === 'object' && 'code' in e) {
    const label = t(`err.${e.code}`, {}, '');
    if (!label) return e.message || e.code;
    const same = !e.message || e.message.toLowerCase() === (tIn('en', `err.${e.code}`) ?? '').toLowerCase() || e.message.toLowerCase() === label.toLowerCase();
    return same ? label : `${label}: ${e.message}`;
  }
  return String(e?.message ?? e);
}

export function badge(value, prefix) {
  return h('span', { class: ['badge', `${prefix}-${String(value).replace(/[^a-z0-9_-]/gi, '')}`] }, t(`${prefix}.${value}`, {}, String(value)));
}

export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, label)));
}

export function pager(ctx, route, total, offset, limit) {
  const q = Object.fromEntries(ctx.query);
  const prev = offset > 0 ? link(route, t('common.prev'), { ...q, offset: Math.max(0, offset - limit) }, { class: 'button' }) : h('span', { class: 'button disabled' }, t('common.prev'));
  const next = offset + limit < total ? link(route, t('common.next'), { ...q, offset: offset + limit }, { class: 'button' }) : h('span', { class: 'button disabled' }, t('common.next'));
  const shown = total === 0 ? 0 : offset + 1;
  return h('div', { class: 'pager' }, prev, h('span', { class: 'range' }, t('common.range', { from: shown, to: Math.min(total, offset + limit), total })), next);
}

/** A filter form whose values go into the route's query (so reload and back keep them). */
export function filterForm(ctx, route, inputs) {
  const form = h('form', { class: 'filters' }, inputs.map(([label, input]) => field(label, input)),
    h('button', { type: 'submit' }, t('common.filter')),
    link(route, t('common.reset'), null, { class: 'button link' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = {};
    for (const [, input] of inputs) {
      const v = input.type === 'checkbox' ? (input.checked ? '1' : '') : input.value.trim();
      if (v) q[input.name] = v;
    }
    ctx.go(routeHref([route], q));
  });
  return form;
}

