/**
 * Fleet: 10,000 simulated agents (tests/bench/fleet-sim; each its own P-256 key and certificate,
 * a command long-poll and a heartbeat connection, heartbeats every 60 s) on one server process,
 * against a plain node:https server with the same TLS and long-poll as baseline.
 *  1. connect: the fleet comes up spread over 60 s; time until every agent's first answer;
 *  2. idle: server RSS, CPU and heartbeat round-trip p50/p99 over the window;
 *  3. reconnect storm: the server is SIGKILLed and restarted on the same ports, every agent comes
 *     back within 60 s; time until all are connected again, errors, 503s, peak RSS.
 * Identities are made once and cached in .cache/fleet-<N> (with the data folder that knows them).
 * The file-descriptor limit is raised for this process and its children with prlimit (root).
 * Env: BENCH_FLEET_AGENTS (10000), BENCH_FLEET_WORKERS (4), BENCH_FLEET_IDLE_SECONDS (120),
 *      BENCH_FLEET_RAMP_SECONDS (60), BENCH_FLEET_BASELINE (1: also run the baseline), BENCH_FLEET_STORM (1),
 *      BENCH_PROFILE=1 (CPU profiles of the server and of one simulator worker in .cache/profiles),
 *      BENCH_FLEET_ACCEPT_SOCKETS (the server's agentAcceptSockets; default: its config's).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { caHash } from '../../shared/pki.js';
import {
  CACHE_DIR, CpuWindow, profileArgs, createToken, ensureBuilt, forkWorker, initServerData, num, percentile, ratio, removeTemp,
  rssKiB, sleep, startBaselineServer, startServerProcess, table, tempDir, type ServerProcess, type Worker,
} from './lib.js';
import type { SimIdentity } from './fleet-sim/agent.js';
import { enrollKeys, makeKeys } from './fleet-sim/enroll.js';
import type { FleetInit, FleetLatencies, FleetStatus } from './fleet-sim/worker.js';

const AGENTS = Number(process.env.BENCH_FLEET_AGENTS ?? 10_000);
const WORKERS = Number(process.env.BENCH_FLEET_WORKERS ?? 4);
const IDLE_SECONDS = Number(process.env.BENCH_FLEET_IDLE_SECONDS ?? 120);
const RAMP_SECONDS = Number(process.env.BENCH_FLEET_RAMP_SECONDS ?? 60);
const WITH_BASELINE = process.env.BENCH_FLEET_BASELINE !== '0';
const WITH_STORM = process.env.BENCH_FLEET_STORM !== '0';
const TARGET_RSS_MIB = 1024;
const TARGET_CPU = 20;

export interface FleetFixture { dataDir: string; ca: string; identities: SimIdentity[] }

/**
 * Let this process and its children hold a large fleet's connections: the soft file-descriptor
 * limit up to `n`, or to the hard limit where raising that is not allowed (a container without
 * CAP_SYS_RESOURCE); says what it got.
 */
