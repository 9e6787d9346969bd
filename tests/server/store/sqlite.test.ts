import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newEvent } from '../../../shared/events.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { tempDir } from '../../helpers/server.js';
import { storeSuite } from './suite.js';

storeSuite('sqlite', async () => new SqliteStore(join(tempDir('tg-store-'), 'termguard.db')));

describe('sqlite file', () => {
  it('is created owner-only, and so are its WAL and shared-memory files, whatever the umask', async () => {
    const file = join(tempDir('tg-store-'), 'termguard.db');
    const old = process.umask(0o022);
    try {
      const store = new SqliteStore(file, { writerThread: true });
      try {
        await store.createHost({
          id: 'h1', machineId: 'm1', hostname: 'x', group: 'default', spki: 'k', certSerial: 's1', certNotAfter: '2030-01-01T00:00:00.000Z',
          enrolledAt: '2026-01-01T00:00:00.000Z', status: 'active', cloneOf: null, renewalHash: 'r',
        });
        expect((await store.insertEvents('h1', [newEvent('agent.heartbeat', 'info', [], {})], new Date().toISOString())).acked).toHaveLength(1);
        for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
      } finally {
        await store.close();
      }
    } finally {
      process.umask(old);
    }
  });
});
