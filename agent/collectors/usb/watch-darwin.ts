/**
 * USB change watching on macOS: `diskutil activity` (DiskArbitration events, one line each, e.g.
 * `***DiskAppeared ('disk4', DAVolumePath = 'file:///Volumes/T7/', …) Time=…`) for storage, plus a
 * slow poll for devices that never make a disk (keyboards, phones, network adapters). Both only
 * trigger a read through the collector.
 */
import type { CollectorContext } from '../types.js';
import { collectUsbDarwin } from './darwin.js';
import { UsbWatcher, type PlatformWatchOptions } from './watch-win32.js';

export const DISKUTIL_ACTIVITY = { cmd: 'diskutil', args: ['activity'] } as const;

/** Events that change which disks exist or are mounted; approvals, idle markers and the banner do not. */
const TRIGGERS = new Set(['DiskAppeared', 'DiskDisappeared', 'DiskDescriptionChanged']);

/** A `diskutil activity` line → a reason to read (`DiskAppeared:disk4`), or null. */
export function darwinWatchTrigger(line: string): string | null {
  const m = /^\*\*\*(\w+)\s*\('?([^',)]*)/.exec(line.trim());
  if (!m || !TRIGGERS.has(m[1]!)) return null;
  const disk = /^disk\d+(s\d+)*$/.test(m[2]!) ? m[2] : '?';
  return `${m[1]}:${disk}`;
}

/** system_profiler takes a second or two: a minute between polls is cheap and catches non-disk devices. */
export const DARWIN_POLL_MS = 60_000;

export function darwinUsbWatcher(ctx: CollectorContext, opts: PlatformWatchOptions): UsbWatcher {
  return new UsbWatcher({
    name: 'usb-watch-darwin',
    cmd: DISKUTIL_ACTIVITY.cmd,
    args: [...DISKUTIL_ACTIVITY.args],
    trigger: darwinWatchTrigger,
    read: () => collectUsbDarwin(ctx),
    ...opts,
    pollMs: opts.pollMs === undefined ? DARWIN_POLL_MS : opts.pollMs,
  });
}
