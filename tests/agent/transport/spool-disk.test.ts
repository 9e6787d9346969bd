/**
 * The spool against its disk: the bound on all its files (no root needed), and a real full disk
 * (a small tmpfs; needs root, skipped with a reason otherwise, and failing instead under CI=true).
 */
import { describe, it, expect, beforeEach, afterEach, type TestContext } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Spool, type SpoolFault, type SpoolRecovery } from '../../../agent/transport/spool.js';
import { newEvent, type AgentEvent, type Severity } from '../../../shared/events.js';
import { isTgError } from '../../../shared/errors.js';

const execFileP = promisify(execFile);
const SEVS: Severity[] = ['low', 'medium', 'high', 'critical'];

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => { dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'tg-spool-')); });
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) {
    try { await fn(); } catch (e) { console.error('cleanup:', (e as Error).message); }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

let clock = Date.parse('2025-01-06T08:00:00.000Z');
function ev(severity: Severity, type = 'drill', pad = 100): AgentEvent {
  clock += 1000;
  return newEvent(type, severity, [], { pad: 'x'.repeat(pad) }, new Date(clock));
}
const ids = (evs: AgentEvent[]): string[] => evs.map((e) => e.id);
const all = (s: Spool): AgentEvent[] => s.peek(Number.MAX_SAFE_INTEGER);
const filesBytes = (d: string): number => fs.readdirSync(d).reduce((n, f) => n + fs.statSync(path.join(d, f)).size, 0);

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined; } catch (e) { return isTgError(e) ? e.code : String(e); }
}

/** A tmpfs of `size` for this test, or skip (throw under CI) with the reason there is none. */
async function tmpfs(ctx: TestContext, size: string): Promise<string> {
  let why: string | undefined;
  if (process.platform !== 'linux') why = `mounting a tmpfs needs Linux (this is ${process.platform})`;
  else if (process.getuid?.() !== 0) why = 'mounting a tmpfs needs root';
  const m = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-full-'));
  if (!why) {
    try {
      await execFileP('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', m]);
      cleanups.push(async () => {
        await execFileP('umount', ['-l', m]).catch((e: Error) => console.error(`umount -l ${m}: ${e.message}`));
        fs.rmSync(m, { recursive: true, force: true });
      });
      return m;
    } catch (e) {
      why = `mount -t tmpfs failed: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()}`;
    }
  }
  fs.rmSync(m, { recursive: true, force: true });
  if (process.env.CI === 'true') throw new Error(`cannot run under CI: ${why}`);
  console.warn(`skipped: ${why}`);
  return ctx.skip(why);
}

