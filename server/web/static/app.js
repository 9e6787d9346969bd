// The console: one page, hash routes, views built from the API's JSON with createElement/textContent.
import { h, clear, link, field, messageBox, button, select } from './dom.js';
import { t, lang, setLang, LANGS } from './i18n.js';
import { api, get, post, setCsrf, onAuthProblems } from './api.js';
import { renderOverview } from './view-overview.js';
import { renderHosts, renderHost } from './view-hosts.js';
import { renderViolations, renderViolation } from './view-violations.js';
import { renderPolicies } from './view-policies.js';
import { renderTokens, renderUsb, renderUsers, renderSettings, renderAudit, renderDrills, renderReports } from './view-admin.js';

/** Who is logged in (GET /api/session), or null. */
let session = null;

const ROUTES = [
  { name: 'overview', perm: 'read', render: renderOverview },
  { name: 'hosts', perm: 'read', render: renderHosts, detail: renderHost },
  { name: 'violations', perm: 'read', render: renderViolations, detail: renderViolation },
  { name: 'policies', perm: 'read', render: renderPolicies },
  { name: 'usb', perm: 'read', render: renderUsb },
  { name: 'drills', perm: 'read', render: renderDrills },
  { name: 'reports', perm: 'reports.read', render: renderReports },
  { name: 'tokens', perm: 'tokens.write', render: renderTokens },
  { name: 'users', perm: 'users.write', render: renderUsers },
  { name: 'audit', perm: 'audit.read', render: renderAudit },
  { name: 'settings', perm: 'read', render: renderSettings },
];

const root = document.getElementById('app');

function can(perm) {
  return !!session && session.permissions.includes(perm);
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?', 2);
  const parts = (path ?? '').split('/').filter(Boolean).map((x) => {
    try { return decodeURIComponent(x); } catch { return x; }
  });
  return { parts, query: new URLSearchParams(qs ?? '') };
}

function go(hash) {
  if (location.hash === hash) void render();
  else location.hash = hash;
}

async function loadSession() {
  try {
    session = await api('GET', '/api/session', { quiet401: true });
    setCsrf(session.csrfToken);
  } catch (e) {
    session = null;
    setCsrf(null);
    if (e.status !== 401) throw e;
  }
  return session;
}

onAuthProblems({
  onUnauthenticated: () => {
    session = null;
    setCsrf(null);
    go('#/login');
  },
  onPasswordChange: () => {
    if (session) session.mustChangePassword = true;
    go('#/password');
  },
});

function langSwitch() {
  const sel = select(LANGS.map((l) => [l.code, l.label]), lang(), { class: 'lang', 'aria-label': t('nav.language'), name: 'lang' });
  sel.addEventListener('change', () => {
    setLang(sel.value);
    void render();
  });
  return sel;
}

function header(current) {
  const nav = h('nav', { class: 'nav', 'aria-label': t('nav.main') });
  if (session && !session.mustChangePassword) {
    for (const r of ROUTES) {
      if (!can(r.perm)) continue;
      nav.append(link(r.name, t(`nav.${r.name}`), null, { class: r.name === current ? 'active' : '', 'data-route': r.name }));
    }
  }
  const user = session
    ? h('span', { class: 'who' }, h('span', { class: 'user' }, session.user), ' · ', h('span', { class: 'role' }, t(`role.${session.role}`, {}, session.role)))
    : null;
  const logout = session ? button(t('nav.logout'), async () => {
    try { await post('/api/logout'); } catch { /* the session may already be gone */ }
    session = null;
    setCsrf(null);
    go('#/login');
  }, 'link logout') : null;
  return h('header', { class: 'top' },
    h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '◆'), ' termguard', h('span', { class: 'sub' }, t('app.subtitle'))),
    nav,
    h('div', { class: 'tools' }, user, langSwitch(), logout));
}

