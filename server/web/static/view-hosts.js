// Hosts: the list with search, filters and paging; one host's facts, inventory, checks, timeline,
// open violations, and the actions on it (revoke, move group, start a drill).
import { h, link, apiLink, table, kvTable, fmtTime, text, field, button, messageBox, badge, select, pager, filterForm } from './dom.js';
import { t, lang } from './i18n.js';
import { get, post, p } from './api.js';
import { violationTable } from './view-violations.js';

const PAGE = 50;

export async function renderHosts(ctx) {
  const q = ctx.query;
  const offset = Number(q.get('offset') ?? 0) || 0;
  const [r, groups] = await Promise.all([
    get('/api/hosts', { q: q.get('q'), status: q.get('status'), group: q.get('group'), compliant: q.get('compliant'), policyVersion: q.get('policyVersion'), limit: PAGE, offset }),
    get('/api/groups'),
  ]);
  const inputs = [
    [t('hosts.search'), h('input', { name: 'q', type: 'search', value: q.get('q') ?? '', placeholder: t('hosts.searchHint') })],
    [t('host.status'), select([['', t('common.any')], ...['online', 'offline', 'revoked', 'clone'].map((x) => [x, t(`status.${x}`)])], q.get('status'), { name: 'status' })],
    [t('host.group'), select([['', t('common.any')], ...groups.items.map((g) => [g.group, g.group])], q.get('group'), { name: 'group' })],
    [t('host.compliant'), select([['', t('common.any')], ['true', t('common.yes')], ['false', t('common.no')]], q.get('compliant'), { name: 'compliant' })],
    [t('host.policyVersion'), h('input', { name: 'policyVersion', inputmode: 'numeric', value: q.get('policyVersion') ?? '', size: 6 })],
  ];
  const latest = new Map(groups.items.map((g) => [g.group, g.policyVersion]));
  ctx.main.append(
    h('h1', null, t('hosts.title')),
    filterForm(ctx, 'hosts', inputs),
    table([
      { label: t('host.hostname'), cell: (x) => link(['hosts', x.id], x.hostname) },
      { label: t('host.status'), cell: (x) => [badge(x.status, 'status'), x.silent ? [' ', badge('silent', 'status')] : null] },
      { label: t('host.group'), cell: (x) => x.group },
      { label: t('host.policyApplied'), cell: (x) => policyCell(x.policyVersion, latest.get(x.group) ?? 0), class: 'policy' },
      { label: t('host.compliant'), cell: (x) => badge(x.compliant ? 'yes' : 'no', 'bool') },
      { label: t('host.openViolations'), cell: (x) => x.openViolations ? link('violations', String(x.openViolations), { host: x.id, state: 'unresolved' }) : '0', class: 'num' },
      { label: t('host.overdue'), cell: (x) => String(x.overdueViolations), class: 'num' },
      { label: t('host.lastSeen'), cell: (x) => fmtTime(x.lastSeen) },
    ], r.items, { class: 'data hosts' }),
    pager(ctx, 'hosts', r.total, offset, PAGE));
}

function policyCell(applied, latest) {
  const v = applied === null || applied === undefined ? '—' : `v${applied}`;
  const current = latest === 0 || applied === latest;
  return h('span', { class: current ? 'ok' : 'stale', 'data-version': applied ?? '' }, v, current ? null : h('span', { class: 'hint' }, ` (${t('host.latest')} v${latest})`));
}

/** The fields of a timeline event a person looks for first: device, file, process, address. */
export function eventKeyFields(e) {
  const d = e.data ?? {};
  const o = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
  const out = [];
  const add = (k, v) => { if (v !== undefined && v !== null && v !== '') out.push([t(`field.${k}`), v]); };
  const dev = o(d.device);
  if (e.type.startsWith('usb.')) {
    add('device', dev.vendorId ? `${text(dev.vendorId)}:${text(dev.productId)}` : undefined);
    add('product', dev.product);
    add('manufacturer', dev.manufacturer);
    add('serial', dev.serial);
    const v = o(d.verdict);
    add('verdict', v.action ? `${text(v.action)}${v.enforced === false ? ` (${t('field.notEnforced')})` : ''}` : d.action);
  }
  if (e.type.startsWith('media.')) {
    add('path', d.path);
    add('mountPoint', d.mountPoint);
    add('volume', typeof d.device === 'string' ? d.device : undefined);
    add('sha256', d.sha256);
    add('files', d.count);
  }
  if (e.type.startsWith('egress.')) {
    const pr = o(d.process);
    add('direction', d.direction);
    add('remote', d.remoteAddress !== undefined ? `${text(d.remoteAddress)}:${text(d.remotePort)}${d.proto ? ` (${text(d.proto)})` : ''}` : undefined);
    add('process', pr.name);
    add('exe', pr.exe);
    add('user', pr.user);
    add('probe', d.probe);
    add('interface', d.interface);
    add('state', d.state);
  }
  if (e.type === 'drill') add('note', d.note);
  return out;
}

