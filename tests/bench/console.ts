/**
 * Console (console issue, "Figures"): with 5,000 hosts and ~5 M stored events, p50/p95/p99 of the
 * violations list (plain, filtered, a deep page), host detail, the host list and the overview over
 * keep-alive HTTPS against the real server (its own process, SQLite), sequential, beside a baseline
 * route on the same listener (GET /v1/ca); wall time of the monthly report (HTML, CSV). Targets:
 * p95 ≤ 100 ms per query, ≤ 10 s per report. Then where the time goes (console-breakdown.ts).
 * The server starts as shipped; its time to listening is printed (the start-up violation sweep reads
 * only the after-commit rules' partial indexes, so it does not grow with the events table).
 * Env: BENCH_CONSOLE_REQUESTS (200), BENCH_CONSOLE_WARMUP (10), BENCH_CONSOLE_MONTH (last month,
 * Asia/Shanghai), BENCH_PROFILE=1 (server --cpu-prof into .cache/profiles/console).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'node:https';
import Database from 'better-sqlite3';
import { hashPassword } from '../../server/auth/secrets.js';
import {
  CACHE_DIR, CpuWindow, HOST, ROOT, SERVER_CLI, ensureBuilt, initServerData, num, percentile, profileArgs, ratio, removeTemp, stopChild, table, tempDir, track,
  type ServerProcess,
} from './lib.js';
import { consoleData, copyData, type DataMeta } from './console-data.js';
import { breakdown } from './console-breakdown.js';

const REQUESTS = Number(process.env.BENCH_CONSOLE_REQUESTS ?? 200);
const WARMUP = Number(process.env.BENCH_CONSOLE_WARMUP ?? 10);
const REPORT_RUNS = 5;
const TARGET_MS = 100;
const TARGET_REPORT_S = 10;
const USER = 'bench';
const PASSWORD = 'bench-console-password-1';

const say = (s: string) => process.stdout.write(`${s}\n`);

/** The month before the current one in Asia/Shanghai (the server's default zone): a whole month of data. */
function lastMonth(now = Date.now()): string {
  const d = new Date(now + 8 * 3_600_000);
  const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1));
  return `${m.getUTCFullYear()}-${String(m.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** lib's startServerProcess, with a start-up allowance for opening 5 GB of data on a slow disk. */
async function startServer(dataDir: string, nodeArgs: string[], timeoutMs = 20 * 60_000): Promise<ServerProcess> {
  const proc = track(spawn(process.execPath, [...nodeArgs, SERVER_CLI, 'start', '--data', dataDir, '--agent-port', '0', '--console-port', '0', '--bind', HOST], {
    cwd: ROOT, env: { ...process.env, TERMGUARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => { err += c.toString(); if (err.length > 64_000) err = err.slice(-32_000); });
  const urls = await new Promise<{ agentUrl: string; consoleUrl: string }>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`server did not start within ${timeoutMs / 1000} s: ${out} ${err}`)), timeoutMs);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const a = /agent listener (https:\/\/\S+)/.exec(out);
      const k = /console (https:\/\/\S+)/.exec(out);
      if (a && k) { clearTimeout(t); ok({ agentUrl: a[1]!, consoleUrl: k[1]! }); }
    });
    proc.once('exit', (code) => { clearTimeout(t); fail(new Error(`server exited ${code}: ${err}`)); });
  });
  proc.stdout!.resume();
  return { proc, ...urls, stop: () => stopChild(proc), stderr: () => err };
}

// ── HTTPS with the session cookie ───────────────────────────────────────
interface Hit { status: number; ms: number; bytes: number; body: string; cookie: string | null }

function call(url: string, o: { ca: string; agent: Agent; cookie?: string; method?: string; body?: string; keepBody?: boolean }): Promise<Hit> {
  return new Promise((ok, fail) => {
    const headers: Record<string, string | number> = {};
    if (o.cookie) headers.cookie = o.cookie;
    if (o.body !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = Buffer.byteLength(o.body); }
    const t0 = performance.now();
    const req = request(url, { method: o.method ?? 'GET', ca: o.ca, agent: o.agent, headers, timeout: 120_000 }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; if (o.keepBody || res.statusCode !== 200) chunks.push(c); });
      res.on('end', () => {
        const set = res.headers['set-cookie']?.map((c) => /^tg_session=([^;]+)/.exec(c)?.[1]).find(Boolean);
        ok({ status: res.statusCode ?? 0, ms: performance.now() - t0, bytes, body: Buffer.concat(chunks).toString('utf8'), cookie: set ? `tg_session=${set}` : null });
      });
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', fail);
    req.end(o.body);
  });
}

interface Series { name: string; lat: number[]; bytes: number; errors: number; firstError: string | null }

/** `REQUESTS` sequential requests after `WARMUP`; `path(i)` may vary per request. */
async function series(name: string, base: string, path: (i: number) => string, o: { ca: string; agent: Agent; cookie?: string }): Promise<Series> {
  const s: Series = { name, lat: [], bytes: 0, errors: 0, firstError: null };
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const h = await call(base + path(i), o);
    if (h.status !== 200) { s.errors++; s.firstError ??= `${h.status} ${h.body.slice(0, 200)}`; }
    if (i < WARMUP) continue;
    s.lat.push(h.ms);
    s.bytes += h.bytes;
  }
  s.lat.sort((a, b) => a - b);
  return s;
}

// ── the bench ───────────────────────────────────────────────────────────
export async function consoleBench(): Promise<void> {
  ensureBuilt();
  const data = consoleData(say);
  const meta: DataMeta = data.meta;
  if (!data.cached) say(`console: generated in ${num(meta.genSeconds, 1)} s, ${num(meta.sizeBytes / 1e9, 2)} GB (cached in ${join(CACHE_DIR, 'console')})`);
  const tmp = tempDir('tg-bench-console-');
  try {
    const dataDir = join(tmp, 'data');
    initServerData(dataDir);
    const dbFile = join(dataDir, 'termguard.db');
    let t0 = performance.now();
    copyData(data.file, dbFile);
    const copySeconds = (performance.now() - t0) / 1000;

    // Hosts' last contact moves with the clock, so online/offline/silent mean what they meant at generation.
    const shiftMs = Date.now() - Date.parse(meta.generatedAt);
    const db = new Database(dbFile);
    const hostIds: string[] = [];
    try {
      db.transaction(() => {
        const upd = db.prepare('UPDATE hosts SET last_seen = ? WHERE id = ?');
        for (const r of db.prepare('SELECT id, last_seen FROM hosts WHERE last_seen IS NOT NULL').all() as { id: string; last_seen: string }[]) {
          upd.run(new Date(Date.parse(r.last_seen) + shiftMs).toISOString(), r.id);
        }
        db.prepare('INSERT INTO users (name, password_hash, role, must_change, disabled, created_at) VALUES (?, ?, ?, 0, 0, ?)')
          .run(USER, hashPassword(PASSWORD), 'admin', new Date().toISOString());
      })();
      // Random hosts for the detail page, the same ones every run.
      hostIds.push(...(db.prepare("SELECT id FROM hosts WHERE status != 'clone' ORDER BY substr(id, 10) LIMIT ?").pluck().all(WARMUP + REQUESTS) as string[]));
    } finally {
      db.close();
    }

    say(`console: data ready (${num(meta.hosts)} hosts, ${num(meta.events)} events, ${num(meta.violations)} violations, ${num(meta.sizeBytes / 1e9, 2)} GB; copy ${num(copySeconds, 1)} s); starting the server`);
    const nodeArgs = profileArgs('console');
    t0 = performance.now();
    const srv = await startServer(dataDir, nodeArgs);
    const startSeconds = (performance.now() - t0) / 1000;
    const month = process.env.BENCH_CONSOLE_MONTH ?? lastMonth();
    const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let routes: Series[] = [];
    const reports: { format: string; runs: number[]; bytes: number; errors: number }[] = [];
    let cpu: Record<string, number> = {};
    try {
      const login = await call(`${srv.consoleUrl}/api/login`, { ca, agent, method: 'POST', body: JSON.stringify({ username: USER, password: PASSWORD }), keepBody: true });
      if (login.status !== 200 || !login.cookie) throw new Error(`login: ${login.status} ${login.body}`);
      const o = { ca, agent, cookie: login.cookie };
      say(`console: server up in ${num(startSeconds, 1)} s; ${WARMUP} warm-up + ${REQUESTS} sequential requests per route`);
      const window = new CpuWindow({ server: [srv.proc.pid!], bench: [process.pid] });
      const base = srv.consoleUrl;
      routes = [];
      routes.push(await series('baseline: GET /v1/ca', base, () => '/v1/ca', o));
      routes.push(await series('GET /api/violations?state=open&limit=50', base, () => '/api/violations?state=open&limit=50', o));
      routes.push(await series('  …&type=egress.violation&article=art29', base, () => '/api/violations?state=open&type=egress.violation&article=art29&limit=50', o));
      routes.push(await series('  …&offset=5000', base, () => '/api/violations?state=open&limit=50&offset=5000', o));
      routes.push(await series('GET /api/hosts/:id (random hosts)', base, (i) => `/api/hosts/${hostIds[i % hostIds.length]!}`, o));
      routes.push(await series('GET /api/hosts?limit=100&status=offline', base, () => '/api/hosts?limit=100&status=offline', o));
      routes.push(await series('GET /api/overview', base, () => '/api/overview', o));
      for (const s of routes) say(`console: ${s.name.trim()} p95 ${num(percentile(s.lat, 95), 1)} ms`);
      for (const format of ['html', 'csv']) {
        const r = { format, runs: [] as number[], bytes: 0, errors: 0 };
        for (let i = 0; i < REPORT_RUNS; i++) {
          const h = await call(`${base}/api/reports/monthly?month=${month}&format=${format}`, o);
          if (h.status !== 200) { r.errors++; say(`console: report ${format}: ${h.status} ${h.body.slice(0, 300)}`); }
          r.runs.push(h.ms / 1000);
          r.bytes = h.bytes;
        }
        r.runs.sort((a, b) => a - b);
        reports.push(r);
        say(`console: monthly report ${format} median ${num(r.runs[Math.floor(REPORT_RUNS / 2)]!, 2)} s`);
      }
      cpu = window.end();
    } finally {
      agent.destroy();
      await srv.stop();
    }

    say('console: timing the store calls behind each route in this process (server stopped)');
    const parts = await breakdown(dbFile, dataDir, hostIds, month);
    parts.push({ route: 'server start', call: 'spawn to both listeners open (this run)', ms: startSeconds * 1000, plan: '' });

    const baseline = routes[0]!;
    const b95 = percentile(baseline.lat, 95);
    const rows = routes.map((s, i) => {
      const p95 = percentile(s.lat, 95);
      return [s.name, num(percentile(s.lat, 50), 1), num(p95, 1), num(percentile(s.lat, 99), 1), i === 0 ? '' : ratio(p95, b95), num(s.bytes / s.lat.length / 1024, 1),
        i === 0 ? '' : `≤ ${TARGET_MS}`, i === 0 ? '' : s.errors ? `${s.errors} errors` : p95 <= TARGET_MS ? 'met' : 'MISSED'];
    });
    const errs = routes.filter((s) => s.firstError).map((s) => `${s.name.trim()}: first error ${s.firstError}`);
    say(table(
      `console — ${num(meta.hosts)} hosts, ${num(meta.events)} events, ${num(meta.violations)} violations; ${REQUESTS} sequential keep-alive HTTPS requests per route after ${WARMUP} warm-up`,
      ['route', 'p50 ms', 'p95 ms', 'p99 ms', 'p95 vs baseline', 'KiB/reply', 'target p95 ms', 'result'],
      rows,
      [
        `data: generated in ${num(meta.genSeconds, 0)} s (${data.cached ? `cached ${meta.generatedAt}` : 'this run'}), ${num(meta.sizeBytes / 1e9, 2)} GB; copied per run in ${num(copySeconds, 1)} s; server up in ${num(startSeconds, 1)} s`,
        `violations by state: ${Object.entries(meta.violationsByState).map(([k, v]) => `${k} ${num(v)}`).join(', ')}; events: ${num(meta.eventsByType['agent.heartbeat'] ?? 0)} heartbeats, ${num(meta.eventsByType['host.check'] ?? 0)} host.check, ${num(meta.eventsByType['host.inventory'] ?? 0)} host.inventory, ${num(meta.events - (meta.eventsByType['agent.heartbeat'] ?? 0) - (meta.eventsByType['host.check'] ?? 0) - (meta.eventsByType['host.inventory'] ?? 0))} other`,
        `CPU over the window, % of one core: server ${num(cpu.server!)}, this bench ${num(cpu.bench!)}, other processes ${num(cpu.other!)}`,
        ...errs,
        ...(process.env.BENCH_PROFILE === '1' ? [`server CPU profile in ${join(CACHE_DIR, 'profiles', 'console')}`] : []),
      ],
    ));
    say(table(
      `console — monthly report ${month} (GET /api/reports/monthly), ${REPORT_RUNS} runs each`,
      ['format', 'median s', 'max s', 'size KiB', 'target s', 'result'],
      reports.map((r) => [r.format, num(r.runs[Math.floor(r.runs.length / 2)]!, 2), num(r.runs[r.runs.length - 1]!, 2), num(r.bytes / 1024, 0), `≤ ${TARGET_REPORT_S}`,
        r.errors ? `${r.errors} errors` : r.runs[r.runs.length - 1]! <= TARGET_REPORT_S ? 'met' : 'MISSED']),
    ));
    say(table(
      'console — where the time goes: the store calls behind the routes, in this process on the same file after the server stopped (median ms), with their plans',
      ['route', 'call', 'ms', 'plan'],
      parts.map((p) => [p.route, p.call, num(p.ms, p.ms < 10 ? 2 : 0), p.plan]),
      [
        'plans: EXPLAIN QUERY PLAN of the SQL in server/store/sqlite.ts; the file has no ANALYZE statistics (the server never runs ANALYZE)',
        '"server start": the sweep runs before either listener opens; its queries are timed here, the whole start in the server run',
      ],
    ));
  } finally {
    removeTemp(tmp);
  }
}
