/**
 * USB change watching on Windows: a long-lived PowerShell child subscribes to Win32_DeviceChangeEvent
 * and Win32_VolumeChangeEvent and prints one JSON line per event. A line only *triggers* a fresh read
 * through the collector — identity never comes from the event — and the watcher hands on the devices
 * with the diff against the previous read. The child is restarted with backoff when it dies.
 *
 * `UsbWatcher` is the OS-neutral part (child + debounce + restart + optional slow poll); macOS's
 * watcher (watch-darwin.ts) is the same with `diskutil activity` as the child.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { spawn as nodeSpawn } from 'node:child_process';
import type { UsbDevice } from '../../../shared/usb.js';
import { Backoff, sleep } from '../../transport/backoff.js';
import type { Part } from '../../supervisor.js';
import type { CollectorContext } from '../types.js';
import { collectUsbWin32 } from './win32.js';

/** What the watcher needs of a child process (node's ChildProcess fits; tests pass a fake). */
export interface WatchChild {
  stdout: Readable | null;
  stderr?: Readable | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

export type SpawnFn = (cmd: string, args: string[]) => WatchChild;

export const spawnChild: SpawnFn = (cmd, args) => nodeSpawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });

export interface UsbDiff { added: UsbDevice[]; removed: UsbDevice[]; changed: UsbDevice[] }

export function diffUsb(before: UsbDevice[], after: UsbDevice[]): UsbDiff {
  const old = new Map(before.map((d) => [d.id, d]));
  const now = new Map(after.map((d) => [d.id, d]));
  return {
    added: after.filter((d) => !old.has(d.id)),
    removed: before.filter((d) => !now.has(d.id)),
    changed: after.filter((d) => old.has(d.id) && JSON.stringify(old.get(d.id)) !== JSON.stringify(d)),
  };
}

export interface UsbWatcherOptions {
  name: string;
  cmd: string;
  args: string[];
  /** A reason to re-read for a line of the child's output, or null to ignore it. */
  trigger: (line: string) => string | null;
  /** The collector. */
  read: () => Promise<UsbDevice[]>;
  /** Every read, with what changed since the previous one (the first read diffs against nothing). */
  onDevices: (devices: UsbDevice[], diff: UsbDiff, reason: string) => void | Promise<void>;
  onError?: (err: Error) => void;
  spawn?: SpawnFn;
  /** Events come in bursts (one plug is several device and volume events): read once after the burst. */
  debounceMs?: number;
  /** Also read on this period, for changes the child does not report (null: never). */
  pollMs?: number | null;
  /** Wait before restarting the child after its n-th consecutive failure. */
  restartDelay?: (failures: number) => number;
}

const MAX_LINE = 64 * 1024;

export class UsbWatcher implements Part {
  readonly name: string;
  private last: UsbDevice[] = [];
  private timer: NodeJS.Timeout | null = null;
  private reading: Promise<void> | null = null;
  private again: string | null = null;
  private stopper = new AbortController();
  /** Children started so far (tests, and the log). */
  restarts = 0;

  constructor(private readonly o: UsbWatcherOptions) {
    this.name = o.name;
  }

  /** Ask for a read soon (debounced). */
  poke(reason: string): void {
    if (this.stopper.signal.aborted) return;
    if (this.timer) return;
    this.timer = setTimeout(() => { this.timer = null; this.readNow(reason); }, this.o.debounceMs ?? 500);
  }

  /** Resolves when no read is pending or running (tests). */
  async settled(): Promise<void> {
    while (this.timer || this.reading) {
      if (this.reading) await this.reading;
      else await sleep(5);
    }
  }

  stop(): void {
    this.stopper.abort();
  }

  private readNow(reason: string): void {
    if (this.reading) { this.again = reason; return; }
    this.reading = (async () => {
      try {
        const devices = await this.o.read();
        const diff = diffUsb(this.last, devices);
        this.last = devices;
        await this.o.onDevices(devices, diff, reason);
      } catch (e) {
        this.o.onError?.(e instanceof Error ? e : new Error(String(e)));
      } finally {
        this.reading = null;
        if (this.again !== null) { const r = this.again; this.again = null; this.readNow(r); }
      }
    })();
  }

