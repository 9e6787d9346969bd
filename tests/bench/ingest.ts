/**
 * Ingest: 200 simulated agents (2 worker processes × 100 keep-alive mutual-TLS connections) post
 * batches of 100 events as fast as acks come back, against the real server (its own process,
 * SQLite) and against a bare node:https baseline with the same TLS settings and identities.
 * Env: BENCH_INGEST_SECONDS (20), BENCH_INGEST_WARMUP (3), BENCH_PROFILE=1 (server --cpu-prof).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent } from 'node:https';
import Database from 'better-sqlite3';
import { caHash, generateAgentKey, makeCsr } from '../../shared/pki.js';
import {
  CACHE_DIR, CpuWindow, createToken, ensureBuilt, forkWorker, httpsRequest, initServerData, num, percentile, pool,
  profileArgs, ratio, removeTemp, sleep, startBaselineServer, startServerProcess, table, tempDir, type Worker,
} from './lib.js';
import type { Identity, IngestInit, IngestResult } from './ingest-client.js';

const AGENTS = 200;
const WORKERS = 2;
const BATCH = 100;
const SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 20);
const WARMUP = Number(process.env.BENCH_INGEST_WARMUP ?? 3);
const TARGET = 50_000;

interface Fixture { dataDir: string; ca: string; identities: Identity[] }

/**
 * 200 enrolled identities and the data folder that knows them, cached in .cache/ingest and reused
 * while the CA there is the one the identities were issued under.
 */
