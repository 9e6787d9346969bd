import type { HardwareData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import { parseWin32Hardware } from './parse.js';

// One PowerShell start (~0.3 s) for all five classes.
export const WIN32_HARDWARE_SCRIPT = [
  '[pscustomobject]@{',
  'ComputerSystem = Get-CimInstance Win32_ComputerSystem | Select-Object Manufacturer,Model,TotalPhysicalMemory;',
  'BIOS = Get-CimInstance Win32_BIOS | Select-Object SerialNumber;',
  'BaseBoard = Get-CimInstance Win32_BaseBoard | Select-Object SerialNumber;',
  'Processor = @(Get-CimInstance Win32_Processor | Select-Object Name,NumberOfCores,NumberOfLogicalProcessors);',
  'DiskDrive = @(Get-CimInstance Win32_DiskDrive | Select-Object DeviceID,Model,SerialNumber,Size)',
  '} | ConvertTo-Json -Depth 4',
].join(' ');

export async function win32Hardware(ctx: CollectorContext): Promise<HardwareData> {
  return parseWin32Hardware(await powershell(ctx, WIN32_HARDWARE_SCRIPT));
}
