/**
 * Wakes long-polling agents. Commands and policies may be written by other processes, so one
 * cheap query per interval (not one per waiting agent) watches the store for changes.
 */
import { EventEmitter } from 'node:events';
import type { Store } from './store/types.js';

export class CommandHub {
  private readonly emitter = new EventEmitter();
  private timer: NodeJS.Timeout | undefined;
  private lastStamp = '';

  constructor(private readonly stamp: () => Promise<string>, private readonly pollMs = 1000) {
    this.emitter.setMaxListeners(0);
  }

  static forStore(store: Store, pollMs?: number): CommandHub {
    return new CommandHub(() => store.changeStamp(), pollMs);
  }

  start(): void {
    const tick = async () => {
      try {
        const s = await this.stamp();
        if (s !== this.lastStamp) {
          this.lastStamp = s;
          this.emitter.emit('change');
        }
      } catch { /* the next tick tries again */ }
      this.timer = setTimeout(() => void tick(), this.pollMs);
      this.timer.unref();
    };
    void tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.emitter.emit('change');
  }

  /** Something changed in this process: wake the waiters now. */
  poke(): void {
    this.emitter.emit('change');
  }

  /** Resolve on the next change, after `ms`, or when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.emitter.off('change', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.emitter.once('change', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
