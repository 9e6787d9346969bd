import type { ServicesData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import { parseGetService } from './parse.js';

export const WIN32_SERVICES_SCRIPT = 'Get-Service | Select-Object Name,DisplayName,Status,StartType | ConvertTo-Json';

export async function win32Services(ctx: CollectorContext): Promise<ServicesData> {
  return { manager: 'scm', services: parseGetService(await powershell(ctx, WIN32_SERVICES_SCRIPT)) };
}
