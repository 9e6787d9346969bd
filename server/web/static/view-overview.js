// Overview: fleet state, compliance, open and overdue violations, and a 30-day trend (inline SVG).
import { h, s, link, table, fmtNum } from './dom.js';
import { t, lang } from './i18n.js';
import { get } from './api.js';

function card(label, value, cls, to) {
  const v = h('div', { class: 'value' }, value);
  const body = [h('div', { class: 'label' }, label), v];
  return to ? h('div', { class: ['card', 'stat', cls] }, link(to[0], body, to[1], { class: 'stat-link' })) : h('div', { class: ['card', 'stat', cls] }, body);
}

/** Bars of violations opened per day; axis labels as text nodes. */
export function trendChart(trend) {
  const W = 720, H = 200, L = 36, B = 28, T = 10, R = 8;
  const max = Math.max(1, ...trend.map((d) => d.opened));
  const step = (W - L - R) / Math.max(1, trend.length);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': t('overview.trend') });
  svg.append(s('title', null, t('overview.trend')));
  for (const v of [0, Math.ceil(max / 2), max]) {
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
  }
  const fmt = new Intl.DateTimeFormat(lang(), { month: 'numeric', day: 'numeric', timeZone: 'UTC' });
  trend.forEach((d, i) => {
    const x = L + i * step;
    const bar = s('rect', { x: x + step * 0.15, width: step * 0.7, y: y(d.opened), height: Math.max(0, H - B - y(d.opened)), class: 'bar' });
    bar.append(s('title', null, `${d.day}: ${d.opened}`));
    svg.append(bar);
    if (i % 5 === 0 || i === trend.length - 1) {
      svg.append(s('text', { x: x + step / 2, y: H - B + 16, class: 'axis', 'text-anchor': 'middle' }, fmt.format(new Date(`${d.day}T00:00:00Z`))));
    }
  });
  svg.append(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'baseline' }));
  return svg;
}

export async function renderOverview(ctx) {
  const o = await get('/api/overview');
  const pct = o.compliance.percent === null ? '—' : `${o.compliance.percent}%`;
  ctx.main.append(
    h('h1', null, t('overview.title')),
    h('section', { class: 'cards' },
      card(t('overview.hostsTotal'), fmtNum(o.hosts.total), '', ['hosts']),
      card(t('status.online'), fmtNum(o.hosts.online), 'good', ['hosts', { status: 'online' }]),
      card(t('status.offline'), fmtNum(o.hosts.offline), 'warn', ['hosts', { status: 'offline' }]),
      card(t('status.revoked'), fmtNum(o.hosts.revoked), 'muted', ['hosts', { status: 'revoked' }]),
      card(t('overview.silent'), fmtNum(o.hosts.silent), o.hosts.silent ? 'bad' : ''),
      card(t('overview.compliance'), pct, '', ['hosts', { compliant: 'false' }]),
      card(t('overview.openViolations'), fmtNum(o.violations.open), o.violations.open ? 'warn' : '', ['violations', { state: 'unresolved' }]),
      card(t('overview.overdueViolations'), fmtNum(o.violations.overdue), o.violations.overdue ? 'bad' : '', ['violations', { overdue: '1' }])),
    h('p', { class: 'note' }, t('overview.complianceNote', { compliant: o.compliance.compliant, total: o.compliance.total })),
    h('section', { class: 'panel' }, h('h2', null, t('overview.trend')), trendChart(o.trend)),
    h('div', { class: 'cols' },
      h('section', { class: 'panel' }, h('h2', null, t('overview.byType')), table([
        { label: t('violation.type'), cell: (r) => link('violations', t(`etype.${r.type}`, {}, r.type), { type: r.type, state: 'unresolved' }) },
        { label: t('overview.open'), cell: (r) => fmtNum(r.open), class: 'num' },
        { label: t('overview.overdue'), cell: (r) => fmtNum(r.overdue), class: 'num' },
      ], o.violations.byType)),
      h('section', { class: 'panel' }, h('h2', null, t('overview.byArticle')), table([
        { label: t('violation.article'), cell: (r) => link('violations', t(`article.${r.article}`, {}, r.article), { article: r.article, state: 'unresolved' }) },
        { label: t('overview.open'), cell: (r) => fmtNum(r.open), class: 'num' },
        { label: t('overview.overdue'), cell: (r) => fmtNum(r.overdue), class: 'num' },
      ], o.violations.byArticle))));
}
