/**
 * darwin hardening catalogue (macOS 12–15), MLPS 2.0 level 3 "secure computing environment"
 * (GB/T 22239-2019 8.1.4). One file per area; parsers in parse.ts / plist.ts; I/O helpers in util.ts.
 */
import type { CheckDef } from '../types.js';
import { accountChecks } from './accounts.js';
import { authChecks } from './auth.js';
import { sessionChecks } from './session.js';
import { auditChecks } from './audit.js';
import { serviceChecks } from './services.js';
import { remoteChecks } from './remote.js';
import { malwareChecks } from './malware.js';
import { patchChecks } from './patches.js';
import { systemChecks } from './system.js';

export const darwinChecks: CheckDef[] = [
  ...authChecks,
  ...accountChecks,
  ...sessionChecks,
  ...auditChecks,
  ...serviceChecks,
  ...remoteChecks,
  ...malwareChecks,
  ...patchChecks,
  ...systemChecks,
];
