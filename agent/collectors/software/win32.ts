import type { SoftwareData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import { parseUninstallJson } from './parse.js';

export const WIN32_SOFTWARE_SCRIPT = "Get-ItemProperty 'HKLM:\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*','HKLM:\\Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*' -ErrorAction SilentlyContinue | Select-Object DisplayName,DisplayVersion,Publisher,InstallDate | ConvertTo-Json";

export async function win32Software(ctx: CollectorContext): Promise<SoftwareData> {
  return { source: 'registry', packages: parseUninstallJson(await powershell(ctx, WIN32_SOFTWARE_SCRIPT)) };
}
