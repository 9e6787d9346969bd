/**
 * One target's queue: delivers in order, one message at a time, retrying the head with exponential
 * backoff and full jitter until it is delivered, fails for good, or uses up its attempts. Targets
 * have a queue each, so a dead receiver holds back only its own alerts.
 */
import type { Logger } from 'pino';
import type { AlertMessage, TargetStats } from './types.js';

export type TargetName = 'syslog' | 'webhook';

/** The result of one attempt; a transport never throws, it says whether trying again can help. */
export type Outcome =
  | { ok: true }
  | { ok: false; permanent: boolean; error: string; retryAfterMs?: number };

export interface Transport {
  /** The bytes to send for `m`, made once when it is queued so every retry sends the same thing. */
  encode(m: AlertMessage): Buffer;
  deliver(payload: Buffer): Promise<Outcome>;
  /** Abort what is in flight and release connections; a pending `deliver` then resolves with an error. */
  close(): Promise<void>;
  /** Transport state for stats, e.g. `{ connected: true }`. */
  state(): Record<string, unknown>;
}

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  maxAttempts: number;
}

/** Counters that outlive one queue: a config change replaces the queue but not the target's history. */
export class Counters {
  sent = 0;
  retried = 0;
  deadLettered = 0;
  lastError: string | null = null;
  /** Order of the last error across targets, so the forwarder can report the newest. */
  lastErrorSeq = 0;
  error(message: string): void {
    this.lastError = message;
    this.lastErrorSeq = ++errorSeq;
  }
}

interface Entry {
  m: AlertMessage;
  payload: Buffer;
  attempts: number;
}

let errorSeq = 0;

/** Full jitter (uniform in [0, min(max, base·2^(n-1))]); a Retry-After is honoured up to the same cap. */
export function retryDelay(attempt: number, p: RetryPolicy, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(Math.max(0, retryAfterMs), p.maxMs);
  const ceiling = Math.min(p.maxMs, p.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(Math.random() * (ceiling + 1));
}

export class TargetQueue {
  private waiting: Entry[] = [];
  private current: Entry | null = null;
  private running = false;
  private scheduled = false;
  private closed = false;
  private sleeper: { timer: NodeJS.Timeout; wake: () => void } | null = null;

  constructor(
    readonly name: TargetName,
    private readonly transport: Transport,
    private readonly policy: RetryPolicy,
    /** Messages that may wait besides the one being delivered; when full the oldest waiting one is dropped. */
    private readonly maxQueue: number,
    private readonly counters: Counters,
    private readonly onChange: () => void,
    private readonly log?: Logger,
  ) {}

  get queued(): number {
    return this.waiting.length + (this.current ? 1 : 0);
  }

  stats(): TargetStats & Record<string, unknown> {
    const c = this.counters;
    return { queued: this.queued, sent: c.sent, retried: c.retried, deadLettered: c.deadLettered, lastError: c.lastError, ...this.transport.state() };
  }

  push(m: AlertMessage): void {
    if (this.closed) return;
    let payload: Buffer;
    try {
      payload = this.transport.encode(m);
    } catch (err) {
      this.deadLetter(m, `cannot encode alert: ${(err as Error).message}`);
      return;
    }
    while (this.waiting.length >= this.maxQueue) {
      const dropped = this.waiting.shift();
      if (!dropped) break;
      this.deadLetter(dropped.m, 'queue full: oldest alert dropped');
    }
    this.waiting.push({ m, payload, attempts: 0 });
    // Start on the next turn: the caller (event ingestion) never waits for a connect or a TLS handshake.
    if (!this.running && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => { this.scheduled = false; void this.pump(); });
    }
  }

  /** Stop and hand back everything not yet delivered, oldest first (for a config change). */
  takeAll(): AlertMessage[] {
    const out = [...(this.current ? [this.current.m] : []), ...this.waiting.map((e) => e.m)];
    this.current = null;
    this.waiting = [];
    void this.close();
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    await this.transport.close();
  }

  private wake(): void {
    if (!this.sleeper) return;
    clearTimeout(this.sleeper.timer);
    this.sleeper.wake();
    this.sleeper = null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      // Unref'd: a retry pending must not keep a finished process alive; flush() holds it when asked.
      const timer = setTimeout(() => { this.sleeper = null; resolve(); }, ms);
      timer.unref();
      this.sleeper = { timer, wake: resolve };
    });
  }

  private deadLetter(m: AlertMessage, error: string): void {
    this.counters.deadLettered++;
    this.setError(error);
    this.log?.warn({ target: this.name, alert: m.id, error }, 'alert dead-lettered');
  }

  private setError(error: string): void {
    this.counters.error(error);
  }

  private async pump(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      for (;;) {
        if (this.closed) return;
        const e = this.current ?? this.waiting.shift();
        if (!e) return;
        this.current = e;
        if (e.attempts > 0) this.counters.retried++;
        const out = await this.transport.deliver(e.payload);
        if (this.closed || this.current !== e) return;
        if (out.ok) {
          this.counters.sent++;
          this.current = null;
          this.onChange();
          continue;
        }
        e.attempts++;
        if (out.permanent || e.attempts >= this.policy.maxAttempts) {
          this.current = null;
          this.deadLetter(e.m, out.permanent ? out.error : `${out.error} (gave up after ${e.attempts} attempts)`);
          this.onChange();
          continue;
        }
        this.setError(out.error);
        const delay = retryDelay(e.attempts, this.policy, out.retryAfterMs);
        this.log?.debug({ target: this.name, alert: e.m.id, attempt: e.attempts, delay, error: out.error }, 'alert delivery failed; retrying');
        await this.sleep(delay);
      }
    } catch (err) {
      // A transport bug must not leave the queue stuck or reject unhandled.
      this.setError(`internal: ${(err as Error).message}`);
      this.log?.error({ target: this.name, err }, 'alert queue failed');
      if (!this.closed) setTimeout(() => void this.pump(), this.policy.maxMs).unref();
    } finally {
      this.running = false;
      this.onChange();
    }
  }
}
