/**
 * The agent watches itself (osquery's watchdog is the model): a terminal's own work comes first.
 * If the agent's RSS or CPU stays above its limits for a whole window of samples, it reports
 * `agent.watchdog` and stops, so the service manager restarts it clean.
 */
import type { Logger } from 'pino';
import { newEvent, type AgentEvent } from '../shared/events.js';
import { FatalPartError, type Part } from './supervisor.js';
import { sleep } from './transport/backoff.js';

export interface WatchdogLimits {
  maxRssBytes: number;
  /** Percent of one core, averaged over one sample interval. */
  maxCpuPercent: number;
  sampleMs: number;
  /** Consecutive samples over a limit before the agent stops. */
  samples: number;
}

export class WatchdogTripped extends FatalPartError {
  override name = 'WatchdogTripped';
}

export class Watchdog implements Part {
  readonly name = 'watchdog';
  constructor(private readonly limits: WatchdogLimits, private readonly emit: (e: AgentEvent) => Promise<void>, private readonly log: Logger,
    private readonly sample: () => { rss: number; cpuMicros: number } = () => {
      const u = process.cpuUsage();
      return { rss: process.memoryUsage.rss(), cpuMicros: u.user + u.system };
    }) {}

  async run(signal: AbortSignal): Promise<void> {
    let over = 0;
    let prev = this.sample();
    let prevAt = performance.now();
    while (!signal.aborted) {
      await sleep(this.limits.sampleMs, signal);
      if (signal.aborted) return;
      const now = this.sample();
      const at = performance.now();
      const cpuPercent = ((now.cpuMicros - prev.cpuMicros) / 1000 / (at - prevAt)) * 100;
      prev = now;
      prevAt = at;
      const rssOver = now.rss > this.limits.maxRssBytes;
      const cpuOver = cpuPercent > this.limits.maxCpuPercent;
      over = rssOver || cpuOver ? over + 1 : 0;
      if (over >= this.limits.samples) {
        const data = { rssBytes: now.rss, cpuPercent: Math.round(cpuPercent * 10) / 10, limits: this.limits, reason: rssOver ? 'memory' : 'cpu' };
        this.log.error(data, 'watchdog: agent over its limits; stopping for a clean restart');
        await this.emit(newEvent('agent.watchdog', 'high', ['art31', 'art33'], data));
        throw new WatchdogTripped(`agent ${data.reason} over its limit for ${this.limits.samples} samples`);
      }
    }
  }
}
