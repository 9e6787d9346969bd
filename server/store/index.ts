/** Open the store named by `--store URL`, or the SQLite file in the data directory. */
import { TgError } from '../../shared/errors.js';
import { dataPaths } from '../config.js';
import { SqliteStore } from './sqlite.js';
import { PostgresStore, redactUrl, scrubPassword } from './postgres.js';
import type { Store } from './types.js';

export type { Store } from './types.js';

export async function openStore(dataDir: string, url?: string, opts: { writerThread?: boolean } = {}): Promise<Store> {
  if (!url || url.startsWith('sqlite:')) {
    const file = url ? url.slice('sqlite:'.length) : dataPaths(dataDir).sqlite;
    try {
      return new SqliteStore(file, opts);
    } catch (cause) {
      throw new TgError('TG_E_STORE', `open SQLite store ${file}: ${(cause as Error).message}`, { cause });
    }
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    try {
      return await PostgresStore.open(url);
    } catch (e) {
      // The message names the server but never the password (it ends up in logs and on stderr).
      const message = scrubPassword((e as Error).message || String((e as { code?: unknown }).code ?? e), url);
      throw new TgError('TG_E_STORE', `open PostgreSQL store ${redactUrl(url)}: ${message}`);
    }
  }
  throw new TgError('TG_E_CONFIG', `unknown store URL "${url}" (use postgres://… or leave it out for SQLite)`);
}
