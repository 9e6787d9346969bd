/** What every route needs, built once by `startServer` and passed to each plugin. */
import type { Logger } from 'pino';
import type { CaMaterial } from './pki/ca.js';
import type { ServerConfig } from './config.js';
import type { Store } from './store/types.js';
import type { Revocations } from './revocation.js';
import type { CommandHub } from './commands-hub.js';
import type { ViolationDraft, ViolationRow } from './store/types.js';
import type { Admission, Metrics } from './metrics.js';

export interface ServerContext {
  store: Store;
  ca: CaMaterial;
  server: { keyPem: string; certPem: string };
  config: ServerConfig;
  revocations: Revocations;
  hub: CommandHub;
  log: Logger;
  metrics?: Metrics;
  admission?: Admission;
  /** New violations (alerts forward them). */
  onViolations?: (v: ViolationDraft[]) => void;
  /** Violations that just became overdue. */
  onEscalated?: (v: ViolationRow[]) => void;
  /** Alert forwarding: config check, new config, counters. */
  validateAlerts?: (raw: unknown) => { ok: true; config: unknown } | { ok: false; error: string };
  alertsChanged?: (config: unknown) => void;
  alertStats?: () => unknown;
}
