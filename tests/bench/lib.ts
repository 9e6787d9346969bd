/**
 * Shared bench helpers: build, server and worker child processes, temp folders, tables, /proc
 * sampling. Every child and temp folder made here is removed on exit, however the run ends.
 * Benches talk to 127.0.0.1 only.
 */
import { spawn, spawnSync, fork, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, type Agent as HttpsAgent } from 'node:https';
import { performance } from 'node:perf_hooks';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BENCH_DIR = join(ROOT, 'tests/bench');
export const CACHE_DIR = join(BENCH_DIR, '.cache');
export const HOST = '127.0.0.1';

// ── cleanup ─────────────────────────────────────────────────────────────
const children = new Set<ChildProcess>();
const temps = new Set<string>();
const undo = new Set<() => void>();

/** Run `fn` (synchronous: it must work in an exit handler) before temp folders go, however the run ends; call the result to drop it. */
export function atCleanup(fn: () => void): () => void {
  undo.add(fn);
  return () => undo.delete(fn);
}

function runUndo(): void {
  for (const fn of [...undo]) {
    undo.delete(fn);
    try { fn(); } catch { /* best effort */ }
  }
}

export function track<C extends ChildProcess>(c: C): C {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.add(d);
  return d;
}

export function removeTemp(d: string): void {
  rmSync(d, { recursive: true, force: true });
  temps.delete(d);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export function stopChild(c: ChildProcess, graceMs = 10_000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    c.once('exit', () => { clearTimeout(t); done(); });
    c.kill('SIGTERM');
  });
}

export async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, 3000)));
  runUndo();
  for (const d of [...temps]) removeTemp(d);
}

process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  runUndo();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void cleanup().finally(() => process.exit(130)));
}

// ── build and the real CLIs ─────────────────────────────────────────────
let built = false;
/** Benches run dist/ (what ships); BENCH_NO_BUILD=1 skips the compile when dist/ is known fresh. */
export function ensureBuilt(): void {
  if (built || process.env.BENCH_NO_BUILD === '1') return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  built = true;
}

export const SERVER_CLI = join(ROOT, 'dist/server/cli.js');
export const AGENT_CLI = join(ROOT, 'dist/agent/cli.js');

/** Run a CLI to completion; stdout on success, a thrown error with stderr otherwise. */
export function runCli(cli: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cli} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** `termguard-server init` in `dir`; returns the CA hash it printed. */
export function initServerData(dir: string, store?: string): string {
  const out = runCli(SERVER_CLI, ['init', '--data', dir, '--host', HOST, ...(store ? ['--store', store] : [])]);
  const m = /CA hash: (sha256:[0-9a-f]{64})/.exec(out);
  if (!m) throw new Error(`init printed no CA hash: ${out}`);
  return m[1]!;
}

export function createToken(dir: string, uses: number, store?: string): string {
  const out = runCli(SERVER_CLI, ['token', 'create', '--data', dir, '--uses', String(uses), ...(store ? ['--store', store] : [])]);
  const m = /^token: (\S+)$/m.exec(out);
  if (!m) throw new Error(`token create printed no token: ${out}`);
  return m[1]!;
}

export interface ServerProcess {
  proc: ChildProcess;
  agentUrl: string;
  consoleUrl: string;
  stop(): Promise<void>;
  /** The last ~32–64 KB the server wrote to stderr (its warnings and errors). */
  stderr(): string;
}

/**
 * `termguard-server start` on loopback (free ports unless given), in its own process (so a client
 * cannot starve it); `store` a postgres:// URL.
 */
export async function startServerProcess(dataDir: string, opts: { nodeArgs?: string[]; store?: string; agentPort?: number; consolePort?: number } = {}): Promise<ServerProcess> {
  const proc = track(spawn(process.execPath, [...(opts.nodeArgs ?? []), SERVER_CLI, 'start', '--data', dataDir, ...(opts.store ? ['--store', opts.store] : []),
    '--agent-port', String(opts.agentPort ?? 0), '--console-port', String(opts.consolePort ?? 0), '--bind', HOST], {
    cwd: ROOT, env: { ...process.env, TERMGUARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => { err += c.toString(); if (err.length > 64_000) err = err.slice(-32_000); });
  const urls = await new Promise<{ agentUrl: string; consoleUrl: string }>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`server did not start within 30 s: ${out} ${err}`)), 30_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const a = /agent listener (https:\/\/\S+)/.exec(out);
      const k = /console (https:\/\/\S+)/.exec(out);
      if (a && k) { clearTimeout(t); ok({ agentUrl: a[1]!, consoleUrl: k[1]! }); }
    });
    proc.once('exit', (code) => { clearTimeout(t); fail(new Error(`server exited ${code}: ${err}`)); });
  });
  proc.stdout!.resume();
  proc.once('exit', (code, sig) => {
    if (code !== 0 && sig !== 'SIGTERM' && sig !== 'SIGKILL') process.stderr.write(`server exited ${code ?? sig}: ${err.slice(-2000)}\n`);
  });
  return { proc, ...urls, stop: () => stopChild(proc), stderr: () => err };
}

