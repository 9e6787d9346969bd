/**
 * The tiny file layer the Linux USB reader, watcher and enforcer go through (STYLE 8): every read is
 * capped, a final symlink is never opened (O_NOFOLLOW), and a path is used only after its real path
 * was checked to lie inside the sysfs root. Tests point it at a fixture tree by passing that root.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';

/** `<sysfs>/bus/usb/devices`, where the kernel lists every USB device and interface. */
export function usbDevicesDir(sysfs: string): string {
  return join(sysfs, 'bus', 'usb', 'devices');
}

export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Real path of the sysfs root (a fixture root may itself sit behind a symlink such as /tmp). */
export async function realRoot(sysfs: string): Promise<string | null> {
  try {
    return await realpath(sysfs);
  } catch {
    return null;
  }
}

/** Resolve `path` (it may be a symlink, as every entry of /sys/bus/usb/devices is); null if it leaves `root` or is gone. */
export async function resolveInside(root: string, path: string): Promise<string | null> {
  try {
    const real = await realpath(path);
    return isInside(root, real) ? real : null;
  } catch {
    return null;
  }
}

/** Names in a directory, sorted; [] when it is missing or unreadable. */
export async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** A real directory, not a symlink to one. */
export async function isPlainDir(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Basename of a symlink's target (a `driver` link), never followed; null if not a symlink. */
export async function linkBasename(path: string): Promise<string | null> {
  try {
    const t = await readlink(path);
    const b = basename(t);
    return b && b !== '.' && b !== '..' ? b.slice(0, 256) : null;
  } catch {
    return null;
  }
}

/**
 * At most `max` bytes of a regular file (sysfs reports size 4096 whatever the content, so read to EOF
 * up to the cap); null when absent, a symlink, a directory or unreadable.
 */
export async function readCapped(path: string, max: number): Promise<Buffer | null> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!(await fh.stat()).isFile()) return null;
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < max) {
      const buf = Buffer.alloc(Math.min(64 * 1024, max - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
    }
    return Buffer.concat(chunks);
  } catch {
    return null;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
