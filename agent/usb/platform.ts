/**
 * One USB control, three platforms: the watcher and enforcer each OS provides, behind the
 * interfaces UsbControl uses. Linux deauthorises (`authorized`), Windows disables through PnP plus
 * deny-ID policy, macOS ejects storage.
 */
import { readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { UsbDevice } from '../../shared/usb.js';
import type { Runner } from '../exec.js';
import type { CollectorContext } from '../collectors/types.js';
import { LinuxUsbWatcher } from '../collectors/usb/watch-linux.js';
import { win32UsbWatcher } from '../collectors/usb/watch-win32.js';
import { darwinUsbWatcher } from '../collectors/usb/watch-darwin.js';
import { setAuthorized } from '../enforcers/usb/linux.js';
import { Win32UsbEnforcer } from '../enforcers/usb/win32.js';
import { DarwinUsbEnforcer } from '../enforcers/usb/darwin.js';
import { makeReadOnly } from '../enforcers/media/linux.js';
import { readMountinfo } from '../collectors/media/mounts.js';
import type { EnforceOutcome, UsbChange, UsbEnforcer, UsbWatcher } from './control.js';

/** Adapts the Windows/macOS watchers (a callback per read) to the control's interface. */
function callbackWatcher(make: (onDevices: (devices: UsbDevice[], diff: { added: UsbDevice[]; removed: UsbDevice[] }) => void) => { name: string; run(s: AbortSignal): Promise<void> }): UsbWatcher {
  const listeners = new Set<(c: UsbChange) => void>();
  let current: UsbDevice[] = [];
  const inner = make((devices, diff) => {
    current = devices;
    for (const l of listeners) l({ attached: diff.added, detached: diff.removed });
  });
  return {
    name: inner.name,
    run: (s) => inner.run(s),
    devices: () => current,
    onChange(cb) { listeners.add(cb); return () => listeners.delete(cb); },
  };
}

/** Block devices under a USB device in sysfs (`…/1-1.2/…/block/sdb`), bounded depth, inside the root. */
export async function usbBlockDevices(sysfs: string, deviceId: string): Promise<string[]> {
  const root = await realpath(join(sysfs, 'bus', 'usb', 'devices', deviceId)).catch(() => null);
  if (!root) return [];
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 8) return;
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory() || e.isSymbolicLink()) continue;
      if (e.name === 'block') {
        for (const b of await readdir(join(dir, e.name)).catch(() => [] as string[])) found.push(b);
      } else await walk(join(dir, e.name), depth + 1);
    }
  };
  await walk(root, 0);
  return found;
}

class LinuxUsbEnforcer implements UsbEnforcer {
  constructor(private readonly sysfs: string, private readonly procfs: string, private readonly run: Runner) {}

  async block(d: UsbDevice): Promise<EnforceOutcome> {
    const r = await setAuthorized(this.sysfs, d.id, 0);
    return { held: r.held, method: 'authorized=0', detail: { file: r.file, before: r.before, after: r.after }, ...(r.error ? { error: r.error } : {}) };
  }

  async unblock(d: UsbDevice): Promise<EnforceOutcome> {
    const r = await setAuthorized(this.sysfs, d.id, 1);
    return { held: r.held, method: 'authorized=1', detail: { file: r.file, before: r.before, after: r.after }, ...(r.error ? { error: r.error } : {}) };
  }

  async readonly(d: UsbDevice): Promise<EnforceOutcome> {
    if (!d.interfaces.some((i) => i.class === '08')) {
      // MTP/PTP has no volume to make read-only: the device is blocked instead, and said so.
      const b = await this.block(d);
      return { ...b, method: 'authorized=0 (MTP/PTP: no volume to make read-only)' };
    }
    // The disk appears a moment after the device; wait for it briefly.
    let disks: string[] = [];
    for (let i = 0; i < 12 && !disks.length; i++) {
      disks = await usbBlockDevices(this.sysfs, d.id);
      if (!disks.length) await new Promise((r) => setTimeout(r, 250));
    }
    if (!disks.length) return { held: false, method: 'blockdev --setro', error: 'no block device appeared for this storage device' };
    const mounts = await readMountinfo(this.procfs);
    const results = [];
    for (const disk of disks) {
      const mine = mounts.filter((m) => m.source === `/dev/${disk}` || m.source.startsWith(`/dev/${disk}`)).map((m) => m.mountPoint);
      results.push(await makeReadOnly({ run: this.run, procfs: this.procfs }, `/dev/${disk}`, mine));
    }
    const failed = results.find((r) => !r.held);
    return { held: !failed, method: 'blockdev --setro + mount -o remount,ro', detail: { disks, commands: results.flatMap((r) => r.commands) }, ...(failed?.error ? { error: failed.error } : {}) };
  }
}

function fromCommands(r: { held: boolean; commands: string[]; error?: string }, method: string): EnforceOutcome {
  return { held: r.held, method, detail: { commands: r.commands }, ...(r.error ? { error: r.error } : {}) };
}

export function usbPlatform(ctx: CollectorContext, onError: (e: Error) => void): { watcher: UsbWatcher; enforcer: UsbEnforcer } | null {
  if (ctx.platform === 'linux') {
    const w = new LinuxUsbWatcher({ sysfs: ctx.sysfs, onError });
    return { watcher: w, enforcer: new LinuxUsbEnforcer(ctx.sysfs, ctx.procfs, ctx.run) };
  }
  if (ctx.platform === 'win32') {
    const e = new Win32UsbEnforcer(ctx.run);
    return {
      watcher: callbackWatcher((onDevices) => win32UsbWatcher(ctx, { onDevices: (d, diff) => onDevices(d, diff), onError })),
      enforcer: {
        block: async (d) => fromCommands(await e.block(d), 'pnputil /disable-device + DenyDeviceIDs'),
        unblock: async (d) => fromCommands(await e.unblock(d), 'pnputil /enable-device'),
        readonly: async (d) => fromCommands(await e.readonly(d), 'StorageDevicePolicies\\WriteProtect'),
      },
    };
  }
  if (ctx.platform === 'darwin') {
    const e = new DarwinUsbEnforcer(ctx.run);
    return {
      watcher: callbackWatcher((onDevices) => darwinUsbWatcher(ctx, { onDevices: (d, diff) => onDevices(d, diff), onError })),
      enforcer: {
        block: async (d) => fromCommands(await e.block(d), 'diskutil unmountDisk + eject'),
        unblock: async (d) => fromCommands(await e.unblock(d), 'none (re-plug needed)'),
        readonly: async (d) => fromCommands(await e.readonly(d), 'diskutil mount readOnly'),
      },
    };
  }
  return null;
}
