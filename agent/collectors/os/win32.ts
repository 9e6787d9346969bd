import type { OsData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import { parseWin32OperatingSystem } from './parse.js';

export const WIN32_OS_SCRIPT = 'Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,BuildNumber,OSArchitecture,CSName,LastBootUpTime | ConvertTo-Json';

export async function win32Os(ctx: CollectorContext): Promise<OsData> {
  return parseWin32OperatingSystem(await powershell(ctx, WIN32_OS_SCRIPT));
}
