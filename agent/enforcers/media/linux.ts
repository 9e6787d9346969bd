/**
 * Read-only enforcement of removable volumes on Linux (policy usb.mode `readonly`, art31).
 * The block device is set read-only first (`blockdev --setro`: nothing, not even a second mount or a
 * raw write, can then change it), then each mount is remounted read-only, then the state is read
 * back: the enforcer reports what held, never what it hoped for.
 *
 * Caveat of that order: writes still sitting in the page cache when the device turns read-only
 * cannot be flushed and are lost (the kernel logs I/O errors); the remount fails with EBUSY while a
 * process holds a file open for writing, and `held` is then false.
 */
import { join } from 'node:path';
import type { Runner } from '../../exec.js';
import { readText } from '../../collectors/util.js';
import { parseMountinfo } from '../../collectors/media/parse.js';

export interface EnforcerDeps {
  run: Runner;
  procfs: string;
}

export interface CommandRecord {
  cmd: string;
  args: string[];
  code: number | null;
  /** First line of stderr or the runner's error, when the command failed. */
  error?: string;
}

export interface EnforcementResult {
  /** Verified after the commands: device and every mount in the wanted state. */
  held: boolean;
  commands: CommandRecord[];
  /** Why it did not hold (first reason), for the event and the staff. */
  error?: string;
  /** What verification read back. */
  verified: { deviceReadOnly: boolean | null; mounts: { mountPoint: string; readOnly: boolean | null }[] };
}

function checkArgs(device: string, mountPoints: readonly string[]): string | null {
  if (!device.startsWith('/dev/') || device.includes('\0')) return `not a device path: ${JSON.stringify(device)}`;
  for (const mp of mountPoints) if (!mp.startsWith('/') || mp.includes('\0')) return `not an absolute mount point: ${JSON.stringify(mp)}`;
  return null;
}

async function step(deps: EnforcerDeps, log: CommandRecord[], cmd: string, args: string[]): Promise<CommandRecord & { stdout: string }> {
  const r = await deps.run(cmd, args, { timeoutMs: 30_000, maxBytes: 64 * 1024 });
  const rec: CommandRecord = { cmd, args, code: r.code };
  if (r.error || r.code !== 0) rec.error = r.error ?? (r.stderr.trim().split('\n')[0] || `exit ${r.code}`);
  log.push(rec);
  return { ...rec, stdout: r.stdout };
}

/** Read back: `blockdev --getro` and the top-most mount at each mount point in mountinfo. */
export async function verifyState(deps: EnforcerDeps, device: string, mountPoints: readonly string[], log: CommandRecord[] = []): Promise<EnforcementResult['verified']> {
  const g = await step(deps, log, 'blockdev', ['--getro', device]);
  const out = g.error ? null : g.stdout.trim();
  const deviceReadOnly = out === '1' ? true : out === '0' ? false : null;
  const text = await readText(join(deps.procfs, 'self', 'mountinfo'), 4 * 1024 * 1024);
  const rows = text === null ? [] : parseMountinfo(text);
  const mounts = mountPoints.map((mp) => {
    // The last entry for a mount point is the one on top, the one paths resolve to.
    const top = rows.filter((r) => r.mountPoint === mp).pop();
    return { mountPoint: mp, readOnly: top ? top.options.includes('ro') : null };
  });
  return { deviceReadOnly, mounts };
}

async function apply(deps: EnforcerDeps, device: string, mountPoints: readonly string[], ro: boolean): Promise<EnforcementResult> {
  const commands: CommandRecord[] = [];
  const bad = checkArgs(device, mountPoints);
  if (bad) return { held: false, commands, error: bad, verified: { deviceReadOnly: null, mounts: [] } };
  const errors: string[] = [];
  // Read-only: device first, then mounts. Undo: the device must be writable before a rw remount.
  const dev = await step(deps, commands, 'blockdev', [ro ? '--setro' : '--setrw', device]);
  if (dev.error) errors.push(`blockdev ${ro ? '--setro' : '--setrw'}: ${dev.error}`);
  for (const mp of mountPoints) {
    const r = await step(deps, commands, 'mount', ['-o', ro ? 'remount,ro' : 'remount,rw', mp]);
    if (r.error) errors.push(`remount ${ro ? 'ro' : 'rw'} ${JSON.stringify(mp)}: ${r.error}`);
  }
  const verified = await verifyState(deps, device, mountPoints, commands);
  if (verified.deviceReadOnly !== ro) errors.push(`blockdev --getro says ${verified.deviceReadOnly === null ? 'unknown' : verified.deviceReadOnly ? 'read-only' : 'writable'}`);
  for (const m of verified.mounts) {
    if (m.readOnly === null) errors.push(`${JSON.stringify(m.mountPoint)} is not mounted`);
    else if (m.readOnly !== ro) errors.push(`${JSON.stringify(m.mountPoint)} is still ${m.readOnly ? 'read-only' : 'writable'}`);
  }
  const held = verified.deviceReadOnly === ro && verified.mounts.every((m) => m.readOnly === ro);
  return { held, commands, ...(held ? {} : { error: errors[0] ?? 'did not hold' }), verified };
}

/** `blockdev --setro`, `mount -o remount,ro` for each mount point, then verify. */
export function makeReadOnly(deps: EnforcerDeps, device: string, mountPoints: readonly string[]): Promise<EnforcementResult> {
  return apply(deps, device, mountPoints, true);
}

/** The reverse: `blockdev --setrw`, `mount -o remount,rw`, verify writable. */
export function undoReadOnly(deps: EnforcerDeps, device: string, mountPoints: readonly string[]): Promise<EnforcementResult> {
  return apply(deps, device, mountPoints, false);
}

/** The enforcer as policy code holds it: `makeReadOnly(device, mountPoints)` and its `undo`. */
export function mediaReadOnlyEnforcer(deps: EnforcerDeps) {
  return {
    makeReadOnly: (device: string, mountPoints: readonly string[]) => makeReadOnly(deps, device, mountPoints),
    undo: (device: string, mountPoints: readonly string[]) => undoReadOnly(deps, device, mountPoints),
  };
}
