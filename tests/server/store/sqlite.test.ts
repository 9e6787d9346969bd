import { join } from 'node:path';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { tempDir } from '../../helpers/server.js';
import { storeSuite } from './suite.js';

storeSuite('sqlite', async () => new SqliteStore(join(tempDir('tg-store-'), 'termguard.db')));
