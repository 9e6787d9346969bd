/**
 * Removable-media audit as supervised parts (art31): the mount watcher feeds the file audit, so a
 * file watcher starts only after its mount appears and stops when it goes. Linux only for now; on
 * another platform this returns no parts rather than throwing.
 */
import type { AgentConfig } from '../config.js';
import type { Runner } from '../exec.js';
import type { Part } from '../supervisor.js';
import type { AgentEvent } from '../../shared/events.js';
import { FileAudit, type FileAuditOptions } from './file-audit.js';
import { MountWatcher, type MountedMedia } from './mount-watch.js';
import { VolumeWatcher } from './volumes.js';

export interface MediaParts {
  parts: Part[];
  watcher: MountWatcher | null;
  audit: FileAudit | null;
}

export function makeMediaParts(opts: {
  config: Pick<AgentConfig, 'paths' | 'media'>;
  run: Runner;
  emit: (e: AgentEvent) => void;
  /** Policy usb.auditFiles at start; later changes go through `audit.setEnabled`. */
  auditFiles: boolean;
  onMounted?: (m: MountedMedia) => void | Promise<void>;
  onError?: (e: Error) => void;
  audit?: Partial<FileAuditOptions>;
  platform?: NodeJS.Platform;
}): MediaParts {
  const platform = opts.platform ?? process.platform;
  if (platform === 'win32' || platform === 'darwin') {
    // No mountinfo there: a poll of the removable volumes feeds the same file audit.
    const audit = new FileAudit({ emit: opts.emit, enabled: opts.auditFiles, ...(opts.onError ? { onError: opts.onError } : {}), ...opts.audit });
    const volumes = new VolumeWatcher({
      platform, run: opts.run, emit: opts.emit,
      onMounted: (v) => audit.mounted({ device: v.device, mountPoint: v.mountPoint, removable: true }),
      onUnmounted: (v) => audit.unmounted({ mountPoint: v.mountPoint }),
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    return { parts: [volumes, audit], watcher: null, audit };
  }
  if (platform !== 'linux') return { parts: [], watcher: null, audit: null };
  const audit = new FileAudit({ emit: opts.emit, enabled: opts.auditFiles, ...(opts.onError ? { onError: opts.onError } : {}), ...opts.audit });
  const watcher = new MountWatcher({
    procfs: opts.config.paths.procfs,
    sysfs: opts.config.paths.sysfs,
    removableDevices: opts.config.media.removableDevices,
    run: opts.run,
    emit: opts.emit,
    onMounted: async (m) => {
      await audit.mounted(m);
      await opts.onMounted?.(m);
    },
    onUnmounted: (m) => audit.unmounted(m),
    ...(opts.onError ? { onError: opts.onError } : {}),
  });
  return { parts: [watcher, audit], watcher, audit };
}
