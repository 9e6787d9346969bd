/**
 * Block-device mounts and whether each is removable (Linux). Reads `<procfs>/self/mountinfo` and
 * `<sysfs>` only; size and label come from `lsblk -J` (and `blkid -p` where lsblk has no udev
 * database) through the injected runner. Parsing lives in parse.ts.
 */
import { dirname, join, resolve } from 'node:path';
import type { Runner } from '../../exec.js';
import { linkTarget, readText, trimmed } from '../util.js';
import { blockDeviceMounts, firstGlobMatch, parseBlkidUdev, parseLsblkJson, parseMountinfo, type MountEntry } from './parse.js';

/** mountinfo of a busy host is a few hundred lines; a megabyte is far beyond any real one. */
const MOUNTINFO_CAP = 4 * 1024 * 1024;

export interface MediaSources {
  procfs: string;
  sysfs: string;
  /** Extra device globs treated as removable (config media.removableDevices), e.g. `/dev/loop*`. */
  removableDevices: readonly string[];
  run: Runner;
}

/** Why a device counts as removable: the kernel flag, a USB path in sysfs, or a configured glob. */
export type RemovableReason = 'kernel-removable' | 'usb' | `config:${string}`;

export interface BlockDevice {
  /** Kernel name of the device behind the mount (`sdb1`, `loop0`), null if sysfs does not know it. */
  name: string | null;
  /** Whole disk (`sdb` for `sdb1`; the device itself when it is not a partition). */
  disk: string | null;
  partition: boolean;
  /** Resolved sysfs path of the device (`…/devices/pci…/usb1/1-1/…/block/sdb/sdb1`). */
  sysPath: string | null;
}

export interface MediaMount {
  /** Mount source as mountinfo shows it (`/dev/sdb1`). */
  device: string;
  majorMinor: string;
  mountPoint: string;
  fsType: string;
  options: string[];
  readOnly: boolean;
  block: BlockDevice;
  removable: boolean;
  removableReason: RemovableReason | null;
}

export async function readMountinfo(procfs: string): Promise<MountEntry[]> {
  const text = await readText(join(procfs, 'self', 'mountinfo'), MOUNTINFO_CAP);
  if (text === null) throw new Error(`${join(procfs, 'self', 'mountinfo')}: cannot read`);
  return parseMountinfo(text);
}

/** Resolve `major:minor` through `<sysfs>/dev/block/M:m` (the kernel's numbers, not names that udev may rename). */
export async function resolveBlockDevice(sysfs: string, majorMinor: string): Promise<BlockDevice> {
  const link = join(sysfs, 'dev', 'block', majorMinor);
  const target = await linkTarget(link);
  if (target === null) return { name: null, disk: null, partition: false, sysPath: null };
  const sysPath = resolve(dirname(link), target);
  const partition = (await trimmed(join(sysPath, 'partition'))) !== null;
  const name = sysPath.split('/').pop() ?? null;
  const disk = partition ? dirname(sysPath).split('/').pop() ?? null : name;
  return { name, disk, partition, sysPath };
}

/**
 * Removable when the kernel says so (`<sysfs>/block/<disk>/removable` = 1), when the device's
 * sysfs path runs through a USB device (USB hard disks report removable = 0), or when the device
 * path matches a configured glob. Partitions are judged by their parent disk.
 */
export async function removableReason(sysfs: string, device: string, block: BlockDevice, globs: readonly string[]): Promise<RemovableReason | null> {
  if (block.disk) {
    if ((await trimmed(join(sysfs, 'block', block.disk, 'removable'))) === '1') return 'kernel-removable';
    const diskLink = await linkTarget(join(sysfs, 'block', block.disk));
    if ((diskLink ?? '').includes('/usb') || (block.sysPath ?? '').includes('/usb')) return 'usb';
  }
  const names = [device, ...(block.name ? [`/dev/${block.name}`] : []), ...(block.disk ? [`/dev/${block.disk}`] : [])];
  const glob = firstGlobMatch(globs, names);
  return glob === null ? null : `config:${glob}`;
}

/** Every block-device mount with its removable verdict. */
export async function listMediaMounts(src: Pick<MediaSources, 'procfs' | 'sysfs' | 'removableDevices'>, entries?: MountEntry[]): Promise<MediaMount[]> {
  const rows = blockDeviceMounts(entries ?? await readMountinfo(src.procfs));
  return Promise.all(rows.map((r) => toMediaMount(src, r)));
}

export async function toMediaMount(src: Pick<MediaSources, 'sysfs' | 'removableDevices'>, r: MountEntry): Promise<MediaMount> {
  const block = await resolveBlockDevice(src.sysfs, r.majorMinor);
  const reason = await removableReason(src.sysfs, r.source, block, src.removableDevices);
  return {
    device: r.source, majorMinor: r.majorMinor, mountPoint: r.mountPoint, fsType: r.fsType,
    options: r.options, readOnly: r.readOnly, block, removable: reason !== null, removableReason: reason,
  };
}

export interface MediaDetails {
  sizeBytes: number | null;
  label: string | null;
  /** `usb` etc. from lsblk; null for loop devices and where unknown. */
  transport: string | null;
  /** Reasons details are missing (tool absent, failed), for the event; empty when all is known. */
  errors: string[];
}

/**
 * Size and label of a mounted device. The size comes from sysfs (`size` is in 512-byte sectors for
 * every block device) and lsblk; the label from lsblk, or from `blkid -p` when lsblk has no udev
 * database to read it from (containers, minimal VMs).
 */
export async function mediaDetails(src: Pick<MediaSources, 'sysfs' | 'run'>, m: Pick<MediaMount, 'device' | 'block'>): Promise<MediaDetails> {
  const errors: string[] = [];
  let sizeBytes: number | null = null;
  let label: string | null = null;
  let transport: string | null = null;
  if (m.block.sysPath) {
    const sectors = await trimmed(join(m.block.sysPath, 'size'));
    if (sectors && /^\d+$/.test(sectors)) sizeBytes = Number(sectors) * 512;
  }
  const ls = await src.run('lsblk', ['-J', '-b', '-o', 'NAME,SIZE,LABEL,FSTYPE,RO,RM,TRAN', m.device], { timeoutMs: 5000, maxBytes: 1024 * 1024 });
  if (ls.error || ls.code !== 0) errors.push(`lsblk: ${ls.error ?? ls.stderr.trim().split('\n')[0] ?? `exit ${ls.code}`}`);
  else {
    try {
      const rows = parseLsblkJson(ls.stdout);
      const row = rows.find((x) => x.name === m.block.name) ?? rows[0];
      if (row) {
        sizeBytes ??= row.sizeBytes;
        label = row.label;
        transport = row.transport;
      }
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (label === null) {
    const b = await src.run('blkid', ['-p', '-o', 'udev', m.device], { timeoutMs: 5000, maxBytes: 64 * 1024 });
    // blkid exits 2 when the device has no recognisable file system or label: not an error worth reporting.
    if (b.error) errors.push(`blkid: ${b.error}`);
    else if (b.code === 0) label = parseBlkidUdev(b.stdout).label;
  }
  return { sizeBytes, label, transport, errors };
}
