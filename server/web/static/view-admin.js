// Administration views: enrollment tokens, USB exceptions, users and API tokens, settings, the
// audit log, drills and the monthly report links.
import { h, link, apiLink, table, kvTable, fmtTime, text, field, button, messageBox, badge, select, clear } from './dom.js';
import { t } from './i18n.js';
import { get, post, put, p } from './api.js';

const ROLES = ['admin', 'sysadmin', 'secadmin', 'auditor', 'analyst'];

/** A secret the server shows once: displayed as text with a copy button. */
function shownOnce(label, value) {
  const code = h('code', { class: 'secret' }, value);
  return h('div', { class: 'once' }, h('div', { class: 'label' }, label), code,
    button(t('common.copy'), async (ev) => {
      try {
        await navigator.clipboard.writeText(value);
        ev.target.textContent = t('common.copied');
      } catch { /* no clipboard permission: the text is there to select */ }
    }, 'small'),
    h('div', { class: 'hint' }, t('common.shownOnce')));
}

// ── enrollment tokens ──
export async function renderTokens(ctx) {
  const r = await get('/api/tokens');
  const msg = messageBox();
  const out = h('div', { class: 'token-out' });
  const uses = h('input', { name: 'uses', type: 'number', min: 1, max: 100000, value: 1, size: 6 });
  const ttl = h('input', { name: 'ttl', value: '24h', size: 6 });
  const form = h('form', { class: 'inline' }, field(t('token.uses'), uses), field(t('token.ttl'), ttl, t('token.ttlHint')), h('button', { type: 'submit', class: 'primary' }, t('token.create')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.clear();
    try {
      const x = await post('/api/tokens', { uses: Number(uses.value), ttl: ttl.value.trim() });
      clear(out).append(shownOnce(t('token.value'), x.token), shownOnce(t('token.command'), x.enrollCommand), h('p', null, t('token.expires', { time: fmtTime(x.expiresAt) })));
      await loadList();
    } catch (e) { msg.error(e); }
  });
  const list = h('div');
  async function loadList() {
    const x = await get('/api/tokens');
    clear(list).append(table([
      { label: t('token.id'), cell: (k) => h('code', null, k.id) },
      { label: t('token.usesLeft'), cell: (k) => `${k.usesLeft} / ${k.usesTotal}`, class: 'num' },
      { label: t('token.createdAt'), cell: (k) => fmtTime(k.createdAt) },
      { label: t('token.expiresAt'), cell: (k) => fmtTime(k.expiresAt) },
      { label: t('token.state'), cell: (k) => badge(k.revokedAt ? 'revoked' : Date.parse(k.expiresAt) < Date.now() ? 'expired' : k.usesLeft <= 0 ? 'used' : 'active', 'tokstate') },
      { label: t('common.actions'), cell: (k) => (k.revokedAt ? null : button(t('token.revoke'), async () => {
        try { await post(p('/api/tokens', k.id, 'revoke')); await loadList(); } catch (e) { msg.error(e); }
      }, 'danger small')) },
    ], x.items));
  }
  await loadList();
  ctx.main.append(
    h('h1', null, t('tokens.title')),
    h('section', { class: 'panel' }, h('h2', null, t('token.enroll')),
      kvTable([[t('token.caHash'), h('code', null, r.caHash)], [t('token.command'), h('code', null, r.enrollCommand)]])),
    h('section', { class: 'panel' }, h('h2', null, t('token.new')), form, msg.el, out),
    h('section', { class: 'panel' }, h('h2', null, t('token.list')), list));
}

