/**
 * USB devices on macOS: system_profiler for the tree, names and disks, ioreg for descriptor classes
 * and interfaces, merged by locationID (see parse-darwin.ts). ioreg failing still yields devices
 * (without interfaces); system_profiler failing still yields what ioreg saw.
 */
import type { UsbDevice } from '../../../shared/usb.js';
import { parseXmlPlist } from '../../checks/darwin/plist.js';
import type { CollectorContext } from '../types.js';
import { parseJson, runText } from '../util.js';
import { parseDarwinUsb, type DarwinUsbRead } from './parse-darwin.js';

export const SP_USB = { cmd: 'system_profiler', args: ['SPUSBDataType', '-json'] } as const;
/** macOS 26 moved USB here; SPUSBDataType then prints an empty array. */
export const SP_USB_HOST = { cmd: 'system_profiler', args: ['SPUSBHostDataType', '-json'] } as const;
export const IOREG_USB = { cmd: 'ioreg', args: ['-a', '-l', '-w', '0', '-r', '-c', 'IOUSBHostDevice'] } as const;

function hasItems(json: unknown, key: string): boolean {
  const v = (json as Record<string, unknown> | null)?.[key];
  return Array.isArray(v) && v.length > 0;
}

export async function readUsbDarwin(ctx: Pick<CollectorContext, 'run'>): Promise<DarwinUsbRead> {
  const c = ctx as CollectorContext;
  let sp: unknown = null;
  let spError: string | null = null;
  try {
    sp = parseJson(await runText(c, SP_USB.cmd, [...SP_USB.args], { timeoutMs: 60_000 }), 'system_profiler');
  } catch (e) {
    spError = (e as Error).message;
  }
  if (!hasItems(sp, 'SPUSBDataType')) {
    try {
      const host = parseJson(await runText(c, SP_USB_HOST.cmd, [...SP_USB_HOST.args], { timeoutMs: 60_000 }), 'system_profiler');
      if (hasItems(host, 'SPUSBHostDataType')) sp = host;
    } catch { /* older macOS: no such data type */ }
  }
  let io = null;
  let ioError: string | null = null;
  try {
    io = parseXmlPlist(await runText(c, IOREG_USB.cmd, [...IOREG_USB.args], { timeoutMs: 30_000, maxBytes: 32 * 1024 * 1024 }));
    if (io === null) ioError = 'ioreg printed no property list';
  } catch (e) {
    ioError = (e as Error).message;
  }
  if (sp === null && io === null) throw new Error(`${spError ?? 'system_profiler printed nothing'}; ${ioError ?? 'ioreg printed nothing'}`);
  return parseDarwinUsb(sp, io);
}

export async function collectUsbDarwin(ctx: CollectorContext): Promise<UsbDevice[]> {
  return (await readUsbDarwin(ctx)).devices;
}
