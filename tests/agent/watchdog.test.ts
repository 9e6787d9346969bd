/**
 * The watchdog sheds work when the agent is over its budget and restores it after, and stops the
 * agent only when RSS stays far over its budget (a leak shedding cannot help), saying why.
 */
import { describe, it, expect } from 'vitest';
import pino from 'pino';
import { Watchdog, WatchdogTripped, type WatchdogLimits } from '../../agent/watchdog.js';
import { Supervisor, type Part } from '../../agent/supervisor.js';
import { Throttle, type Sheddable } from '../../agent/shedding.js';
import type { AgentEvent } from '../../shared/events.js';

const log = pino({ level: 'silent' });
const mb = 1024 * 1024;
const limits: WatchdogLimits = { maxRssBytes: 100 * mb, maxCpuPercent: 50, sampleMs: 5, sustainedMs: 15, restoreMs: 15, stretch: 4, restartRssFactor: 2, restartAfterMs: 25 };

function fake(rss: number[]): () => { rss: number; cpuMicros: number } {
  let i = 0;
  return () => ({ rss: rss[Math.min(i++, rss.length - 1)]!, cpuMicros: 0 });
}

class Recorder implements Sheddable {
  factors: number[] = [];
  constructor(readonly name: string, readonly shedOrder: number, readonly pausable: boolean) {}
  shed(f: number): void { this.factors.push(f); }
}

/** A collector made to misbehave: burns CPU `burnMs` per round while `bad`, waits `waitMs` through its throttle. */
class Burner implements Part, Sheddable {
  readonly name = 'burner';
  readonly shedOrder = 0;
  readonly pausable = true;
  readonly throttle = new Throttle();
  rounds: number[] = [];
  bad = true;
  shed(f: number): void { this.throttle.shed(f); }
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const t = performance.now();
      if (this.bad) while (performance.now() - t < 40) { /* misbehave */ }
      this.rounds.push(Date.now());
      await this.throttle.wait(10, signal);
    }
  }
  rate(fromMs: number, toMs: number): number {
    return this.rounds.filter((r) => r >= fromMs && r < toMs).length / ((toMs - fromMs) / 1000);
  }
}

describe('watchdog', () => {
  it('ignores short spikes', async () => {
    const events: AgentEvent[] = [];
    const w = new Watchdog(limits, async (e) => { events.push(e); }, log, fake([50 * mb, 150 * mb, 150 * mb, 50 * mb, 150 * mb, 50 * mb, 50 * mb]));
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 80);
    await w.run(stop.signal);
    expect(events).toEqual([]);
  });

  it('sheds step by step (stretch in order, then pause), restores with hysteresis', async () => {
    const events: AgentEvent[] = [];
    // Over the budget for long enough for three steps, then calm.
    const seq = [50 * mb, ...Array(12).fill(150 * mb), ...Array(10).fill(90 * mb), ...Array(100).fill(50 * mb)];
    const w = new Watchdog({ ...limits, restartAfterMs: 10_000 }, async (e) => { events.push(e); }, log, fake(seq));
    const monitor = new Recorder('monitor', 10, true);
    const egress = new Recorder('egress', 20, false);
    w.register(egress).register(monitor);
    const stop = new AbortController();
    const run = w.run(stop.signal);
    await new Promise((r) => setTimeout(r, 400));
    stop.abort();
    await run;
    const shed = events.filter((e) => e.data.action === 'shed');
    expect(shed.map((e) => e.data.shed)).toEqual([
      [{ part: 'monitor', factor: 4 }],
      [{ part: 'monitor', factor: 4 }, { part: 'egress', factor: 4 }],
      [{ part: 'monitor', factor: 'paused' }, { part: 'egress', factor: 4 }],
    ]);
    expect(shed[0]).toMatchObject({ type: 'agent.watchdog', severity: 'medium', data: { resource: 'memory', budget: 100 * mb, value: 150 * mb } });
    // 90 MB is under budget but not under 80 % of it: nothing restored until 50 MB.
    const restored = events.filter((e) => e.data.action === 'restored');
    expect(restored).toHaveLength(1);
    expect(restored[0]!.data.shed).toEqual([]);
    expect(monitor.factors.at(-1)).toBe(1);
    expect(egress.factors.at(-1)).toBe(1);
    expect(egress.factors).not.toContain(Infinity); // not pausable
  });

  it('stops the whole group when RSS stays over twice its budget, with an agent.watchdog event', async () => {
    const events: AgentEvent[] = [];
    const w = new Watchdog(limits, async (e) => { events.push(e); }, log, fake([50, 300 * mb]));
    let otherStopped = false;
    const group = new Supervisor(log).add(w).add({ name: 'other', run: (s) => new Promise<void>((r) => s.addEventListener('abort', () => { otherStopped = true; r(); })) });
    await expect(group.run(new AbortController().signal)).rejects.toBeInstanceOf(WatchdogTripped);
    expect(otherStopped).toBe(true);
    const restart = events.find((e) => e.data.action === 'restart');
    expect(restart).toMatchObject({ type: 'agent.watchdog', severity: 'high', data: { resource: 'memory', exitCode: 75 } });
  });

  it('a collector that burns CPU is detected, shed (its rate drops), and restored when it behaves', async () => {
    const events: AgentEvent[] = [];
    const burner = new Burner();
    const w = new Watchdog({ maxRssBytes: 16_384 * mb, maxCpuPercent: 25, sampleMs: 100, sustainedMs: 300, restoreMs: 1500, stretch: 20, restartRssFactor: 2, restartAfterMs: 60_000 },
      async (e) => { events.push(e); }, log);
    w.register(burner);
    const stop = new AbortController();
    const t0 = Date.now();
    const group = new Supervisor(log).add(w).add(burner).run(stop.signal);
    const firstShed = await waitFor(() => events.find((e) => e.data.action === 'shed'), 15_000);
    const shedAt = Date.parse(firstShed.time);
    expect(firstShed.data).toMatchObject({ resource: 'cpu', budget: 25, shed: [{ part: 'burner', factor: 20 }] });
    expect(firstShed.data.value as number).toBeGreaterThan(25);
    await new Promise((r) => setTimeout(r, 600));
    const before = burner.rate(t0, shedAt);
    const after = burner.rate(shedAt + 50, Date.now());
    expect(after).toBeLessThan(before / 2);
    // It behaves again: the watchdog restores it (it may have been paused in between).
    burner.bad = false;
    const restored = await waitFor(() => events.find((e) => e.data.action === 'restored'), 10_000);
    expect(restored.data.shed).toEqual([]);
    expect(burner.throttle.shedFactor).toBe(1);
    stop.abort();
    await group;
  }, 20_000);
});

async function waitFor<T>(fn: () => T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
