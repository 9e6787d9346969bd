import { describe, expect, it } from 'vitest';
import { Heartbeat } from '../../../agent/transport/heartbeat.js';

function beats(intervalMs: number, deliverMs = 30) {
  const log: string[] = [];
  let n = 0;
  const hb = new Heartbeat(() => intervalMs, {
    beat: async () => { const id = `b${++n}`; log.push(`beat ${id}`); return id; },
    delivered: async (id) => { await new Promise((r) => setTimeout(r, deliverMs)); log.push(`delivered ${id}`); },
  });
  return { hb, log };
}

describe('Heartbeat pacing of the long-poll', () => {
  it('asks a poll to end just before the next beat, within the poll limit', () => {
    const t0 = Date.now();
    const hb = new Heartbeat(() => 60_000, { beat: async () => 'x', delivered: async () => undefined }, t0);
    // The first beat is due within 5 s of start: the poll waits until then, at least a second.
    expect(hb.pollWait(60, t0)).toBeLessThanOrEqual(5);
    expect(hb.pollWait(60, t0)).toBeGreaterThanOrEqual(1);
    expect(hb.pollWait(60, t0 + 10_000)).toBe(1);
  });

  it('lets a due beat be delivered before the next poll, then paces to the one after', async () => {
    const { hb, log } = beats(2500);
    const run = new AbortController();
    const done = hb.run(run.signal);
    try {
      // Within the lead time of the first beat (due within 2.5 s of start).
      await new Promise((r) => setTimeout(r, 2600));
      const started = log.length;
      await hb.beforePoll(run.signal);
      // A beat was delivered by the time the poll may go (either the one due now or in flight).
      expect(log.filter((l) => l.startsWith('delivered')).length).toBeGreaterThanOrEqual(1);
      expect(log.at(-1)).toMatch(/^delivered /);
      expect(started).toBeLessThanOrEqual(log.length);
      // Right after a beat the next is ~2.5 s (±10%) away: no wait, and the poll is paced to it.
      const t = Date.now();
      await hb.beforePoll(run.signal);
      expect(Date.now() - t).toBeLessThan(50);
      expect(hb.pollWait(60)).toBeLessThanOrEqual(2);
      expect(hb.pollWait(60)).toBeGreaterThanOrEqual(1);
    } finally {
      run.abort();
      await done;
    }
  });

  it('brings a beat due within a tenth of the interval forward, so a capped poll needs no second poll to reach it', async () => {
    const { hb, log } = beats(20_000);
    const run = new AbortController();
    const done = hb.run(run.signal);
    try {
      await hb.beforePoll(run.signal, Date.now() + 10_000); // the first beat (due within 5 s)
      expect(log.filter((l) => l.startsWith('delivered'))).toHaveLength(1);
      // The next is 18–22 s away. A poll capped ~20 s later finds it within 2 s (a tenth of 20 s): it goes now.
      const t = Date.now();
      await hb.beforePoll(run.signal, Date.now() + 20_500);
      expect(Date.now() - t).toBeLessThan(2000);
      expect(log.filter((l) => l.startsWith('delivered'))).toHaveLength(2);
      expect(hb.pollWait(60)).toBeGreaterThanOrEqual(17);
    } finally {
      run.abort();
      await done;
    }
  });

  it('does not hold a poll when no beat is near', async () => {
    const hb = new Heartbeat(() => 60_000, { beat: async () => 'x', delivered: async () => undefined }, Date.now() + 30_000);
    const t = Date.now();
    await hb.beforePoll(new AbortController().signal);
    expect(Date.now() - t).toBeLessThan(50);
    expect(hb.pollWait(60)).toBeGreaterThanOrEqual(29);
  });

  it('gives up waiting on abort', async () => {
    const { hb } = beats(1000);
    const stop = new AbortController();
    const t = Date.now();
    setTimeout(() => stop.abort(), 100);
    await hb.beforePoll(stop.signal, Date.now());
    expect(Date.now() - t).toBeLessThan(1000);
  });
});