  async run(signal: AbortSignal): Promise<void> {
    const stop = AbortSignal.any([signal, this.stopper.signal]);
    this.readNow('start');
    const poll = this.o.pollMs ? (async () => {
      while (!stop.aborted) {
        await sleep(this.o.pollMs!, stop);
        if (!stop.aborted) this.poke('poll');
      }
    })() : Promise.resolve();
    const backoff = new Backoff(1000, 5 * 60_000);
    const delay = this.o.restartDelay ?? (() => backoff.next());
    let failures = 0;
    while (!stop.aborted) {
      const started = Date.now();
      const healthy = await this.runChild(stop);
      if (stop.aborted) break;
      // A child that ran a while or printed something was fine: start counting again.
      if (healthy || Date.now() - started > 60_000) { failures = 0; backoff.reset(); }
      failures++;
      this.o.onError?.(new Error(`${this.o.cmd} (usb watcher) exited; restarting`));
      await sleep(delay(failures), stop);
      // Events were missed while the child was down.
      if (!stop.aborted) this.poke('restart');
    }
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    await poll;
    if (this.reading) await this.reading;
  }

  /** Run one child until it exits or we stop; true if it printed at least one line. */
  private runChild(stop: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let child: WatchChild;
      let sawLine = false;
      this.restarts++;
      try {
        child = (this.o.spawn ?? spawnChild)(this.o.cmd, this.o.args);
      } catch (e) {
        this.o.onError?.(e as Error);
        resolve(false);
        return;
      }
      const rl = child.stdout ? createInterface({ input: child.stdout, crlfDelay: Infinity }) : null;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        stop.removeEventListener('abort', onAbort);
        rl?.close();
        resolve(sawLine);
      };
      const onAbort = () => { child.kill(); finish(); };
      stop.addEventListener('abort', onAbort, { once: true });
      child.once('error', (e) => { this.o.onError?.(e); finish(); });
      child.once('exit', () => finish());
      child.stderr?.resume();
      rl?.on('line', (line) => {
        sawLine = true;
        if (line.length > MAX_LINE) return;
        const reason = this.o.trigger(line);
        if (reason) this.poke(reason);
      });
    });
  }
}

/**
 * The PowerShell child: CIM indication events for device and volume changes, one compact JSON line
 * each (`{"kind":"device","eventType":2}`; EventType 1 config changed, 2 arrival, 3 removal, 4 docking).
 * Wait-Event blocks without polling; Console.Out is flushed per line so node sees it at once.
 */
export const WIN32_WATCH_SCRIPT = [
  "$ErrorActionPreference='Stop'",
  '[Console]::OutputEncoding=[Text.Encoding]::UTF8',
  "Register-CimIndicationEvent -ClassName Win32_DeviceChangeEvent -SourceIdentifier 'tg.usb.device' | Out-Null",
  "Register-CimIndicationEvent -ClassName Win32_VolumeChangeEvent -SourceIdentifier 'tg.usb.volume' | Out-Null",
  "[Console]::Out.WriteLine('{\"kind\":\"ready\"}');[Console]::Out.Flush()",
  "while ($true) { $e = Wait-Event; if ($e) { $n = $e.SourceEventArgs.NewEvent; $o = [ordered]@{ kind = $(if ($e.SourceIdentifier -eq 'tg.usb.volume') { 'volume' } else { 'device' }); eventType = [int]$n.EventType }; if ($n.DriveName) { $o.driveName = [string]$n.DriveName }; [Console]::Out.WriteLine(($o | ConvertTo-Json -Compress)); [Console]::Out.Flush(); Remove-Event -EventIdentifier $e.EventIdentifier } }",
].join(';');

export const WIN32_WATCH_COMMAND = { cmd: 'powershell.exe', args: ['-NoProfile', '-NonInteractive', '-Command', WIN32_WATCH_SCRIPT] } as const;

/** A line of the PowerShell child → a reason to read, or null. */
export function win32WatchTrigger(line: string): string | null {
  const t = line.trim();
  if (!t.startsWith('{')) return null;
  try {
    const o = JSON.parse(t) as { kind?: unknown; eventType?: unknown };
    if (o.kind === 'ready') return 'watcher-ready';
    if (o.kind === 'device' || o.kind === 'volume') return `${o.kind}:${typeof o.eventType === 'number' ? o.eventType : '?'}`;
  } catch { /* not ours */ }
  return null;
}

export type PlatformWatchOptions = Pick<UsbWatcherOptions, 'onDevices' | 'onError' | 'spawn' | 'debounceMs' | 'restartDelay'> & { pollMs?: number | null };

export function win32UsbWatcher(ctx: CollectorContext, opts: PlatformWatchOptions): UsbWatcher {
  return new UsbWatcher({
    name: 'usb-watch-win32',
    cmd: WIN32_WATCH_COMMAND.cmd,
    args: [...WIN32_WATCH_COMMAND.args],
    trigger: win32WatchTrigger,
    read: () => collectUsbWin32(ctx),
    ...opts,
    pollMs: opts.pollMs === undefined ? null : opts.pollMs,
  });
}
