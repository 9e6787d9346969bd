// The violations queue (art17): filters, paging, bulk acknowledge/resolve, and per violation:
// acknowledge, assign an owner and due date, resolve with a note, reopen. The detail view shows the
// raising event's data as a key/value table (agent text, rendered as text).
import { h, link, table, kvTable, flatten, fmtTime, field, button, messageBox, badge, select, clear, pager, filterForm } from './dom.js';
import { t } from './i18n.js';
import { get, post, p } from './api.js';

const PAGE = 50;
export const VIOLATION_TYPES = ['egress.violation', 'egress.internet_reachable', 'egress.interface', 'egress.enforcement', 'usb.attached', 'usb.blocked',
  'usb.exception_refused', 'host.check', 'host.antimalware_disabled', 'host.admin_added', 'host.ip_unassigned', 'host.clone_detected', 'drill'];

/** The local date-time input's value as an ISO time (the input is in the user's time zone). */
function isoFromLocal(v) {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The forms for one violation's state changes; `done` runs after a change succeeded. */
export function violationActions(ctx, v, done, msg) {
  if (!ctx.can('violations.triage')) return { buttons: null, panel: null };
  const panel = h('div', { class: 'action-panel', hidden: true });
  const show = (form) => {
    clear(panel).append(form);
    panel.hidden = false;
    form.querySelector('textarea, input')?.focus();
  };
  const run = async (action, body) => {
    try {
      await post(p('/api/violations', v.id, action), body);
      await done();
    } catch (e) { msg.error(e); }
  };
  const resolveForm = () => {
    const note = h('textarea', { name: 'note', rows: 2, required: true, maxlength: 2000, placeholder: t('violation.notePlaceholder') });
    const f = h('form', { class: 'inline', 'data-form': 'resolve' }, field(t('violation.resolveNote'), note), h('button', { type: 'submit', class: 'primary' }, t('violation.resolve')),
      button(t('common.cancel'), () => { panel.hidden = true; }));
    f.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!note.value.trim()) return msg.error(t('violation.noteRequired'));
      void run('resolve', { note: note.value.trim() });
    });
    return f;
  };
  const assignForm = () => {
    const owner = h('input', { name: 'owner', required: true, maxlength: 64, value: v.owner ?? ctx.session.user });
    const due = h('input', { name: 'dueAt', type: 'datetime-local' });
    const f = h('form', { class: 'inline', 'data-form': 'assign' }, field(t('violation.owner'), owner), field(t('violation.dueAt'), due),
      h('button', { type: 'submit', class: 'primary' }, t('violation.assign')), button(t('common.cancel'), () => { panel.hidden = true; }));
    f.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const dueAt = isoFromLocal(due.value);
      void run('assign', { owner: owner.value.trim(), ...(dueAt ? { dueAt } : {}) });
    });
    return f;
  };
  const buttons = h('span', { class: 'row-actions' },
    v.state === 'open' ? button(t('violation.ack'), () => void run('ack', {}), '', { 'data-action': 'ack' }) : null,
    v.state !== 'resolved' ? button(t('violation.assign'), () => show(assignForm()), '', { 'data-action': 'assign' }) : null,
    v.state !== 'resolved' ? button(t('violation.resolve'), () => show(resolveForm()), '', { 'data-action': 'resolve' }) : null,
    v.state === 'resolved' ? button(t('violation.reopen'), () => void run('reopen', {}), '', { 'data-action': 'reopen' }) : null);
  return { buttons, panel };
}

