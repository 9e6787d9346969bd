/**
 * Removable volumes on Windows and macOS, for the same file audit Linux uses (chokidar runs on
 * both). A poll (every 3 s) of one query — the push triggers of the USB watchers only make it
 * sooner — diffed by mount point:
 *   Windows: `Win32_LogicalDisk` with DriveType 2 (removable) → `E:\`;
 *   macOS:   `mount` lines under /Volumes, kept when `diskutil info -plist` says the disk is removable,
 *            ejectable or on USB (asked once per disk).
 */
import { newEvent, type AgentEvent } from '../../shared/events.js';
import type { Runner } from '../exec.js';
import type { Part } from '../supervisor.js';
import { asArray, int, num, parseJson, str } from '../collectors/util.js';
import { isDict, parseXmlPlist } from '../checks/darwin/plist.js';
import { sleep } from '../transport/backoff.js';

export interface Volume {
  device: string;
  mountPoint: string;
  fsType: string | null;
  sizeBytes: number | null;
  label: string | null;
  readOnly: boolean | null;
}

export const WIN32_VOLUMES = {
  cmd: 'powershell.exe',
  args: ['-NoProfile', '-NonInteractive', '-Command',
    '[Console]::OutputEncoding=[Text.Encoding]::UTF8; Get-CimInstance Win32_LogicalDisk -Filter "DriveType=2" | Select-Object DeviceID,DriveType,FileSystem,Size,VolumeName,Access | ConvertTo-Json'],
} as const;

/** `Win32_LogicalDisk` rows (DriveType 2 = removable). Access 1 = readable only. */
export function parseWin32Volumes(text: string): Volume[] {
  return asArray(parseJson(text, 'Win32_LogicalDisk')).filter((r) => int(r.DriveType) === 2).flatMap((r) => {
    const id = str(r.DeviceID);
    if (!id || !/^[A-Z]:$/i.test(id)) return [];
    const access = int(r.Access);
    return [{ device: id.toUpperCase(), mountPoint: `${id.toUpperCase()}\\`, fsType: str(r.FileSystem), sizeBytes: num(r.Size), label: str(r.VolumeName), readOnly: access === null || access === 0 ? null : access === 1 }];
  });
}

/** `mount` output: `/dev/disk4s1 on /Volumes/STICK (msdos, local, nodev, nosuid, noowners)`. */
export function parseDarwinMounts(text: string): Volume[] {
  const out: Volume[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\/dev\/disk\d+(?:s\d+)?) on (\/Volumes\/.+) \(([^)]*)\)$/.exec(line.trim());
    if (!m) continue;
    const opts = m[3]!.split(',').map((o) => o.trim());
    out.push({ device: m[1]!, mountPoint: m[2]!, fsType: opts[0] ?? null, sizeBytes: null, label: m[2]!.slice('/Volumes/'.length), readOnly: opts.includes('read-only') });
  }
  return out;
}

/** `diskutil info -plist`: is this disk one a person can carry away? */
export function darwinRemovable(plistText: string): boolean {
  const p = parseXmlPlist(plistText);
  if (!isDict(p)) return false;
  return p.RemovableMediaOrExternalDevice === true || p.Ejectable === true || p.Removable === true || p.BusProtocol === 'USB';
}

export interface VolumeWatcherOptions {
  platform: NodeJS.Platform;
  run: Runner;
  emit: (e: AgentEvent) => void;
  onMounted: (v: Volume) => void | Promise<void>;
  onUnmounted: (v: Volume) => void | Promise<void>;
  pollMs?: number;
  onError?: (e: Error) => void;
}

export class VolumeWatcher implements Part {
  readonly name = 'media.volumes';
  private known = new Map<string, Volume>();
  private removable = new Map<string, boolean>();

  constructor(private readonly o: VolumeWatcherOptions) {}

  async read(): Promise<Volume[]> {
    if (this.o.platform === 'win32') {
      const r = await this.o.run(WIN32_VOLUMES.cmd, [...WIN32_VOLUMES.args], { timeoutMs: 30_000 });
      if (r.error || r.code !== 0) throw new Error(`Win32_LogicalDisk: ${r.error ?? r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`);
      return parseWin32Volumes(r.stdout);
    }
    const r = await this.o.run('mount', [], { timeoutMs: 10_000 });
    if (r.error || r.code !== 0) throw new Error(`mount: ${r.error ?? `exit ${r.code}`}`);
    const vols = parseDarwinMounts(r.stdout);
    const out: Volume[] = [];
    for (const v of vols) {
      const disk = v.device.replace(/s\d+$/, '');
      if (!this.removable.has(disk)) {
        const info = await this.o.run('diskutil', ['info', '-plist', disk], { timeoutMs: 10_000 });
        this.removable.set(disk, !info.error && info.code === 0 && darwinRemovable(info.stdout));
      }
      if (this.removable.get(disk)) out.push(v);
    }
    return out;
  }

  /** One round: read, diff by mount point, report. */
  async tick(): Promise<void> {
    const now = await this.read();
    const next = new Map(now.map((v) => [v.mountPoint, v]));
    for (const [mp, v] of this.known) {
      if (next.has(mp)) continue;
      this.known.delete(mp);
      this.o.emit(newEvent('media.unmounted', 'low', ['art31'], { ...v }));
      await this.o.onUnmounted(v);
    }
    for (const [mp, v] of next) {
      if (this.known.has(mp)) continue;
      this.known.set(mp, v);
      this.o.emit(newEvent('media.mounted', 'medium', ['art31'], { ...v, removable: true }));
      await this.o.onMounted(v);
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.tick();
      } catch (e) {
        this.o.onError?.(e as Error);
      }
      await sleep(this.o.pollMs ?? 3000, signal);
    }
  }
}