/** Write to a new file in `m` until ENOSPC, down to single bytes; returns the path. */
function fill(m: string): string {
  const p = path.join(m, 'filler');
  const fd = fs.openSync(p, 'a', 0o600);
  try {
    for (const size of [65536, 4096, 256, 16, 1]) {
      const buf = Buffer.alloc(size, 0x78);
      for (;;) {
        try { fs.writeSync(fd, buf); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break; throw e; }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return p;
}

describe('Spool files', () => {
  it('stay within maxBytes + segmentBytes through drops, acks and rewrites, and reopen to the same records', async () => {
    const maxBytes = 64 * 1024;
    const segmentBytes = 16 * 1024;
    const s = await Spool.open(dir, { maxBytes, segmentBytes });
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let n = 0; n < 1500; n++) {
      const batch = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => ev(SEVS[Math.floor(rnd() ** 2 * 4)]!, 'drill', 50 + Math.floor(rnd() * 1500)));
      await s.append(batch);
      // Now and then the server acks some of the oldest (a sender between outages).
      if (rnd() < 0.05) await s.ack(ids(s.peek(1 + Math.floor(rnd() * 20))));
      expect(s.depth().bytes).toBeLessThanOrEqual(maxBytes);
      expect(filesBytes(dir), `after append ${n}`).toBeLessThanOrEqual(maxBytes + segmentBytes);
    }
    const live = all(s);
    expect(s.depth().dropped).toBeGreaterThan(1000);
    await s.close();
    const r = await Spool.open(dir, { maxBytes, segmentBytes });
    expect(all(r)).toEqual(live);
    await r.close();
  });
});

describe('Spool on a full disk', () => {
  it('holds high and critical events, counts the others, and reports them when the disk takes writes again', async (ctx) => {
    const m = await tmpfs(ctx, '1m');
    const spoolDir = path.join(m, 'spool');
    const faults: SpoolFault[] = [];
    const recoveries: SpoolRecovery[] = [];
    const now = () => clock;
    const opts = { segmentBytes: 64 * 1024, now, onFault: (f: SpoolFault) => faults.push(f), onRecover: (r: SpoolRecovery) => recoveries.push(r) };
    const s = await Spool.open(spoolDir, opts);
    const before = [ev('low'), ev('medium'), ev('high')];
    await s.append(before);
    const filler = fill(m);

    // append() still promises durability, so it refuses (once the last page it holds is used up).
    let refused: string | undefined;
    for (let k = 0; k < 100 && !refused; k++) {
      const e = ev('critical');
      refused = await code(s.append([e]));
      if (!refused) before.push(e);
    }
    expect(refused).toBe('TG_E_SPOOL');
    // offer() keeps going.
    const held: AgentEvent[] = [];
    const dropped: AgentEvent[] = [];
    for (let k = 0; k < 30; k++) {
      const batch = SEVS.map((sev, i) => ev(sev, i % 2 ? 'host.check' : 'drill'));
      const r = await s.offer(batch);
      expect(r).toMatchObject({ spooled: false, fault: { code: 'ENOSPC', reason: 'disk_full' } });
      expect(r.held).toEqual(ids(batch.filter((e) => e.severity === 'high' || e.severity === 'critical')));
      expect(r.dropped).toEqual(ids(batch.filter((e) => e.severity === 'low' || e.severity === 'medium')));
      held.push(...batch.filter((e) => r.held.includes(e.id)));
      dropped.push(...batch.filter((e) => r.dropped.includes(e.id)));
    }
    // Memory is bounded: 1,000 held events, first come first kept; the rest are counted.
    const highs = Array.from({ length: 1000 }, () => ev('high', 'egress.violation'));
    for (let k = 0; k < highs.length; k += 100) {
      const r = await s.offer(highs.slice(k, k + 100));
      held.push(...highs.filter((e) => r.held.includes(e.id)));
      dropped.push(...highs.filter((e) => r.dropped.includes(e.id)));
    }
    expect(held).toHaveLength(1000);
    expect(dropped.filter((e) => e.type === 'egress.violation')).toHaveLength(60);
    expect(faults, 'one fault per spell, not per write').toHaveLength(1);
    expect(s.fault()).toMatchObject({ code: 'ENOSPC', reason: 'disk_full', failures: 41, message: expect.stringContaining('ENOSPC') });
    expect(s.depth()).toMatchObject({ events: before.length, held: 1000, unreported: dropped.length });

    // Acks go on without the journal (the drain is what frees space), and their file goes.
    await s.ack(ids(before));
    expect(s.depth().events).toBe(0);
    expect(fs.readdirSync(spoolDir).filter((n) => n.startsWith('seg-'))).toEqual([]);
    expect((await s.retry()).spooled).toBe(false); // what is held needs more than that freed
    expect(recoveries).toHaveLength(0);

    fs.unlinkSync(filler);
    expect(await s.retry()).toEqual({ spooled: true, held: [], dropped: [] });
    expect(recoveries).toEqual([{ released: 1000, reported: dropped.length, fault: expect.objectContaining({ code: 'ENOSPC', failures: 42 }) }]);
    expect(s.fault()).toBeNull();
    const live = all(s);
    expect(ids(live.filter((e) => e.type !== 'agent.spool_dropped'))).toEqual(ids(held));
    const reports = live.filter((e) => e.type === 'agent.spool_dropped');
    expect(reports).toHaveLength(1);
    const bySev = (sev: Severity) => dropped.filter((e) => e.severity === sev).length;
    const byType = (t: string) => dropped.filter((e) => e.type === t).length;
    expect(reports[0]).toMatchObject({
      severity: 'high', articles: ['art19', 'art33'], time: new Date(clock).toISOString(),
      data: {
        reason: 'disk_full', count: dropped.length, byReason: { disk_full: dropped.length },
        bySeverity: { low: bySev('low'), medium: bySev('medium'), high: bySev('high'), critical: 0 },
        byType: { drill: byType('drill'), 'host.check': byType('host.check'), 'egress.violation': 60 },
        since: dropped[0]!.time, until: dropped.at(-1)!.time,
      },
    });
    expect(s.depth()).toMatchObject({ held: 0, unreported: 0, dropped: dropped.length });
    await s.close();

    // Reopened: the same records, the acked ones gone, the dropped total kept; then a cap drop folds
    // the disk report in, and the counts per reason survive.
    const r = await Spool.open(spoolDir, { ...opts, maxBytes: 64 * 1024 });
    expect(all(r)).toEqual(live);
    expect(r.depth().dropped).toBe(dropped.length);
    r.peek(1); // a peek lends out the reports it returns (never folded); this one returns none
    await r.append([ev('critical')]);
    const after = all(r).filter((e) => e.type === 'agent.spool_dropped');
    expect(after).toHaveLength(1);
    const d = after[0]!.data as { reason: string; count: number; byReason: Record<string, number>; byType: Record<string, number> };
    expect(d.reason).toBe('cap');
    expect(d.byReason.disk_full).toBe(dropped.length);
    expect(d.byReason.cap).toBeGreaterThan(0);
    expect(d.count).toBe(d.byReason.disk_full! + d.byReason.cap!);
    expect(d.byType['egress.violation']).toBe(60);
    expect(r.depth().dropped).toBe(d.count);
    await r.close();
  });

  it('frees acked records in memory while the journal cannot be written, and records them once it can', async (ctx) => {
    const m = await tmpfs(ctx, '512k');
    const spoolDir = path.join(m, 'spool');
    const s = await Spool.open(spoolDir);
    const evs = Array.from({ length: 200 }, () => ev('low'));
    await s.append(evs);
    const filler = fill(m);
    // Ack one at a time until a journal line no longer fits (the journal's last page fills up first).
    const journal = path.join(spoolDir, 'acks.log');
    let k = 0;
    for (let size = fs.statSync(journal).size; k < 150; k++) {
      await s.ack([evs[k]!.id]);
      if (fs.statSync(journal).size === size) break;
      size = fs.statSync(journal).size;
    }
    expect(k, 'an ack line that could not be written').toBeLessThan(150);
    await s.ack([evs[k + 1]!.id]); // and the next one, while the journal is broken
    expect(ids(all(s))).toEqual(ids(evs.slice(k + 2)));
    fs.unlinkSync(filler);
    await s.ack([evs[k + 2]!.id]); // rewrites the journal from memory first
    await s.close();
    const r = await Spool.open(spoolDir);
    expect(ids(all(r))).toEqual(ids(evs.slice(k + 3)));
    expect(fs.statSync(spoolDir).mode & 0o777).toBe(0o700);
    for (const f of fs.readdirSync(spoolDir)) expect(fs.statSync(path.join(spoolDir, f)).mode & 0o777, f).toBe(0o600);
    await r.close();
  });
});