function timelineTable(items) {
  return table([
    { label: t('event.time'), cell: (e) => fmtTime(e.time) },
    { label: t('event.type'), cell: (e) => t(`etype.${e.type}`, {}, e.type) },
    { label: t('event.severity'), cell: (e) => badge(e.severity, 'sev') },
    { label: t('event.details'), cell: (e) => {
      const f = eventKeyFields(e);
      return f.length ? h('dl', { class: 'inline' }, f.map(([k, v]) => [h('dt', null, k), h('dd', null, text(v))])) : '—';
    } },
  ], items, { class: 'data timeline' });
}

function section(title, ...body) {
  return h('section', { class: 'panel' }, h('h2', null, title), ...body);
}

function inventorySummary(inv) {
  if (!inv) return h('p', { class: 'empty' }, t('host.noInventory'));
  const d = inv.data ?? {};
  const ok = (sec) => (sec && sec.status === 'ok' ? sec.data : null);
  const why = (sec) => (sec && sec.status !== 'ok' && sec.reason ? `${t('host.sectionMissing')}: ${text(sec.reason)}` : t('common.none'));
  const os = ok(d.os);
  const net = ok(d.network);
  const listen = ok(d.listening);
  const am = ok(d.antimalware);
  const patches = ok(d.patches);
  return h('div', null,
    h('p', { class: 'note' }, t('host.collectedAt', { time: fmtTime(inv.time) })),
    os ? kvTable([
      [t('inv.os'), [os.name, os.version].filter(Boolean).join(' ')], [t('inv.kernel'), os.kernel], [t('inv.arch'), os.arch],
      [t('inv.hostname'), os.hostname], [t('inv.bootTime'), fmtTime(os.bootTime)],
      [t('inv.pendingSecurity'), patches ? patches.pendingSecurity : null],
      [t('inv.antimalware'), am ? am.products.filter((x) => x.present).map((x) => `${x.product}${x.enabled === false ? ` (${t('inv.disabled')})` : ''}`).join(', ') || t('common.none') : null],
    ]) : h('p', { class: 'empty' }, why(d.os)),
    h('h3', null, t('inv.interfaces')),
    net ? table([
      { label: t('inv.ifName'), cell: (i) => i.name },
      { label: t('inv.ifType'), cell: (i) => t(`iftype.${i.type}`, {}, text(i.type)) },
      { label: t('inv.ifUp'), cell: (i) => badge(i.up ? 'yes' : 'no', 'bool') },
      { label: t('inv.mac'), cell: (i) => text(i.mac) },
      { label: t('inv.addresses'), cell: (i) => (Array.isArray(i.addresses) ? i.addresses.map((a) => `${text(a.address)}${a.prefix !== null && a.prefix !== undefined ? `/${a.prefix}` : ''}`).join(', ') : '—') },
    ], Array.isArray(net.interfaces) ? net.interfaces : []) : h('p', { class: 'empty' }, why(d.network)),
    h('h3', null, t('inv.listening')),
    listen ? table([
      { label: t('inv.proto'), cell: (x) => text(x.protocol) },
      { label: t('inv.address'), cell: (x) => `${text(x.address)}:${text(x.port)}` },
      { label: t('inv.process'), cell: (x) => text(x.process) },
      { label: t('inv.pid'), cell: (x) => text(x.pid), class: 'num' },
    ], Array.isArray(listen.sockets) ? listen.sockets : []) : h('p', { class: 'empty' }, why(d.listening)));
}

function checksTable(checks) {
  if (!checks) return h('p', { class: 'empty' }, t('host.noChecks'));
  const d = checks.data ?? {};
  const sum = d.summary ?? {};
  const rows = Array.isArray(d.results) ? d.results : [];
  const title = (r) => (r.title && typeof r.title === 'object' ? (lang() === 'en' ? r.title.en : r.title.zh) ?? r.title.en : text(r.title));
  return h('div', null,
    h('p', { class: 'note' }, t('host.checksSummary', { time: fmtTime(checks.time), profile: text(d.profile), pass: sum.pass ?? 0, fail: sum.fail ?? 0, na: sum.not_applicable ?? 0, error: sum.error ?? 0 })),
    table([
      { label: t('check.id'), cell: (r) => text(r.id), class: 'mono' },
      { label: t('check.title'), cell: (r) => text(title(r)) },
      { label: t('check.status'), cell: (r) => badge(r.status, 'check') },
      { label: t('check.articles'), cell: (r) => (Array.isArray(r.articles) ? r.articles.join(', ') : '—') },
      { label: t('check.reason'), cell: (r) => text(r.reason ?? '') },
    ], rows, { rowClass: (r) => (r.status === 'fail' ? 'fail' : '') }));
}

