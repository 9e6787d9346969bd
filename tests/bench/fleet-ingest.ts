/**
 * Fleet ingest and storage: 1,000 agents (2 load processes × 500 keep-alive mutual-TLS connections,
 * each its own certificate) post batches of 100 events as fast as acks come back, against
 *  - a bare node:https server with the same TLS (baseline),
 *  - termguard on SQLite (one process),
 *  - termguard on PostgreSQL (one process, then two processes on one database, agents split),
 * with PostgreSQL run durable (fsync on, synchronous commit). Then, on what each store holds:
 * bytes on disk per stored event, the projection for six months of 5,000 terminals, and the cost of
 * the daily retention purge (rows/s deleting the oldest half, and the time for one day of 5,000 terminals).
 * Identities: the first 1,000 of the fleet fixture (.cache/fleet-10000), re-enrolled into PostgreSQL.
 * Env: BENCH_FLEET_INGEST_AGENTS (1000), BENCH_INGEST_SECONDS (20), BENCH_INGEST_WARMUP (3),
 *      BENCH_FLEET_INGEST_RUNS (baseline,sqlite,sqlite-terminal,pg1,pg2: which runs; sqlite-terminal is a terminal's mix of 96% heartbeats).
 */
import { cpSync, readFileSync, statSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  CpuWindow, createToken, profileArgs, ensureBuilt, forkWorker, initServerData, num, percentile, ratio, removeTemp, sleep,
  startBaselineServer, startServerProcess, table, tempDir, type ServerProcess, type Worker,
} from './lib.js';
import type { Identity, IngestInit, IngestMix, IngestResult } from './ingest-client.js';
import { fleetFixture, raiseFdLimit } from './fleet.js';
import { enrollKeys } from './fleet-sim/enroll.js';
import { startPostgres } from '../helpers/postgres.js';
import { SqliteStore } from '../../server/store/sqlite.js';
import { PostgresStore } from '../../server/store/postgres.js';
import type { Store } from '../../server/store/types.js';

const AGENTS = Number(process.env.BENCH_FLEET_INGEST_AGENTS ?? 1000);
const WORKERS = 2;
const BATCH = 100;
const SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 20);
const WARMUP = Number(process.env.BENCH_INGEST_WARMUP ?? 3);
const TARGET = 50_000;
/** A terminal's day: a heartbeat a minute, plus checks, inventory, USB, media and egress events (assumed 60). */
const EVENTS_PER_TERMINAL_DAY = 1440 + 60;
const TERMINALS = 5000;
const DAYS = 184;

interface Load { perSec: number; p50: number; p99: number; acked: number; errors: number; overloaded: number; firstError: string | null; cpu: Record<string, number>; bytesPerEvent: number }

