/**
 * Shedding work under the watchdog: a part whose work can wait (inventory polls, the connection
 * poller) registers as sheddable and does its waiting through a Throttle. The watchdog stretches
 * those waits, or pauses the part, while the agent is over its budget, and restores them after.
 * The spool, sender, heartbeat, command poller and USB enforcement never register.
 */
export interface Sheddable {
  readonly name: string;
  /** Lower sheds first. */
  readonly shedOrder: number;
  /** May the watchdog pause it outright? Otherwise it is only stretched. */
  readonly pausable: boolean;
  /** 1 = normal pace; n > 1 stretches every wait n-fold; Infinity pauses. */
  shed(factor: number): void;
}

export function isSheddable(p: unknown): p is Sheddable {
  const s = p as Partial<Sheddable> | null;
  return !!s && typeof s.shed === 'function' && typeof s.shedOrder === 'number' && typeof s.pausable === 'boolean';
}

/** The waits of one part, stretched or held by its shed factor; a factor change re-times a wait in progress. */
export class Throttle {
  private factor = 1;
  private woken = false;
  private readonly waiters = new Set<() => void>();

  get shedFactor(): number {
    return this.factor;
  }

  shed(factor: number): void {
    this.factor = factor >= 1 ? factor : 1;
    this.notify();
  }

  /** End the current wait now (policy changed); while paused, at resume. */
  wake(): void {
    this.woken = true;
    this.notify();
  }

  /** Wait `ms` at normal pace; resolves early on abort or wake(). */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    const start = performance.now();
    while (!signal.aborted) {
      if (this.woken && Number.isFinite(this.factor)) break;
      const left = ms * this.factor - (performance.now() - start);
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          this.waiters.delete(done);
          resolve();
        };
        const t = Number.isFinite(left) ? setTimeout(done, left) : undefined;
        this.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    this.woken = false;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
