/**
 * Block or allow a USB device on Linux through the kernel's authorisation switch (art31): write 0/1
 * to `<sysfs>/bus/usb/devices/<dev>/authorized` (or an interface's `<dev>:<c>.<n>/authorized`) and
 * read it back, so the caller reports what the kernel holds, not what was asked. Writing 0 unbinds
 * every driver and removes the interfaces; USBGuard uses the same switch. Never throws.
 */
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlainDir, readCapped, realRoot, resolveInside, usbDevicesDir } from '../../collectors/usb/linux-fs.js';
import { isDeviceName, isInterfaceName } from '../../collectors/usb/parse.js';

export interface AuthorizeResult {
  /** The file reads back the value asked for. */
  held: boolean;
  before: 0 | 1 | null;
  after: 0 | 1 | null;
  /** The `authorized` file written (under the sysfs root given). */
  file: string;
  /** Why it did not hold: refused id, path outside sysfs, EACCES, ENOENT, … */
  error?: string;
}

const bit = (b: Buffer | null): 0 | 1 | null => {
  const t = b?.toString('latin1').trim();
  return t === '1' ? 1 : t === '0' ? 0 : null;
};

/** Authorise (1) or deauthorise (0) a whole device, e.g. `1-1.2`. */
export function setAuthorized(sysfsRoot: string, deviceId: string, value: 0 | 1): Promise<AuthorizeResult> {
  if (!isDeviceName(deviceId)) return Promise.resolve(refused(sysfsRoot, deviceId, `not a USB device name: ${JSON.stringify(deviceId.slice(0, 80))}`));
  return writeAuthorized(sysfsRoot, [deviceId], value);
}

/** Authorise (1) or deauthorise (0) one interface, e.g. `1-1.2:1.0` (kernel ≥ 4.4), leaving the device's others alone. */
export function setInterfaceAuthorized(sysfsRoot: string, interfaceId: string, value: 0 | 1): Promise<AuthorizeResult> {
  if (!isInterfaceName(interfaceId)) return Promise.resolve(refused(sysfsRoot, interfaceId, `not a USB interface name: ${JSON.stringify(interfaceId.slice(0, 80))}`));
  // Listed at the top of bus/usb/devices on a real host; nested in its device directory as in /sys/devices.
  const dev = interfaceId.slice(0, interfaceId.indexOf(':'));
  const owner = /^\d+-0$/.test(dev) ? `usb${dev.slice(0, -2)}` : dev;
  return writeAuthorized(sysfsRoot, [interfaceId, `${owner}/${interfaceId}`], value);
}

function refused(sysfsRoot: string, id: string, error: string): AuthorizeResult {
  return { held: false, before: null, after: null, file: join(usbDevicesDir(sysfsRoot), '<refused>', 'authorized'), error: `${error} (id ${id.length} chars)` };
}

async function writeAuthorized(sysfsRoot: string, candidates: string[], value: 0 | 1): Promise<AuthorizeResult> {
  const base = usbDevicesDir(sysfsRoot);
  const file = join(base, candidates[0]!, 'authorized');
  const fail = (error: string, before: 0 | 1 | null = null): AuthorizeResult => ({ held: false, before, after: before, file, error });
  const root = await realRoot(sysfsRoot);
  if (!root) return fail(`sysfs root ${sysfsRoot} is missing`);
  let dir: string | null = null;
  let path = file;
  for (const c of candidates) {
    const p = join(base, c);
    try {
      await lstat(p);
    } catch {
      continue;
    }
    path = join(p, 'authorized');
    dir = await resolveInside(root, p);
    if (!dir) return { ...fail(`${c} resolves outside ${sysfsRoot}; refused`), file: path };
    break;
  }
  if (!dir) return fail(`ENOENT: no device ${candidates[0]} under ${base}`);
  if (!(await isPlainDir(dir))) return { ...fail(`${dir} is not a directory`), file: path };
  const target = join(dir, 'authorized');
  const before = bit(await readCapped(target, 64));
  try {
    // No O_CREAT: the kernel's attribute exists or the device does not. O_NOFOLLOW: never write through a link.
    const fh = await open(target, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
    try {
      await fh.write(`${value}\n`);
    } finally {
      await fh.close();
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ...fail(`${err.code ?? 'EIO'}: write ${target}: ${err.message}`, before), file: path };
  }
  const after = bit(await readCapped(target, 64));
  return { held: after === value, before, after, file: path, ...(after === value ? {} : { error: `${target} reads back ${after ?? 'nothing'} after writing ${value}` }) };
}
