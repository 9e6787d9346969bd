/** What both command-line tools share: one-line errors on stderr and non-zero exits. */
import { TgError } from './errors.js';

export function fail(e: unknown): never {
  const msg = e instanceof TgError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
  process.stderr.write(`error: ${msg.split('\n')[0]}\n`);
  process.exit(e instanceof TgError && e.code === 'TG_E_USAGE' ? 2 : 1);
}

/** Run an async command action; any throw becomes a one-line error and exit 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      fail(e);
    }
  };
}
