// Policy editor: a group's policy as JSON, validated on the server before it is published; versions
// with a diff between any two; which hosts apply which version; the groups.
import { h, link, table, fmtTime, text, field, button, messageBox, select, clear, routeHref } from './dom.js';
import { t } from './i18n.js';
import { get, post, put, p } from './api.js';

const GROUP = /^[a-z0-9][a-z0-9_-]{0,63}$/;

function parse(textValue, msg) {
  try {
    return { ok: true, value: JSON.parse(textValue) };
  } catch (e) {
    msg.error(t('policy.jsonError', { error: e instanceof Error ? e.message : String(e) }));
    return { ok: false };
  }
}

function diffTable(items) {
  return table([
    { label: t('policy.path'), cell: (d) => h('code', null, d.path) },
    { label: t('policy.from'), cell: (d) => h('code', null, text(d.from)) },
    { label: t('policy.to'), cell: (d) => h('code', null, text(d.to)) },
  ], items, { class: 'data diff', empty: t('policy.noChanges') });
}

export async function renderPolicies(ctx) {
  const group = ctx.query.get('group') || 'default';
  const [pol, groups] = await Promise.all([get('/api/policies', { group }), get('/api/groups')]);
  const msg = messageBox();
  const editor = h('textarea', { name: 'policy', class: 'code', rows: 24, spellcheck: 'false', autocomplete: 'off', 'aria-label': t('policy.json') });
  editor.value = JSON.stringify(pol.current.policy, null, 2);

  const groupSel = select(groups.items.map((g) => [g.group, g.group]).concat(groups.items.some((g) => g.group === group) ? [] : [[group, group]]), group, { name: 'group' });
  groupSel.addEventListener('change', () => ctx.go(routeHref(['policies'], { group: groupSel.value })));
  const newGroup = h('input', { name: 'newGroup', size: 14, placeholder: t('policy.newGroupHint'), pattern: GROUP.source });
  const newForm = h('form', { class: 'inline' }, field(t('policy.newGroup'), newGroup), h('button', { type: 'submit' }, t('policy.open')));
  newForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const g = newGroup.value.trim();
    if (!GROUP.test(g)) return msg.error(t('policy.badGroup'));
    ctx.go(routeHref(['policies'], { group: g }));
  });

  const validate = async () => {
    msg.clear();
    const j = parse(editor.value, msg);
    if (!j.ok) return false;
    try {
      const r = await post('/api/policies/validate', { policy: j.value });
      if (r.ok) msg.ok(t('policy.valid'));
      else msg.error(t('policy.invalid', { error: r.error }));
      return r.ok;
    } catch (e) {
      msg.error(e);
      return false;
    }
  };
  const publish = async () => {
    msg.clear();
    const j = parse(editor.value, msg);
    if (!j.ok) return;
    try {
      const r = await put(p('/api/policies', group), { policy: j.value });
      msg.ok(t('policy.published', { version: r.version, group: r.group }));
      await loadSide();
    } catch (e) {
      msg.error(e);
    }
  };

  const side = h('div', { class: 'policy-side' });
  const diffOut = h('div', { class: 'diff-out' });
  async function loadSide() {
    const [cur, gs] = await Promise.all([get('/api/policies', { group }), get('/api/groups')]);
    clear(side);
    const opts = [['0', t('policy.defaults')], ...cur.versions.map((v) => [String(v.version), `v${v.version}`])];
    const from = select(opts, cur.versions.length > 1 ? String(cur.versions[1].version) : '0', { name: 'from' });
    const to = select(opts, cur.versions.length ? String(cur.versions[0].version) : '0', { name: 'to' });
    const showDiff = async (a, b) => {
      try {
        const d = await get(p('/api/policies', group, 'diff'), { from: a, to: b });
        clear(diffOut).append(h('h3', null, t('policy.diffTitle', { from: a === '0' || a === 0 ? t('policy.defaults') : `v${a}`, to: b === '0' || b === 0 ? t('policy.defaults') : `v${b}` })), diffTable(d.items));
      } catch (e) { msg.error(e); }
    };
    const versions = [...cur.versions].sort((a, b) => b.version - a.version);
    side.append(
      h('section', { class: 'panel' }, h('h2', null, t('policy.current')),
        h('p', null, cur.current.version ? t('policy.currentVersion', { version: cur.current.version, time: fmtTime(cur.current.createdAt) }) : t('policy.noneYet'))),
      h('section', { class: 'panel' }, h('h2', null, t('policy.versions')),
        table([
          { label: t('policy.version'), cell: (v) => `v${v.version}` },
          { label: t('policy.createdAt'), cell: (v) => fmtTime(v.createdAt) },
          { label: t('common.actions'), cell: (v) => {
            const i = versions.indexOf(v);
            const prev = versions[i + 1]?.version ?? 0;
            return button(t('policy.diffPrev'), () => void showDiff(String(prev), String(v.version)), 'small');
          } },
        ], versions),
        h('div', { class: 'inline' }, field(t('policy.from'), from), field(t('policy.to'), to), button(t('policy.diff'), () => void showDiff(from.value, to.value), '', { 'data-action': 'diff' })),
        diffOut),
      h('section', { class: 'panel' }, h('h2', null, t('policy.applied')),
        table([
          { label: t('policy.version'), cell: (a) => (a.version === 'none' ? t('policy.notReported') : link('hosts', `v${a.version}`, { group, policyVersion: a.version })) },
          { label: t('policy.hosts'), cell: (a) => String(a.hosts), class: 'num' },
        ], cur.applied)),
      h('section', { class: 'panel' }, h('h2', null, t('policy.groups')),
        table([
          { label: t('host.group'), cell: (g) => link('policies', g.group, { group: g.group }) },
          { label: t('policy.version'), cell: (g) => (g.policyVersion ? `v${g.policyVersion}` : t('policy.defaults')) },
          { label: t('policy.hosts'), cell: (g) => String(g.hosts), class: 'num' },
          { label: t('policy.hostsApplied'), cell: (g) => String(g.applied), class: 'num' },
        ], gs.items)));
  }
  await loadSide();

  const canWrite = ctx.can('policy.write');
  ctx.main.append(
    h('h1', null, t('policy.title')),
    h('div', { class: 'inline toolbar' }, field(t('host.group'), groupSel), newForm),
    h('div', { class: 'cols policy' },
      h('section', { class: 'panel editor' },
        h('h2', null, t('policy.editGroup', { group })),
        editor,
        h('div', { class: 'actions' },
          button(t('policy.validate'), () => void validate(), '', { 'data-action': 'validate' }),
          canWrite ? button(t('policy.publish'), () => void publish(), 'primary', { 'data-action': 'publish' }) : h('span', { class: 'hint' }, t('policy.readOnly'))),
        msg.el,
        h('p', { class: 'hint' }, t('policy.help'))),
      side));
}
