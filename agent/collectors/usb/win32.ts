/**
 * USB devices on Windows: one PowerShell read of the present PnP tree. Win32_PnPEntity lists present
 * devices only (as `Get-PnpDevice -PresentOnly` would); the three DEVPKEYs come from one batched
 * Get-PnpDeviceProperty call rather than one call per device, which costs ~100 ms each.
 * Output is forced to UTF-8 so device strings outside the OEM code page survive.
 */
import type { UsbDevice } from '../../../shared/usb.js';
import type { CollectorContext } from '../types.js';
import { parseJson, runText } from '../util.js';
import { parseWin32Usb, type Win32UsbRead } from './parse-win32.js';

export const WIN32_USB_SCRIPT = [
  "$ErrorActionPreference='SilentlyContinue'",
  '[Console]::OutputEncoding=[Text.Encoding]::UTF8',
  "$all=@(Get-CimInstance -ClassName Win32_PnPEntity | Where-Object { $_.PNPDeviceID -like 'USB\\VID_*' -or $_.PNPDeviceID -like 'USBSTOR\\*' -or $_.PNPDeviceID -like '*WPDBUSENUM\\*' })",
  "$keys='DEVPKEY_Device_BusReportedDeviceDesc','DEVPKEY_Device_LocationInfo','DEVPKEY_Device_Parent'",
  '$p=@{}',
  'if ($all.Count) { Get-PnpDeviceProperty -InstanceId @($all | ForEach-Object { $_.PNPDeviceID }) -KeyName $keys | ForEach-Object { $p["$($_.InstanceId)|$($_.KeyName)"]=$_.Data } }',
  '$all | ForEach-Object { $i=$_.PNPDeviceID; [pscustomobject]@{ InstanceId=$i; Name=$_.Name; Service=$_.Service; Status=$_.Status; ConfigManagerErrorCode=$_.ConfigManagerErrorCode; Present=$_.Present; HardwareID=$_.HardwareID; CompatibleID=$_.CompatibleID; BusReportedDeviceDesc=$p["$i|DEVPKEY_Device_BusReportedDeviceDesc"]; LocationInfo=$p["$i|DEVPKEY_Device_LocationInfo"]; Parent=$p["$i|DEVPKEY_Device_Parent"] } } | ConvertTo-Json -Depth 3',
].join(';');

export const WIN32_USB_COMMAND = { cmd: 'powershell.exe', args: ['-NoProfile', '-NonInteractive', '-Command', WIN32_USB_SCRIPT] } as const;

/** Devices plus the disk/WPD nodes below each (the enforcer re-mounts through those). */
export async function readUsbWin32(ctx: Pick<CollectorContext, 'run'>): Promise<Win32UsbRead> {
  const out = await runText(ctx as CollectorContext, WIN32_USB_COMMAND.cmd, [...WIN32_USB_COMMAND.args], { timeoutMs: 60_000 });
  return parseWin32Usb(parseJson(out, 'powershell.exe'));
}

export async function collectUsbWin32(ctx: CollectorContext): Promise<UsbDevice[]> {
  return (await readUsbWin32(ctx)).devices;
}
