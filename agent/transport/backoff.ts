/** Waiting: exponential backoff with full jitter, and an abortable sleep. */

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class Backoff {
  private attempt = 0;
  constructor(private readonly baseMs = 500, private readonly maxMs = 300_000) {}

  /** Next wait: random in [0, min(max, base·2^n)] (AWS "full jitter"), never below 100 ms. */
  next(): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.max(100, Math.random() * cap);
  }

  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** ±fraction jitter around a period, so a fleet's timers drift apart. */
export function jitter(ms: number, fraction = 0.1): number {
  return ms * (1 - fraction + Math.random() * 2 * fraction);
}

/**
 * How long to wait when the server answered with Retry-After: what it asked, plus up to half again,
 * so a fleet refused in the same second does not come back in the same second.
 */
export function afterRetryAfter(ms: number): number {
  return ms * (1 + Math.random() * 0.5);
}
