/**
 * A terminal cut off from its server for a week, on a simulated clock, in well under a minute:
 * the real Spool (on disk, with its byte cap), the real Sender and AgentClient (mutual TLS) and a
 * real server that is closed for the whole week and then started again on the same agent port.
 *
 * The week is what a terminal produces: a heartbeat every minute (10,080), an hourly host.check and
 * a six-hourly host.inventory of several KB, and a few USB and egress violations (critical, high),
 * each appended alone, as the agent does, with its simulated time. The cap holds about a fifth of it.
 *
 * Asserted: after every simulated hour the spool's files (everything in its folder) stay within
 * `maxBytes + segmentBytes` — the cap bounds the live records, and dead records and the ack journal
 * are reclaimed whenever they pass one segment on top of it; back online, every critical and high
 * event is stored exactly once, stored + reported dropped == emitted exactly (per severity too), the
 * drop reports (`reason` cap) cover only the simulated week, and stored times are the simulated times.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { initData } from '../../server/init.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { createEnrollToken } from '../../server/tokens.js';
import { enroll } from '../../agent/transport/enroll.js';
import { loadState, statePaths } from '../../agent/state.js';
import { Spool } from '../../agent/transport/spool.js';
import { AgentClient } from '../../agent/transport/client.js';
import { Sender } from '../../agent/transport/sender.js';
import { newEvent, type AgentEvent, type Severity, type StoredEvent } from '../../shared/events.js';
import { VERSION } from '../../shared/version.js';
import { serveBelowEphemeral, tempDir, until } from '../helpers/server.js';
import { mulberry32 as prng } from '../helpers/rng.js';

const DAY = 86_400_000;
const WEEK_START = Date.parse('2025-03-03T00:00:00.000Z');
const WEEK_END = WEEK_START + 7 * DAY;
const MAX_BYTES = 1024 * 1024;
const SEGMENT_BYTES = 128 * 1024;
/** What the spool promises for all its files together (see the header). */
const FILES_BOUND = MAX_BYTES + SEGMENT_BYTES;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) {
    try { await fn(); } catch (e) { console.error('cleanup:', (e as Error).message); }
  }
});



/** The spool's fsyncs are not what this is about: on tmpfs the week takes seconds, on a disk most of a minute. */
function stateFolder(): string {
  return existsSync('/dev/shm') ? mkdtempSync(join('/dev/shm', 'tg-agent-')) : mkdtempSync(join(tmpdir(), 'tg-agent-'));
}

function filesBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

// ── a terminal's week ──────────────────────────────────────────────────────────────────────────

const CHECK_IDS = Array.from({ length: 48 }, (_, i) => `linux.${['ssh', 'audit', 'accounts', 'services', 'patches', 'malware'][i % 6]}.rule_${i}`);

function hostCheck(at: Date, r: () => number): AgentEvent {
  const results = CHECK_IDS.map((id) => {
    const status = r() < 0.005 ? 'fail' : 'pass'; // about one run in five finds something (medium)
    return { id, status, title: `MLPS level 3 control ${id}`, evidence: status === 'fail' ? 'setting is 0, expected 1 (from /etc/ssh/sshd_config line 42)' : 'as expected' };
  });
  const fail = results.filter((x) => x.status === 'fail').length;
  return newEvent('host.check', fail ? 'medium' : 'low', ['art9', 'art17', 'art31'], { profile: 'mlps3', summary: { pass: results.length - fail, fail, skip: 0 }, results }, at);
}

function inventory(at: Date): AgentEvent {
  const software = Array.from({ length: 120 }, (_, i) => ({ name: `package-${i}`, version: `1.${i % 17}.${i % 5}-1ubuntu${i % 3}`, source: 'dpkg' }));
  return newEvent('host.inventory', 'low', ['art10', 'art18', 'art26', 'art30'], {
    os: { platform: 'linux', distro: 'Ubuntu', release: '22.04.4 LTS', kernel: '5.15.0-105-generic' },
    hardware: { vendor: 'Lenovo', model: 'ThinkCentre M720q', serial: 'MJ0ABCDE', cpus: 6, memoryBytes: 17_179_869_184 },
    network: [{ name: 'eno1', mac: '98:fa:9b:01:02:03', addresses: ['10.20.1.17/16'] }],
    software,
  }, at);
}