export function raiseFdLimit(n = 200_000): number {
  const pid = String(process.pid);
  const limits = () => execFileSync('prlimit', ['--pid', pid, '--nofile', '--output=SOFT,HARD', '--noheadings'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number) as [number, number];
  try {
    execFileSync('prlimit', ['--pid', pid, `--nofile=${n}:${n}`], { stdio: 'ignore' });
  } catch {
    const [, hard] = limits();
    try { execFileSync('prlimit', ['--pid', pid, `--nofile=${hard}:${hard}`], { stdio: 'ignore' }); } catch { /* keep the soft limit */ }
  }
  const [soft] = limits();
  process.stdout.write(`fleet: file-descriptor limit ${num(soft)} for this process and its children\n`);
  return soft;
}

/** `n` enrolled identities and the SQLite data folder that knows them, cached while the CA matches. */
export async function fleetFixture(n: number): Promise<FleetFixture> {
  // A smaller fleet is the head of a larger cached one.
  if (n < 10_000 && existsSync(join(CACHE_DIR, 'fleet-10000', 'identities.json'))) {
    const big = await fleetFixture(10_000);
    return { ...big, identities: big.identities.slice(0, n) };
  }
  const dir = join(CACHE_DIR, `fleet-${n}`);
  const dataDir = join(dir, 'data');
  const idFile = join(dir, 'identities.json');
  if (existsSync(idFile) && existsSync(join(dataDir, 'ca.crt'))) {
    const cached = JSON.parse(readFileSync(idFile, 'utf8')) as { caHash: string; identities: SimIdentity[] };
    const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
    if (cached.caHash === caHash(ca) && cached.identities.length === n) return { dataDir, ca, identities: cached.identities };
  }
  process.stdout.write(`fleet: making and enrolling ${num(n)} identities into ${dir} (cached for later runs)\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  initServerData(dataDir);
  const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  const token = createToken(dataDir, n);
  const srv = await startServerProcess(dataDir);
  try {
    const t0 = performance.now();
    const identities = await enrollKeys(srv.consoleUrl, ca, token, makeKeys(n), 'fleet', 16);
    process.stdout.write(`fleet: enrolled ${num(n)} in ${num((performance.now() - t0) / 1000, 1)} s\n`);
    writeFileSync(idFile, JSON.stringify({ caHash: caHash(ca), identities }));
    return { dataDir, ca, identities };
  } finally {
    await srv.stop();
  }
}

/** The simulated fleet over `WORKERS` processes. */
class Fleet {
  private constructor(readonly workers: Worker[]) {}

  static async start(url: string, fx: FleetFixture, rampMs: number): Promise<Fleet> {
    const per = Math.ceil(fx.identities.length / WORKERS);
    const workers = Array.from({ length: WORKERS }, (_, i) => forkWorker('fleet-sim/worker.ts', i === 0 ? profileArgs('fleet-worker') : []));
    await Promise.all(workers.map((w, i) => {
      const ready = w.next('ready');
      w.send({
        type: 'init', identities: fx.identities.slice(i * per, (i + 1) * per), seed: i + 1,
        opts: { url, ca: fx.ca, heartbeatSeconds: 60, pollWaitSeconds: 60, batchMax: 500, backoffMaxMs: 300_000 },
      } satisfies FleetInit);
      return ready;
    }));
    for (const w of workers) w.send({ type: 'start', rampMs });
    return new Fleet(workers);
  }

  async status(): Promise<FleetStatus> {
    const all = await Promise.all(this.workers.map((w) => { const r = w.next<FleetStatus>('status', 60_000); w.send({ type: 'status' }); return r; }));
    const s: FleetStatus = { type: 'status', agents: 0, connected: 0, produced: 0, acked: 0, queued: 0, errors: 0, overloaded: 0, handshakes: 0, resumed: 0, firstError: null };
    for (const x of all) {
      s.agents += x.agents; s.connected += x.connected; s.produced += x.produced; s.acked += x.acked;
      s.queued += x.queued; s.errors += x.errors; s.overloaded += x.overloaded; s.firstError ??= x.firstError;
      s.handshakes += x.handshakes; s.resumed += x.resumed;
    }
    return s;
  }

  async latencies(): Promise<{ heartbeat: number[]; poll: number[] }> {
    const all = await Promise.all(this.workers.map((w) => { const r = w.next<FleetLatencies>('latencies', 60_000); w.send({ type: 'latencies' }); return r; }));
    return { heartbeat: all.flatMap((x) => x.heartbeat).sort((a, b) => a - b), poll: all.flatMap((x) => x.poll).sort((a, b) => a - b) };
  }

  send(m: { type: string; [k: string]: unknown }): void {
    for (const w of this.workers) w.send(m);
  }

  /** Seconds until every agent has been answered (or the limit), sampling `onTick` every second. */
  async allConnected(limitS: number, onTick: () => void = () => undefined): Promise<{ seconds: number; status: FleetStatus }> {
    const t0 = performance.now();
    for (;;) {
      const s = await this.status();
      onTick();
      const seconds = (performance.now() - t0) / 1000;
      if (s.connected === s.agents || seconds > limitS) return { seconds: s.connected === s.agents ? seconds : Infinity, status: s };
      await sleep(1000);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map(async (w) => {
      const r = w.next('stopped', 60_000).catch(() => undefined);
      w.send({ type: 'stop' });
      await r;
      await w.stop();
    }));
  }

  pids(): number[] {
    return this.workers.map((w) => w.proc.pid!);
  }
}

interface IdleResult {
  connectSeconds: number; connectErrors: number; rssMiB: number; cpu: number; clientsCpu: number; otherCpu: number;
  hbP50: number; hbP99: number; heartbeats: number; polls: number; errors: number; overloaded: number; firstError: string | null;
  handshakes: number; resumed: number;
}

/** Ramp the fleet up against `url` and hold it idle for the window. */
async function idlePhase(url: string, pid: () => number, fx: FleetFixture, fleet: Fleet): Promise<IdleResult> {
  const up = await fleet.allConnected(RAMP_SECONDS + 240);
  if (!Number.isFinite(up.seconds)) process.stdout.write(`fleet: only ${num(up.status.connected)} of ${num(up.status.agents)} connected: ${up.status.firstError}\n`);
  await sleep(10_000); // let the ramp's last handshakes settle
  const before = await fleet.status();
  fleet.send({ type: 'measure' });
  const cpu = new CpuWindow({ server: [pid()], clients: fleet.pids() });
  await sleep(IDLE_SECONDS * 1000);
  const use = cpu.end();
  const lat = await fleet.latencies();
  const after = await fleet.status();
  void url; void fx;
  return {
    connectSeconds: up.seconds, connectErrors: up.status.errors, rssMiB: rssKiB(pid()) / 1024, cpu: use.server!, clientsCpu: use.clients!, otherCpu: use.other!,
    hbP50: percentile(lat.heartbeat, 50), hbP99: percentile(lat.heartbeat, 99), heartbeats: lat.heartbeat.length, polls: lat.poll.length,
    errors: after.errors - before.errors, overloaded: after.overloaded - before.overloaded, firstError: after.firstError,
    handshakes: after.handshakes - before.handshakes, resumed: after.resumed - before.resumed,
  };
}

interface StormResult { seconds: number; errors: number; overloaded: number; peakRssMiB: number; cpu: number; firstError: string | null; connected: number; agents: number }

/** SIGKILL the server, bring it back on the same ports, every agent returns within 60 s. */
async function stormPhase(srv: { current: ServerProcess }, restart: () => Promise<ServerProcess>, fleet: Fleet): Promise<StormResult> {
  const before = await fleet.status();
  srv.current.proc.kill('SIGKILL');
  await new Promise((r) => srv.current.proc.once('exit', r));
  fleet.send({ type: 'reconnect', windowMs: 60_000 });
  srv.current = await restart();
  let peak = 0;
  const cpu = new CpuWindow({ server: [srv.current.proc.pid!] });
  const up = await fleet.allConnected(300, () => { try { peak = Math.max(peak, rssKiB(srv.current.proc.pid!) / 1024); } catch { /* gone */ } });
  const use = cpu.end();
  return {
    seconds: up.seconds, errors: up.status.errors - before.errors, overloaded: up.status.overloaded - before.overloaded,
    peakRssMiB: peak, cpu: use.server!, firstError: up.status.firstError, connected: up.status.connected, agents: up.status.agents,
  };
}

async function termguardRun(fx: FleetFixture, tmp: string): Promise<{ idle: IdleResult; storm: StormResult | null }> {
  const dataDir = join(tmp, 'data');
  cpSync(fx.dataDir, dataDir, { recursive: true });
  if (process.env.BENCH_FLEET_ACCEPT_SOCKETS) { // A/B of the agent port's accepting sockets (server/listen.ts)
    const file = join(dataDir, 'config.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), agentAcceptSockets: Number(process.env.BENCH_FLEET_ACCEPT_SOCKETS) }, null, 2));
  }
  const first = await startServerProcess(dataDir, { nodeArgs: [...profileArgs('fleet-server'), ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)] });
  const ports = { agentPort: Number(new URL(first.agentUrl).port), consolePort: Number(new URL(first.consoleUrl).port) };
  const srv = { current: first };
  const fleet = await Fleet.start(first.agentUrl, fx, RAMP_SECONDS * 1000);
  try {
    process.stdout.write(`fleet: termguard, ${num(fx.identities.length)} agents ramping over ${RAMP_SECONDS} s, then ${IDLE_SECONDS} s idle\n`);
    const idle = await idlePhase(first.agentUrl, () => srv.current.proc.pid!, fx, fleet);
    if (!WITH_STORM) return { idle, storm: null };
    process.stdout.write('fleet: reconnect storm (server SIGKILLed and restarted; agents back within 60 s)\n');
    const storm = await stormPhase(srv, () => startServerProcess(dataDir, { ...ports, nodeArgs: profileArgs('fleet-server-restarted') }), fleet);
    return { idle, storm };
  } finally {
    await fleet.stop();
    await srv.current.stop();
  }
}

async function baselineRun(fx: FleetFixture): Promise<IdleResult> {
  const b = await startBaselineServer(fx.dataDir);
  try {
    process.stdout.write(`fleet: baseline, the same fleet against a plain node:https server\n`);
    const fleet = await Fleet.start(b.url, fx, RAMP_SECONDS * 1000);
    try {
      return await idlePhase(b.url, () => b.proc.pid!, fx, fleet);
    } finally {
      await fleet.stop();
    }
  } finally {
    await b.stop();
  }
}

export async function fleetBench(): Promise<void> {
  ensureBuilt();
  raiseFdLimit();
  const fx = await fleetFixture(AGENTS);
  const tmp = tempDir('tg-bench-fleet-');
  try {
    const t = await termguardRun(fx, tmp);
    const b = WITH_BASELINE ? await baselineRun(fx) : null;
    const row = (what: string, tv: number, bv: number | undefined, digits = 0): string[] =>
      [what, num(tv, digits), bv === undefined ? '-' : num(bv, digits), bv === undefined ? '' : ratio(tv, bv)];
    process.stdout.write(table(
      `fleet — ${num(AGENTS)} simulated agents (own key and certificate each; heartbeat every 60 s on the long-poll connection, poll ≤ 60 s), one server process, ${IDLE_SECONDS} s idle window`,
      ['what', 'termguard', 'baseline', 'ratio'],
      [
        row(`time until all connected, s (ramp spread over ${RAMP_SECONDS} s)`, t.idle.connectSeconds, b?.connectSeconds, 1),
        row('server RSS MiB at idle', t.idle.rssMiB, b?.rssMiB),
        row('server CPU at idle, % of one core', t.idle.cpu, b?.cpu, 1),
        row('heartbeat round-trip p50 ms', t.idle.hbP50, b?.hbP50, 1),
        row('heartbeat round-trip p99 ms', t.idle.hbP99, b?.hbP99, 1),
        row('heartbeats in the window', t.idle.heartbeats, b?.heartbeats),
        row('long-polls answered in the window', t.idle.polls, b?.polls),
        row('errors in the window', t.idle.errors, b?.errors),
        row('TLS handshakes in the window (heartbeat connections reopened)', t.idle.handshakes, b?.handshakes),
        row('… of which resumed sessions', t.idle.resumed, b?.resumed),
        row('simulator CPU, % of one core', t.idle.clientsCpu, b?.clientsCpu, 1),
        row('other processes, % of one core', t.idle.otherCpu, b?.otherCpu, 1),
      ],
      [
        `targets: RSS ≤ ${TARGET_RSS_MIB} MiB: ${t.idle.rssMiB <= TARGET_RSS_MIB ? 'met' : 'NOT met'}; CPU ≤ ${TARGET_CPU}% of a core: ${t.idle.cpu <= TARGET_CPU ? 'met' : 'NOT met'}`,
        'baseline: bare node:https, same certificates and TLS settings, holds the long-poll and acks heartbeats without validating or storing',
        ...(t.idle.firstError ? [`termguard first error: ${t.idle.firstError}`] : []),
      ],
    ));
    const s = t.storm;
    if (s) process.stdout.write(table(
      `reconnect storm — server SIGKILLed and restarted on the same ports; ${num(s.agents)} agents reconnect spread over 60 s`,
      ['what', 'value'],
      [
        ['time until all connected again, s', num(s.seconds, 1)],
        ['agents connected at the end', `${num(s.connected)} of ${num(s.agents)}`],
        ['transport errors and non-2xx answers (refused while restarting, resets)', num(s.errors)],
        ['503 with Retry-After (admission control)', num(s.overloaded)],
        ['server peak RSS MiB', num(s.peakRssMiB)],
        ['server CPU over the storm, % of one core', num(s.cpu, 1)],
      ],
      s.firstError ? [`first error: ${s.firstError}`] : [],
    ));
  } finally {
    removeTemp(tmp);
  }
}
