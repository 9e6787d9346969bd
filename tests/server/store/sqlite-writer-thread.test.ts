import { join } from 'node:path';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { tempDir } from '../../helpers/server.js';
import { storeSuite } from './suite.js';

// The server's configuration: events go through the writer thread with group commits.
storeSuite('sqlite with writer thread', async () => new SqliteStore(join(tempDir('tg-store-'), 'termguard.db'), { writerThread: true }));