// ── USB exceptions ──
export async function renderUsb(ctx) {
  const msg = messageBox();
  const listBox = h('div');
  const formBox = h('div', { class: 'usb-form' });
  const approveForm = (x) => {
    const d = x.device ?? {};
    const hostId = h('input', { name: 'hostId', value: x.hostId, readonly: true, size: 40 });
    const vendorId = h('input', { name: 'vendorId', value: text(d.vendorId ?? ''), maxlength: 4, size: 5, pattern: '[0-9a-fA-F]{4}' });
    const productId = h('input', { name: 'productId', value: text(d.productId ?? ''), maxlength: 4, size: 5, pattern: '[0-9a-fA-F]{4}' });
    const serial = h('input', { name: 'serial', value: d.serial === null || d.serial === undefined ? '' : text(d.serial), size: 30 });
    const reason = h('input', { name: 'reason', required: true, maxlength: 500, size: 40, placeholder: t('usb.reasonHint') });
    const ttl = h('input', { name: 'ttl', value: '8h', size: 6 });
    const f = h('form', { class: 'card', 'data-form': 'usb-exception' },
      h('h2', null, t('usb.approveTitle')),
      h('p', null, t('usb.device'), ': ', h('span', { class: 'data-text' }, text(d.product)), ' · ', h('span', { class: 'data-text' }, text(d.manufacturer))),
      h('div', { class: 'grid' }, field(t('usb.hostId'), hostId), field(t('usb.vendorId'), vendorId), field(t('usb.productId'), productId),
        field(t('usb.serial'), serial), field(t('usb.reason'), reason), field(t('usb.ttl'), ttl, t('usb.ttlHint'))),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('usb.approve')), button(t('common.cancel'), () => clear(formBox))));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.clear();
      if (!reason.value.trim()) return msg.error(t('usb.reasonRequired'));
      try {
        const res = await post('/api/usb/exceptions', {
          hostId: hostId.value, vendorId: vendorId.value.trim(), productId: productId.value.trim(), serial: serial.value,
          reason: reason.value.trim(), ttl: ttl.value.trim(), violationId: x.violationId,
        });
        clear(formBox);
        msg.ok(t('usb.approved', { id: res.exception.id, until: fmtTime(res.exception.notAfter) }));
        await loadList();
      } catch (e) { msg.error(e); }
    });
    clear(formBox).append(f);
    reason.focus();
  };
  async function loadList() {
    const r = await get('/api/usb/requests');
    clear(listBox).append(
      table([
        { label: t('violation.createdAt'), cell: (x) => fmtTime(x.time) },
        { label: t('violation.host'), cell: (x) => link(['hosts', x.hostId], x.hostname ?? x.hostId) },
        { label: t('usb.vidpid'), cell: (x) => (x.device ? `${text(x.device.vendorId)}:${text(x.device.productId)}` : '—'), class: 'mono' },
        { label: t('usb.product'), cell: (x) => text(x.device?.product) },
        { label: t('usb.manufacturer'), cell: (x) => text(x.device?.manufacturer) },
        { label: t('usb.serial'), cell: (x) => text(x.device?.serial) },
        { label: t('violation.state'), cell: (x) => link(['violations', x.violationId], badge(x.state, 'state')) },
        ...(ctx.can('usb.approve') ? [{ label: t('common.actions'), cell: (x) => (x.device ? button(t('usb.approve'), () => approveForm(x), '', { 'data-action': 'approve' }) : null) }] : []),
      ], r.items, { class: 'data usb', after: (x, tr) => { tr.dataset.violation = x.violationId; } }));
  }
  await loadList();
  ctx.main.append(
    h('h1', null, t('usb.title')),
    h('p', { class: 'note' }, t('usb.help')),
    msg.el, formBox, listBox);
}

