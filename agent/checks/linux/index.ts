/**
 * The Linux hardening catalogue (MLPS 2.0 level 3, 8.1.4 安全计算环境), Debian/Ubuntu and RHEL families
 * (Kylin and UOS included). One file per area; parsers in parse.ts; I/O helpers in util.ts.
 */
import type { CheckDef } from '../types.js';
import { accountChecks } from './accounts.js';
import { auditChecks } from './audit.js';
import { malwareChecks } from './malware.js';
import { patchChecks } from './patches.js';
import { remoteChecks } from './remote.js';
import { serviceChecks } from './services.js';
import { sessionChecks } from './session.js';
import { systemChecks } from './system.js';

export const linuxChecks: CheckDef[] = [
  ...accountChecks,
  ...sessionChecks,
  ...auditChecks,
  ...serviceChecks,
  ...remoteChecks,
  ...systemChecks,
  ...malwareChecks,
  ...patchChecks,
];
