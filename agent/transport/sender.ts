/**
 * Drains the spool to the server: oldest first, in batches, deleted only after the server acked
 * them. Failures back off exponentially with full jitter; after an outage the drain starts after
 * a random delay and is rate-limited, so a fleet coming back does not stampede its server.
 */
import type { Logger } from 'pino';
import type { Part } from '../supervisor.js';
import type { Spool } from './spool.js';
import { ServerError, isCertificateError, type AgentClient } from './client.js';
import { Backoff, afterRetryAfter, sleep } from './backoff.js';

export interface SenderOptions {
  batchEvents: number;
  maxEventsPerSecond: number;
  backoffMaxMs: number;
  /** Longest random delay before draining after an outage. */
  drainJitterMs?: number;
  maxBatchBytes?: number;
}

export class Sender implements Part {
  readonly name = 'sender';
  reachable: boolean | null = null;
  lastContact: string | null = null;
  lastError: string | null = null;
  rejected = 0;
  private wakeUp: (() => void) | null = null;
  private batchEvents: number;
  /** Callers waiting for an id to be acked (or rejected): the heartbeat's pace. */
  private readonly waiters = new Map<string, () => void>();

  constructor(
    private readonly spool: Spool,
    private readonly client: () => AgentClient,
    private readonly opts: SenderOptions,
    private readonly log: Logger,
    private readonly onCertificateError: () => void,
  ) {
    this.batchEvents = opts.batchEvents;
  }

  /** New events are in the spool: send now instead of at the next idle check. */
  notify(): void {
    this.wakeUp?.();
  }

  private idle(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wakeUp = done;
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
    }).finally(() => { this.wakeUp = null; });
  }

  /** Resolves once the server has answered for `id` (acked or rejected), after `timeoutMs`, or on abort. */
  delivered(id: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        if (this.waiters.get(id) === done) this.waiters.delete(id);
        resolve();
      };
      const t = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.get(id)?.();
      this.waiters.set(id, done);
    });
  }

  /** Send what is spooled now; true if the spool emptied. Used at shutdown, bounded by `signal`. */
  async flush(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      const batch = this.spool.peek(this.batchEvents, this.opts.maxBatchBytes ?? 1 << 20);
      if (!batch.length) return true;
      try {
        await this.sendOne(batch, signal);
      } catch {
        return false;
      }
    }
    return false;
  }

  private async sendOne(batch: ReturnType<Spool['peek']>, signal: AbortSignal): Promise<void> {
    const res = await this.client().postEvents(batch, signal);
    const done = [...res.acked];
    for (const r of res.rejected) {
      if (r.id) done.push(r.id);
      this.rejected++;
      this.log.warn({ id: r.id, code: r.code, reason: r.message }, 'server rejected an event; dropped');
    }
    await this.spool.ack(done);
    if (this.waiters.size) for (const id of done) this.waiters.get(id)?.();
    this.reachable = true;
    this.lastContact = new Date().toISOString();
    this.lastError = null;
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(500, this.opts.backoffMaxMs);
    let recovering = false;
    while (!signal.aborted) {
      const batch = this.spool.peek(this.batchEvents, this.opts.maxBatchBytes ?? 1 << 20);
      if (!batch.length) {
        await this.idle(5000, signal);
        continue;
      }
      const started = Date.now();
      try {
        await this.sendOne(batch, signal);
        backoff.reset();
        if (recovering) {
          recovering = false;
          await sleep(Math.random() * (this.opts.drainJitterMs ?? 5000), signal);
        }
        this.batchEvents = Math.min(this.opts.batchEvents, this.batchEvents * 2);
        // Rate limit: a batch of n events takes at least n / rate seconds.
        const minMs = (batch.length / this.opts.maxEventsPerSecond) * 1000;
        const spent = Date.now() - started;
        if (spent < minMs) await sleep(minMs - spent, signal);
      } catch (err) {
        if (signal.aborted) return;
        this.lastError = (err as Error).message;
        if (err instanceof ServerError && err.status === 413) {
          if (this.batchEvents > 1) {
            this.batchEvents = Math.max(1, Math.floor(batch.length / 2));
            continue;
          }
          // One event alone is too large for the server: it can never be delivered.
          this.rejected++;
          this.log.error({ id: batch[0]!.id, type: batch[0]!.type }, 'event too large for the server; dropped');
          await this.spool.ack([batch[0]!.id]);
          continue;
        }
        this.reachable = err instanceof ServerError;
        recovering = true;
        if (isCertificateError(err)) this.onCertificateError();
        const wait = err instanceof ServerError && err.retryAfterMs !== undefined ? afterRetryAfter(err.retryAfterMs) : backoff.next();
        this.log.warn({ err: this.lastError, waitMs: Math.round(wait) }, 'sending events failed; will retry');
        await sleep(wait, signal);
      }
    }
  }
}
