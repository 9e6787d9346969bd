import type { ProcessesData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import type { ExecutableHashCache } from './hash.js';
import { parseWin32Processes } from './parse.js';
import { withHashes } from './darwin.js';

// Get-Process -IncludeUserName needs elevation, which the agent (SYSTEM) has; Win32_Process.GetOwner per process would cost a WMI call each.
export const WIN32_PROCESSES_SCRIPT = [
  '[pscustomobject]@{',
  'Procs = @(Get-CimInstance Win32_Process | Select-Object ProcessId,ParentProcessId,Name,ExecutablePath,CommandLine,CreationDate);',
  'Owners = @(Get-Process -IncludeUserName -ErrorAction SilentlyContinue | Select-Object Id,UserName)',
  '} | ConvertTo-Json -Depth 3',
].join(' ');

export function makeWin32Processes(cache: ExecutableHashCache) {
  return async (ctx: CollectorContext): Promise<ProcessesData> => withHashes(ctx, cache, parseWin32Processes(await powershell(ctx, WIN32_PROCESSES_SCRIPT)));
}
