/**
 * Read-only removable volumes (policy `usb.mode: readonly`): every removable volume that mounts
 * is remounted read-only and its device set read-only, verified, and reported as `usb.blocked`
 * with `"action":"readonly"` — unless it belongs to a USB device the verdict allowed. When the
 * policy changes, volumes made read-only are given back or newly mounted ones locked.
 */
import type { Logger } from 'pino';
import { newEvent, type AgentEvent } from '../../shared/events.js';
import type { Policy } from '../../shared/policy.js';
import type { Runner } from '../exec.js';
import { makeReadOnly, undoReadOnly } from '../enforcers/media/linux.js';
import type { MountedMedia } from './mount-watch.js';

export interface MediaControlHost {
  policy(): Policy;
  emit(...e: AgentEvent[]): Promise<void>;
  /** USB device ids the USB verdict allowed (their volumes stay writable). */
  allowedUsbIds(): string[];
  mounts(): MountedMedia[];
}

function volumeData(m: MountedMedia): Record<string, unknown> {
  return { device: m.device, mountPoint: m.mountPoint, fsType: m.fsType, removableReason: m.removableReason, disk: m.block.disk };
}

export class MediaControl {
  /** Disks we made read-only, with their mount points. */
  private readonly locked = new Map<string, string[]>();

  constructor(private readonly host: MediaControlHost, private readonly run: Runner, private readonly procfs: string, private readonly log: Logger) {}

  private allowedUsb(m: MountedMedia): boolean {
    const path = m.block.sysPath ?? '';
    return this.host.allowedUsbIds().some((id) => path.includes(`/${id}/`));
  }

  private wanted(m: MountedMedia): boolean {
    return m.removable && this.host.policy().usb.mode === 'readonly' && !this.allowedUsb(m);
  }

  async mounted(m: MountedMedia): Promise<void> {
    if (!this.wanted(m) || m.readOnly && this.locked.has(m.device)) return;
    const r = await makeReadOnly({ run: this.run, procfs: this.procfs }, m.device, [m.mountPoint]);
    if (r.held) this.locked.set(m.device, [m.mountPoint]);
    await this.host.emit(newEvent('usb.blocked', r.held ? 'high' : 'critical', ['art31'], {
      device: null, volume: volumeData(m), action: 'readonly', method: 'blockdev --setro + mount -o remount,ro', held: r.held,
      reason: 'mode', commands: r.commands.map((c) => [c.cmd, ...c.args].join(' ')), ...(r.error ? { error: r.error } : {}),
    }));
  }

  /** The policy changed: lock what should be locked, give back what no longer should. */
  async reevaluate(): Promise<void> {
    const mounts = this.host.mounts();
    for (const m of mounts) if (this.wanted(m) && !this.locked.has(m.device)) await this.mounted(m);
    for (const device of [...this.locked.keys()]) {
      const m = mounts.find((x) => x.device === device);
      if (m && this.wanted(m)) continue;
      const r = await undoReadOnly({ run: this.run, procfs: this.procfs }, device, m ? [m.mountPoint] : []);
      if (r.held) this.locked.delete(device);
      this.log.info({ device, held: r.held }, 'read-only lifted');
      await this.host.emit(newEvent('usb.unblocked', r.held ? 'medium' : 'high', ['art31'], {
        device: null, volume: m ? volumeData(m) : { device }, action: 'readonly', held: r.held, ...(r.error ? { error: r.error } : {}),
      }));
    }
  }
}
