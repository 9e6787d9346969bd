/** Retention (art19): events older than the configured days are purged daily; never below 184 days. */
import type { Logger } from 'pino';
import type { Store } from './store/types.js';
import { checkRetention } from './config.js';

const DAY_MS = 86_400_000;

export async function purgeOnce(store: Store, days: number, now = new Date()): Promise<number> {
  checkRetention(days);
  return store.purgeEvents(new Date(now.getTime() - days * DAY_MS).toISOString());
}

export function startRetention(store: Store, days: number, log: Logger): () => void {
  checkRetention(days);
  const run = () => purgeOnce(store, days).then(
    (n) => { if (n) log.info({ purged: n, days }, 'retention purge'); },
    (err: unknown) => log.error({ err }, 'retention purge failed'),
  );
  const first = setTimeout(() => void run(), 60_000);
  const timer = setInterval(() => void run(), DAY_MS);
  first.unref();
  timer.unref();
  return () => { clearTimeout(first); clearInterval(timer); };
}