/** Violations as rows; with `selectable`, a checkbox per row for the bulk actions. */
export function violationTable(ctx, rows, { selectable = true, selected = new Set(), msg = messageBox() } = {}) {
  const panels = new Map();
  const cols = [
    ...(selectable ? [{ label: h('input', { type: 'checkbox', 'aria-label': t('violation.selectAll'), class: 'select-all' }), cell: (v) => h('input', { type: 'checkbox', class: 'select', value: v.id, 'aria-label': t('violation.select'), on: { change: (ev) => { if (ev.target.checked) selected.add(v.id); else selected.delete(v.id); } } }) }] : []),
    { label: t('violation.createdAt'), cell: (v) => fmtTime(v.createdAt) },
    { label: t('violation.host'), cell: (v) => link(['hosts', v.hostId], v.hostname ?? v.hostId) },
    { label: t('violation.type'), cell: (v) => t(`etype.${v.type}`, {}, v.type) },
    { label: t('violation.severity'), cell: (v) => badge(v.severity, 'sev') },
    { label: t('violation.summary'), cell: (v) => link(['violations', v.id], v.summary, null, { class: 'summary' }) },
    { label: t('violation.articles'), cell: (v) => v.articles.join(', ') },
    { label: t('violation.state'), cell: (v) => [badge(v.state, 'state'), v.drill ? [' ', badge('drill', 'state')] : null] },
    { label: t('violation.owner'), cell: (v) => v.owner ?? '—' },
    { label: t('violation.dueAt'), cell: (v) => h('span', { class: v.overdue ? 'overdue' : '' }, fmtTime(v.dueAt), v.overdue ? [' ', badge('overdue', 'state')] : null) },
    ...(ctx.can('violations.triage') ? [{ label: t('common.actions'), cell: (v) => {
      const a = violationActions(ctx, v, () => ctx.refresh(), msg);
      panels.set(v.id, a.panel);
      return a.buttons;
    } }] : []),
  ];
  const wrap = table(cols, rows, {
    class: 'data violations', rowClass: (v) => `row-${v.state}${v.overdue ? ' overdue' : ''}`,
    after: (v, tr, tbody) => {
      tr.dataset.id = v.id;
      const panel = panels.get(v.id);
      if (panel) tbody.append(h('tr', { class: 'panel-row' }, h('td', { colspan: cols.length }, panel)));
    },
  });
  const all = wrap.querySelector('.select-all');
  all?.addEventListener('change', () => {
    for (const c of wrap.querySelectorAll('input.select')) {
      c.checked = all.checked;
      if (all.checked) selected.add(c.value); else selected.delete(c.value);
    }
  });
  return h('div', null, wrap, msg.el);
}

export async function renderViolations(ctx) {
  const q = ctx.query;
  const offset = Number(q.get('offset') ?? 0) || 0;
  const r = await get('/api/violations', {
    state: q.get('state'), type: q.get('type'), article: q.get('article'), host: q.get('host'), overdue: q.get('overdue'), limit: PAGE, offset,
  });
  const overdue = h('input', { name: 'overdue', type: 'checkbox', checked: q.get('overdue') === '1' });
  const inputs = [
    [t('violation.state'), select([['', t('common.any')], ...['open', 'acknowledged', 'resolved', 'unresolved'].map((x) => [x, t(`state.${x}`)])], q.get('state'), { name: 'state' })],
    [t('violation.type'), select([['', t('common.any')], ...VIOLATION_TYPES.map((x) => [x, t(`etype.${x}`, {}, x)])], q.get('type'), { name: 'type' })],
    [t('violation.article'), h('input', { name: 'article', value: q.get('article') ?? '', placeholder: 'art29', size: 8 })],
    [t('violation.hostId'), h('input', { name: 'host', value: q.get('host') ?? '', size: 20 })],
    [t('violation.overdueOnly'), overdue],
  ];
  const selected = new Set();
  const msg = messageBox();
  const bulkNote = h('input', { name: 'bulkNote', maxlength: 2000, placeholder: t('violation.notePlaceholder'), size: 30 });
  const bulk = async (action) => {
    const ids = [...selected];
    if (!ids.length) return msg.error(t('violation.noneSelected'));
    if (action === 'resolve' && !bulkNote.value.trim()) return msg.error(t('violation.noteRequired'));
    try {
      const res = await post('/api/violations/bulk', { ids, action, ...(bulkNote.value.trim() ? { note: bulkNote.value.trim() } : {}) });
      const failed = res.results.filter((x) => !x.ok);
      await ctx.refresh();
      // The refresh rebuilt the page: report on the new one.
      const m = document.querySelector('#main .bulk-result');
      if (m) m.append(t('violation.bulkDone', { done: res.done, total: ids.length }), ...failed.map((f) => h('div', { class: 'error' }, `${f.id}: ${f.error}`)));
    } catch (e) { msg.error(e); }
  };
  const bulkBar = ctx.can('violations.triage') ? h('div', { class: 'bulk' },
    h('span', { class: 'label' }, t('violation.bulk')),
    button(t('violation.ackSelected'), () => void bulk('ack'), '', { 'data-action': 'bulk-ack' }),
    bulkNote,
    button(t('violation.resolveSelected'), () => void bulk('resolve'), '', { 'data-action': 'bulk-resolve' }),
    h('span', { class: 'bulk-result msg ok' })) : null;
  ctx.main.append(
    h('h1', null, t('violations.title')),
    filterForm(ctx, 'violations', inputs),
    bulkBar,
    violationTable(ctx, r.items, { selectable: ctx.can('violations.triage'), selected, msg }),
    pager(ctx, 'violations', r.total, offset, PAGE));
}