// ── users and API tokens ──
export async function renderUsers(ctx) {
  const msg = messageBox();
  const out = h('div');
  const usersBox = h('div');
  const tokensBox = h('div');
  const act = async (name, action, body) => {
    msg.clear();
    try {
      const r = await post(p('/api/users', name, action), body ?? {});
      clear(out);
      if (r.password) out.append(shownOnce(t('user.oneTimePassword', { name }), r.password));
      else msg.ok(t('user.done', { name }));
      await load();
    } catch (e) { msg.error(e); }
  };
  async function load() {
    const [users, tokens] = await Promise.all([get('/api/users'), get('/api/api-tokens')]);
    clear(usersBox).append(table([
      { label: t('user.name'), cell: (u) => u.name },
      { label: t('user.role'), cell: (u) => {
        if (u.name === ctx.session.user) return t(`role.${u.role}`, {}, u.role);
        const sel = select(ROLES.map((r) => [r, t(`role.${r}`)]), u.role, { 'aria-label': t('user.role') });
        sel.addEventListener('change', () => void act(u.name, 'role', { role: sel.value }));
        return sel;
      } },
      { label: t('user.state'), cell: (u) => [badge(u.disabled ? 'disabled' : 'active', 'ustate'), u.mustChangePassword ? [' ', badge('mustChange', 'ustate')] : null, u.lockedUntil && Date.parse(u.lockedUntil) > Date.now() ? [' ', badge('locked', 'ustate')] : null] },
      { label: t('user.totp'), cell: (u) => badge(u.totpEnabled ? 'yes' : 'no', 'bool') },
      { label: t('user.lastLogin'), cell: (u) => fmtTime(u.lastLogin) },
      { label: t('common.actions'), cell: (u) => h('span', { class: 'row-actions' },
        u.name !== ctx.session.user ? button(u.disabled ? t('user.enable') : t('user.disable'), () => void act(u.name, u.disabled ? 'enable' : 'disable'), 'small') : null,
        button(t('user.reset'), () => void act(u.name, 'reset'), 'small')) },
    ], users.items));
    clear(tokensBox).append(table([
      { label: t('apitoken.id'), cell: (k) => h('code', null, k.id) },
      { label: t('apitoken.name'), cell: (k) => k.name },
      { label: t('user.role'), cell: (k) => t(`role.${k.role}`, {}, k.role) },
      { label: t('apitoken.createdBy'), cell: (k) => k.createdBy },
      { label: t('apitoken.createdAt'), cell: (k) => fmtTime(k.createdAt) },
      { label: t('apitoken.lastUsed'), cell: (k) => fmtTime(k.lastUsed) },
      { label: t('common.actions'), cell: (k) => (k.revokedAt ? badge('revoked', 'tokstate') : button(t('token.revoke'), async () => {
        try { await post(p('/api/api-tokens', k.id, 'revoke')); await load(); } catch (e) { msg.error(e); }
      }, 'danger small')) },
    ], tokens.items));
  }
  const name = h('input', { name: 'name', required: true, maxlength: 64, pattern: '[a-z][a-z0-9._-]{1,63}', size: 16 });
  const role = select(ROLES.map((r) => [r, t(`role.${r}`)]), 'analyst', { name: 'role' });
  const addForm = h('form', { class: 'inline' }, field(t('user.name'), name, t('user.nameHint')), field(t('user.role'), role), h('button', { type: 'submit', class: 'primary' }, t('user.add')));
  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.clear();
    try {
      const r = await post('/api/users', { name: name.value.trim(), role: role.value });
      clear(out).append(shownOnce(t('user.oneTimePassword', { name: r.name }), r.password));
      await load();
    } catch (e) { msg.error(e); }
  });
  const tname = h('input', { name: 'tokenName', required: true, maxlength: 64, size: 16 });
  const trole = select(ROLES.filter((r) => r !== 'admin').map((r) => [r, t(`role.${r}`)]), 'auditor', { name: 'tokenRole' });
  const tokForm = h('form', { class: 'inline' }, field(t('apitoken.name'), tname, t('user.nameHint')), field(t('user.role'), trole), h('button', { type: 'submit', class: 'primary' }, t('apitoken.create')));
  tokForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.clear();
    try {
      const r = await post('/api/api-tokens', { name: tname.value.trim(), role: trole.value });
      clear(out).append(shownOnce(t('apitoken.value', { name: r.name }), r.token));
      await load();
    } catch (e) { msg.error(e); }
  });
  await load();
  ctx.main.append(
    h('h1', null, t('users.title')),
    msg.el, out,
    h('section', { class: 'panel' }, h('h2', null, t('users.list')), addForm, usersBox),
    h('section', { class: 'panel' }, h('h2', null, t('apitoken.title')), h('p', { class: 'note' }, t('apitoken.help')), tokForm, tokensBox));
}

