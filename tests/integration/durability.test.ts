/**
 * Durability drills with real processes, real mutual TLS and a real SQLite file:
 *  - SIGKILL the agent while it spools and sends, 20+ times: every event whose emit resolved is
 *    stored exactly once;
 *  - SIGKILL the server while it ingests, 20+ times: the same, after the agent's spool drained;
 *  - a full spool drops the lowest severity first, keeps every critical event, and says so with
 *    `agent.spool_dropped`.
 * The agent runs as tests/integration/drivers/agent.mjs (the real AgentRuntime from dist/).
 */
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import type { StoredEvent } from '../../shared/events.js';

const SERVER_CLI = 'dist/server/cli.js';
const AGENT_CLI = 'dist/agent/cli.js';
const DRIVER = 'tests/integration/drivers/agent.mjs';
const ROUNDS = 22;
const execFileP = promisify(execFile);

// ── process plumbing ───────────────────────────────────────────────────────────────────────────

interface Proc {
  name: string;
  child: ChildProcess;
  /** Complete stdout lines so far. */
  lines: string[];
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line (already seen or to come) matching `pred`; rejects on exit or timeout. */
  waitLine(pred: (l: string) => boolean, timeoutMs: number): Promise<string>;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];
const servers: TestServer[] = [];

afterEach(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  }
  children.clear();
  for (const s of servers.splice(0)) await s.stop().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