/** BENCH_PROFILE=1: node flags that write the server's CPU profile to .cache/profiles/<name>/ on exit. */
export function profileArgs(name: string): string[] {
  if (process.env.BENCH_PROFILE !== '1') return [];
  const dir = join(CACHE_DIR, 'profiles', name);
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/**
 * The plain node:https baseline (baseline-server.ts) with the server identity of `dataDir`, in its
 * own process; resolves once it listens.
 */
export async function startBaselineServer(dataDir: string): Promise<{ proc: ChildProcess; url: string; stop(): Promise<void> }> {
  const proc = track(spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'baseline-server.ts'),
    join(dataDir, 'server.key'), join(dataDir, 'server.crt'), join(dataDir, 'ca.crt')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }));
  try {
    const port = await new Promise<number>((ok, fail) => {
      let out = '';
      proc.stdout!.on('data', (c: Buffer) => { out += c.toString(); const m = /listening (\d+)/.exec(out); if (m) ok(Number(m[1])); });
      proc.once('exit', (code) => fail(new Error(`baseline server exited ${code}`)));
    });
    return { proc, url: `https://127.0.0.1:${port}`, stop: () => stopChild(proc) };
  } catch (e) {
    await stopChild(proc);
    throw e;
  }
}

/** A bench worker (a .ts file under tests/bench) in its own process, talking over IPC. */
export function forkWorker(file: string, nodeArgs: string[] = []): Worker {
  const proc = track(fork(join(BENCH_DIR, file), [], { cwd: ROOT, execArgv: ['--import', 'tsx', ...nodeArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  return new Worker(proc);
}

export class Worker {
  private readonly waiting = new Map<string, (m: WorkerMessage) => void>();
  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: WorkerMessage) => {
      const w = this.waiting.get(m.type);
      if (w) { this.waiting.delete(m.type); w(m); }
    });
  }
  send(m: WorkerMessage): void {
    this.proc.send(m);
  }
  /** The next message of `type`; rejects if the worker exits first. */
  next<T extends WorkerMessage>(type: string, timeoutMs = 600_000): Promise<T> {
    return new Promise((ok, fail) => {
      const onExit = (code: number | null) => fail(new Error(`worker exited ${code} while we waited for "${type}"`));
      const t = setTimeout(() => fail(new Error(`worker sent no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      this.proc.once('exit', onExit);
      this.waiting.set(type, (m) => { clearTimeout(t); this.proc.off('exit', onExit); ok(m as T); });
    });
  }
  stop(): Promise<void> {
    return stopChild(this.proc, 5000);
  }
}

export interface WorkerMessage { type: string; [k: string]: unknown }

/** In a worker: a typed `process.send`. */
export function reply(m: WorkerMessage): void {
  process.send!(m);
}

/**
 * In a worker: send the last message, then disconnect once it is written (disconnecting at once can
 * drop a large message still queued — a 20 s window's latencies — and the parent sees only the exit).
 */
export function replyLast(m: WorkerMessage): void {
  process.send!(m, undefined, {}, () => process.disconnect());
}

// ── numbers and tables ──────────────────────────────────────────────────
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function num(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '-';
}

/** A plain-text table with aligned columns; numbers right-aligned. */
export function table(title: string, head: string[], rows: string[][], notes: string[] = []): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const right = (s: string) => /^[-+]?[\d,.]+( ?[a-z%/×x]+)?$|^-$/.test(s);
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i > 0 && right(c) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ') + ' |';
  const sep = '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|';
  return [`\n${title}`, line(head), sep, ...rows.map(line), ...notes.map((n) => `  ${n}`), ''].join('\n');
}

// ── /proc sampling ──────────────────────────────────────────────────────
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces: ") state ppid …"; utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

// ── HTTPS to the server under test ──────────────────────────────────────
export interface Reply { status: number; text: string }

export function httpsRequest(url: string, opts: { method?: string; ca: string; agent?: HttpsAgent | false; body?: string; timeoutMs?: number }): Promise<Reply> {
  return new Promise((ok, fail) => {
    const headers: Record<string, string | number> = {};
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(opts.body);
    }
    const req = request(url, { method: opts.method ?? 'GET', ca: opts.ca, agent: opts.agent, headers, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', fail);
    req.end(opts.body);
  });
}

/** Run `fn` over `items` with at most `concurrency` at a time. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

/** Busy seconds of the whole machine (all cores) from /proc/stat: user+nice+system+irq+softirq+steal. */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

/**
 * CPU over a window for our processes and for everything else on the machine, so a run on a
 * shared host says how much of the two cores someone else took.
 */
export class CpuWindow {
  private readonly start: { t: number; machine: number; procs: Map<number, number> };
  constructor(private readonly pids: Record<string, number[]>) {
    this.start = { t: performance.now(), machine: machineBusySeconds(), procs: this.sample() };
  }
  private sample(): Map<number, number> {
    const m = new Map<number, number>();
    for (const pid of Object.values(this.pids).flat()) {
      try { m.set(pid, cpuSeconds(pid)); } catch { /* gone */ }
    }
    return m;
  }
  /** % of one core per group, plus "other" = machine busy − ours. */
  end(): Record<string, number> {
    const secs = (performance.now() - this.start.t) / 1000;
    const now = this.sample();
    const out: Record<string, number> = {};
    let ours = 0;
    for (const [name, pids] of Object.entries(this.pids)) {
      const used = pids.reduce((a, p) => a + ((now.get(p) ?? 0) - (this.start.procs.get(p) ?? 0)), 0);
      ours += used;
      out[name] = (100 * used) / secs;
    }
    out.other = Math.max(0, (100 * (machineBusySeconds() - this.start.machine - ours)) / secs);
    return out;
  }
}