// ── settings ──
function alertsForm(ctx, settings, msg) {
  const sys = settings.alerts.syslog;
  const wh = settings.alerts.webhook;
  const sysOn = h('input', { type: 'checkbox', name: 'syslogOn', checked: !!sys });
  const sysHost = h('input', { name: 'syslogHost', value: sys?.host ?? '', size: 24 });
  const sysPort = h('input', { name: 'syslogPort', type: 'number', min: 1, max: 65535, value: sys?.port ?? 6514, size: 6 });
  const sysTls = h('input', { type: 'checkbox', name: 'syslogTls', checked: sys ? sys.tls === true : true });
  const sysCa = h('textarea', { name: 'syslogCa', rows: 3, class: 'code', placeholder: '-----BEGIN CERTIFICATE-----' });
  sysCa.value = sys?.ca ?? '';
  const whOn = h('input', { type: 'checkbox', name: 'webhookOn', checked: !!wh });
  const whUrl = h('input', { name: 'webhookUrl', type: 'url', value: wh?.url ?? '', size: 40 });
  const whHeaders = h('textarea', { name: 'webhookHeaders', rows: 2, class: 'code', placeholder: 'authorization: Bearer …' });
  whHeaders.value = Object.entries(wh?.headers ?? {}).map(([k, v]) => `${k}: ${v}`).join('\n');
  const whSecret = h('input', { name: 'webhookSecret', type: 'password', autocomplete: 'new-password', size: 30 });
  const whCa = h('textarea', { name: 'webhookCa', rows: 3, class: 'code', placeholder: '-----BEGIN CERTIFICATE-----' });
  whCa.value = wh?.ca ?? '';
  const can = ctx.can('settings.write');
  const form = h('form', { class: 'settings' },
    h('fieldset', null, h('legend', null, t('settings.syslog')),
      field(t('settings.enabled'), sysOn), field(t('settings.host'), sysHost), field(t('settings.port'), sysPort), field(t('settings.tls'), sysTls), field(t('settings.ca'), sysCa)),
    h('fieldset', null, h('legend', null, t('settings.webhook')),
      field(t('settings.enabled'), whOn), field(t('settings.url'), whUrl), field(t('settings.headers'), whHeaders, t('settings.headersHint')),
      field(t('settings.secret'), whSecret, wh?.secret ? t('settings.secretSet') : t('settings.secretHint')), field(t('settings.ca'), whCa)),
    can ? h('button', { type: 'submit', class: 'primary' }, t('settings.saveAlerts')) : null);
  for (const el of form.querySelectorAll('input, textarea')) el.disabled = !can;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.clear();
    const headers = {};
    for (const line of whHeaders.value.split('\n')) {
      const i = line.indexOf(':');
      if (line.trim() && i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    const body = {
      syslog: sysOn.checked ? { host: sysHost.value.trim(), port: Number(sysPort.value), tls: sysTls.checked, ...(sysCa.value.trim() ? { ca: sysCa.value.trim() } : {}) } : null,
      webhook: whOn.checked ? { url: whUrl.value.trim(), ...(Object.keys(headers).length ? { headers } : {}), ...(whSecret.value ? { secret: whSecret.value } : {}), ...(whCa.value.trim() ? { ca: whCa.value.trim() } : {}) } : null,
    };
    try {
      await put('/api/settings/alerts', body);
      msg.ok(t('settings.saved'));
    } catch (e) { msg.error(e); }
  });
  return form;
}

function totpPanel(ctx) {
  const msg = messageBox();
  const box = h('div');
  if (ctx.session.kind !== 'session') return null;
  const start = button(t('totp.setup'), async () => {
    msg.clear();
    try {
      const r = await post('/api/totp/setup');
      const code = h('input', { name: 'totpCode', inputmode: 'numeric', maxlength: 8, size: 8 });
      const f = h('form', { class: 'inline' }, field(t('totp.code'), code), h('button', { type: 'submit', class: 'primary' }, t('totp.enable')));
      f.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try {
          await post('/api/totp/enable', { code: code.value.trim() });
          clear(box);
          msg.ok(t('totp.enabled'));
        } catch (e) { msg.error(e); }
      });
      clear(box).append(shownOnce(t('totp.secret'), r.secret), shownOnce(t('totp.uri'), r.uri), f);
    } catch (e) { msg.error(e); }
  });
  return h('section', { class: 'panel' }, h('h2', null, t('totp.title')),
    h('p', null, ctx.session.totpEnabled ? t('totp.on') : ctx.session.totpRecommended ? t('totp.recommended') : t('totp.off')),
    start, box, msg.el);
}

export async function renderSettings(ctx) {
  const s = await get('/api/settings');
  const msg = messageBox();
  const sod = h('input', { type: 'checkbox', name: 'separationOfDuties', checked: s.separationOfDuties, disabled: !ctx.can('settings.write'), role: 'switch' });
  sod.addEventListener('change', async () => {
    msg.clear();
    try {
      const r = await put('/api/settings/separation-of-duties', { enabled: sod.checked });
      msg.ok(r.separationOfDuties ? t('settings.sodOn') : t('settings.sodOff'));
    } catch (e) {
      sod.checked = !sod.checked;
      msg.error(e);
    }
  });
  const st = s.alertStats;
  const stats = st ? kvTable([
    [t('alerts.queued'), text(st.queued)], [t('alerts.sent'), text(st.sent)], [t('alerts.retried'), text(st.retried)],
    [t('alerts.deadLettered'), text(st.deadLettered)], [t('alerts.lastError'), text(st.lastError ?? '—')],
    ...Object.entries(st.perTarget ?? {}).map(([k, v]) => [t(`settings.${k}`, {}, k), h('code', { class: 'wrap' }, JSON.stringify(v))]),
  ]) : null;
  ctx.main.append(
    h('h1', null, t('settings.title')),
    msg.el,
    h('section', { class: 'panel' }, h('h2', null, t('settings.sod')),
      h('label', { class: 'switch' }, sod, h('span', null, t('settings.sodLabel'))),
      h('p', { class: 'hint' }, t('settings.sodHelp'))),
    h('section', { class: 'panel' }, h('h2', null, t('settings.alerts')), alertsForm(ctx, s, msg),
      stats ? [h('h3', null, t('settings.alertStats')), stats] : null),
    totpPanel(ctx));
}

