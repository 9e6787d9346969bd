import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Spool } from '../../../agent/transport/spool.js';
import { newEvent, type AgentEvent, type Severity } from '../../../shared/events.js';
import { isTgError } from '../../../shared/errors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SEVS: Severity[] = ['low', 'medium', 'high', 'critical'];

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(os.tmpdir() + '/tg-spool-'); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function ev(severity: Severity = 'low', n = 0, pad = 100): AgentEvent {
  return newEvent('drill', severity, [], { n, pad: 'x'.repeat(pad) });
}
const ids = (evs: AgentEvent[]): string[] => evs.map((e) => e.id);
const segFiles = (): string[] => fs.readdirSync(dir).filter((n) => /^seg-\d{12}\.log$/.test(n)).sort();
const all = (s: Spool): AgentEvent[] => s.peek(Number.MAX_SAFE_INTEGER);

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined; } catch (e) { return isTgError(e) ? e.code : String(e); }
}

/** A pid no process has: the lock holder of a crashed agent. */
function deadPid(): number {
  for (let pid = 4_000_000; ; pid--) {
    try { process.kill(pid, 0); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ESRCH') return pid; }
  }
}

describe('Spool', () => {
  it('round-trips append, peek and ack, and persists across close and open', async () => {
    const s = await Spool.open(dir);
    const a = [ev('low', 1), ev('high', 2)];
    const b = [ev('critical', 3)];
    await s.append(a);
    await s.append(b);
    expect(all(s)).toEqual([...a, ...b]);
    expect(s.peek(2)).toEqual(a);
    expect(s.peek(10, 1)).toEqual([a[0]]); // always at least one, whatever maxBytes
    expect(all(s)).toHaveLength(3); // peek does not remove
    await s.ack([a[0]!.id, 'not-an-id']);
    await s.ack([a[0]!.id]); // idempotent
    expect(all(s)).toEqual([a[1], ...b]);
    expect(s.depth()).toMatchObject({ events: 2, segments: 1, dropped: 0 });
    await s.close();

    const r = await Spool.open(dir);
    expect(all(r)).toEqual([a[1], ...b]);
    expect(r.depth().events).toBe(2);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    await r.append([a[1]!]); // an id already held is not stored twice
    expect(all(r)).toHaveLength(2);
    await r.close();
    expect(await code(r.append([ev()]))).toBe('TG_E_SPOOL');
  });

  it('keeps acks durable: acked events never come back after reopen', async () => {
    const s = await Spool.open(dir, { segmentBytes: 4096 });
    const evs = Array.from({ length: 100 }, (_, i) => ev(SEVS[i % 4], i));
    for (let i = 0; i < 100; i += 10) await s.append(evs.slice(i, i + 10));
    const acked = evs.filter((_, i) => i % 3 === 0);
    await s.ack(ids(acked));
    await s.close();
    const r = await Spool.open(dir, { segmentBytes: 4096 });
    const left = evs.filter((_, i) => i % 3 !== 0);
    expect(all(r)).toEqual(left);
    // Holey segments get rewritten; the survivors are still readable in order after another reopen.
    await r.ack(ids(left.filter((_, i) => i % 2 === 0)));
    await r.close();
    const q = await Spool.open(dir, { segmentBytes: 4096 });
    expect(all(q)).toEqual(left.filter((_, i) => i % 2 === 1));
    await q.close();
  });

  it('recovers from a torn last line without losing earlier records', async () => {
    const s = await Spool.open(dir);
    const a = [ev('low', 1), ev('medium', 2), ev('high', 3)];
    await s.append(a);
    await s.close();
    const last = path.join(dir, segFiles().at(-1)!);
    fs.appendFileSync(last, `1234abcd 2 ${a[0]!.id.slice(0, 20)}`); // a record cut off mid-write
    const r = await Spool.open(dir);
    expect(all(r)).toEqual(a);
    const b = [ev('critical', 4)];
    await r.append(b);
    await r.close();
    const q = await Spool.open(dir);
    expect(all(q)).toEqual([...a, ...b]);
    await q.close();
  });

  it('recovers from an empty segment, leftover temp files and acks of deleted records', async () => {
    const s = await Spool.open(dir);
    const a = [ev('low', 1), ev('high', 2)];
    await s.append(a);
    await s.close();
    fs.writeFileSync(path.join(dir, 'seg-000000000099.log'), '');
    fs.writeFileSync(path.join(dir, 'seg-000000000001.log.tmp'), 'half a rewrite');
    fs.appendFileSync(path.join(dir, 'acks.log'), '00000000 {"a":["0190aaaa-0000-7000-8000-000000000000"]}\n{"a":[');
    const r = await Spool.open(dir);
    expect(all(r)).toEqual(a);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(segFiles()).toHaveLength(1); // the empty one is gone
    await r.ack([a[0]!.id]);
    await r.close();
    const q = await Spool.open(dir);
    expect(all(q)).toEqual([a[1]]);
    await q.close();
  });

  it('rolls segments and deletes each one once all its records are acked', async () => {
    const s = await Spool.open(dir, { segmentBytes: 2048 });
    const evs: AgentEvent[] = [];
    for (let i = 0; i < 60; i++) {
      const e = ev('medium', i);
      evs.push(e);
      await s.append([e]);
    }
    const before = segFiles();
    expect(before.length).toBeGreaterThan(5);
    expect(s.depth().segments).toBe(before.length);
    await s.ack(ids(evs.slice(0, 30)));
    const mid = segFiles();
    expect(mid.length).toBeLessThan(before.length);
    expect(mid[0]! > before[0]!).toBe(true); // the oldest went first
    expect(all(s)).toEqual(evs.slice(30));
    await s.ack(ids(evs.slice(30)));
    expect(segFiles()).toEqual([]);
    expect(s.depth()).toMatchObject({ events: 0, bytes: 0, segments: 0 });
    await s.close();
    const r = await Spool.open(dir, { segmentBytes: 2048 });
    expect(all(r)).toEqual([]);
    await r.close();
  });

  it('drops the lowest severity first when full and reports the count', async () => {
    const maxBytes = 32 * 1024;
    const s = await Spool.open(dir, { maxBytes, segmentBytes: 8192 });
    const evs: AgentEvent[] = [];
    for (let b = 0; b < 40; b++) {
      const batch = Array.from({ length: 10 }, (_, i) => ev(SEVS[i % 4], b * 10 + i));
      evs.push(...batch);
      await s.append(batch);
      expect(s.depth().bytes).toBeLessThanOrEqual(maxBytes);
    }
    const live = all(s);
    const kept = live.filter((e) => e.type === 'drill');
    const reports = live.filter((e) => e.type === 'agent.spool_dropped');
    const keptBy = (sev: Severity): number => kept.filter((e) => e.severity === sev).length;
    const sent = (sev: Severity): number => evs.filter((e) => e.severity === sev).length;
    expect(keptBy('low')).toBe(0);
    expect(keptBy('medium')).toBe(0);
    expect(keptBy('high')).toBeGreaterThan(0);
    expect(keptBy('critical')).toBe(sent('critical'));
    // The newest highs survive: oldest first within a severity.
    const highs = evs.filter((e) => e.severity === 'high');
    expect(ids(kept.filter((e) => e.severity === 'high'))).toEqual(ids(highs.slice(highs.length - keptBy('high'))));

    expect(reports.length).toBeGreaterThanOrEqual(1);
    const sum = (f: (d: Record<string, any>) => number): number => reports.reduce((n, r) => n + f(r.data), 0);
    const dropped = evs.length - kept.length;
    expect(sum((d) => d.count)).toBe(dropped);
    for (const sev of SEVS) expect(sum((d) => d.bySeverity[sev])).toBe(sent(sev) - keptBy(sev));
    for (const r of reports) {
      expect(r).toMatchObject({ severity: 'high', articles: ['art19', 'art33'] });
      expect(Date.parse(r.data.since as string)).toBeLessThanOrEqual(Date.parse(r.data.until as string));
    }
    expect(s.depth().dropped).toBe(dropped);
    await s.close();

    const r = await Spool.open(dir, { maxBytes, segmentBytes: 8192 });
    expect(all(r)).toEqual(live);
    expect(r.depth()).toMatchObject({ dropped, events: live.length });
    expect(r.depth().bytes).toBeLessThanOrEqual(maxBytes);
    await r.close();
  });

  it('never folds a drop report a peek handed out, so no drop is reported twice', async () => {
    const s = await Spool.open(dir, { maxBytes: 8 * 1024 });
    for (let n = 0; n < 100; n++) await s.append([ev('low', n)]);
    const sent = s.peek(1000).filter((e) => e.type === 'agent.spool_dropped'); // on its way to the server
    expect(sent).toHaveLength(1);
    for (let n = 100; n < 200; n++) await s.append([ev('low', n)]);
    await s.ack(ids(sent)); // the server stored it
    const left = all(s).filter((e) => e.type === 'agent.spool_dropped');
    expect(left.length).toBeGreaterThan(0);
    const reported = [...sent, ...left].reduce((n, r) => n + (r.data.count as number), 0);
    expect(reported).toBe(s.depth().dropped);
    await s.close();
  });

  it('drops from the new batch itself when the batch alone exceeds the cap', async () => {
    const maxBytes = 4096;
    const s = await Spool.open(dir, { maxBytes });
    const batch = Array.from({ length: 40 }, (_, i) => ev(SEVS[i % 4], i));
    await s.append(batch);
    const live = all(s);
    expect(s.depth().bytes).toBeLessThanOrEqual(maxBytes);
    const kept = live.filter((e) => e.type === 'drill');
    const keptBy = (sev: Severity): number => kept.filter((e) => e.severity === sev).length;
    expect([keptBy('low'), keptBy('medium'), keptBy('critical')]).toEqual([0, 0, 10]);
    const report = live.find((e) => e.type === 'agent.spool_dropped')!;
    expect(report.data).toMatchObject({
      count: 40 - kept.length, bySeverity: { low: 10, medium: 10, high: 10 - keptBy('high'), critical: 0 },
    });
    await s.close();
  });

  it('refuses a second open with TG_E_LOCKED and takes over a stale lock', async () => {
    const s = await Spool.open(dir);
    expect(await code(Spool.open(dir))).toBe('TG_E_LOCKED');
    await s.close();
    expect(fs.existsSync(path.join(dir, 'spool.lock'))).toBe(false);

    fs.writeFileSync(path.join(dir, 'spool.lock'), '1\n'); // pid 1 is alive
    expect(await code(Spool.open(dir))).toBe('TG_E_LOCKED');

    fs.writeFileSync(path.join(dir, 'spool.lock'), `${deadPid()}\n`);
    const r = await Spool.open(dir);
    expect(fs.readFileSync(path.join(dir, 'spool.lock'), 'utf8').trim()).toBe(String(process.pid));
    await r.close();
  });

  it('loses nothing appended and resurrects nothing acked across kill -9', async () => {
    const script = path.join(dir, 'child.mts');
    const spoolDir = path.join(dir, 'spool');
    const url = (p: string): string => pathToFileURL(path.join(ROOT, p)).href;
    fs.writeFileSync(script, `
      import { Spool } from ${JSON.stringify(url('agent/transport/spool.ts'))};
      import { newEvent } from ${JSON.stringify(url('shared/events.ts'))};
      const sevs = ['low', 'medium', 'high', 'critical'] as const;
      const spool = await Spool.open(process.argv[2]!, { segmentBytes: 8192 });
      const out = (s: string) => process.stdout.write(s + '\\n');
      out('R');
      for (let n = 0; ; ) {
        const batch = Array.from({ length: 1 + Math.floor(Math.random() * 20) }, () =>
          newEvent('drill', sevs[Math.floor(Math.random() * 4)]!, [], { n: n++, pad: 'x'.repeat(Math.floor(Math.random() * 300)) }));
        await spool.append(batch);
        out('A ' + batch.map((e) => e.id).join(','));
        if (Math.random() < 0.3) {
          const pick = spool.peek(15).map((e) => e.id).filter(() => Math.random() < 0.6);
          if (pick.length === 0) continue;
          out('P ' + pick.join(','));
          await spool.ack(pick);
          out('K ' + pick.join(','));
        }
      }
    `);

    const appended = new Set<string>();
    const pending = new Set<string>(); // ack started: may or may not be durable
    const acked = new Set<string>();
    let kills = 0;
    for (let round = 0; round < 20; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, spoolDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdout.on('data', (d: Buffer) => {
        if (stdout === '' && d.length > 0) {
          // Sometimes right after open, mostly mid-stream: SIGKILL lands anywhere, including mid-write.
          const delay = round % 5 === 0 ? Math.random() * 5 : 20 + Math.random() * 250;
          setTimeout(() => child.kill('SIGKILL'), delay);
        }
        stdout += d.toString();
      });
      const signal = await new Promise<NodeJS.Signals | null>((res) => child.on('close', (_c, sig) => res(sig)));
      expect(signal, stderr).toBe('SIGKILL');
      kills++;
      const lines = stdout.split('\n');
      lines.pop(); // a line without its newline was cut by the kill
      for (const line of lines) {
        const [kind, list] = line.split(' ');
        const set = kind === 'A' ? appended : kind === 'P' ? pending : kind === 'K' ? acked : undefined;
        for (const id of list?.split(',') ?? []) set?.add(id);
      }

      const s = await Spool.open(spoolDir, { segmentBytes: 8192 }); // the dead child's lock is stale
      const live = ids(all(s));
      const present = new Set(live);
      expect(present.size, 'no id twice').toBe(live.length);
      const lost = [...appended].filter((id) => !pending.has(id) && !acked.has(id) && !present.has(id));
      expect(lost, `round ${round}: lost`).toEqual([]);
      const back = [...acked].filter((id) => present.has(id));
      expect(back, `round ${round}: resurrected`).toEqual([]);
      const mine = live.filter(() => Math.random() < 0.1);
      await s.ack(mine);
      for (const id of mine) acked.add(id);
      await s.close();
    }
    expect(kills).toBe(20);
    expect(appended.size).toBeGreaterThan(100);
  }, 60_000);
});
