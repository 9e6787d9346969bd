/**
 * Hot loop: lists `<sysfs>/bus/usb/devices` every 250 ms. A readdir there is cheap (no attribute is
 * read), so plugging a stick is seen within a tick even without udev. On a change of names, or when
 * a push source triggers, it does one full read and diffs by id into attached/detached (DESIGN: the
 * udev monitor only triggers a read; every path goes through the same reader and differ).
 * Devices present at start come out as `attached` in the first round.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { constants, lstatSync, readdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { UsbDevice } from '../../../shared/usb.js';
import type { Part } from '../../supervisor.js';
import { CollectorUnsupported } from '../types.js';
import { readUsbSysfs } from './linux.js';
import { usbDevicesDir } from './linux-fs.js';
import { which } from '../../exec.js';
import { buildUsbDevices, diffUsbDevices, isDeviceName } from './parse.js';

export interface UsbChange {
  attached: UsbDevice[];
  detached: UsbDevice[];
}

/** The part of a ChildProcess the watcher uses, so tests can hand in a fake. */
export interface MonitorProcess {
  stdout: NodeJS.ReadableStream | null;
  on(event: 'exit' | 'error', cb: () => void): unknown;
  kill(): unknown;
}

export interface LinuxUsbWatcherOptions {
  sysfs: string;
  /** Listing poll interval; 250 ms by default. */
  intervalMs?: number;
  /** Full read; the collector's reader by default. */
  read?: (sysfs: string) => Promise<UsbDevice[]>;
  /** Use `udevadm monitor` as a push trigger when the binary exists (default true). */
  udev?: boolean;
  /** Locate a binary on PATH; null when absent. */
  which?: (bin: string) => Promise<string | null>;
  spawn?: (cmd: string, args: string[]) => MonitorProcess;
  /** A read failed for a reason other than "no USB subsystem"; the watcher keeps going. */
  onError?: (err: Error) => void;
}

/** A listed device whose read came back incomplete (still being created) is read again, this many ticks at most. */
const INCOMPLETE_RETRIES = 8;

export async function whichBinary(bin: string): Promise<string | null> {
  return which(bin, process.env.PATH ?? '/usr/bin:/bin', []);
}

/**
 * What the poll compares: each entry's name, inode and change time. A device unplugged and plugged
 * back at the same port between two polls keeps its name but comes back as a new directory.
 */
async function listingKey(dir: string): Promise<string> {
  // Synchronous on purpose: a sysfs directory of a few dozen entries is read in microseconds, and
  // four times a second an async call's thread-pool round trip costs more than the read itself.
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return '';
  }
  return names.map((n) => {
    try {
      // Inode numbers are reused at once; inode plus change time tells a new directory apart.
      const st = lstatSync(join(dir, n), { bigint: true });
      return `${n}@${st.ino}.${st.ctimeNs}`;
    } catch {
      return n;
    }
  }).join('\n');
}

/** Entries present in both listings whose directory changed (new inode). */
function replacedIds(before: string | null, after: string): string[] {
  if (before === null) return [];
  const split = (l: string): [string, string] => { const [n = '', i = ''] = l.split('@'); return [n, i]; };
  const ino = new Map(before.split('\n').map(split));
  return after.split('\n').map(split).filter(([n, i]) => i !== '' && ino.has(n) && ino.get(n) !== '' && ino.get(n) !== i).map(([n]) => n);
}

export const UDEV_MONITOR_ARGS = ['monitor', '--udev', '--subsystem-match=usb'];

export class LinuxUsbWatcher implements Part {
  readonly name = 'usb-watch-linux';
  private readonly listeners = new Set<(c: UsbChange) => void>();
  private wake: (() => void) | null = null;
  private triggered = false;
  private current: UsbDevice[] = [];
  private monitor: MonitorProcess | null = null;