function violation(at: Date, r: () => number): AgentEvent {
  if (r() < 0.35) {
    return newEvent('usb.blocked', 'critical', ['art31'], {
      action: 'deauthorize', device: { vendorId: '0781', productId: '5567', serial: `4C53${Math.floor(r() * 1e6)}`, interfaces: ['08:06:50'] },
    }, at);
  }
  return newEvent('egress.violation', 'high', ['art29', 'art31'], {
    destination: `203.0.113.${Math.floor(r() * 254) + 1}:443`, process: { pid: 4242, name: 'chrome' }, count: 1 + Math.floor(r() * 20),
  }, at);
}

// ── the test ───────────────────────────────────────────────────────────────────────────────────

describe('agent offline for a week (simulated clock)', () => {
  it('keeps its spool within the cap, then delivers everything or counts it, with the simulated times', async () => {
    const t0 = Date.now();
    const data = tempDir('tg-srv-');
    cleanups.push(() => rmSync(data, { recursive: true, force: true }));
    const { caHash } = await initData(data, {});
    const serve = (agentPort: number) => startServer({
      dataDir: data, agentPort, consolePort: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), overrides: { revocationPollSeconds: 0.5 },
    });
    let srv: RunningServer | null = await serveBelowEphemeral(serve);
    cleanups.push(async () => { await srv?.close(); });
    const agentPort = srv.agentPort;

    const stateDir = stateFolder();
    cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
    await enroll({ server: srv.consoleUrl, token: (await createEnrollToken(srv.ctx.store)).token, caHash, stateDir, machineId: 'agent-offline-week' });
    const state = loadState(stateDir);
    await srv.close();
    srv = null; // the port stays closed for the whole simulated week

    let now = WEEK_START;
    const spoolDir = statePaths(stateDir).spool;
    const spool = await Spool.open(spoolDir, { maxBytes: MAX_BYTES, segmentBytes: SEGMENT_BYTES, now: () => now });
    cleanups.push(() => spool.close());
    const client = new AgentClient(stateDir, () => state);
    cleanups.push(() => client.close());
    const sender = new Sender(spool, () => client, { batchEvents: 500, maxEventsPerSecond: 100_000, backoffMaxMs: 200, drainJitterMs: 100 },
      pino({ level: 'silent' }), () => undefined);
    const stop = new AbortController();
    // Trying all week long: its failed sends peek (and so lend out) batches while the spool drops.
    const sending = sender.run(stop.signal);
    cleanups.push(async () => { stop.abort(); await sending; });

    const r = prng(20250303);
    const violationMinutes = new Set(Array.from({ length: 18 }, () => Math.floor(r() * 7 * 24 * 60)));
    const emitted = new Map<string, AgentEvent>();
    let emittedBytes = 0;
    let maxFiles = 0;
    const emit = async (e: AgentEvent) => {
      emitted.set(e.id, e);
      emittedBytes += JSON.stringify(e).length;
      await spool.append([e]);
    };
    for (let minute = 0; minute < 7 * 24 * 60; minute++) {
      now = WEEK_START + minute * 60_000 + 1_000;
      const at = () => new Date(now);
      await emit(newEvent('agent.heartbeat', 'low', ['art31'], {
        policyVersion: 3, uptimeSeconds: minute * 60, rssBytes: 80_000_000 + Math.floor(r() * 4e6), spool: spool.depth(), version: VERSION,
      }, at()));
      if (minute % 60 === 30) { now += 5_000; await emit(hostCheck(at(), r)); }
      if (minute % 360 === 200) { now += 9_000; await emit(inventory(at())); }
      if (violationMinutes.has(minute)) { now += 17_000; await emit(violation(at(), r)); }
      if (minute % 60 === 59) {
        const files = filesBytes(spoolDir);
        maxFiles = Math.max(maxFiles, files);
        expect(files, `spool files after hour ${(minute + 1) / 60}`).toBeLessThanOrEqual(FILES_BOUND);
        expect(spool.depth().bytes).toBeLessThanOrEqual(MAX_BYTES);
      }
    }
    const simulatedMs = Date.now() - t0;
    // The week did not fit: the cap was in play for most of it.
    expect(emittedBytes).toBeGreaterThan(3 * MAX_BYTES);
    expect(spool.depth().dropped).toBeGreaterThan(emitted.size / 2);

    // ── back online, on the same port ──
    srv = await serve(agentPort);
    const live = srv;
    await until('the spool drains', async () => spool.depth().events === 0, 30_000);
    stop.abort();
    await sending;
    const drainedMs = Date.now() - t0 - simulatedMs;

    const stored = await live.ctx.store.queryEvents({ host: state.hostId, limit: 10_000_000 });
    expect(new Set(stored.map((e) => e.id)).size).toBe(stored.length);
    const reports = stored.filter((e) => e.type === 'agent.spool_dropped');
    const kept = stored.filter((e) => e.type !== 'agent.spool_dropped');
    expect(kept.filter((e) => !emitted.has(e.id)), 'stored events that were never emitted').toEqual([]);

    const all = [...emitted.values()];
    const keptIds = new Set(kept.map((e) => e.id));
    const bySev = (evs: { severity: string }[], sev: Severity) => evs.filter((e) => e.severity === sev).length;
    // Every critical and high event arrived, exactly once.
    for (const sev of ['critical', 'high'] as const) {
      const of = all.filter((e) => e.severity === sev);
      expect(of.length, `${sev} events in the week`).toBeGreaterThan(0);
      expect(of.filter((e) => !keptIds.has(e.id)), `${sev} events lost`).toEqual([]);
    }
    // Stored + reported dropped == emitted, in total and per severity; drops say reason cap.
    const reported = (f: (d: Record<string, any>) => number) => reports.reduce((n, e) => n + f(e.data), 0); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(reports.length).toBeGreaterThan(0);
    expect(kept.length + reported((d) => d.count)).toBe(all.length);
    for (const sev of ['low', 'medium', 'high', 'critical'] as const) {
      expect(reported((d) => d.bySeverity[sev]), sev).toBe(bySev(all, sev) - bySev(kept, sev));
    }
    expect(reported((d) => d.byReason.cap)).toBe(reported((d) => d.count));
    expect(reports.every((e) => e.data.reason === 'cap')).toBe(true);
    expect(spool.depth().dropped).toBe(reported((d) => d.count));
    // Drops cover the simulated week, and so does each report's own time (the spool's clock).
    for (const e of reports) {
      const since = Date.parse(e.data.since as string);
      const until_ = Date.parse(e.data.until as string);
      expect(since).toBeGreaterThanOrEqual(WEEK_START);
      expect(since).toBeLessThanOrEqual(until_);
      expect(until_).toBeLessThan(WEEK_END);
      expect(Date.parse(e.time)).toBeGreaterThanOrEqual(until_);
      expect(Date.parse(e.time)).toBeLessThan(WEEK_END);
    }
    // Stored times are the simulated ones, as emitted.
    const wrongTime = kept.filter((e: StoredEvent) => e.time !== emitted.get(e.id)!.time);
    expect(wrongTime).toEqual([]);
    expect(kept.every((e) => Date.parse(e.time) >= WEEK_START && Date.parse(e.time) < WEEK_END)).toBe(true);
    // The newest hours survive: the last heartbeat of the week arrived.
    expect(keptIds.has(all.filter((e) => e.type === 'agent.heartbeat').at(-1)!.id)).toBe(true);

    console.log(`offline week: ${all.length} events (${(emittedBytes / 1048576).toFixed(1)} MiB), ${kept.length} stored, ` +
      `${reported((d) => d.count)} reported dropped in ${reports.length} reports; spool files at most ${maxFiles} bytes ` +
      `(bound ${FILES_BOUND}); simulated in ${simulatedMs} ms, drained in ${drainedMs} ms`);
  }, 60_000);
});
