/**
 * Wakes long-polling agents. Commands and policies may be written by other processes, so one
 * cheap query per interval (not one per waiting agent) watches the store for changes.
 */
import type { Store } from './store/types.js';

export class CommandHub {
  /** Waiting long-polls: a Set, since thousands wait at once and each leaves on its own (O(1), not an emitter's O(n) removal). */
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private lastStamp = '';
  /**
   * Counts the changes this hub has seen (a new stamp, or a poke). Equal generations before and
   * after a read mean no command or policy was seen to change in between, as far as this hub knows.
   */
  generation = 0;

  constructor(private readonly stamp: () => Promise<string>, private readonly pollMs = 1000) {}

  static forStore(store: Store, pollMs?: number): CommandHub {
    return new CommandHub(() => store.changeStamp(), pollMs);
  }

  start(): void {
    const tick = async () => {
      try {
        const s = await this.stamp();
        if (s !== this.lastStamp) {
          this.lastStamp = s;
          this.wakeAll();
        }
      } catch { /* the next tick tries again */ }
      this.timer = setTimeout(() => void tick(), this.pollMs);
      this.timer.unref();
    };
    void tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.wakeAll();
  }

  private wakeAll(): void {
    this.generation++;
    const all = [...this.waiters];
    this.waiters.clear();
    for (const w of all) w();
  }

  /** Something changed in this process: wake the waiters now. */
  poke(): void {
    this.wakeAll();
  }

  /**
   * Call `wake` once: on the next change or after `ms`. Returns a function that calls it now (a
   * closed connection), a no-op once it has run. A callback, not an AbortSignal: thousands of polls
   * wait at once and each would pay for an AbortController, its listener and its DOMException.
   */
  wait(ms: number, wake: () => void): () => void {
    let pending = true;
    const done = () => {
      if (!pending) return;
      pending = false;
      clearTimeout(t);
      this.waiters.delete(done);
      wake();
    };
    const t = setTimeout(done, ms);
    this.waiters.add(done);
    return done;
  }
}