  constructor(private readonly opts: LinuxUsbWatcherOptions) {}

  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(cb: (c: UsbChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Devices as of the last full read. */
  devices(): UsbDevice[] {
    return this.current;
  }

  /** Ask for a full read at once (push sources, the enforcer after a write). */
  trigger(): void {
    this.triggered = true;
    this.wake?.();
  }

  /** Whether a udev monitor is feeding triggers. */
  get pushActive(): boolean {
    return this.monitor !== null;
  }

  async run(signal: AbortSignal): Promise<void> {
    const interval = this.opts.intervalMs ?? 250;
    const dir = usbDevicesDir(this.opts.sysfs);
    const read = this.opts.read ?? (async (s: string) => buildUsbDevices(await readUsbSysfs(s)));
    const onAbort = () => this.wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    if (this.opts.udev ?? true) await this.startMonitor(signal);
    let lastNames: string | null = null;
    let retries = 0;
    try {
      while (!signal.aborted) {
        const names = await listingKey(dir);
        if (this.triggered || names !== lastNames || retries > 0) {
          this.triggered = false;
          const next = await this.readOnce(read);
          if (next) {
            const previousNames = lastNames;
            lastNames = names;
            const listed = names.split('\n').map((l) => l.split('@')[0]!).filter(isDeviceName);
            const got = new Set(next.map((d) => d.id));
            retries = listed.some((n) => !got.has(n)) ? (retries > 0 ? retries - 1 : INCOMPLETE_RETRIES) : 0;
            const diff = diffUsbDevices(this.current, next);
            // Same port, new directory: the device was unplugged and plugged back (maybe another one
            // with the same identity). The kernel authorised it afresh, so it must be judged afresh.
            const replugged = replacedIds(previousNames, names);
            for (const id of replugged) {
              const before = this.current.find((d) => d.id === id);
              const after = next.find((d) => d.id === id);
              if (before && after && !diff.attached.some((d) => d.id === id)) {
                diff.detached.push(before);
                diff.attached.push(after);
              }
            }
            this.emit(diff);
            this.current = next;
          }
        }
        if (signal.aborted) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, interval);
          function done() { clearTimeout(t); resolve(); }
          this.wake = done;
        });
        this.wake = null;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.stopMonitor();
    }
  }

  private async readOnce(read: (sysfs: string) => Promise<UsbDevice[]>): Promise<UsbDevice[] | null> {
    try {
      return await read(this.opts.sysfs);
    } catch (e) {
      if (e instanceof CollectorUnsupported) return []; // no USB subsystem (yet): nothing attached
      this.opts.onError?.(e as Error);
      return null; // transient: keep the last state, read again next tick
    }
  }

  private emit(c: UsbChange): void {
    if (!c.attached.length && !c.detached.length) return;
    for (const cb of this.listeners) {
      try {
        cb(c);
      } catch (e) {
        this.opts.onError?.(e as Error);
      }
    }
  }

  /** `udevadm monitor --udev --subsystem-match=usb`, line-buffered through `stdbuf -oL` when present; each event line triggers a read. */
  private async startMonitor(signal: AbortSignal): Promise<void> {
    const which = this.opts.which ?? whichBinary;
    const udevadm = await which('udevadm');
    if (!udevadm || signal.aborted) return;
    const stdbuf = await which('stdbuf');
    const [cmd, args] = stdbuf ? [stdbuf, ['-oL', udevadm, ...UDEV_MONITOR_ARGS]] : [udevadm, UDEV_MONITOR_ARGS];
    const spawn = this.opts.spawn ?? ((c: string, a: string[]) => nodeSpawn(c, a, { stdio: ['ignore', 'pipe', 'ignore'] }));
    let child: MonitorProcess;
    try {
      child = spawn(cmd, args);
    } catch (e) {
      this.opts.onError?.(e as Error);
      return;
    }
    this.monitor = child;
    let tail = '';
    child.stdout?.on('data', (chunk: Buffer | string) => {
      const lines = (tail + chunk.toString()).split('\n');
      tail = (lines.pop() ?? '').slice(-4096);
      if (lines.some((l) => /^(UDEV|KERNEL)\s*\[/.test(l))) this.trigger();
    });
    const gone = () => {
      if (this.monitor === child) this.monitor = null; // polling carries on alone
    };
    child.on('exit', gone);
    child.on('error', gone);
  }

  private stopMonitor(): void {
    const m = this.monitor;
    this.monitor = null;
    try {
      m?.kill();
    } catch { /* already gone */ }
  }
}
