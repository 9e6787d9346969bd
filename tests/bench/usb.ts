/**
 * Removable media control, with the real server (own process) and the real agent:
 *  1. arrival latency — a fixture SanDisk stick renamed into a fixture sysfs under `usb.mode: block`,
 *     timed to `authorized` reading 0 and to the `usb.blocked` event stored in the server's SQLite;
 *     baseline: a bare node loop listing the same directory every 250 ms and reading idVendor.
 *  2. idle CPU with the USB and mount watchers running and nothing happening (children included),
 *     next to a bare `node -e 'setInterval(()=>{},1e3)'`.
 *  3. file audit throughput — as root, 2,000 files (1 KiB–1 MiB) copied with `cp -r` onto a
 *     loop-mounted ext4 named removable, under `usb.mode: audit, auditFiles: true`, until the server
 *     has all of them accounted for; baseline: `sha256sum` over the same files on the volume.
 * Env: BENCH_USB_ARRIVALS (200), BENCH_USB_IDLE_SECONDS (120), BENCH_IDLE_SETTLE (5),
 * BENCH_USB_FILES (2000), BENCH_USB_ONLY (comma list of arrival,idle,audit).
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import {
  AGENT_CLI, CLK_TCK, atCleanup, ROOT, SERVER_CLI, createToken, ensureBuilt, initServerData, num, percentile, profileArgs, ratio, removeTemp, runCli, sleep,
  startServerProcess, stopChild, table, tempDir, track, type ServerProcess,
} from './lib.js';

const ARRIVALS = Number(process.env.BENCH_USB_ARRIVALS ?? 200);
const IDLE_SECONDS = Number(process.env.BENCH_USB_IDLE_SECONDS ?? 120);
const SETTLE = Number(process.env.BENCH_IDLE_SETTLE ?? 5);
const FILES = Number(process.env.BENCH_USB_FILES ?? 2000);
const ONLY = (process.env.BENCH_USB_ONLY ?? 'arrival,idle,audit').split(',').map((s) => s.trim());
const TARGET_AUTH_P95_MS = 300;
const TARGET_STORED_P95_MS = 1000;
const TARGET_IDLE_CPU = 0.5;
const FX = join(ROOT, 'tests/fixtures/linux/usb');
const MiB = 1024 * 1024;

export async function usb(): Promise<void> {
  ensureBuilt();
  if (ONLY.includes('arrival')) await arrival();
  if (ONLY.includes('idle')) await idleCpu();
  if (ONLY.includes('audit')) await audit();
}

// ── shared: fixture sysfs, an enrolled agent, the server's SQLite ────────

/** A sysfs with the fixtures' driver directories and root hubs, and no devices (as in usb-control.test.ts). */
function emptySysfs(root: string): string {
  const sys = join(root, 'sys');
  mkdirSync(join(sys, 'bus/usb/devices'), { recursive: true });
  mkdirSync(join(sys, 'bus/usb/.staging'), { recursive: true });
  for (const c of readdirSync(FX, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    try {
      cpSync(join(FX, c.name, 'sys/bus/usb/drivers'), join(sys, 'bus/usb/drivers'), { recursive: true, verbatimSymlinks: true, force: false, errorOnExist: false });
    } catch { /* no drivers */ }
  }
  for (const hub of ['usb1', 'usb2']) cpSync(join(FX, 'sandisk-stick/sys/bus/usb/devices', hub), join(sys, 'bus/usb/devices', hub), { recursive: true, verbatimSymlinks: true });
  return sys;
}

/** Copy the stick aside (untimed), so plugging it is one rename, as the kernel shows a device whole. */
function stage(sys: string, id: string): string {
  const staging = join(sys, 'bus/usb/.staging', id);
  rmSync(staging, { recursive: true, force: true });
  cpSync(join(FX, 'sandisk-stick/sys/bus/usb/devices/1-1'), staging, { recursive: true, verbatimSymlinks: true });
  return staging;
}

interface Rig {
  srv: ServerProcess;
  agent: ChildProcess;
  hostId: string;
  db: Database.Database;
  count(type: string): number;
  /** Seconds from agent start until its start-up work (first inventory, checks) went quiet. */
  settledAfter?: number;
  stop(): Promise<void>;
}

/**
 * Wait out the agent's start-up work (the first inventory spawns apt-get, lsblk, …): until its CPU,
 * children included, stays under 2% of a core for two 2 s samples in a row; 180 s at most.
 */
async function quiet(pid: number): Promise<number> {
  const t0 = performance.now();
  let last = treeCpu(pid).secs;
  let calm = 0;
  while (calm < 2 && performance.now() - t0 < 180_000) {
    await sleep(2000);
    const now = treeCpu(pid).secs;
    calm = now - last <= 0.04 ? calm + 1 : 0;
    last = now;
  }
  return (performance.now() - t0) / 1000;
}

/** BENCH_PROFILE=1: the agent writes its CPU profile to .cache/profiles/<name>/ on exit (--cpu-prof is refused in NODE_OPTIONS). */
const agentProfileArgs = (name: string) => profileArgs(name);

/** init → policy set → server start → enroll → `termguard-agent run` with `config`; the server's SQLite opened read-only. */
async function rig(tmp: string, name: string, policy: unknown, config: Record<string, unknown>): Promise<Rig> {
  const dataDir = join(tmp, 'data');
  const caHash = initServerData(dataDir);
  const token = createToken(dataDir, 1);
  const policyFile = join(tmp, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policy));
  runCli(SERVER_CLI, ['policy', 'set', policyFile, '--data', dataDir]);
  const srv = await startServerProcess(dataDir);
  let agent: ChildProcess | null = null;
  let db: Database.Database | null = null;
  try {
    const state = join(tmp, 'agent');
    const configFile = join(tmp, 'agent.json');
    writeFileSync(configFile, JSON.stringify({ machineId: `bench-${name}`, ...config }));
    runCli(AGENT_CLI, ['enroll', '--server', srv.consoleUrl, '--token', token, '--ca-hash', caHash, '--state', state, '--config', configFile]);
    const hostId = (JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')) as { hostId: string }).hostId;
    const logFd = openSync(join(tmp, 'agent.log'), 'a');
    agent = track(spawn(process.execPath, [...agentProfileArgs(name), AGENT_CLI, 'run', '--state', state, '--config', configFile], { cwd: ROOT, stdio: ['ignore', logFd, logFd] }));
    closeSync(logFd);
    const d = new Database(join(dataDir, 'termguard.db'), { readonly: true, fileMustExist: true });
    db = d;
    const countStmt = d.prepare('SELECT count(*) AS n FROM events WHERE host_id = ? AND type = ?');
    const a = agent;
    const r: Rig = {
      srv, agent: a, hostId, db: d,
      count: (type) => (countStmt.get(hostId, type) as { n: number }).n,
      async stop() {
        d.close();
        await stopChild(a);
        await srv.stop();
      },
    };
    await waitFor('agent.started stored', () => r.count('agent.started') > 0, 30_000, 50);
    await waitFor('policy applied', () => (d.prepare('SELECT policy_version AS v FROM hosts WHERE id = ?').get(hostId) as { v: number | null }).v === 1, 30_000, 50);
    r.settledAfter = await quiet(a.pid!);
    return r;
  } catch (e) {
    db?.close();
    if (agent) await stopChild(agent);
    await srv.stop();
    throw e;
  }
}

/** Poll `fn` every `everyMs` until true; resolves with the performance.now() of the poll that saw it. */
async function waitFor(what: string, fn: () => boolean, timeoutMs: number, everyMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try { ok = fn(); } catch { /* mid-write or busy: next poll */ }
    const now = performance.now();
    if (ok) return now;
    if (now > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const stats = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return { p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN, n: s.length }; };
const jitter = () => sleep(Math.random() * 300); // plug at a random phase of the 250 ms poll

// ── 1. arrival latency ───────────────────────────────────────────────────

async function arrival(): Promise<void> {
  const tmp = tempDir('tg-bench-usb-arrival-');
  try {
    const sys = emptySysfs(tmp);
    const devDir = join(sys, 'bus/usb/devices');
    const devPath = join(devDir, '1-1');
    process.stdout.write(`usb arrival: ${ARRIVALS} arrivals of the SanDisk stick at 1-1, agent under usb.mode block, then the same with a bare readdir loop\n`);
    const toAuth: number[] = [];
    const toStored: number[] = [];
    let failures = 0;
    const r = await rig(tmp, 'usb-arrival', { usb: { mode: 'block' } }, { paths: { sysfs: sys }, logLevel: 'warn' });
    try {
      for (let i = 0; i < ARRIVALS; i++) {
        const staging = stage(sys, '1-1');
        const blockedBefore = r.count('usb.blocked');
        const detachedBefore = r.count('usb.detached');
        await jitter();
        const t0 = performance.now();
        renameSync(staging, devPath);
        try {
          const [ta, ts] = await Promise.all([
            waitFor('authorized=0', () => readFileSync(join(devPath, 'authorized'), 'utf8').trim() === '0', 10_000, 5),
            waitFor('usb.blocked stored', () => r.count('usb.blocked') > blockedBefore, 10_000, 5),
          ]);
          toAuth.push(ta - t0);
          toStored.push(ts - t0);
        } catch (e) {
          failures++;
          process.stderr.write(`arrival ${i}: ${(e as Error).message}\n`);
        }
        rmSync(devPath, { recursive: true, force: true });
        await waitFor('usb.detached stored', () => r.count('usb.detached') > detachedBefore, 10_000, 20);
      }
    } finally {
      await r.stop();
    }

    // Baseline: the floor of polling at 250 ms — list, and read idVendor of each new name.
    const base = await readdirBaseline(sys, devDir, devPath);
    const a = stats(toAuth);
    const s = stats(toStored);
    const b = stats(base);
    const ms = (n: number) => `${num(n, 1)} ms`;
    process.stdout.write(table(
      `usb arrival — rename into sysfs → verdict enforced / stored on the server, ${a.n} arrivals (agent) and ${b.n} (baseline)`,
      ['what', 'p50', 'p95', 'max', 'p50 vs baseline', 'p95 vs baseline'],
      [
        ['bare readdir loop, 250 ms + idVendor (baseline)', ms(b.p50), ms(b.p95), ms(b.max), '1.00x', '1.00x'],
        ['agent: authorized reads 0', ms(a.p50), ms(a.p95), ms(a.max), ratio(a.p50, b.p50), ratio(a.p95, b.p95)],
        ['agent: usb.blocked stored in SQLite', ms(s.p50), ms(s.p95), ms(s.max), ratio(s.p50, b.p50), ratio(s.p95, b.p95)],
      ],
      [
        `targets: p95 ≤ ${TARGET_AUTH_P95_MS} ms to authorized: ${a.p95 <= TARGET_AUTH_P95_MS ? 'met' : 'NOT met'}; ` +
          `p95 ≤ ${TARGET_STORED_P95_MS} ms to stored: ${s.p95 <= TARGET_STORED_P95_MS ? 'met' : 'NOT met'}; failed arrivals: ${failures}`,
        'authorized polled every 5 ms, the SQLite file every 5 ms (read-only); each plug waits a random 0–300 ms after the last detach',
      ],
    ));
  } finally {
    removeTemp(tmp);
  }
}

const BASELINE_JS = `
const { readdir, readFile } = require('node:fs/promises');
const dir = process.argv[1];
let known = new Set();
(async () => {
  for (;;) {
    const names = await readdir(dir);
    const next = new Set();
    for (const n of names) {
      if (known.has(n)) { next.add(n); continue; }
      try { const v = (await readFile(dir + '/' + n + '/idVendor', 'utf8')).trim(); next.add(n); process.stdout.write('+ ' + n + ' ' + v + '\\n'); } catch {}
    }
    for (const n of known) if (!next.has(n)) process.stdout.write('- ' + n + '\\n');
    known = next;
    await new Promise((r) => setTimeout(r, 250));
  }
})();
`;

async function readdirBaseline(sys: string, devDir: string, devPath: string): Promise<number[]> {
  const child = track(spawn(process.execPath, ['-e', BASELINE_JS, devDir], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const waiters = new Map<string, (t: number) => void>();
  let tail = '';
  child.stdout!.on('data', (c: Buffer) => {
    const t = performance.now();
    const lines = (tail + c.toString()).split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) {
      const key = l.startsWith('+ 1-1 ') ? '+' : l === '- 1-1' ? '-' : null;
      if (key) { waiters.get(key)?.(t); waiters.delete(key); }
    }
  });
  const next = (key: string) => new Promise<number>((ok, fail) => {
    const to = setTimeout(() => { waiters.delete(key); fail(new Error(`baseline saw no ${key} in 10 s`)); }, 10_000);
    waiters.set(key, (t) => { clearTimeout(to); ok(t); });
  });
  const out: number[] = [];
  try {
    await sleep(600); // first listing (root hubs) done
    for (let i = 0; i < ARRIVALS; i++) {
      const staging = stage(sys, '1-1');
      await jitter();
      const seen = next('+');
      const t0 = performance.now();
      renameSync(staging, devPath);
      out.push((await seen) - t0);
      const gone = next('-');
      rmSync(devPath, { recursive: true, force: true });
      await gone;
    }
  } finally {
    await stopChild(child);
  }
  return out;
}

// ── 2. idle CPU with the pollers running ─────────────────────────────────

/** Every descendant of `pid` (children first found in /proc by ppid). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      const l = parent.get(ppid) ?? [];
      l.push(Number(e));
      parent.set(ppid, l);
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const c of parent.get(p) ?? []) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

/** utime+stime+cutime+cstime of `pid` and of its live descendants, in seconds, and the descendants' names. */
function treeCpu(pid: number): { secs: number; own: number; kids: string[] } {
  let ticks = 0;
  let own = 0;
  const kids: string[] = [];
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      if (p === pid) own = Number(f[11]) + Number(f[12]);
      if (p !== pid) kids.push(st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')));
    } catch { /* exited between listing and reading */ }
  }
  return { secs: ticks / CLK_TCK, own: own / CLK_TCK, kids };
}

async function idleCpu(): Promise<void> {
  const tmp = tempDir('tg-bench-usb-idle-');
  try {
    const sys = emptySysfs(tmp);
    const r = await rig(tmp, 'usb-idle', { usb: { mode: 'block', auditFiles: true } }, { paths: { sysfs: sys } });
    const bare = track(spawn(process.execPath, ['-e', 'setInterval(()=>{},1e3)'], { cwd: ROOT, stdio: 'ignore' }));
    try {
      // No extra removable globs: the mount watcher runs all the same, and other loop mounts on a
      // shared machine must not become file audits here.
      // Start-up work is not idling: the first inventory, hardening checks and attestation run in
      // turn, with lulls between them, so wait for all three to be stored and then for quiet.
      const up = performance.now();
      for (const type of ['host.inventory', 'host.check', 'host.attestation']) await waitFor(`${type} stored`, () => r.count(type) > 0, 300_000, 250);
      const startup = (performance.now() - up) / 1000 + (r.settledAfter ?? 0);
      await quiet(r.agent.pid!);
      process.stdout.write(`usb idle: agent (root hubs only, usb.mode block, auditFiles on) and bare node; start-up work done after ${num(startup, 0)} s; ${SETTLE} s settle + ${IDLE_SECONDS} s\n`);
      await sleep(SETTLE * 1000);
      const a0 = treeCpu(r.agent.pid!);
      const b0 = treeCpu(bare.pid!);
      const s0 = treeCpu(r.srv.proc.pid!);
      const t0 = performance.now();
      await sleep(IDLE_SECONDS * 1000);
      const secs = (performance.now() - t0) / 1000;
      const a1 = treeCpu(r.agent.pid!);
      const b1 = treeCpu(bare.pid!);
      const s1 = treeCpu(r.srv.proc.pid!);
      const pct = (x: number, y: number) => (100 * (y - x)) / secs;
      const agentPct = pct(a0.secs, a1.secs);
      const barePct = pct(b0.secs, b1.secs);
      const events = r.db.prepare('SELECT type, count(*) AS n FROM events WHERE host_id = ? GROUP BY type ORDER BY type').all(r.hostId) as { type: string; n: number }[];
      process.stdout.write(table(
        `usb idle — CPU with the USB and mount watchers running, nothing plugged, ${num(secs, 0)} s window after start-up work and ${SETTLE} s settle (children included)`,
        ['what', 'termguard agent', 'bare node', 'ratio'],
        [
          ['CPU % of one core, window', num(agentPct, 3), num(barePct, 3), ratio(agentPct, barePct)],
          ['CPU s in window', num(a1.secs - a0.secs, 2), num(b1.secs - b0.secs, 2), ratio(a1.secs - a0.secs, b1.secs - b0.secs)],
        ],
        [
          `target: ≤ ${TARGET_IDLE_CPU}% of a core: ${agentPct <= TARGET_IDLE_CPU ? 'met' : 'NOT met'}; ` +
            `CPU resolution ${num(100 / CLK_TCK / secs, 3)}% (one clock tick over the window)`,
          `agent process itself ${num(pct(a0.own, a1.own), 3)}%, its children (live and reaped) ${num(Math.max(0, agentPct - pct(a0.own, a1.own)), 3)}%; ` +
            `live children: ${a1.kids.join(', ') || 'none'}; server process (for reference): ${num(pct(s0.secs, s1.secs), 3)}% of a core`,
          `events stored during the run: ${events.map((e) => `${e.type} ${e.n}`).join(', ')}`,
        ],
      ));
    } finally {
      await stopChild(bare);
      await r.stop();
    }
  } finally {
    removeTemp(tmp);
  }
}

// ── 3. file audit throughput ─────────────────────────────────────────────

/** 2,000 files in 10 folders, sizes log-uniform 1 KiB–1 MiB (seeded), random content. */
function makeFiles(dir: string, n: number): { bytes: number } {
  let seed = 0x5eed;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `d${String(i % 10).padStart(2, '0')}`);
    if (i < 10) mkdirSync(sub, { recursive: true });
    const size = Math.round(1024 * Math.pow(1024, rnd()));
    writeFileSync(join(sub, `f${String(i).padStart(5, '0')}.bin`), randomBytes(size));
    bytes += size;
  }
  return { bytes };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

async function audit(): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    process.stdout.write('usb audit: skipped (needs root on Linux for loop devices and mounts)\n');
    return;
  }
  const tmp = tempDir('tg-bench-usb-audit-');
  let loop = '';
  let mnt = '';
  let mounted = false;
  const release = () => {
    if (mounted) try { execFileSync('umount', [mnt]); } catch { try { execFileSync('umount', ['-l', mnt]); } catch { /* not mounted */ } }
    mounted = false;
    if (loop) try { execFileSync('losetup', ['-d', loop]); } catch { /* gone */ }
    loop = '';
  };
  // Also on Ctrl-C or a crash: never leave the mount or the loop device behind, nor rm -rf into a mount.
  const dropUndo = atCleanup(release);
  try {
    const src = join(tmp, 'src', 'set');
    const { bytes } = makeFiles(src, FILES);
    const imgMiB = Math.max(256, Math.ceil((bytes * 1.25 + 64 * MiB) / (64 * MiB)) * 64);
    process.stdout.write(`usb audit: ${FILES} files, ${num(bytes / MiB, 1)} MiB, onto a ${imgMiB} MiB loop-mounted ext4 named removable; agent under usb.mode audit, auditFiles on\n`);
    // The loop device is attached before the agent starts and only it is named removable: other
    // loop mounts on a shared machine (the media integration test) must not land in the count.
    const img = join(tmp, 'stick.img');
    execFileSync('truncate', ['-s', `${imgMiB}M`, img]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'STICK', img]);
    loop = execFileSync('losetup', ['--find', '--show', img], { encoding: 'utf8' }).trim();
    mnt = join(tmp, 'mnt');
    mkdirSync(mnt);
    const r = await rig(tmp, 'usb-audit', { usb: { mode: 'audit', auditFiles: true } }, { media: { removableDevices: [loop] }, logLevel: 'warn' });
    try {
      execFileSync('mount', [loop, mnt]);
      mounted = true;
      await waitFor('media.mounted stored', () => r.count('media.mounted') > 0, 30_000, 50);
      await sleep(1000); // the watcher's initial scan of the empty volume

      const written = r.db.prepare(`SELECT count(*) AS n, count(DISTINCT json_extract(data, '$.path')) AS paths, sum(json_extract(data, '$.sha256') IS NOT NULL) AS hashed
        FROM events WHERE host_id = ? AND type = 'media.file_written' AND json_extract(data, '$.path') LIKE ? || '/%'`);
      const bursts = r.db.prepare(`SELECT count(*) AS n, coalesce(sum(json_extract(data, '$.count')), 0) AS count, coalesce(sum(json_extract(data, '$.added')), 0) AS added,
        coalesce(sum(json_extract(data, '$.hashed')), 0) AS hashed, coalesce(sum(json_extract(data, '$.unread')), 0) AS unread FROM events WHERE host_id = ? AND type = 'media.files_burst' AND json_extract(data, '$.mountPoint') = ?`);
      type W = { n: number; paths: number; hashed: number };
      type B = { n: number; count: number; added: number; hashed: number; unread: number };
      const cpu0 = treeCpu(r.agent.pid!).secs;
      const wall0 = Date.now();
      const t0 = performance.now();
      let cpEnd = NaN;
      const cp = spawn('cp', ['-r', src, mnt], { stdio: 'ignore' });
      const cpDone = new Promise<void>((ok, fail) => cp.once('exit', (code) => { cpEnd = performance.now(); code === 0 ? ok() : fail(new Error(`cp exited ${code}`)); }));
      let w: W = { n: 0, paths: 0, hashed: 0 };
      let b: B = { n: 0, count: 0, added: 0, hashed: 0, unread: 0 };
      let lastChange = t0;
      let timedOut = false;
      try {
        await waitFor('all files accounted for', () => {
          const w2 = written.get(r.hostId, mnt) as W;
          const b2 = bursts.get(r.hostId, mnt) as B;
          if (w2.n !== w.n || b2.count !== b.count) lastChange = performance.now();
          w = w2; b = b2;
          // Give up 30 s after the last progress once cp is done (a burst window is 10 s).
          if (!Number.isNaN(cpEnd) && performance.now() - Math.max(lastChange, cpEnd) > 30_000) { timedOut = true; return true; }
          return w.paths + b.added >= FILES;
        }, 600_000, 100);
      } catch {
        timedOut = true; // cp never finished
      }
      const done = timedOut ? lastChange : performance.now();
      await cpDone;
      const cpu1 = treeCpu(r.agent.pid!).secs;
      const aSecs = (done - t0) / 1000;
      const cpSecs = (cpEnd - t0) / 1000;

      // Baseline: hash the same files on the volume (page cache warm, as it is for the agent).
      const s0 = performance.now();
      const sh = spawnSync('sh', ['-c', 'find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null', 'sh', join(mnt, 'set')], { stdio: ['ignore', 'ignore', 'inherit'] });
      if (sh.status !== 0) throw new Error(`sha256sum exited ${sh.status}`);
      const shSecs = (performance.now() - s0) / 1000;
      const mbs = (s: number) => bytes / MiB / s;
      const span = r.db.prepare(`SELECT min(received_at) AS a, max(received_at) AS z, min(time) AS ta, max(time) AS tz FROM events WHERE host_id = ? AND type = 'media.file_written' AND json_extract(data, '$.path') LIKE ? || '/%'`).get(r.hostId, mnt) as { a: string | null; z: string | null; ta: string | null; tz: string | null };
      if (process.env.BENCH_USB_DUMP === '1') {
        const rows = r.db.prepare(`SELECT type, time, received_at, data FROM events WHERE host_id = ? ORDER BY received_at`).all(r.hostId);
        mkdirSync(join(ROOT, 'tests/bench/.cache'), { recursive: true });
        writeFileSync(join(ROOT, 'tests/bench/.cache/usb-audit-events.json'), JSON.stringify({ wall0, rows }, null, 1));
        cpSync(join(tmp, 'agent.log'), join(ROOT, 'tests/bench/.cache/usb-audit-agent.log'));
      }
      // Which files no event names (only knowable when no burst summarised some of them).
      const named = new Set((r.db.prepare(`SELECT json_extract(data, '$.path') AS p FROM events WHERE host_id = ? AND type = 'media.file_written'`).all(r.hostId) as { p: string }[]).map((x) => x.p));
      const missing = b.n === 0 ? listFiles(join(mnt, 'set')).filter((f) => !named.has(f)) : [];
      const byDir = new Map<string, number>();
      for (const f of missing) { const d = f.slice(join(mnt, 'set').length + 1).split('/')[0]!; byDir.set(d, (byDir.get(d) ?? 0) + 1); }
      const rel = (iso: string | null) => (iso ? `${num((Date.parse(iso) - wall0) / 1000, 2)} s` : '-');
      process.stdout.write(table(
        `usb audit — ${FILES} files (${num(bytes / MiB, 1)} MiB) copied with cp -r onto a removable ext4, until the server has them all`,
        ['what', 'seconds', 'files/s', 'MiB/s', 'ratio (time vs sha256sum)'],
        [
          ['sha256sum over the files on the volume (baseline)', num(shSecs, 2), num(FILES / shSecs, 0), num(mbs(shSecs), 1), '1.00x'],
          ['agent: copy start → all accounted for on the server', num(aSecs, 2), num(FILES / aSecs, 0), num(mbs(aSecs), 1), ratio(aSecs, shSecs)],
          ['cp -r itself (for reference)', num(cpSecs, 2), num(FILES / cpSecs, 0), num(mbs(cpSecs), 1), ratio(cpSecs, shSecs)],
        ],
        [
          `${timedOut ? `NOT all accounted for: ${FILES - w.paths - b.added} files missing 30 s after the last progress (at ${num((lastChange - t0) / 1000, 1)} s)` +
            `${missing.length ? `, by folder: ${[...byDir].map(([d, n]) => `${d} ${n}`).join(', ')}; e.g. ${missing.slice(0, 3).map((f) => f.slice(mnt.length + 1)).join(', ')}` : ''}; ` : ''}` +
            `accounted for by: ${w.paths} media.file_written (${w.n} events, ${w.hashed} with sha256) + ${b.added} files added in ${b.n} media.files_burst ` +
            `summaries (count ${b.count}, hashed ${b.hashed}, unread ${b.unread})`,
          `media.file_written: made (event time) ${rel(span.ta)} … ${rel(span.tz)}, stored (received_at) ${rel(span.a)} … ${rel(span.z)} after copy start`,
          `agent CPU (children included) over the audit: ${num(cpu1 - cpu0, 2)} s; a burst summary is stored only when its 10 s window closes, so the end time includes that wait`,
        ],
      ));
    } finally {
      await r.stop();
    }
  } finally {
    release();
    dropUndo();
    removeTemp(tmp);
  }
}