// ── audit log ──
export async function renderAudit(ctx) {
  const limit = Number(ctx.query.get('limit') ?? 200) || 200;
  const r = await get('/api/audit', { limit });
  const result = h('div', { class: 'msg' });
  const verify = button(t('audit.verify'), async () => {
    clear(result);
    try {
      const v = await get('/api/audit/verify');
      result.className = v.ok ? 'msg ok' : 'msg error';
      result.append(v.ok ? t('audit.verifyOk', { rows: v.rows, head: v.head.slice(0, 16) }) : t('audit.verifyBad', { seq: v.seq, reason: v.reason }));
    } catch (e) {
      result.className = 'msg error';
      result.append(String(e.message ?? e));
    }
  }, '', { 'data-action': 'verify' });
  ctx.main.append(
    h('h1', null, t('audit.title')),
    h('div', { class: 'actions' }, verify, result),
    h('p', { class: 'note' }, t('audit.count', { shown: r.items.length, total: r.total })),
    table([
      { label: t('audit.seq'), cell: (a) => String(a.seq), class: 'num' },
      { label: t('audit.time'), cell: (a) => fmtTime(a.time) },
      { label: t('audit.actor'), cell: (a) => a.actor },
      { label: t('audit.action'), cell: (a) => a.action, class: 'mono' },
      { label: t('audit.target'), cell: (a) => text(a.target) },
      { label: t('audit.details'), cell: (a) => h('code', { class: 'wrap' }, JSON.stringify(a.details ?? {})) },
    ], r.items),
    r.total > r.items.length ? link('audit', t('audit.more'), { limit: Math.min(5000, limit * 5) }, { class: 'button' }) : null);
}

// ── drills ──
export async function renderDrills(ctx) {
  const r = await get('/api/drills');
  ctx.main.append(
    h('h1', null, t('drills.title')),
    h('p', { class: 'note' }, t('drills.help')),
    table([
      { label: t('drill.startedAt'), cell: (d) => fmtTime(d.startedAt) },
      { label: t('violation.host'), cell: (d) => link(['hosts', d.hostId], d.hostId) },
      { label: t('drill.startedBy'), cell: (d) => d.startedBy },
      { label: t('drill.violation'), cell: (d) => (d.violationId ? link(['violations', d.violationId], t('drill.raised')) : t('drill.waiting')) },
      { label: t('drill.ackedBy'), cell: (d) => d.ackedBy ?? '—' },
      { label: t('drill.ackedAt'), cell: (d) => fmtTime(d.ackedAt) },
      { label: t('drill.secondsToAck'), cell: (d) => (d.secondsToAck === null ? '—' : String(d.secondsToAck)), class: 'num' },
    ], r.items));
}

// ── monthly report (art23) ──
function lastMonth() {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

export async function renderReports(ctx) {
  const month = /^\d{4}-\d{2}$/.test(ctx.query.get('month') ?? '') ? ctx.query.get('month') : lastMonth();
  const input = h('input', { name: 'month', type: 'month', value: month, required: true });
  const links = h('div', { class: 'report-links' });
  const update = () => {
    clear(links);
    const m = input.value;
    if (!/^\d{4}-\d{2}$/.test(m)) return links.append(h('span', { class: 'hint' }, t('report.pickMonth')));
    links.append(...['html', 'csv', 'json'].map((format) => apiLink(['reports', 'monthly'], { month: m, format }, t(`report.${format}`), { class: 'button', 'data-format': format, target: '_blank', rel: 'noopener' })));
  };
  input.addEventListener('input', update);
  input.addEventListener('change', update);
  update();
  ctx.main.append(
    h('h1', null, t('reports.title')),
    h('p', { class: 'note' }, t('report.help')),
    h('div', { class: 'inline' }, field(t('report.month'), input)),
    links);
}