function hostActions(ctx, host, groups) {
  const msg = messageBox();
  const box = h('div', { class: 'actions' });
  if (ctx.can('hosts.write') && host.status !== 'revoked') {
    const confirmBox = h('span', { class: 'confirm', hidden: true },
      t('host.revokeConfirm'), ' ',
      button(t('host.revokeYes'), async () => {
        try {
          await post(p('/api/hosts', host.id, 'revoke'));
          ctx.refresh();
        } catch (e) { msg.error(e); }
      }, 'danger', { 'data-action': 'revoke-confirm' }),
      button(t('common.cancel'), () => { confirmBox.hidden = true; }));
    box.append(button(t('host.revoke'), () => { confirmBox.hidden = false; }, 'danger', { 'data-action': 'revoke' }), confirmBox);
  }
  if (ctx.can('hosts.write')) {
    const g = h('input', { name: 'group', list: 'group-list', value: host.group, size: 12, pattern: '[a-z0-9][a-z0-9_-]{0,63}' });
    const dl = h('datalist', { id: 'group-list' }, groups.map((x) => h('option', { value: x.group })));
    const form = h('form', { class: 'inline' }, field(t('host.moveGroup'), g), dl, h('button', { type: 'submit' }, t('host.move')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await post(p('/api/hosts', host.id, 'group'), { group: g.value.trim() });
        ctx.refresh();
      } catch (e) { msg.error(e); }
    });
    box.append(form);
  }
  if (ctx.can('drill.start') && host.status !== 'revoked') {
    const note = h('input', { name: 'note', maxlength: 200, placeholder: t('drill.notePlaceholder') });
    const form = h('form', { class: 'inline' }, field(t('drill.note'), note), h('button', { type: 'submit' }, t('host.startDrill')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const r = await post(p('/api/hosts', host.id, 'drill'), { note: note.value });
        msg.ok(t('drill.started', { id: r.drillId }));
      } catch (e) { msg.error(e); }
    });
    box.append(form);
  }
  return box.childElementCount ? h('div', null, box, msg.el) : null;
}

export async function renderHost(ctx, id) {
  const [d, groups] = await Promise.all([get(p('/api/hosts', id)), get('/api/groups')]);
  const host = d.host;
  const pol = d.policy;
  ctx.main.append(
    h('p', { class: 'crumbs' }, link('hosts', t('hosts.title')), ' / ', host.hostname),
    h('h1', null, t('host.title'), ': ', h('span', { class: 'data-text' }, host.hostname)),
    hostActions(ctx, host, groups.items),
    h('div', { class: 'cols' },
      section(t('host.facts'), kvTable([
        [t('host.id'), host.id], [t('host.hostname'), host.hostname], [t('host.status'), badge(host.status, 'status')],
        [t('host.group'), host.group], [t('host.enrolledAt'), fmtTime(host.enrolledAt)], [t('host.lastSeen'), fmtTime(host.lastSeen)],
        [t('host.certNotAfter'), fmtTime(host.certNotAfter)], [t('host.compliant'), badge(host.compliant ? 'yes' : 'no', 'bool')],
        ...(host.cloneOf ? [[t('host.cloneOf'), link(['hosts', host.cloneOf], host.cloneOf)]] : []),
      ])),
      section(t('host.policy'), kvTable([
        [t('host.policyApplied'), policyCell(pol.applied, pol.latestVersion)],
        [t('host.policyLatest'), pol.latestVersion ? `v${pol.latestVersion}` : t('policy.defaults')],
        [t('host.group'), link('policies', pol.group, { group: pol.group })],
        [t('host.attestation'), d.attestation
          ? h('span', null, apiLink(['hosts', host.id, 'attestation'], null, t('host.attestationDownload'), { download: '' }), ' ', h('span', { class: 'hint' }, fmtTime(d.attestation.time)))
          : t('host.noAttestation')],
      ]))),
    section(t('host.inventory'), inventorySummary(d.inventory)),
    section(t('host.checks'), checksTable(d.checks)),
    section(t('host.timeline'), timelineTable(d.timeline)),
    section(t('host.openViolations'), violationTable(ctx, d.violations.map((v) => ({ ...v, hostname: host.hostname })), { selectable: false })));
}