async function fixture(): Promise<Fixture> {
  const dir = join(CACHE_DIR, 'ingest');
  const dataDir = join(dir, 'data');
  const idFile = join(dir, 'identities.json');
  if (existsSync(idFile) && existsSync(join(dataDir, 'ca.crt'))) {
    const cached = JSON.parse(readFileSync(idFile, 'utf8')) as { caHash: string; identities: Identity[] };
    const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
    if (cached.caHash === caHash(ca) && cached.identities.length === AGENTS) return { dataDir, ca, identities: cached.identities };
  }
  process.stdout.write(`ingest: enrolling ${AGENTS} identities into ${dir} (cached for later runs)\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  initServerData(dataDir);
  const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  const token = createToken(dataDir, AGENTS);
  const srv = await startServerProcess(dataDir);
  try {
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const identities = await pool(Array.from({ length: AGENTS }, (_, i) => i), 8, async (i) => {
      const key = generateAgentKey();
      const csr = makeCsr(key.privateKeyPem, key.publicKeyPem, `bench-${i}`);
      const r = await httpsRequest(`${srv.consoleUrl}/v1/enroll`, {
        method: 'POST', ca, agent, body: JSON.stringify({ token, csr, hostname: `bench-${i}`, machineId: `bench-ingest-${i}` }),
      });
      if (r.status !== 200) throw new Error(`enroll ${i}: ${r.status} ${r.text}`);
      const j = JSON.parse(r.text) as { hostId: string; certificate: string };
      return { hostId: j.hostId, key: key.privateKeyPem, cert: j.certificate };
    });
    agent.destroy();
    writeFileSync(idFile, JSON.stringify({ caHash: caHash(ca), identities }));
    return { dataDir, ca, identities };
  } finally {
    await srv.stop();
  }
}

interface LoadResult { cpu: Record<string, number>; eventsPerSecAcked: number; p50: number; p99: number; ackedTotal: number; errors: number; firstError: string | null; bytesPerEvent: number; seconds: number }

/** Drive `url` with the identities split over worker processes; hooks run at the window's edges. */
async function load(url: string, serverPid: number, fx: Fixture, edges: { start?: () => void; end?: () => void } = {}): Promise<LoadResult> {
  const per = Math.ceil(fx.identities.length / WORKERS);
  const workers: Worker[] = [];
  try {
    for (let w = 0; w < WORKERS; w++) workers.push(forkWorker('ingest-client.ts'));
    await Promise.all(workers.map((wk, w) => {
      const ready = wk.next('ready');
      wk.send({ type: 'init', url, ca: fx.ca, identities: fx.identities.slice(w * per, (w + 1) * per), batch: BATCH, seed: w + 1 } satisfies IngestInit);
      return ready;
    }));
    for (const wk of workers) wk.send({ type: 'go' });
    await sleep(WARMUP * 1000);
    edges.start?.();
    const cpu = new CpuWindow({ server: [serverPid], clients: workers.map((w) => w.proc.pid!) });
    const t0 = performance.now();
    for (const wk of workers) wk.send({ type: 'measure' });
    await sleep(SECONDS * 1000);
    const results = workers.map((wk) => wk.next<IngestResult>('result', 120_000));
    for (const wk of workers) wk.send({ type: 'stop' });
    const seconds = (performance.now() - t0) / 1000;
    const cpuUse = cpu.end();
    edges.end?.();
    const rs = await Promise.all(results);
    const lat = rs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    return {
      cpu: cpuUse,
      eventsPerSecAcked: rs.reduce((a, r) => a + r.ackedInWindow, 0) / seconds,
      p50: percentile(lat, 50), p99: percentile(lat, 99),
      ackedTotal: rs.reduce((a, r) => a + r.ackedTotal, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      firstError: rs.find((r) => r.firstError)?.firstError ?? null,
      bytesPerEvent: rs[0]!.bytesPerEvent,
      seconds,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function baseline(fx: Fixture): Promise<LoadResult> {
  const b = await startBaselineServer(fx.dataDir);
  try {
    return await load(b.url, b.proc.pid!, fx);
  } finally {
    await b.stop();
  }
}

async function termguard(fx: Fixture, tmp: string): Promise<LoadResult & { stored: number; storedPerSec: number; rowsAfter: number; rowsBefore: number; profile?: string }> {
  const dataDir = join(tmp, 'data');
  cpSync(fx.dataDir, dataDir, { recursive: true });
  const nodeArgs = profileArgs('ingest');
  const srv = await startServerProcess(dataDir, { nodeArgs });
  const db = new Database(join(dataDir, 'termguard.db'), { readonly: true, fileMustExist: true });
  const count = () => db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  try {
    const rowsBefore = count();
    let atStart = 0;
    let atEnd = 0;
    const r = await load(srv.agentUrl, srv.proc.pid!, fx, { start: () => { atStart = count(); }, end: () => { atEnd = count(); } });
    const rowsAfter = count();
    return { ...r, stored: atEnd - atStart, storedPerSec: (atEnd - atStart) / r.seconds, rowsBefore, rowsAfter, ...(nodeArgs.length ? { profile: join(CACHE_DIR, 'profiles', 'ingest') } : {}) };
  } finally {
    db.close();
    await srv.stop();
  }
}

export async function ingest(): Promise<void> {
  ensureBuilt();
  const fx = await fixture();
  const tmp = tempDir('tg-bench-ingest-');
  try {
    process.stdout.write(`ingest: baseline, ${WARMUP} s warm-up + ${SECONDS} s\n`);
    const b = await baseline(fx);
    process.stdout.write(`ingest: termguard, ${WARMUP} s warm-up + ${SECONDS} s\n`);
    const t = await termguard(fx, tmp);
    const verified = t.rowsAfter - t.rowsBefore === t.ackedTotal;
    process.stdout.write(table(
      `ingest — ${AGENTS} agents × keep-alive mTLS, batches of ${BATCH} events (~${num(t.bytesPerEvent)} B each), ${SECONDS} s after ${WARMUP} s warm-up`,
      ['what', 'termguard', 'baseline', 'ratio'],
      [
        ['events/s (termguard: stored rows)', num(t.storedPerSec), num(b.eventsPerSecAcked), ratio(t.storedPerSec, b.eventsPerSecAcked)],
        ['events/s acked', num(t.eventsPerSecAcked), num(b.eventsPerSecAcked), ratio(t.eventsPerSecAcked, b.eventsPerSecAcked)],
        ['ack latency p50 ms', num(t.p50, 1), num(b.p50, 1), ratio(t.p50, b.p50)],
        ['ack latency p99 ms', num(t.p99, 1), num(b.p99, 1), ratio(t.p99, b.p99)],
        ['events per server CPU-second', num(t.storedPerSec / (t.cpu.server! / 100)), num(b.eventsPerSecAcked / (b.cpu.server! / 100)),
          ratio(t.storedPerSec / t.cpu.server!, b.eventsPerSecAcked / b.cpu.server!)],
        ['server CPU, % of one core', num(t.cpu.server!), num(b.cpu.server!), ratio(t.cpu.server!, b.cpu.server!)],
        ['load generator CPU, % of one core', num(t.cpu.clients!), num(b.cpu.clients!), ratio(t.cpu.clients!, b.cpu.clients!)],
        ['other processes on the host, % of one core', num(t.cpu.other!), num(b.cpu.other!), ''],
        ['request errors', num(t.errors), num(b.errors), ''],
      ],
      [
        `target ≥ ${num(TARGET)} events/s stored: ${t.storedPerSec >= TARGET ? 'met' : 'NOT met'}`,
        `rows in SQLite after the run − before = ${num(t.rowsAfter - t.rowsBefore)}, acked = ${num(t.ackedTotal)}: ${verified ? 'every ack stored' : 'MISMATCH'}`,
        'events per server CPU-second is the figure that holds on a shared host: it divides out CPU taken by others',
        'baseline: bare node:https, same cert/key/CA, requestCert, TLSv1.2+; reads, JSON.parses, acks ids',
        ...(t.firstError ? [`termguard first error: ${t.firstError}`] : []),
        ...(b.firstError ? [`baseline first error: ${b.firstError}`] : []),
        ...(t.profile ? [`server CPU profile in ${t.profile}`] : []),
      ],
    ));
  } finally {
    removeTemp(tmp);
  }
}
