/**
 * Audits files written to removable volumes (art31, policy usb.auditFiles): one chokidar watcher per
 * removable mount, started after the mount appears (a watcher started before a mount never sees the
 * new file system) and closed when it goes. Each finished write becomes `media.file_written` with a
 * streamed SHA-256; a copy storm becomes one `media.files_burst` summary per window instead.
 * This file holds a hot path: the hashing loop reads every written byte up to the cap.
 *
 * Paths and names are untrusted data: they travel as JSON strings, never into a shell or markup.
 * Symlinks are never followed: chokidar watches links themselves (`followSymlinks: false`), a file
 * is opened with O_NOFOLLOW, and it must sit on the mount's own device (st_dev) to be read.
 *
 * Bursts: a mount that sees more than `burstThreshold` files in one `burstWindowMs` window gets
 * individual events for the first `burstThreshold` and one `media.files_burst` for the rest of the
 * window (count, total bytes, first and last `sampleSize` entries). In a burst only files up to
 * `burstHashMaxBytes` (1 MiB; 0 = none) are hashed, so the sampled entries carry hashes and a copy of
 * thousands of files costs at most a megabyte of reading each.
 *
 * Backpressure: the writer cannot be slowed and chokidar cannot be paused, so the work queue is
 * capped (`queueMax`). A file arriving at a full queue is not read at all: it is counted in its
 * window's summary (`unread`, with its path in the samples). Nothing is dropped silently: for every
 * window, individual events + summary `count` = files seen.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { newEvent, type AgentEvent } from '../../shared/events.js';
import type { Part } from '../supervisor.js';

export interface AuditMount {
  device: string;
  mountPoint: string;
  removable: boolean;
}

/** When the mount was first seen (ms since epoch); defaults to when mounted() is called. */
export interface MountedAt {
  seenAt?: number;
}

export interface FileAuditOptions {
  emit: (e: AgentEvent) => void;
  /** Policy usb.auditFiles; change later with setEnabled(). */
  enabled?: boolean;
  /** Largest file hashed outside bursts (64 MiB). */
  hashMaxBytes?: number;
  burstThreshold?: number;
  burstWindowMs?: number;
  /** Largest file hashed inside a burst (1 MiB); 0 hashes none. */
  burstHashMaxBytes?: number;
  /** Paths kept at each end of a burst summary. */
  sampleSize?: number;
  /** Files waiting to be read, across all mounts. */
  queueMax?: number;
  /** Files read at once. */
  concurrency?: number;
  /** chokidar awaitWriteFinish: size unchanged this long means the write is done. */
  stabilityMs?: number;
  stabilityPollMs?: number;
  /**
   * Files found by a watcher's initial scan count as written when their ctime is at most this long
   * before the mount was seen (ctime cannot be set from user space; `cp -a` keeps mtime, not ctime).
   */
  initialSlackMs?: number;
  onError?: (err: Error) => void;
}

interface Watched {
  mount: AuditMount;
  dev: number;
  watcher: FSWatcher;
  ready: Promise<void>;
  readyDone: boolean;
  /** Initial-scan files changed (ctime) at or after this are reported as written. */
  cutoffMs: number;
  window: Window | null;
  /** Files reported since the mount: a reconcile pass never reports one twice. */
  reported: Set<string>;
}

interface Window {
  start: number;
  end: number;
  timer: NodeJS.Timeout;
  seen: number;
  individual: number;
  burst: Burst | null;
}

interface Entry {
  path: string;
  size: number | null;
  sha256: string | null;
  reason?: string;
}

interface Burst {
  mount: AuditMount;
  windowStart: number;
  windowEnd: number | null;
  individual: number;
  count: number;
  /** `count` split by chokidar event: new files and rewrites of files seen before. */
  added: number;
  changed: number;
  totalBytes: number;
  hashed: number;
  notHashed: number;
  unread: number;
  pending: number;
  seq: number;
  first: Entry[];
  /** Ring of the latest entries: [seq, entry]. */
  last: [number, Entry][];
  emitted: boolean;
}

interface Item {
  w: Watched;
  path: string;
  event: 'add' | 'change';
  burst: Burst | null;
  entry: Entry | null;
}

