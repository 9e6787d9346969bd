/**
 * The agent watches itself (osquery's watchdog is the model): a terminal's own work comes first.
 * Every sample it reads its RSS and CPU. Over a budget for a sustained window, it sheds one more
 * step of work (stretches the waits of the sheddable parts, lowest shedOrder first, then pauses the
 * pausable ones) and reports `agent.watchdog`; back under 80 % of both budgets for a longer calm
 * window, it restores everything. RSS far over its budget for long (a leak that shedding cannot help) stops
 * the agent with WatchdogTripped, so the service manager restarts it clean.
 */
import type { Logger } from 'pino';
import { newEvent, type AgentEvent } from '../shared/events.js';
import { FatalPartError, type Part } from './supervisor.js';
import type { Sheddable } from './shedding.js';
import { sleep } from './transport/backoff.js';

export interface WatchdogLimits {
  maxRssBytes: number;
  /** Percent of one core, averaged over one sample interval. */
  maxCpuPercent: number;
  sampleMs: number;
  /** How long a budget must be exceeded before the next step of work is shed. */
  sustainedMs: number;
  /** How long both must stay under 80 % of budget before the shed work is restored (longer than sustainedMs: no flapping). */
  restoreMs: number;
  /** Waits of a shed part are this many times longer. */
  stretch: number;
  /** RSS above maxRssBytes × this for restartAfterMs stops the agent for a restart. */
  restartRssFactor: number;
  restartAfterMs: number;
}

/** Exit code of `termguard-agent run` when the watchdog stopped it (EX_TEMPFAIL: restart me). */
export const WATCHDOG_EXIT_CODE = 75;
/** Below this share of both budgets the agent counts as calm again (hysteresis). */
const RESTORE_BELOW = 0.8;

export class WatchdogTripped extends FatalPartError {
  override name = 'WatchdogTripped';
}

export type Sample = { rss: number; cpuMicros: number };

export class Watchdog implements Part {
  readonly name = 'watchdog';
  private readonly sheddable: Sheddable[] = [];
  /** Steps shed so far: the first n entries of plan(). */
  private level = 0;

  constructor(private readonly limits: WatchdogLimits, private readonly emit: (e: AgentEvent) => Promise<void>, private readonly log: Logger,
    private readonly sample: () => Sample = () => {
      const u = process.cpuUsage();
      return { rss: process.memoryUsage.rss(), cpuMicros: u.user + u.system };
    }) {}

  register(part: Sheddable): this {
    this.sheddable.push(part);
    return this;
  }

  /** Names of the parts shed now, with how (stretched ×n or paused). */
  shedNow(): { part: string; factor: number | 'paused' }[] {
    const factors = this.factors();
    return [...factors].filter(([, f]) => f !== 1).map(([p, f]) => ({ part: p.name, factor: Number.isFinite(f) ? f : 'paused' }));
  }

  /** Stretch every part in order, then pause the pausable ones in order. */
  private plan(): { part: Sheddable; factor: number }[] {
    const order = [...this.sheddable].sort((a, b) => a.shedOrder - b.shedOrder);
    return [
      ...order.map((part) => ({ part, factor: this.limits.stretch })),
      ...order.filter((p) => p.pausable).map((part) => ({ part, factor: Infinity })),
    ];
  }

  private factors(): Map<Sheddable, number> {
    const m = new Map<Sheddable, number>([...this.sheddable].sort((a, b) => a.shedOrder - b.shedOrder).map((p) => [p, 1]));
    for (const step of this.plan().slice(0, this.level)) m.set(step.part, step.factor);
    return m;
  }

  private apply(): void {
    for (const [p, f] of this.factors()) p.shed(f);
  }

  async run(signal: AbortSignal): Promise<void> {
    const need = Math.max(1, Math.ceil(this.limits.sustainedMs / this.limits.sampleMs));
    const calmNeed = Math.max(1, Math.ceil(this.limits.restoreMs / this.limits.sampleMs));
    const restartNeed = Math.max(1, Math.ceil(this.limits.restartAfterMs / this.limits.sampleMs));
    let over = 0;
    let calm = 0;
    let farOver = 0;
    let prev = this.sample();
    let prevAt = performance.now();
    try {
      while (!signal.aborted) {
        await sleep(this.limits.sampleMs, signal);
        if (signal.aborted) return;
        const now = this.sample();
        const at = performance.now();
        const cpuPercent = Math.round(((now.cpuMicros - prev.cpuMicros) / 1000 / Math.max(1, at - prevAt)) * 1000) / 10;
        prev = now;
        prevAt = at;
        const rssOver = now.rss > this.limits.maxRssBytes;
        const cpuOver = cpuPercent > this.limits.maxCpuPercent;
        over = rssOver || cpuOver ? over + 1 : 0;
        calm = now.rss < this.limits.maxRssBytes * RESTORE_BELOW && cpuPercent < this.limits.maxCpuPercent * RESTORE_BELOW ? calm + 1 : 0;
        farOver = now.rss > this.limits.maxRssBytes * this.limits.restartRssFactor ? farOver + 1 : 0;
        const reading = rssOver
          ? { resource: 'memory', value: now.rss, budget: this.limits.maxRssBytes }
          : { resource: 'cpu', value: cpuPercent, budget: this.limits.maxCpuPercent };

        if (farOver >= restartNeed) {
          const data = { ...reading, action: 'restart', rssBytes: now.rss, cpuPercent, shed: this.shedNow(), exitCode: WATCHDOG_EXIT_CODE };
          this.log.error(data, `watchdog: RSS over ${this.limits.restartRssFactor}× its budget for ${this.limits.restartAfterMs / 1000} s; stopping for a clean restart`);
          await this.emit(newEvent('agent.watchdog', 'high', ['art31', 'art33'], data));
          throw new WatchdogTripped(`agent memory ${now.rss} bytes over ${this.limits.restartRssFactor}× its budget for ${this.limits.restartAfterMs / 1000} s`);
        }
        if (over >= need && this.level < this.plan().length) {
          over = 0;
          this.level++;
          this.apply();
          const data = { ...reading, action: 'shed', rssBytes: now.rss, cpuPercent, level: this.level, shed: this.shedNow() };
          this.log.warn(data, 'watchdog: agent over its budget; shedding work');
          await this.emit(newEvent('agent.watchdog', 'medium', ['art31'], data));
        } else if (calm >= calmNeed && this.level > 0) {
          calm = 0;
          this.level = 0;
          this.apply();
          const data = { resource: 'cpu', value: cpuPercent, budget: this.limits.maxCpuPercent, action: 'restored', rssBytes: now.rss, cpuPercent, level: 0, shed: [] };
          this.log.info(data, 'watchdog: agent back under its budget; work restored');
          await this.emit(newEvent('agent.watchdog', 'low', ['art31'], data));
        }
      }
    } finally {
      // A restarted watchdog (or a stopping agent) starts from full pace.
      this.level = 0;
      this.apply();
    }
  }
}
