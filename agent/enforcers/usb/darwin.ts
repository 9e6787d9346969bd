/**
 * Holding a USB device on macOS (art31). Without a system extension macOS lets user space act on a
 * device's *disks* only, so only storage can be held: block = force-unmount and eject every whole
 * disk of the device (it stays gone until re-plugged, when the watcher sees it and the verdict runs
 * again); readonly = unmount and mount each volume read-only. Every command goes through the runner
 * and `held` comes from `diskutil info -plist` read back afterwards. Disks are found by re-reading
 * the device (system_profiler Media / ioreg IOMedia), so a stale id never ejects the wrong disk.
 *
 * Not covered: APFS volumes live on a synthesised container disk that is not below the USB device;
 * readonly re-mounts the physical partitions only.
 */
import type { UsbDevice } from '../../../shared/usb.js';
import type { Runner, RunResult } from '../../exec.js';
import { isDict, parseXmlPlist, type PlistDict } from '../../checks/darwin/plist.js';
import { readUsbDarwin } from '../../collectors/usb/darwin.js';
import { BSD_NAME, type DarwinDisk } from '../../collectors/usb/parse-darwin.js';
import type { EnforceResult } from './win32.js';

export type { EnforceResult };

class Steps {
  readonly commands: string[] = [];
  readonly errors: string[] = [];
  constructor(private readonly run: Runner) {}

  async exec(cmd: string, args: string[]): Promise<RunResult & { ok: boolean }> {
    this.commands.push([cmd, ...args].join(' '));
    const r = await this.run(cmd, args, { timeoutMs: 60_000 });
    return { ...r, ok: !r.error && r.code === 0 };
  }

  async must(what: string, cmd: string, args: string[]): Promise<boolean> {
    const r = await this.exec(cmd, args);
    if (!r.ok) {
      const said = (r.stderr.trim() || r.stdout.trim()).split(/\r?\n/).at(-1) ?? '';
      this.errors.push(`${what}: ${r.error ?? `${cmd} exited with ${r.code}${said ? `: ${said}` : ''}`}`);
    }
    return r.ok;
  }

  result(held: boolean): EnforceResult {
    return { held, commands: this.commands, ...(this.errors.length ? { error: this.errors.join('; ') } : {}) };
  }
}

/** `diskutil info -plist <dev>`: null when the disk is gone (diskutil exits non-zero: "Could not find disk"). */
async function info(s: Steps, dev: string): Promise<PlistDict | null> {
  const r = await s.exec('diskutil', ['info', '-plist', dev]);
  if (!r.ok) return null;
  const p = parseXmlPlist(r.stdout);
  return isDict(p) && typeof p.DeviceIdentifier === 'string' ? p : null;
}

const mounted = (p: PlistDict | null): boolean => p !== null && typeof p.MountPoint === 'string' && p.MountPoint !== '';

/** Volumes worth mounting: not the EFI system partition. */
const mountable = (d: DarwinDisk) => d.volumes.filter((v) => v.content !== 'EFI' && BSD_NAME.test(v.bsdName));

export class DarwinUsbEnforcer {
  constructor(private readonly run: Runner) {}

  private async disksOf(s: Steps, device: UsbDevice): Promise<DarwinDisk[] | null> {
    try {
      const read = await readUsbDarwin({ run: async (cmd, args, opts) => { s.commands.push([cmd, ...args].join(' ')); return this.run(cmd, args, opts); } });
      return (read.disks.get(device.id) ?? []).filter((d) => BSD_NAME.test(d.bsdName));
    } catch (e) {
      s.errors.push(`read device disks: ${(e as Error).message}`);
      return null;
    }
  }

  async block(device: UsbDevice): Promise<EnforceResult> {
    const s = new Steps(this.run);
    const disks = await this.disksOf(s, device);
    if (disks === null) return s.result(false);
    if (!disks.length) {
      s.errors.push('no disk belongs to this device: macOS can hold USB storage only (no system extension)');
      return s.result(false);
    }
    let held = true;
    for (const d of disks) {
      const dev = `/dev/${d.bsdName}`;
      await s.must('unmount', 'diskutil', ['unmountDisk', 'force', dev]);
      await s.must('eject', 'diskutil', ['eject', dev]);
      // Held when the disk is gone, or still there with none of its volumes mounted.
      if (await info(s, dev) === null) continue;
      for (const v of d.volumes) {
        if (mounted(await info(s, `/dev/${v.bsdName}`))) {
          held = false;
          s.errors.push(`${v.bsdName} is still mounted`);
        }
      }
    }
    return s.result(held);
  }

  async readonly(device: UsbDevice): Promise<EnforceResult> {
    return this.remount(device, true);
  }

  /** Undo readonly: mount the volumes read-write again. */
  async allowWrite(device: UsbDevice): Promise<EnforceResult> {
    return this.remount(device, false);
  }

  /** Undo block: a disk that was only unmounted is mounted again; an ejected one needs a re-plug. */
  async unblock(device: UsbDevice): Promise<EnforceResult> {
    const s = new Steps(this.run);
    const disks = await this.disksOf(s, device);
    if (disks === null) return s.result(false);
    if (!disks.length) {
      s.errors.push('no disk of this device is attached: re-plug it to use it again');
      return s.result(false);
    }
    let held = true;
    for (const d of disks) {
      const dev = `/dev/${d.bsdName}`;
      await s.must('mount', 'diskutil', ['mountDisk', dev]);
      for (const v of mountable(d)) {
        if (!mounted(await info(s, `/dev/${v.bsdName}`))) { held = false; s.errors.push(`${v.bsdName} is not mounted`); }
      }
    }
    return s.result(held);
  }

  private async remount(device: UsbDevice, readOnly: boolean): Promise<EnforceResult> {
    const s = new Steps(this.run);
    const disks = await this.disksOf(s, device);
    if (disks === null) return s.result(false);
    if (!disks.length) {
      s.errors.push('no disk belongs to this device');
      return s.result(false);
    }
    let held = true;
    for (const d of disks) {
      if (!await s.must('unmount', 'diskutil', ['unmountDisk', `/dev/${d.bsdName}`])) { held = false; continue; }
      for (const v of mountable(d)) {
        const dev = `/dev/${v.bsdName}`;
        await s.must('mount', 'diskutil', readOnly ? ['mount', 'readOnly', dev] : ['mount', dev]);
        const p = await info(s, dev);
        const ok = mounted(p) && p!.WritableVolume === !readOnly;
        if (!ok) {
          held = false;
          s.errors.push(`${v.bsdName}: ${p === null ? 'gone' : !mounted(p) ? 'not mounted' : `WritableVolume is ${String(p.WritableVolume)}`}`);
        }
      }
    }
    return s.result(held);
  }
}