/** The environment without any TERMGUARD_* of the caller's, plus `extra`. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TERMGUARD_')) e[k] = v;
  return { ...e, ...extra };
}

function start(name: string, args: string[], extraEnv: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, args, { env: env(extraEnv), stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  let err = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => { err = (err + d).slice(-4000); });
  child.stdin!.on('error', () => undefined); // a killed child's closed pipe
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      // Let the last stdout chunk arrive before anyone reads `lines`.
      child.stdout!.once('close', () => resolve({ code, signal }));
      if (child.stdout!.closed) resolve({ code, signal });
    });
  });
  const stderr = () => err;
  return {
    name, child, lines, stderr, exit,
    waitLine(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < lines.length; seen++) {
            if (pred(lines[seen]!)) { done(); return resolve(lines[seen]!); }
          }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`${name}: no expected line within ${timeoutMs} ms; stderr: ${err.slice(-1500)}`)); }, timeoutMs);
        const onExit = () => setImmediate(() => {
          check();
          done();
          reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before the expected line; stderr: ${err.slice(-1500)}`));
        });
        const done = () => { clearTimeout(timer); waiters.delete(check); child.off('exit', onExit); };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomMs = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

async function killHard(p: Proc): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  p.child.kill('SIGKILL');
  return p.exit;
}

/** Ports the OS says are free now; the server is restarted on the same ones. */
async function freePorts(n: number): Promise<number[]> {
  const socks = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = socks.map((s) => (s.address() as { port: number }).port);
  await Promise.all(socks.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A CLI run; asynchronous, so an in-process server in this worker keeps answering meanwhile. */
async function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  try {
    return (await execFileP(process.execPath, args, { env: env(extraEnv), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })).stdout;
  } catch (e) {
    const x = e as { stderr?: string; message: string };
    throw new Error(`${args.slice(0, 2).join(' ')} failed: ${x.stderr ?? x.message}`);
  }
}

/** `termguard-agent enroll` (the real CLI) into a fresh state folder. */
async function enrollAgent(consoleUrl: string, token: string, caHash: string, machineId: string): Promise<string> {
  const state = dir('tg-agent-');
  const out = await cli([AGENT_CLI, 'enroll', '--server', consoleUrl, '--token', token, '--ca-hash', caHash, '--state', state], { TERMGUARD_MACHINEID: machineId });
  expect(out).toMatch(/^enrolled as host /);
  return state;
}

/** Every stored event, through `termguard-server events --json`. */
async function storedEvents(dataDir: string): Promise<StoredEvent[]> {
  return (await cli([SERVER_CLI, 'events', '--json', '--data', dataDir])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as StoredEvent);
}

/** A server as its own process, so it can be SIGKILLed. */
interface ServerProcs { data: string; caHash: string; agentPort: number; consolePort: number; consoleUrl: string; proc?: Proc; start(): Promise<void>; }

async function serverProcs(): Promise<ServerProcs> {
  const data = dir('tg-srv-');
  const init = await cli([SERVER_CLI, 'init', '--data', data]);
  const caHash = /CA hash: (sha256:[0-9a-f]{64})/.exec(init)![1]!;
  const [agentPort, consolePort] = await freePorts(2) as [number, number];
  const s: ServerProcs = {
    data, caHash, agentPort, consolePort, consoleUrl: `https://127.0.0.1:${consolePort}`,
    async start() {
      const p = start('server', [SERVER_CLI, 'start', '--data', data, '--agent-port', String(agentPort), '--console-port', String(consolePort)], { TERMGUARD_LOG_LEVEL: 'warn' });
      s.proc = p;
      await p.waitLine((l) => l.startsWith('console '), 20_000);
    },
  };
  await s.start();
  return s;
}

async function createToken(data: string): Promise<string> {
  return /^token: (\S+)$/m.exec(await cli([SERVER_CLI, 'token', 'create', '--data', data]))![1]!;
}

/** Agent settings: quick retries (backoff ≤ 0.3 s) and a short post-outage drain delay. */
const AGENT_ENV = { TERMGUARD_SEND_BACKOFFMAXSECONDS: '0.3', TERMGUARD_SEND_DRAINJITTERSECONDS: '0.1' };

function driver(state: string, mode: 'emit' | 'drain', extra: Record<string, string> = {}): Proc {
  return start(`agent driver (${mode})`, [DRIVER, state, mode], { ...AGENT_ENV, ...extra });
}

/** `id <uuid> <severity>` lines: what the driver emitted and saw durably spooled. */
function printedIds(p: Proc): { id: string; severity: string }[] {
  return p.lines.filter((l) => l.startsWith('id ')).map((l) => {
    const [, id, severity] = l.split(' ');
    return { id: id!, severity: severity! };
  });
}

/** Drain the spool with a driver that emits nothing, and check it stopped with an empty spool. */
async function drain(state: string, extra: Record<string, string> = {}): Promise<void> {
  const p = driver(state, 'drain', extra);
  const line = await p.waitLine((l) => l.startsWith('stopped '), 90_000);
  expect((await p.exit).code).toBe(0);
  expect(JSON.parse(line.slice('stopped '.length)).events).toBe(0);
}

/** Each printed id once, and each stored exactly once (by this host). */
function expectAllStoredOnce(printed: string[], stored: StoredEvent[], hostId: string): void {
  expect(new Set(printed).size).toBe(printed.length);
  const times = new Map<string, number>();
  for (const e of stored) times.set(e.id, (times.get(e.id) ?? 0) + 1);
  expect([...times.values()].filter((n) => n !== 1)).toEqual([]);
  const missing = printed.filter((id) => times.get(id) !== 1);
  expect(missing, `${missing.length} of ${printed.length} spooled events never reached the store`).toEqual([]);
  const byId = new Map(stored.map((e) => [e.id, e]));
  expect(printed.filter((id) => byId.get(id)!.host !== hostId)).toEqual([]);
}

async function hostIdOf(state: string): Promise<string> {
  return (JSON.parse(await cli([AGENT_CLI, 'status', '--state', state, '--json'])) as { hostId: string }).hostId;
}

// ── the drills ─────────────────────────────────────────────────────────────────────────────────

describe('durability', () => {
  it(`loses and duplicates nothing when the agent is SIGKILLed while it writes (${ROUNDS} rounds)`, async () => {
    const t = await startTestServer();
    servers.push(t);
    const state = await enrollAgent(t.srv.consoleUrl, await t.token(), t.caHash, 'durability-agent-kill');
    const printed: string[] = [];
    let midStream = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const p = driver(state, 'emit');
      // Mostly timed from the first spooled event (so the kill lands amid appends, sends and acks);
      // every fourth round from start-up, where it may also hit spool recovery.
      const early = round % 4 === 3;
      await p.waitLine(early ? (l) => l === 'ready' : (l) => l.startsWith('id '), 20_000);
      await sleep(randomMs(50, 400));
      const ex = await killHard(p);
      expect(ex.signal, `round ${round}: the driver ended by itself: ${p.stderr()}`).toBe('SIGKILL');
      const ids = printedIds(p).map((x) => x.id);
      // Still emitting when killed: the last printed line is an id, not the end of the run.
      if (!early && p.lines.at(-1)?.startsWith('id ')) midStream++;
      printed.push(...ids);
    }
    expect(midStream).toBe(ROUNDS - Math.floor(ROUNDS / 4));
    await drain(state);
    expectAllStoredOnce(printed, await storedEvents(t.dir), await hostIdOf(state));
  }, 150_000);

  it(`loses and duplicates nothing when the server is SIGKILLed while it ingests (${ROUNDS} rounds)`, async () => {
    const s = await serverProcs();
    const state = await enrollAgent(s.consoleUrl, await createToken(s.data), s.caHash, 'durability-server-kill');
    const db = new Database(join(s.data, 'termguard.db'), { readonly: true, fileMustExist: true });
    try {
      const count = () => (db.prepare('SELECT count(*) FROM events').pluck().get() as number);
      const agent = driver(state, 'emit');
      await agent.waitLine((l) => l === 'ready', 20_000);
      for (let round = 0; round < ROUNDS; round++) {
        // Kill only once this server has committed something: events are flowing into it.
        const before = count();
        const deadline = Date.now() + 20_000;
        while (count() === before) {
          expect(Date.now() < deadline, `round ${round}: no ingest within 20 s; agent: ${agent.stderr()}`).toBe(true);
          expect(agent.child.exitCode, `agent driver died: ${agent.stderr()}`).toBeNull();
          await sleep(10);
        }
        await sleep(randomMs(50, 400));
        const ex = await killHard(s.proc!);
        expect(ex.signal, `round ${round}: the server ended by itself: ${s.proc!.stderr()}`).toBe('SIGKILL');
        await sleep(randomMs(0, 200)); // sometimes the agent meets a closed port, sometimes not
        await s.start();
      }
      agent.child.stdin!.write('drain\n');
      const line = await agent.waitLine((l) => l.startsWith('stopped '), 90_000);
      expect((await agent.exit).code).toBe(0);
      expect(JSON.parse(line.slice('stopped '.length)).events).toBe(0);
      const printed = printedIds(agent).map((x) => x.id);
      expect(printed.length).toBeGreaterThan(ROUNDS * 10);
      expectAllStoredOnce(printed, await storedEvents(s.data), await hostIdOf(state));
    } finally {
      db.close();
    }
  }, 150_000);

  it('drops the lowest severity first when the spool is full, keeps every critical event and reports the count', async () => {
    const s = await serverProcs();
    const state = await enrollAgent(s.consoleUrl, await createToken(s.data), s.caHash, 'durability-spool-cap');
    s.proc!.child.kill('SIGTERM');
    expect((await s.proc!.exit).code).toBe(0);

    // ~250 bytes an event: 2,000 events are ~8 times the 64 KiB cap; the criticals alone fit.
    const cap = { TERMGUARD_SPOOL_MAXBYTES: '65536' };
    const emitted = driver(state, 'emit', { ...cap, TG_DRIVER_COUNT: '2000', TG_DRIVER_SEVERITIES: 'low:70,medium:20,high:8,critical:2' });
    await emitted.waitLine((l) => l.startsWith('stopped '), 90_000);
    expect((await emitted.exit).code).toBe(0);
    const printed = printedIds(emitted);
    expect(printed).toHaveLength(2000);

    await s.start();
    await drain(state, cap);

    const stored = await storedEvents(s.data);
    const storedIds = new Set(stored.map((e) => e.id));
    const of = (sev: string) => printed.filter((x) => x.severity === sev);
    const kept = (sev: string) => of(sev).filter((x) => storedIds.has(x.id)).length;
    const reports = stored.filter((e) => e.type === 'agent.spool_dropped');
    expect(reports.length).toBeGreaterThan(0);
    const reported = reports.reduce((n, e) => n + (e.data.count as number), 0);
    expect(reported).toBeGreaterThan(0);
    expect(of('critical').length).toBeGreaterThan(0);
    expect(kept('critical')).toBe(of('critical').length);
    expect(kept('low')).toBeLessThan(of('low').length);
    // Every drill event that did not arrive is counted (the rest of the count: the agent's own low events).
    const lost = printed.filter((x) => !storedIds.has(x.id)).length;
    expect(reported).toBeGreaterThanOrEqual(lost);
    expect(reported - lost).toBeLessThanOrEqual(5);
    expect(reports.reduce((n, e) => n + ((e.data.bySeverity as Record<string, number>).critical ?? 0), 0)).toBe(0);
    // What did arrive arrived once.
    expect(new Set(stored.map((e) => e.id)).size).toBe(stored.length);
  }, 120_000);
});
