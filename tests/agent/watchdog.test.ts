/** The watchdog stops the agent only when a limit is exceeded for a whole window, and says why. */
import { describe, it, expect } from 'vitest';
import pino from 'pino';
import { Watchdog, WatchdogTripped } from '../../agent/watchdog.js';
import { Supervisor } from '../../agent/supervisor.js';
import type { AgentEvent } from '../../shared/events.js';

const log = pino({ level: 'silent' });
const limits = { maxRssBytes: 100 * 1024 * 1024, maxCpuPercent: 50, sampleMs: 5, samples: 3 };

function fake(rss: number[]): () => { rss: number; cpuMicros: number } {
  let i = 0;
  return () => ({ rss: rss[Math.min(i++, rss.length - 1)]!, cpuMicros: 0 });
}

describe('watchdog', () => {
  it('ignores short spikes', async () => {
    const events: AgentEvent[] = [];
    const mb = 1024 * 1024;
    const w = new Watchdog(limits, async (e) => { events.push(e); }, log, fake([50 * mb, 200 * mb, 200 * mb, 50 * mb, 200 * mb, 50 * mb, 50 * mb, 50 * mb, 50 * mb, 50 * mb]));
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 120);
    await w.run(stop.signal);
    expect(events).toEqual([]);
  });

  it('stops the whole group after a sustained excess, with an agent.watchdog event', async () => {
    const events: AgentEvent[] = [];
    const w = new Watchdog(limits, async (e) => { events.push(e); }, log, fake([50, 300 * 1024 * 1024]));
    let otherStopped = false;
    const group = new Supervisor(log).add(w).add({ name: 'other', run: (s) => new Promise<void>((r) => s.addEventListener('abort', () => { otherStopped = true; r(); })) });
    await expect(group.run(new AbortController().signal)).rejects.toBeInstanceOf(WatchdogTripped);
    expect(otherStopped).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'agent.watchdog', severity: 'high', data: { reason: 'memory' } });
  });
});