/** Drive the URLs (worker w → urls[w % urls.length]) for warm-up + window. */
async function load(urls: string[], serverPids: number[], ca: string, ids: Identity[], mix: IngestMix = 'storm'): Promise<Load> {
  const per = Math.ceil(ids.length / WORKERS);
  const workers: Worker[] = [];
  try {
    for (let w = 0; w < WORKERS; w++) workers.push(forkWorker('ingest-client.ts'));
    await Promise.all(workers.map((wk, w) => {
      const ready = wk.next('ready');
      wk.send({ type: 'init', url: urls[w % urls.length]!, ca, identities: ids.slice(w * per, (w + 1) * per), batch: BATCH, seed: w + 1, mix } satisfies IngestInit);
      return ready;
    }));
    for (const wk of workers) wk.send({ type: 'go' });
    await sleep(WARMUP * 1000);
    const cpu = new CpuWindow({ server: serverPids, clients: workers.map((w) => w.proc.pid!) });
    const t0 = performance.now();
    for (const wk of workers) wk.send({ type: 'measure' });
    await sleep(SECONDS * 1000);
    const results = workers.map((wk) => wk.next<IngestResult>('result', 180_000));
    for (const wk of workers) wk.send({ type: 'stop' });
    const seconds = (performance.now() - t0) / 1000;
    const use = cpu.end();
    const rs = await Promise.all(results);
    const lat = rs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    return {
      perSec: rs.reduce((a, r) => a + r.ackedInWindow, 0) / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99),
      acked: rs.reduce((a, r) => a + r.ackedTotal, 0), errors: rs.reduce((a, r) => a + r.errors, 0), overloaded: rs.reduce((a, r) => a + r.overloaded, 0),
      firstError: rs.find((r) => r.firstError)?.firstError ?? null, cpu: use, bytesPerEvent: rs[0]!.bytesPerEvent,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function baseline(dataDir: string, ca: string, ids: Identity[]): Promise<Load> {
  const b = await startBaselineServer(dataDir);
  try {
    return await load([b.url], [b.proc.pid!], ca, ids);
  } finally {
    await b.stop();
  }
}

interface Storage { rows: number; bytes: number; purgedRows: number; purgeSeconds: number }

/** Bytes per row of what the store holds, and the time to purge its older half through the store's own purge. */
async function storage(store: Store, rows: number, bytes: () => Promise<number>, median: () => Promise<string>): Promise<Storage> {
  const size = await bytes();
  const cut = await median();
  const t0 = performance.now();
  const purged = await store.purgeEvents(cut);
  return { rows, bytes: size, purgedRows: purged, purgeSeconds: (performance.now() - t0) / 1000 };
}

async function sqliteRun(fxData: string, ca: string, ids: Identity[], tmp: string, mix: IngestMix = 'storm'): Promise<Load & Storage> {
  const dataDir = join(tmp, `sqlite-${mix}`);
  cpSync(fxData, dataDir, { recursive: true });
  const srv = await startServerProcess(dataDir, { nodeArgs: [...profileArgs('fleet-ingest-sqlite'), ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)] });
  let l: Load;
  try {
    l = await load([srv.agentUrl], [srv.proc.pid!], ca, ids, mix);
  } finally {
    await srv.stop();
  }
  const file = join(dataDir, 'termguard.db');
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.exec('VACUUM'); // what a day's fleet costs, not the free pages of the fixture's past
  const rows = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  const median = db.prepare('SELECT received_at FROM events ORDER BY received_at LIMIT 1 OFFSET ?').pluck().get(Math.floor(rows / 2)) as string;
  db.close();
  const store = new SqliteStore(file, { writerThread: true });
  try {
    const s = await storage(store, rows, async () => statSync(file).size, async () => median);
    return { ...l, ...s };
  } finally {
    await store.close();
  }
}

async function pgRun(ca0: string, keys: { privateKeyPem: string; publicKeyPem: string }[], tmp: string, servers: number): Promise<Load & Storage> {
  const cluster = await startPostgres({ durable: true });
  try {
    const url = await cluster.createDatabase();
    const dataDir = join(tmp, `pg-${servers}`);
    initServerData(dataDir, url);
    const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
    const token = createToken(dataDir, keys.length, url);
    const procs: ServerProcess[] = [];
    let l: Load;
    try {
      for (let i = 0; i < servers; i++) procs.push(await startServerProcess(dataDir, { store: url }));
      const t0 = performance.now();
      const enrolled = await enrollKeys(procs[0]!.consoleUrl, ca, token, keys, 'fleet-pg', 16);
      process.stdout.write(`fleet-ingest: enrolled ${num(keys.length)} into PostgreSQL in ${num((performance.now() - t0) / 1000, 1)} s\n`);
      l = await load(procs.map((p) => p.agentUrl), procs.map((p) => p.proc.pid!), ca, enrolled.map((e) => ({ hostId: e.hostId, key: e.key, cert: e.cert })));
      if (l.errors) for (const p of procs) process.stdout.write(`fleet-ingest: server ${p.proc.pid} stderr (tail):\n${p.stderr().slice(-3000)}\n`);
    } finally {
      for (const p of procs) await p.stop();
    }
    void ca0;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query('VACUUM ANALYZE events');
      const rows = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n);
      const store = await PostgresStore.open(url);
      try {
        const s = await storage(store, rows,
          async () => Number((await c.query<{ b: string }>("SELECT pg_total_relation_size('events') AS b")).rows[0]!.b),
          async () => (await c.query<{ r: string }>('SELECT received_at AS r FROM events ORDER BY received_at LIMIT 1 OFFSET $1', [Math.floor(rows / 2)])).rows[0]!.r);
        return { ...l, ...s };
      } finally {
        await store.close();
      }
    } finally {
      await c.end();
    }
  } finally {
    await cluster.stop();
  }
}

