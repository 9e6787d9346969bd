/**
 * Forwards new violations to the configured targets (syslog and/or webhook). `send` only queues:
 * each target has its own ordered queue and retries on its own, so a dead SIEM never delays the
 * webhook nor the caller. Delivery is at least once; receivers de-duplicate on the violation id.
 */
import { hostname as osHostname } from 'node:os';
import type { Logger } from 'pino';
import { SyslogTargetSchema, WebhookTargetSchema, type AlertConfig, type SyslogTargetConfig, type WebhookTargetConfig } from './config.js';
import { Counters, TargetQueue, type RetryPolicy, type TargetName, type Transport } from './queue.js';
import { SyslogTransport } from './syslog.js';
import type { AlertMessage, TargetStats } from './types.js';
import { WebhookTransport } from './webhook.js';

export interface AlertForwarderOptions {
  /** Messages that may wait per target besides the one in delivery; when full the oldest is dropped and dead-lettered. Default 10 000. */
  maxQueue?: number;
  /** First retry delay ceiling; doubles per attempt (full jitter). Default 1 000 ms. */
  retryBaseMs?: number;
  /** Longest retry delay, also the cap on a receiver's Retry-After. Default 60 000 ms. */
  retryMaxMs?: number;
  /** Attempts per message before it is dead-lettered. Default 8. */
  maxAttempts?: number;
  /** Connect, write and HTTP request timeout. Default 10 000 ms. */
  timeoutMs?: number;
  /** Syslog HOSTNAME (this server). Default os.hostname(). */
  hostname?: string;
  log?: Logger;
}

export interface AlertForwarderStats extends TargetStats {
  /** Targets currently configured; a removed target's counts stay in the totals. */
  perTarget: { syslog?: TargetStats & { connected: boolean }; webhook?: TargetStats & { lastStatus: number | null } };
}

const TARGETS: readonly TargetName[] = ['syslog', 'webhook'];

export class AlertForwarder {
  private readonly queues: Partial<Record<TargetName, { key: string; queue: TargetQueue }>> = {};
  private readonly counters: Record<TargetName, Counters> = { syslog: new Counters(), webhook: new Counters() };
  private readonly idleWaiters = new Set<() => void>();
  private readonly policy: RetryPolicy;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private readonly hostname: string;
  private readonly log: Logger | undefined;
  private closed = false;

  constructor(config: AlertConfig, opts: AlertForwarderOptions = {}) {
    const pos = (v: number | undefined, d: number) => (v !== undefined && Number.isFinite(v) && v >= 0 ? v : d);
    this.policy = {
      baseMs: pos(opts.retryBaseMs, 1000),
      maxMs: pos(opts.retryMaxMs, 60_000),
      maxAttempts: Math.max(1, Math.floor(pos(opts.maxAttempts, 8))),
    };
    this.maxQueue = Math.max(1, Math.floor(pos(opts.maxQueue, 10_000)));
    this.timeoutMs = Math.max(1, pos(opts.timeoutMs, 10_000));
    this.hostname = opts.hostname ?? osHostname();
    this.log = opts.log;
    this.updateConfig(config);
  }

  /** Whether any target is configured (without one, callers need not even build messages). */
  get active(): boolean {
    return TARGETS.some((t) => this.queues[t] !== undefined);
  }

  /** Queue `m` for every configured target. Never throws and never waits; without targets it is a no-op. */
  send(m: AlertMessage): void {
    if (this.closed) return;
    try {
      // A private copy: the caller may reuse its object, and a config change re-encodes from this.
      const copy = structuredClone(m);
      for (const t of TARGETS) this.queues[t]?.queue.push(copy);
    } catch (err) {
      // Only an uncloneable object gets here; it counts as given up on for every target.
      for (const t of TARGETS) if (this.queues[t]) { this.counters[t].deadLettered++; this.counters[t].error(`alert not queued: ${(err as Error).message}`); }
      this.log?.error({ err }, 'alert not queued');
    }
  }

  stats(): AlertForwarderStats {
    const perTarget: AlertForwarderStats['perTarget'] = {};
    let queued = 0;
    for (const t of TARGETS) {
      const q = this.queues[t]?.queue;
      if (!q) continue;
      queued += q.queued;
      (perTarget as Record<string, unknown>)[t] = q.stats();
    }
    const all = TARGETS.map((t) => this.counters[t]);
    const newest = all.reduce((a, b) => (b.lastErrorSeq > a.lastErrorSeq ? b : a));
    return {
      queued,
      sent: all.reduce((n, c) => n + c.sent, 0),
      retried: all.reduce((n, c) => n + c.retried, 0),
      deadLettered: all.reduce((n, c) => n + c.deadLettered, 0),
      lastError: newest.lastError,
      perTarget,
    };
  }

  /** Resolves when every target's queue is empty (delivered or dead-lettered), or after `timeoutMs`; never rejects. */
  flush(timeoutMs: number): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); this.idleWaiters.delete(done); resolve(); };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.idleWaiters.add(done);
    });
  }

  /** Stop: abort what is in flight, close connections. Alerts still queued are not delivered. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const qs = TARGETS.flatMap((t) => (this.queues[t] ? [this.queues[t].queue] : []));
    for (const t of TARGETS) delete this.queues[t];
    await Promise.all(qs.map((q) => q.close()));
    for (const w of [...this.idleWaiters]) w();
  }

  /**
   * Apply a new console config. A target whose settings are unchanged keeps its connection and
   * queue; a changed one starts afresh with the old queue carried over (a message in flight at that
   * moment may arrive twice); a removed one dead-letters what it still held.
   */
  updateConfig(c: AlertConfig): void {
    if (this.closed) return;
    for (const t of TARGETS) {
      let next: SyslogTargetConfig | WebhookTargetConfig | null = null;
      const raw = c?.[t];
      if (raw !== undefined && raw !== null) {
        // The console validates; a stored config edited by hand is checked again, one target at a time.
        const r = (t === 'syslog' ? SyslogTargetSchema : WebhookTargetSchema).safeParse(raw);
        if (r.success) next = r.data;
        else {
          const error = `${t} config invalid: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`;
          this.counters[t].error(error);
          this.log?.error({ target: t, error }, 'alert target disabled');
        }
      }
      const key = next === null ? '' : JSON.stringify(next);
      const old = this.queues[t];
      if ((old?.key ?? '') === key) continue;
      const carried = old ? old.queue.takeAll() : [];
      delete this.queues[t];
      if (next === null) {
        if (carried.length) {
          this.counters[t].deadLettered += carried.length;
          this.log?.warn({ target: t, dropped: carried.length }, 'alert target turned off; queued alerts dropped');
        }
        continue;
      }
      const queue = new TargetQueue(t, this.transport(t, next), this.policy, this.maxQueue, this.counters[t], () => this.checkIdle(), this.log);
      this.queues[t] = { key, queue };
      for (const m of carried) queue.push(m);
    }
    this.checkIdle();
  }

  private transport(t: TargetName, cfg: SyslogTargetConfig | WebhookTargetConfig): Transport {
    return t === 'syslog'
      ? new SyslogTransport(cfg as SyslogTargetConfig, { hostname: this.hostname, timeoutMs: this.timeoutMs, log: this.log })
      : new WebhookTransport(cfg as WebhookTargetConfig, { timeoutMs: this.timeoutMs, log: this.log });
  }

  private idle(): boolean {
    return TARGETS.every((t) => (this.queues[t]?.queue.queued ?? 0) === 0);
  }

  private checkIdle(): void {
    if (this.idleWaiters.size && this.idle()) for (const w of [...this.idleWaiters]) w();
  }
}
