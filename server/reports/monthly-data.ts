/**
 * Gathering the monthly report (art23) from the store: the month's bounds in the institution's
 * time zone, the fleet, compliance from each host's last hardening run in the month, violations
 * opened, closed and overdue by type and article, top offending hosts, coverage gaps, drills.
 */
import type { ServerContext } from '../context.js';
import type { MonthlyReportData } from './monthly.js';

/** UTC instant of local midnight on the first of `month` (YYYY-MM) in `timeZone`. */
export function monthStart(month: string, timeZone: string): Date {
  const [y, m] = month.split('-').map(Number) as [number, number];
  let guess = Date.UTC(y, m - 1, 1);
  // Two passes converge for any zone offset (the offset at the guess may differ across DST).
  for (let i = 0; i < 2; i++) {
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(guess)).filter((p) => p.type !== 'literal').map((p) => [p.type, Number(p.value)]));
    const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
    guess -= asUtc - Date.UTC(y, m - 1, 1);
  }
  return new Date(guess);
}

export function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

export async function buildMonthlyData(ctx: Pick<ServerContext, 'store' | 'config'>, month: string, now = new Date()): Promise<MonthlyReportData> {
  const tz = ctx.config.timeZone ?? 'Asia/Shanghai';
  const from = monthStart(month, tz);
  const to = monthStart(nextMonth(month), tz);
  const end = Math.min(to.getTime(), now.getTime());
  const fromIso = from.toISOString();
  const toIso = to.toISOString();
  const hosts = (await ctx.store.listHosts()).filter((h) => h.enrolledAt < toIso);
  const byId = new Map(hosts.map((h) => [h.id, h]));
  const active = hosts.filter((h) => h.status === 'active');

  // Compliance: each active host's last hardening run in the month.
  let checked = 0, compliant = 0;
  const failing = new Map<string, { title: string; hosts: number }>();
  for (const h of active) {
    const e = (await ctx.store.queryEvents({ host: h.id, type: 'host.check', since: fromIso, until: toIso, latest: true, limit: 1 }))[0];
    if (!e) continue;
    checked++;
    const results = Array.isArray(e.data.results) ? e.data.results as { id?: unknown; status?: unknown; title?: { zh?: unknown; en?: unknown } }[] : [];
    const fails = results.filter((r) => r.status === 'fail');
    if (fails.length === 0) compliant++;
    for (const f of fails) {
      const id = String(f.id ?? '?');
      const x = failing.get(id) ?? { title: `${String(f.title?.zh ?? '')} / ${String(f.title?.en ?? '')}`, hosts: 0 };
      x.hosts++;
      failing.set(id, x);
    }
  }

  // Violations alive during the month.
  const alive = await ctx.store.violationsAlive(fromIso, toIso);
  const endIso = new Date(end).toISOString();
  const opened = alive.filter((v) => v.createdAt >= fromIso);
  const closed = alive.filter((v) => v.resolvedAt !== null && v.resolvedAt >= fromIso && v.resolvedAt < toIso);
  const isOverdue = (v: (typeof alive)[number]) => (v.resolvedAt === null || v.resolvedAt >= toIso ? v.dueAt < endIso : v.resolvedAt > v.dueAt);
  const overdue = alive.filter(isOverdue);
  const tally = <K extends string>(key: (v: (typeof alive)[number]) => K[]) => {
    const m = new Map<K, { opened: number; closed: number; overdue: number }>();
    const add = (list: typeof alive, f: 'opened' | 'closed' | 'overdue') => {
      for (const v of list) for (const k of key(v)) { const x = m.get(k) ?? { opened: 0, closed: 0, overdue: 0 }; x[f]++; m.set(k, x); }
    };
    add(opened, 'opened'); add(closed, 'closed'); add(overdue, 'overdue');
    return m;
  };
  const resolveHours = closed.map((v) => (Date.parse(v.resolvedAt!) - Date.parse(v.createdAt)) / 3_600_000);
  const perHost = new Map<string, { violations: number; open: number }>();
  for (const v of opened) {
    const x = perHost.get(v.hostId) ?? { violations: 0, open: 0 };
    x.violations++;
    if (v.resolvedAt === null || v.resolvedAt >= toIso) x.open++;
    perHost.set(v.hostId, x);
  }
  const drills = await ctx.store.listDrills({ from: fromIso, to: toIso });
  const acked = drills.filter((d) => d.ackedAt);
  return {
    month, generatedAt: now.toISOString(), institution: ctx.config.institution ?? null, timeZone: tz,
    fleet: {
      hosts: hosts.length, active: active.length, revoked: hosts.filter((h) => h.status === 'revoked').length,
      clones: hosts.filter((h) => h.status === 'clone' || h.cloneOf !== null).length, enrolledThisMonth: hosts.filter((h) => h.enrolledAt >= fromIso).length,
    },
    compliance: {
      checkedHosts: checked, compliantHosts: compliant, percent: checked ? Math.round(1000 * compliant / checked) / 10 : null,
      failingChecks: [...failing].map(([id, x]) => ({ id, ...x })).sort((a, b) => b.hosts - a.hosts || a.id.localeCompare(b.id)).slice(0, 15),
    },
    violations: {
      opened: opened.length, closed: closed.length, overdue: overdue.length,
      openAtEnd: alive.filter((v) => v.resolvedAt === null || v.resolvedAt >= toIso).length,
      byType: [...tally((v) => [v.type])].map(([type, x]) => ({ type, ...x })).sort((a, b) => b.opened - a.opened || a.type.localeCompare(b.type)),
      byArticle: [...tally((v) => v.articles)].map(([article, x]) => ({ article, ...x })).sort((a, b) => a.article.localeCompare(b.article, 'en', { numeric: true })),
      meanHoursToResolve: resolveHours.length ? Math.round(10 * resolveHours.reduce((a, b) => a + b, 0) / resolveHours.length) / 10 : null,
    },
    topHosts: [...perHost].map(([hostId, x]) => ({ hostId, hostname: byId.get(hostId)?.hostname ?? '?', group: byId.get(hostId)?.group ?? '?', ...x }))
      .sort((a, b) => b.violations - a.violations || a.hostId.localeCompare(b.hostId)).slice(0, 10),
    coverageGaps: active.filter((h) => h.lastSeen === null || end - Date.parse(h.lastSeen) > 24 * 3_600_000)
      .map((h) => ({ hostId: h.id, hostname: h.hostname, group: h.group, lastSeen: h.lastSeen, silentHours: h.lastSeen ? Math.round((end - Date.parse(h.lastSeen)) / 3_600_000) : null })),
    drills: {
      started: drills.length, acknowledged: acked.length,
      meanSecondsToAck: acked.length ? Math.round(acked.reduce((n, d) => n + (Date.parse(d.ackedAt!) - Date.parse(d.startedAt)) / 1000, 0) / acked.length) : null,
    },
  };
}