export async function fleetIngest(): Promise<void> {
  ensureBuilt();
  raiseFdLimit();
  const fx = await fleetFixture(10_000);
  const ids: Identity[] = fx.identities.slice(0, AGENTS);
  const keys = ids.map((i) => ({ privateKeyPem: i.key, publicKeyPem: createPublicKey(i.key).export({ type: 'spki', format: 'pem' }) as string }));
  const tmp = tempDir('tg-bench-fleet-ingest-');
  try {
    const only = (process.env.BENCH_FLEET_INGEST_RUNS ?? 'baseline,sqlite,sqlite-terminal,pg1,pg2').split(',');
    const none: Load & Storage = { perSec: NaN, p50: NaN, p99: NaN, acked: 0, errors: 0, overloaded: 0, firstError: null, cpu: {}, bytesPerEvent: NaN, rows: 0, bytes: NaN, purgedRows: 0, purgeSeconds: NaN };
    process.stdout.write(`fleet-ingest: baseline, ${num(AGENTS)} agents, ${WARMUP} s warm-up + ${SECONDS} s\n`);
    const b = only.includes('baseline') ? await baseline(fx.dataDir, fx.ca, ids) : none;
    process.stdout.write('fleet-ingest: termguard on SQLite\n');
    const s = only.includes('sqlite') ? await sqliteRun(fx.dataDir, fx.ca, ids, tmp) : none;
    process.stdout.write('fleet-ingest: termguard on SQLite, a terminal\'s mix\n');
    const st = only.includes('sqlite-terminal') ? await sqliteRun(fx.dataDir, fx.ca, ids, tmp, 'terminal') : none;
    process.stdout.write('fleet-ingest: termguard on PostgreSQL, one server process\n');
    const p1 = only.includes('pg1') ? await pgRun(fx.ca, keys, tmp, 1) : none;
    process.stdout.write('fleet-ingest: termguard on PostgreSQL, two server processes\n');
    const p2 = only.includes('pg2') ? await pgRun(fx.ca, keys, tmp, 2) : none;
    const runs: [string, Load][] = [
      ['termguard SQLite', s], ['termguard SQLite, terminal mix', st], ['termguard PostgreSQL ×1', p1], ['termguard PostgreSQL ×2', p2], ['baseline', b],
    ];
    process.stdout.write(table(
      `fleet ingest — ${num(AGENTS)} agents × keep-alive mTLS, batches of ${BATCH} (~${num(b.bytesPerEvent)} B an event), ${SECONDS} s after ${WARMUP} s warm-up`,
      ['run', 'events/s acked', 'vs baseline', 'ack p50 ms', 'ack p99 ms', 'server CPU %', 'load gen CPU %', 'other CPU %', '503 waited', 'errors'],
      runs.map(([name, r]) => [name, num(r.perSec), ratio(r.perSec, b.perSec), num(r.p50, 1), num(r.p99, 1), num(r.cpu.server!), num(r.cpu.clients!), num(r.cpu.other!), num(r.overloaded), num(r.errors)]),
      [
        `target ≥ ${num(TARGET)} events/s on SQLite: ${s.perSec >= TARGET ? 'met' : 'NOT met'} with the storm mix (a third of the events raise a violation), `
          + `${st.perSec >= TARGET ? 'met' : 'NOT met'} with a terminal's mix (96% heartbeats, 2% egress violations); the other runs and the baseline use the storm mix`,
        'server CPU % is of one core, summed over the server processes (PostgreSQL itself counts as "other")',
        'PostgreSQL runs durable (fsync on, synchronous_commit on), SQLite in WAL with synchronous=NORMAL as the product configures it',
        ...runs.filter(([, r]) => r.firstError).map(([n, r]) => `${n} first error: ${r.firstError}`),
      ],
    ));
    const perDay = EVENTS_PER_TERMINAL_DAY * TERMINALS;
    const store: [string, Storage][] = [['SQLite', s], ['PostgreSQL', p1]];
    process.stdout.write(table(
      `storage and retention — what the stores hold after the runs; projection for ${num(TERMINALS)} terminals × ${num(EVENTS_PER_TERMINAL_DAY)} events a day × ${DAYS} days`,
      ['store', 'rows', 'bytes per event', `six months, ${num(TERMINALS)} terminals`, 'purge rows/s', `purge of one day (${num(perDay)} rows)`],
      store.map(([name, x]) => [
        name, num(x.rows), num(x.bytes / x.rows), `${num((x.bytes / x.rows) * perDay * DAYS / 1024 ** 4, 2)} TiB`,
        num(x.purgedRows / x.purgeSeconds), `${num(perDay / (x.purgedRows / x.purgeSeconds) / 60, 1)} min`,
      ]),
      [
        'bytes per event: the events table with its indexes (SQLite: the database file after checkpoint and VACUUM; PostgreSQL: pg_total_relation_size)',
        'purge: the store\'s own retention purge (chunked transactions through the received_at index) deleting the older half of the rows',
      ],
    ));
  } finally {
    removeTemp(tmp);
  }
}