export async function renderViolation(ctx, id) {
  const v = await get(p('/api/violations', id));
  const msg = messageBox();
  const a = violationActions(ctx, v, () => ctx.refresh(), msg);
  const ev = v.event;
  ctx.main.append(
    h('p', { class: 'crumbs' }, link('violations', t('violations.title')), ' / ', v.id),
    h('h1', null, t('violation.title'), ': ', h('span', { class: 'data-text' }, v.summary)),
    h('div', { class: 'actions' }, a.buttons), a.panel, msg.el,
    h('div', { class: 'cols' },
      h('section', { class: 'panel' }, h('h2', null, t('violation.facts')), kvTable([
        [t('violation.id'), v.id], [t('violation.host'), link(['hosts', v.hostId], v.hostname ?? v.hostId)],
        [t('violation.type'), t(`etype.${v.type}`, {}, v.type)], [t('violation.rule'), v.rule], [t('violation.severity'), badge(v.severity, 'sev')],
        [t('violation.articles'), v.articles.join(', ')], [t('violation.state'), badge(v.state, 'state')], [t('violation.owner'), v.owner ?? '—'],
        [t('violation.createdAt'), fmtTime(v.createdAt)], [t('violation.dueAt'), fmtTime(v.dueAt)],
        [t('violation.ackedAt'), v.ackedAt ? `${fmtTime(v.ackedAt)} · ${v.ackedBy ?? ''}` : '—'],
        [t('violation.resolvedAt'), v.resolvedAt ? `${fmtTime(v.resolvedAt)} · ${v.resolvedBy ?? ''}` : '—'],
        [t('violation.escalatedAt'), fmtTime(v.escalatedAt)], [t('violation.drill'), badge(v.drill ? 'yes' : 'no', 'bool')],
      ])),
      h('section', { class: 'panel' }, h('h2', null, t('violation.notes')),
        v.notes.length ? h('ul', { class: 'notes' }, v.notes.map((n) => h('li', null, h('div', { class: 'hint' }, `${fmtTime(n.at)} · ${n.by}`), h('div', { class: 'note-text' }, n.text))))
          : h('p', { class: 'empty' }, t('common.none')))),
    h('section', { class: 'panel' }, h('h2', null, t('violation.event')),
      ev ? [
        kvTable([[t('event.id'), ev.id], [t('event.type'), ev.type], [t('event.time'), fmtTime(ev.time)], [t('event.receivedAt'), fmtTime(ev.receivedAt)],
          [t('event.severity'), badge(ev.severity, 'sev')], [t('event.articles'), (ev.articles ?? []).join(', ')]]),
        h('h3', null, t('event.data')),
        kvTable(flatten(ev.data ?? {}), 'kv event-data'),
      ] : h('p', { class: 'empty' }, t('violation.noEvent'))));
}
