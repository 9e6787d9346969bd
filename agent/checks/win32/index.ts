/**
 * The win32 hardening catalogue (MLPS 2.0 level 3, 8.1.4 安全计算环境): Windows 10/11 and Server
 * 2016+. Checks read through ctx.run only (secedit, auditpol, reg, netsh, w32tm, PowerShell
 * cmdlets); see sources.ts for the exact command lines and parse.ts for the output formats.
 */
import type { CheckDef } from '../types.js';
import { accountChecks } from './accounts.js';
import { auditChecks } from './audit.js';
import { malwareChecks } from './malware.js';
import { patchChecks } from './patches.js';
import { remoteChecks } from './remote.js';
import { serviceChecks } from './services.js';
import { systemChecks } from './system.js';

export const win32Checks: CheckDef[] = [
  ...accountChecks,
  ...auditChecks,
  ...serviceChecks,
  ...remoteChecks,
  ...malwareChecks,
  ...patchChecks,
  ...systemChecks,
];
