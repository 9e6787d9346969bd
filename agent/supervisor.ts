/**
 * One supervised group of long-running parts (Fleet orbit's run group). Each part runs until the
 * group's signal aborts; a part that fails is restarted with backoff, and after too many failures
 * in a row the whole group stops, so a service manager can restart the agent cleanly.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { sleep } from './transport/backoff.js';

/** A part's failure that must stop the whole group at once (no restart), e.g. the watchdog. */
export class FatalPartError extends Error {
  override name = 'FatalPartError';
}

export interface Part {
  readonly name: string;
  /** Runs until `signal` aborts; resolving early means the part is done for good. */
  run(signal: AbortSignal): Promise<void>;
}

export class Supervisor {
  private readonly parts: Part[] = [];
  constructor(private readonly log: Logger, private readonly maxFailures = 10) {}

  add(part: Part): this {
    this.parts.push(part);
    return this;
  }

  async run(signal: AbortSignal): Promise<void> {
    const group = new AbortController();
    // Every part, and every wait inside it, listens on this one signal: more than Node's default 10.
    setMaxListeners(100, group.signal);
    const onAbort = () => group.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all(this.parts.map((p) => this.keep(p, group)));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async keep(part: Part, group: AbortController): Promise<void> {
    let failures = 0;
    while (!group.signal.aborted) {
      try {
        await part.run(group.signal);
        return;
      } catch (err) {
        if (group.signal.aborted) return;
        failures++;
        this.log.error({ err, part: part.name, failures }, 'agent part failed');
        if (err instanceof FatalPartError || failures >= this.maxFailures) {
          this.log.fatal({ part: part.name }, 'agent part keeps failing; stopping the agent');
          group.abort();
          throw err;
        }
        await sleep(Math.min(60_000, 500 * 2 ** failures), group.signal);
      }
    }
  }
}