export interface FileFacts {
  kind: 'file' | 'symlink' | 'other' | 'missing';
  size: number | null;
  mtime: string | null;
  sha256: string | null;
  /** Why sha256 is null. */
  reason?: string;
  linkTarget?: string;
}

const MiB = 1024 * 1024;
const BUF_SIZE = 1 * MiB;

/**
 * Facts about one written file, read safely: never through a symlink, never off `dev`, and hashed
 * only up to `cap` bytes (streamed, one buffer per reader). `cap < 0` skips reading.
 */
export async function inspectFile(path: string, dev: number, cap: number, buf: Buffer, skipReason = 'not hashed'): Promise<FileFacts> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    return { kind: 'missing', size: null, mtime: null, sha256: null, reason: `gone before it could be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  const base = { size: st.size, mtime: st.mtime.toISOString(), sha256: null };
  if (st.isSymbolicLink()) {
    const target = await readlink(path).catch(() => null);
    return { kind: 'symlink', ...base, reason: 'symlink: not followed', ...(target !== null ? { linkTarget: target.slice(0, 4096) } : {}) };
  }
  if (!st.isFile()) return { kind: 'other', ...base, reason: 'not a regular file' };
  if (st.dev !== dev) return { kind: 'file', ...base, reason: 'on another file system mounted inside the volume' };
  if (cap < 0) return { kind: 'file', ...base, reason: skipReason };
  if (st.size > cap) return { kind: 'file', ...base, reason: `larger than ${cap} bytes: not hashed` };
  let fh;
  try {
    // O_NONBLOCK: a FIFO swapped in after lstat must not hang the reader.
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    return { kind: 'file', ...base, reason: `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  try {
    const fst = await fh.stat();
    if (!fst.isFile() || fst.dev !== st.dev || fst.ino !== st.ino) return { kind: 'file', ...base, reason: 'replaced while being opened' };
    const hash = createHash('sha256');
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > cap) return { kind: 'file', size: total, mtime: fst.mtime.toISOString(), sha256: null, reason: `grew past ${cap} bytes while being hashed` };
      hash.update(buf.subarray(0, bytesRead));
    }
    return { kind: 'file', size: total, mtime: fst.mtime.toISOString(), sha256: hash.digest('hex') };
  } catch (e) {
    return { kind: 'file', ...base, reason: `read failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

export class FileAudit implements Part {
  readonly name = 'media.file_audit';
  private readonly watched = new Map<string, Watched>();
  /** Removable mounts we know of, watched or not (auditFiles may be switched on later). */
  private readonly mounts = new Map<string, AuditMount & Required<MountedAt>>();
  private queue: Item[] = [];
  private head = 0;
  private active = 0;
  private readonly buffers: Buffer[] = [];
  private idleWaiters: (() => void)[] = [];
  private settling = 0;
  private stopping = false;
  private enabled: boolean;
  readonly stats = { seen: 0, events: 0, bursts: 0, hashedFiles: 0, hashedBytes: 0, unread: 0, maxQueue: 0, preexisting: 0, caughtInScan: 0, reconciled: 0 };

  private readonly hashMax: number;
  private readonly threshold: number;
  private readonly windowMs: number;
  private readonly burstHashMax: number;
  private readonly sample: number;
  private readonly queueMax: number;
  private readonly concurrency: number;

  constructor(private readonly o: FileAuditOptions) {
    this.enabled = o.enabled ?? true;
    this.hashMax = o.hashMaxBytes ?? 64 * MiB;
    this.threshold = o.burstThreshold ?? 200;
    this.windowMs = o.burstWindowMs ?? 10_000;
    this.burstHashMax = o.burstHashMaxBytes ?? MiB;
    this.sample = o.sampleSize ?? 20;
    this.queueMax = o.queueMax ?? 10_000;
    this.concurrency = o.concurrency ?? 2;
  }

  /** Runs until the signal aborts, then closes every watcher and flushes what is pending. */
  async run(signal: AbortSignal): Promise<void> {
    this.stopping = false;
    if (!signal.aborted) await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    await this.stop();
  }

  /** MountWatcher's onMounted: starts the watcher (its initial scan runs on; see ready()). Non-removable mounts are ignored. */
  async mounted(m: AuditMount & MountedAt): Promise<void> {
    if (!m.removable || this.stopping) return;
    const at = { ...m, seenAt: m.seenAt ?? Date.now() };
    this.mounts.set(m.mountPoint, at);
    if (this.enabled) await this.startWatcher(at);
  }

  /** MountWatcher's onUnmounted: close the watcher; queued files are still reported. */
  async unmounted(m: Pick<AuditMount, 'mountPoint'>): Promise<void> {
    this.mounts.delete(m.mountPoint);
    await this.stopWatcher(m.mountPoint);
  }

  /** Policy usb.auditFiles changed. */
  async setEnabled(on: boolean): Promise<void> {
    this.enabled = on;
    if (on) for (const m of this.mounts.values()) await this.startWatcher(m);
    else for (const mp of [...this.watched.keys()]) await this.stopWatcher(mp);
  }

  /** Mount points with a running watcher. */
  watching(): string[] {
    return [...this.watched.keys()];
  }

  /** Resolves once the watcher of `mountPoint` finished its initial scan. */
  async ready(mountPoint: string): Promise<void> {
    await this.watched.get(mountPoint)?.ready;
  }

  /** Resolves when no file is queued or being read and every closed window's summary is out. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private isIdle(): boolean {
    return this.active === 0 && this.settling === 0 && this.queueLength() === 0;
  }

  private checkIdle(): void {
    if (this.isIdle()) for (const r of this.idleWaiters.splice(0)) r();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const mp of [...this.watched.keys()]) await this.stopWatcher(mp);
    await this.idle();
  }

  private async startWatcher(m: AuditMount & Required<MountedAt>): Promise<void> {
    if (this.watched.has(m.mountPoint)) return;
    let dev: number;
    try {
      dev = (await stat(m.mountPoint)).dev;
    } catch (e) {
      this.o.onError?.(new Error(`stat mount point ${JSON.stringify(m.mountPoint)}`, { cause: e }));
      return;
    }
    const watcher = watch(m.mountPoint, {
      persistent: true,
      // The initial scan's files are sorted by ctime in onInitial: on a big volume the scan takes
      // seconds, and a copy started right after mounting lands in it.
      ignoreInitial: false,
      followSymlinks: false,
      // chokidar's `atomic` silently ignores names like `x.swp`, `a~` and `.subl*.tmp`: an audit must not.
      atomic: false,
      awaitWriteFinish: { stabilityThreshold: this.o.stabilityMs ?? 300, pollInterval: this.o.stabilityPollMs ?? 100 },
      ignorePermissionErrors: false,
      usePolling: false,
    });
    const w: Watched = {
      mount: m, dev, watcher, readyDone: false, cutoffMs: m.seenAt - (this.o.initialSlackMs ?? 2000), window: null, reported: new Set(),
      ready: new Promise((r) => watcher.once('ready', () => { w.readyDone = true; r(); })),
    };
    watcher.on('add', (p: string, st?: Stats) => {
      if (w.readyDone) this.onFile(w, 'add', p);
      else void this.onInitial(w, p, st, 'add');
    });
    watcher.on('change', (p: string, st?: Stats) => {
      if (w.readyDone) this.onFile(w, 'change', p);
      else void this.onInitial(w, p, st, 'change');
    });
    watcher.on('error', (e: unknown) => this.o.onError?.(new Error(`watch ${JSON.stringify(m.mountPoint)}`, { cause: e })));
    this.watched.set(m.mountPoint, w);
    // chokidar can miss a copy that starts while it sets up (its scan sees an empty root, its watch
    // is not in place yet): once ready, and again a little later, walk the volume for files written
    // since the mount that nothing reported, and watch directories it does not.
    void w.ready.then(async () => {
      await this.reconcile(w);
      await new Promise((r) => setTimeout(r, 2000).unref());
      await this.reconcile(w);
    });
    // Not awaiting `ready`: the initial scan of a big volume takes seconds and must not hold up
    // the mount watcher; files met during it are sorted by ctime (onInitial).
  }

  private async stopWatcher(mountPoint: string): Promise<void> {
    const w = this.watched.get(mountPoint);
    if (!w) return;
    this.watched.delete(mountPoint);
    const closing = w.watcher.close();
    // close() drops every listener at once; a stat still in flight may then emit 'error', which
    // would throw with no listener left.
    w.watcher.on('error', () => undefined);
    await closing;
    if (w.window) this.closeWindow(w, w.window);
  }

  /** A file met before `ready`: already on the volume (skip), or written since the mount (audit). */
  private async onInitial(w: Watched, path: string, st: Stats | undefined, event: 'add' | 'change', reconciled = false): Promise<void> {
    let ctime = st?.ctimeMs;
    if (ctime === undefined) {
      try {
        ctime = (await lstat(path)).ctimeMs;
      } catch {
        ctime = Date.now(); // vanished already: report it as written and gone
      }
    }
    if (ctime < w.cutoffMs) {
      this.stats.preexisting++;
      return;
    }
    if (!reconciled) this.stats.caughtInScan++;
    // chokidar applies awaitWriteFinish only after `ready`: wait for the write to finish here.
    this.settling++;
    try {
      await this.settle(path);
    } finally {
      this.settling--;
    }
    // Reported even if the volume went away meanwhile (then as gone before it could be read).
    this.onFile(w, event, path);
    this.checkIdle();
  }

  /** Report files written since the mount that no event named; watch directories chokidar missed. */
  private async reconcile(w: Watched): Promise<void> {
    if (this.watched.get(w.mount.mountPoint) !== w) return;
    const watchedDirs = new Set(Object.keys(w.watcher.getWatched()));
    let budget = 200_000;
    const walk = async (dir: string, depth: number): Promise<void> => {
      if (depth > 64 || budget <= 0) return;
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return;
      }
      if (!watchedDirs.has(dir)) w.watcher.add(dir);
      for (const name of names) {
        if (--budget <= 0) return;
        const p = join(dir, name);
        let st;
        try {
          st = await lstat(p);
        } catch {
          continue;
        }
        if (st.dev !== w.dev) continue; // another file system mounted below: not this volume
        if (st.isDirectory()) await walk(p, depth + 1);
        else if ((st.isFile() || st.isSymbolicLink()) && st.ctimeMs >= w.cutoffMs && !w.reported.has(p)) {
          // Through the initial path: it waits for the write to finish before the file is read.
          this.stats.reconciled++;
          void this.onInitial(w, p, st, 'add', true);
        }
      }
    };
    await walk(w.mount.mountPoint, 0);
  }

  private onFile(w: Watched, event: 'add' | 'change', path: string): void {
    // A file reconciled first and then announced by chokidar is one file, reported once.
    if (event === 'add' && w.reported.has(path)) return;
    w.reported.add(path);
    this.stats.seen++;
    const now = Date.now();
    let win = w.window;
    if (!win || now >= win.end) {
      if (win) this.closeWindow(w, win);
      const timer = setTimeout(() => { if (w.window === win) this.closeWindow(w, win!); }, this.windowMs);
      timer.unref();
      win = w.window = { start: now, end: now + this.windowMs, timer, seen: 0, individual: 0, burst: null };
    }
    win.seen++;
    const full = this.queueLength() >= this.queueMax;
    if (win.seen <= this.threshold && !full) {
      win.individual++;
      this.enqueue({ w, path, event, burst: null, entry: null });
      return;
    }
    const b = win.burst ??= {
      mount: w.mount, windowStart: win.start, windowEnd: null, individual: 0, count: 0, added: 0, changed: 0, totalBytes: 0,
      hashed: 0, notHashed: 0, unread: 0, pending: 0, seq: 0, first: [], last: [], emitted: false,
    };
    b.count++;
    if (event === 'add') b.added++;
    else b.changed++;
    const entry: Entry = { path, size: null, sha256: null };
    const seq = b.seq++;
    if (seq < this.sample) b.first.push(entry);
    else {
      b.last.push([seq, entry]);
      if (b.last.length > this.sample) b.last.shift();
    }
    if (full) {
      b.unread++;
      b.notHashed++;
      this.stats.unread++;
      entry.reason = 'queue full: not read';
      return;
    }
    b.pending++;
    this.enqueue({ w, path, event, burst: b, entry });
  }

  private closeWindow(w: Watched, win: Window): void {
    clearTimeout(win.timer);
    if (w.window === win) w.window = null;
    if (win.burst) {
      win.burst.individual = win.individual;
      win.burst.windowEnd = Date.now();
      this.maybeEmitBurst(win.burst);
    }
  }

  private maybeEmitBurst(b: Burst): void {
    if (b.emitted || b.windowEnd === null || b.pending > 0) return;
    b.emitted = true;
    this.stats.bursts++;
    this.o.emit(newEvent('media.files_burst', 'medium', ['art31'], {
      mountPoint: b.mount.mountPoint,
      device: b.mount.device,
      windowStart: new Date(b.windowStart).toISOString(),
      windowEnd: new Date(b.windowEnd).toISOString(),
      individualEvents: b.individual,
      count: b.count,
      added: b.added,
      changed: b.changed,
      totalBytes: b.totalBytes,
      hashed: b.hashed,
      notHashed: b.notHashed,
      unread: b.unread,
      hashPolicy: this.burstHashMax > 0 ? `files up to ${this.burstHashMax} bytes hashed during a burst` : 'no hashing during a burst',
      first: b.first,
      last: b.last.map(([, e]) => e),
    }, new Date(b.windowEnd)));
  }

  private queueLength(): number {
    return this.queue.length - this.head;
  }

  private enqueue(item: Item): void {
    this.queue.push(item);
    this.stats.maxQueue = Math.max(this.stats.maxQueue, this.queueLength());
    this.pump();
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queueLength() > 0) {
      const item = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Item;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.active++;
      const buf = this.buffers.pop() ?? Buffer.allocUnsafe(BUF_SIZE);
      void this.process(item, buf).catch((e: unknown) => this.o.onError?.(e as Error)).finally(() => {
        this.buffers.push(buf);
        this.active--;
        this.pump();
        this.checkIdle();
      });
    }
  }

  /** awaitWriteFinish for files chokidar reported before `ready`: size and mtime still for stabilityMs (30 s at most). */
  private async settle(path: string): Promise<void> {
    const still = this.o.stabilityMs ?? 300;
    const poll = this.o.stabilityPollMs ?? 100;
    const give = Date.now() + 30_000;
    let last = '';
    let since = Date.now();
    while (Date.now() < give && !this.stopping) {
      const st = await lstat(path).catch(() => null);
      if (!st) return;
      const now = `${st.size}:${st.mtimeMs}`;
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since >= still) return;
      await new Promise((r) => setTimeout(r, poll));
    }
  }

  private async process(item: Item, buf: Buffer): Promise<void> {
    // While stopping, queued files are still reported (lstat only) rather than read.
    const cap = this.stopping ? -1 : item.burst ? (this.burstHashMax > 0 ? this.burstHashMax : -1) : this.hashMax;
    const skip = this.stopping ? 'not hashed: agent stopping' : 'not hashed during a burst';
    const f = await inspectFile(item.path, item.w.dev, cap, buf, skip);
    if (f.sha256 !== null) {
      this.stats.hashedFiles++;
      this.stats.hashedBytes += f.size ?? 0;
    }
    const b = item.burst;
    if (b && item.entry) {
      Object.assign(item.entry, { size: f.size, sha256: f.sha256, ...(f.reason ? { reason: f.reason } : {}) });
      b.totalBytes += f.size ?? 0;
      if (f.sha256 !== null) b.hashed++;
      else b.notHashed++;
      b.pending--;
      this.maybeEmitBurst(b);
      return;
    }
    this.stats.events++;
    this.o.emit(newEvent('media.file_written', 'low', ['art31'], {
      path: item.path,
      event: item.event,
      kind: f.kind,
      size: f.size,
      sha256: f.sha256,
      ...(f.reason ? { sha256Reason: f.reason } : {}),
      ...(f.linkTarget !== undefined ? { linkTarget: f.linkTarget } : {}),
      mtime: f.mtime,
      mountPoint: item.w.mount.mountPoint,
      device: item.w.mount.device,
    }));
  }
}
