import type { ListeningData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import { parseWin32Listening } from './parse.js';

export const WIN32_LISTENING_SCRIPT = [
  '[pscustomobject]@{',
  'Tcp = @(Get-NetTCPConnection -State Listen -ErrorAction SilentlyContinue | Select-Object LocalAddress,LocalPort,OwningProcess);',
  'Udp = @(Get-NetUDPEndpoint -ErrorAction SilentlyContinue | Select-Object LocalAddress,LocalPort,OwningProcess);',
  'Procs = @(Get-Process | Select-Object Id,ProcessName)',
  '} | ConvertTo-Json -Depth 3',
].join(' ');

export async function win32Listening(ctx: CollectorContext): Promise<ListeningData> {
  return { sockets: parseWin32Listening(await powershell(ctx, WIN32_LISTENING_SCRIPT)) };
}