function shell(current, main) {
  clear(root);
  document.documentElement.lang = lang();
  document.title = `termguard — ${t(`nav.${current}`, {}, t('app.title'))}`;
  root.append(header(current), main, h('footer', { class: 'foot' }, t('app.footer', { tz: Intl.DateTimeFormat().resolvedOptions().timeZone })));
}

function loginView(main) {
  const msg = messageBox();
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 8 });
  const totpField = field(t('login.totp'), totp, t('login.totpHint'));
  totpField.hidden = true;
  const form = h('form', { class: 'card narrow', novalidate: true },
    h('h1', null, t('login.title')),
    field(t('login.username'), username), field(t('login.password'), password), totpField,
    h('button', { type: 'submit', class: 'primary' }, t('login.submit')), msg.el);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.clear();
    try {
      const r = await api('POST', '/api/login', { quiet401: true, body: { username: username.value, password: password.value, ...(totp.value ? { totp: totp.value } : {}) } });
      setCsrf(r.csrfToken);
      await loadSession();
      go(r.mustChangePassword ? '#/password' : '#/overview');
    } catch (e) {
      if (e.code === 'TG_E_TOTP_REQUIRED') {
        totpField.hidden = false;
        totp.focus();
      }
      msg.error(e);
    }
  });
  main.append(form);
}

function passwordView(main) {
  const msg = messageBox();
  const current = h('input', { name: 'current', type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { name: 'new', type: 'password', autocomplete: 'new-password', required: true, minlength: 12 });
  const again = h('input', { name: 'repeat', type: 'password', autocomplete: 'new-password', required: true, minlength: 12 });
  const form = h('form', { class: 'card narrow', novalidate: true },
    h('h1', null, t('password.title')),
    session?.mustChangePassword ? h('p', { class: 'note' }, t('password.mustChange')) : null,
    field(t('password.current'), current), field(t('password.new'), next, t('password.rule')), field(t('password.repeat'), again),
    h('button', { type: 'submit', class: 'primary' }, t('password.submit')), msg.el);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.clear();
    if (next.value !== again.value) return msg.error(t('password.mismatch'));
    if (next.value.length < 12) return msg.error(t('password.tooShort'));
    try {
      const r = await post('/api/password', { current: current.value, new: next.value });
      setCsrf(r.csrfToken);
      await loadSession();
      go('#/overview');
    } catch (e) {
      msg.error(e);
    }
  });
  main.append(form);
}

async function render() {
  const { parts, query } = parseHash();
  const name = parts[0] ?? '';
  const main = h('main', { class: 'main', id: 'main' });
  try {
    if (!session && name !== 'login') await loadSession();
  } catch (e) {
    shell('login', main);
    main.append(h('p', { class: 'msg error' }, String(e.message ?? e)));
    return;
  }
  if (name === 'login' || !session) {
    if (session && !session.mustChangePassword) return go('#/overview');
    if (name !== 'login') return go('#/login');
    shell('login', main);
    return loginView(main);
  }
  if (session.mustChangePassword && name !== 'password') return go('#/password');
  if (name === 'password') {
    shell('password', main);
    return passwordView(main);
  }
  const route = ROUTES.find((r) => r.name === name);
  if (!route) return go('#/overview');
  shell(route.name, main);
  if (!can(route.perm)) {
    main.append(h('p', { class: 'msg error' }, t('err.TG_E_FORBIDDEN')));
    return;
  }
  main.append(h('p', { class: 'loading' }, t('common.loading')));
  const ctx = {
    main, query, can, session, go, refresh: () => render(),
    /** Replace the loading line with the view's content. */
    done: () => main.querySelector(':scope > .loading')?.remove(),
  };
  try {
    if (parts.length > 1 && route.detail) await route.detail(ctx, parts[1]);
    else await route.render(ctx);
  } catch (e) {
    if (e?.status === 401 || e?.code === 'TG_E_PASSWORD_CHANGE_REQUIRED') return;
    const m = messageBox();
    m.error(e);
    clear(main).append(m.el);
  } finally {
    ctx.done();
  }
}

window.addEventListener('hashchange', () => void render());
void render();
