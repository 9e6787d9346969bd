/**
 * Where the console routes' time goes: the store calls behind each route, run in-process through
 * the server's own SqliteStore on the bench's copy of the data (after the server has stopped), with
 * SQLite's plan for each. The plans use SQL copied from server/store/sqlite.ts; the timings run the
 * store's own methods, so they cannot drift from what the server does.
 */
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { SqliteStore } from '../../server/store/sqlite.js';
import { loadConfig } from '../../server/config.js';
import { NEEDS_STORE } from '../../server/violations.js';
import { buildMonthlyData, monthStart, nextMonth } from '../../server/reports/monthly-data.js';
import { renderMonthlyCsv, renderMonthlyHtml } from '../../server/reports/monthly.js';
import { num } from './lib.js';

export interface Part { route: string; call: string; ms: number; plan: string }

/** Types the host detail page's timeline asks for (server/routes/console/api/hosts.ts TIMELINE). */
const TIMELINE = ['usb.attached', 'usb.blocked', 'usb.unblocked', 'usb.detached', 'media.mounted', 'media.unmounted', 'media.file_written', 'media.files_burst',
  'egress.violation', 'egress.internet_reachable', 'egress.interface', 'egress.blocked', 'egress.enforcement', 'agent.started', 'agent.stopped', 'drill'];

async function median(fn: () => unknown, runs: number): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
}

/** One line per plan step, as SQLite prints them. */
function plan(db: Database.Database, sql: string, ...args: unknown[]): string {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('; ');
}

export async function breakdown(file: string, dataDir: string, hostIds: string[], month: string): Promise<Part[]> {
  const store = new SqliteStore(file);
  const db = store.db;
  const now = new Date().toISOString();
  const parts: Part[] = [];
  const add = async (route: string, call: string, fn: () => unknown, runs: number, sql?: [string, ...unknown[]]) => {
    parts.push({ route, call, ms: await median(fn, runs), plan: sql ? plan(db, ...sql) : '' });
  };
  let k = 0;
  const host = () => hostIds[k++ % hostIds.length]!;
  const h = hostIds[0]!;
  try {
    await add('violations, hosts, overview, detail', 'listHosts() (5,000 rows → HostRow)', () => store.listHosts(), 11, ['SELECT * FROM hosts ORDER BY enrolled_at']);
    await add('hosts, overview, host detail', 'openViolationCounts() (openByHost)', () => store.openViolationCounts(), 11,
      ["SELECT host_id, type, count(*) AS n, sum(due_at < ?) AS od FROM violations WHERE state != 'resolved' GROUP BY host_id, type", now]);
    await add('overview', 'violationStats({ now })', () => store.violationStats({ now }), 11,
      ["SELECT type, articles, state, (state != 'resolved' AND due_at < ?) AS overdue, count(*) AS n FROM violations GROUP BY type, articles, state, overdue", now]);
    const from = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
    await add('overview', 'violationsPerDay(30 days)', () => store.violationsPerDay(from), 11,
      ['SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM violations WHERE created_at >= ? GROUP BY day ORDER BY day', from]);
    await add('violations ?state=open', 'listViolations(open, 50): count + page', () => store.listViolations({ state: 'open', limit: 50 }), 21,
      ['SELECT * FROM violations WHERE state = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?', 'open', 50, 0]);
    await add('  …&type=…&article=art29', 'listViolations(open, type, article)', () => store.listViolations({ state: 'open', type: 'egress.violation', article: 'art29', limit: 50 }), 11,
      ['SELECT * FROM violations WHERE state = ? AND type = ? AND EXISTS (SELECT 1 FROM json_each(violations.articles) WHERE value = ?) ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?', 'open', 'egress.violation', 'art29', 50, 0]);
    await add('  …&offset=5000', 'listViolations(open, 50, offset 5000)', () => store.listViolations({ state: 'open', limit: 50, offset: 5000 }), 11);
    await add('host detail', 'latest host.inventory', () => store.queryEvents({ host: host(), type: 'host.inventory', latest: true, limit: 1 }), 21,
      ['SELECT * FROM events WHERE host_id = ? AND type = ? ORDER BY time DESC LIMIT ?', h, 'host.inventory', 1]);
    await add('host detail', 'latest host.check', () => store.queryEvents({ host: host(), type: 'host.check', latest: true, limit: 1 }), 21);
    await add('host detail', 'latest host.attestation', () => store.queryEvents({ host: host(), type: 'host.attestation', latest: true, limit: 1 }), 21);
    await add('host detail', 'timeline: 16 types, newest 200', () => store.queryEvents({ host: host(), types: TIMELINE, latest: true, limit: 200 }), 21,
      [`SELECT * FROM events WHERE host_id = ? AND type IN (${TIMELINE.map(() => '?').join(', ')}) ORDER BY time DESC LIMIT ?`, h, ...TIMELINE, 200]);
    await add('host detail', 'listViolations(host, unresolved)', () => store.listViolations({ host: host(), state: 'unresolved', limit: 200 }), 21,
      ["SELECT * FROM violations WHERE state != 'resolved' AND host_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", h, 200, 0]);

    const config = loadConfig(dataDir);
    const tz = config.timeZone ?? 'Asia/Shanghai';
    const from2 = monthStart(month, tz).toISOString();
    const to2 = monthStart(nextMonth(month), tz).toISOString();
    const active = (await store.listHosts()).filter((x) => x.status === 'active');
    await add('monthly report', `latest host.check in the month × ${num(active.length)} hosts`, async () => {
      for (const x of active) await store.queryEvents({ host: x.id, type: 'host.check', since: from2, until: to2, latest: true, limit: 1 });
    }, 3, ['SELECT * FROM events WHERE host_id = ? AND type = ? AND time >= ? AND time < ? ORDER BY time DESC LIMIT ?', h, 'host.check', from2, to2, 1]);
    await add('monthly report', 'violationsAlive(month)', () => store.violationsAlive(from2, to2), 3,
      ['SELECT * FROM violations WHERE created_at < ? AND (resolved_at IS NULL OR resolved_at >= ?)', to2, from2]);
    await add('monthly report', 'buildMonthlyData (all of the above and more)', () => buildMonthlyData({ store, config }, month), 3);
    const data = await buildMonthlyData({ store, config }, month);
    await add('monthly report', 'renderMonthlyHtml', () => renderMonthlyHtml(data), 5);
    await add('monthly report', 'renderMonthlyCsv', () => renderMonthlyCsv(data), 5);

    // Start-up, not a console route: sweepViolations pages through the after-commit rules' events of
    // the last two hours by arrival, one partial index per type, before the listeners open.
    const since = new Date(Date.now() - 2 * 3_600_000).toISOString();
    for (const type of NEEDS_STORE) {
      const sweepSql: [string, ...unknown[]] = ['SELECT * FROM events WHERE type = ? AND (received_at, id) > (?, ?) ORDER BY received_at, id LIMIT ?', type, since, '', 2000];
      const ms = await median(() => store.queryEvents({ type, after: { receivedAt: since, id: '' }, limit: 2000 }), 3);
      parts.push({ route: 'server start', call: `sweepViolations, first page of ${type}`, ms, plan: plan(db, ...sweepSql) });
    }
  } finally {
    await store.close();
  }
  return parts;
}
