/** What every route needs, built once by `startServer` and passed to each plugin. */
import type { Logger } from 'pino';
import type { CaMaterial } from './pki/ca.js';
import type { ServerConfig } from './config.js';
import type { Store } from './store/types.js';
import type { Revocations } from './revocation.js';
import type { CommandHub } from './commands-hub.js';

export interface ServerContext {
  store: Store;
  ca: CaMaterial;
  server: { keyPem: string; certPem: string };
  config: ServerConfig;
  revocations: Revocations;
  hub: CommandHub;
  log: Logger;
}
