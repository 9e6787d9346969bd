/**
 * Watches the mount table and reports removable media (art31). `findmnt --poll` pushes (event
 * driven, ~ms after a mount) but only triggers a read; `<procfs>/self/mountinfo` is the single
 * reader, diffed by mount point + device, and polled as well in case the push source is missing or
 * dies. Reading mountinfo is cheap (the kernel formats ~50 lines), so the fallback polls every second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Runner } from '../exec.js';
import type { Part } from '../supervisor.js';
import { newEvent, type AgentEvent } from '../../shared/events.js';
import { listMediaMounts, mediaDetails, readMountinfo, type MediaDetails, type MediaMount } from '../collectors/media/mounts.js';
import { blockDeviceMounts, diffMounts, mountKey } from '../collectors/media/parse.js';

export interface MountedMedia extends MediaMount {
  /** Filled for removable mounts only (lsblk/blkid cost a spawn each). */
  details: MediaDetails | null;
}

export interface MountWatchOptions {
  procfs: string;
  sysfs: string;
  removableDevices: readonly string[];
  run: Runner;
  emit: (e: AgentEvent) => void;
  /** Every block-device mount that appears (removable or not), after its event was emitted. */
  onMounted?: (m: MountedMedia) => void | Promise<void>;
  onUnmounted?: (m: MountedMedia) => void | Promise<void>;
  /** Options changed on the same mount (e.g. remounted read-only). */
  onChanged?: (before: MountedMedia, after: MountedMedia) => void | Promise<void>;
  /** Use `stdbuf -oL findmnt --poll` as a push source (default true). */
  push?: boolean;
  /** Poll interval while the push source runs (a safety net) and without it. */
  pollWithPushMs?: number;
  pollMs?: number;
  /** Mounts present at start are reported too (`initial: true`), so watchers start for them. */
  reportInitial?: boolean;
  onError?: (err: Error) => void;
}

export class MountWatcher implements Part {
  readonly name = 'media.mounts';
  private known = new Map<string, MountedMedia>();
  private wake: (() => void) | null = null;
  private dirty = false;
  private pushAlive = false;
  readonly stats = { reads: 0, pushes: 0, pushRestarts: 0 };

  constructor(private readonly o: MountWatchOptions) {}

  /** Current block-device mounts as last read. */
  mounts(): MountedMedia[] {
    return [...this.known.values()];
  }

  /** Whether the findmnt push source is running (tests and status). */
  get pushing(): boolean {
    return this.pushAlive;
  }

  async run(signal: AbortSignal): Promise<void> {
    const pushChild = this.o.push === false ? null : this.startPush(signal);
    try {
      await this.read(true);
      while (!signal.aborted) {
        const ms = this.pushAlive ? this.o.pollWithPushMs ?? 10_000 : this.o.pollMs ?? 1000;
        await this.waitForTrigger(ms, signal);
        if (signal.aborted) break;
        this.dirty = false;
        await this.read(false);
      }
    } finally {
      await pushChild?.stop();
    }
  }

  private waitForTrigger(ms: number, signal: AbortSignal): Promise<void> {
    if (this.dirty) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  /** Push only marks the table dirty; the loop does the read, so bursts of mounts coalesce. */
  private trigger(): void {
    this.stats.pushes++;
    this.dirty = true;
    this.wake?.();
  }

  private startPush(signal: AbortSignal): { stop(): Promise<void> } {
    let child: ChildProcess | null = null;
    let restartTimer: NodeJS.Timeout | null = null;
    const start = () => {
      if (signal.aborted) return;
      // `--json` cannot be used: util-linux 2.38's findmnt asserts in its JSON writer after the first
      // polled event. Raw, one line per change, is all a trigger needs; stdbuf makes it line-buffered.
      const c = spawn('stdbuf', ['-oL', 'findmnt', '--poll', '-r', '-n', '-o', 'ACTION'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
      child = c;
      c.on('spawn', () => { this.pushAlive = true; });
      c.on('error', (e) => this.o.onError?.(new Error(`findmnt --poll: ${e.message}`, { cause: e })));
      createInterface({ input: c.stdout! }).on('line', () => this.trigger());
      c.on('close', (code) => {
        this.pushAlive = false;
        child = null;
        if (signal.aborted) return;
        this.o.onError?.(new Error(`findmnt --poll exited (${code ?? 'signal'}); polling ${this.o.pollMs ?? 1000} ms until it restarts`));
        // Fall back to polling, and try the push source again later.
        this.stats.pushRestarts++;
        restartTimer = setTimeout(start, 30_000);
        this.trigger();
      });
    };
    start();
    return {
      stop: async () => {
        if (restartTimer) clearTimeout(restartTimer);
        const c = child;
        if (!c) return;
        const closed = new Promise<void>((r) => c.once('close', () => r()));
        c.kill('SIGTERM');
        await closed;
      },
    };
  }

  private async read(first: boolean): Promise<void> {
    const report = !first || (this.o.reportInitial ?? true);
    this.stats.reads++;
    let entries;
    try {
      entries = blockDeviceMounts(await readMountinfo(this.o.procfs));
    } catch (e) {
      this.o.onError?.(e as Error);
      return;
    }
    const d = diffMounts([...this.known.values()], entries);
    if (d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0) return;
    for (const r of d.removed) {
      const key = mountKey(r);
      const m = this.known.get(key)!;
      this.known.delete(key);
      if (m.removable) {
        this.o.emit(newEvent('media.unmounted', 'low', ['art31'], { device: m.device, mountPoint: m.mountPoint, fsType: m.fsType, label: m.details?.label ?? null }));
      }
      await this.call(() => this.o.onUnmounted?.(m));
    }
    const added = await listMediaMounts(this.o, d.added);
    for (const a of added) {
      const m: MountedMedia = { ...a, details: a.removable ? await mediaDetails(this.o, a) : null };
      this.known.set(mountKey(m), m);
      if (m.removable && report) {
        this.o.emit(newEvent('media.mounted', 'medium', ['art31'], {
          device: m.device,
          mountPoint: m.mountPoint,
          fsType: m.fsType,
          sizeBytes: m.details?.sizeBytes ?? null,
          label: m.details?.label ?? null,
          readOnly: m.readOnly,
          removableReason: m.removableReason,
          transport: m.details?.transport ?? null,
          ...(m.details?.errors.length ? { detailErrors: m.details.errors } : {}),
          ...(first ? { initial: true } : {}),
        }));
      }
      await this.call(() => this.o.onMounted?.(m));
    }
    for (const [, after] of d.changed) {
      const key = mountKey(after);
      const before = this.known.get(key)!;
      const next: MountedMedia = { ...before, options: after.options, readOnly: after.readOnly };
      this.known.set(key, next);
      await this.call(() => this.o.onChanged?.(before, next));
    }
  }

  private async call(f: () => void | Promise<void>): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.o.onError?.(e as Error);
    }
  }
}
