/**
 * The agent's durable event journal: nothing whose append resolved is lost, nothing acked comes back,
 * even after SIGKILL mid-write (on a full disk, a crash may resend acked events; see below). Hot
 * path: append()/offer() and peek() run for every batch.
 *
 * On disk (folder 0700, files 0600):
 *   seg-<12 digits>.log  append-only, one line per event:
 *                        `<crc32 hex8> <rank 0-4> <uuid> <time ms> <event JSON>\n`, CRC over all after the first space;
 *                        rank is the severity (0 low … 3 critical), 4 marks the spool's own drop report.
 *   acks.log             one line per ack/drop call: `<crc32 hex8> {"a":[ids]} | {"d":[ids],"n":N} | {"t":N}\n`;
 *                        `t` is the dropped total at the last compaction, `n` what one drop round added.
 *   spool.lock           pid of the holder, created with O_EXCL.
 * A line that is torn (no newline) or fails its CRC is ignored: the call that wrote it never resolved.
 *
 * Bounds: `maxBytes` caps the live records; dead ones (acked or dropped, sharing a file with live ones)
 * and the journal are reclaimed whenever all files together pass `maxBytes + segmentBytes`.
 *
 * A disk that refuses writes (full, or failing): append() throws; offer() does not. offer() keeps the
 * high and critical events of a failed write in memory (bounded) and counts the others by severity and
 * type; the next write that succeeds carries the held events and an `agent.spool_dropped` with the
 * count (`reason` "disk_full" or "write_error"). Drops at the cap say `reason` "cap". While the journal
 * cannot be written, acks still free their records in memory (so their files can go and free space); a
 * crash before the journal catches up resends those events, which the server's idempotent ingest absorbs.
 */
import { open, type FileHandle } from 'node:fs/promises';
import {
  chmodSync, closeSync, constants, fsyncSync, openSync, readdirSync, readFileSync, readSync, renameSync,
  statSync, unlinkSync, writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { newEvent, isUuid, SEVERITY_RANK, SEVERITIES, type AgentEvent } from '../../shared/events.js';
import { TgError, isTgError } from '../../shared/errors.js';
import { ensureDir, fsyncDir, writeFileAtomic } from '../../shared/fs.js';

export interface SpoolOptions {
  maxBytes?: number;
  segmentBytes?: number;
  /** The clock of the drop reports and the fault record (tests simulate days with it); default Date.now. */
  now?: () => number;
  /** Called once when writes start failing (not per event), in order with the writes. */
  onFault?: (fault: SpoolFault) => void;
  /** Called by the first write that succeeds after a fault. */
  onRecover?: (r: SpoolRecovery) => void;
}
export interface SpoolDepth {
  events: number;
  bytes: number;
  segments: number;
  dropped: number; // total ever dropped and reported (cap and disk)
  held: number; // events of failed writes kept in memory, written when the disk takes them
  unreported: number; // events a failed write could not keep, counted for the next drop report
}

/** Why events were dropped: over the byte cap, or a disk that refused the write (ENOSPC/EDQUOT, or another error). */
export type DropReason = 'cap' | 'disk_full' | 'write_error';

/** The spool's write failure, while it lasts (cleared by the next write that succeeds). */
export interface SpoolFault {
  code: string; // errno code, e.g. ENOSPC
  reason: Exclude<DropReason, 'cap'>;
  message: string;
  since: string;
  last: string;
  failures: number;
}

/** The end of a fault: held events written (`released`) and the count of the others reported. */
export interface SpoolRecovery { released: number; reported: number; fault: SpoolFault; }

/**
 * What offer() did with a batch. `spooled`: every event is on disk, as durable as a resolved append.
 * Otherwise `held` ids wait in memory (written by the next write that succeeds, lost only if the process
 * ends first) and `dropped` ids are counted in the next `agent.spool_dropped`.
 */
export interface OfferResult {
  spooled: boolean;
  held: string[];
  dropped: string[];
  fault?: SpoolFault;
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;
const SEG_RE = /^seg-(\d{12})\.log$/;
const LOCK_FILE = 'spool.lock';
const JOURNAL_FILE = 'acks.log';
/** Rank of the spool's own drop report: folded into the next report (no count lost) before any event is dropped. */
const REPORT_RANK = 4;
/** `crc ␠ rank ␠ uuid ␠` — the time field starts here. */
const TIME_AT = 8 + 1 + 1 + 1 + 36 + 1;
const IDS_PER_JOURNAL_LINE = 1000;
/** The lock file: a pid and a newline. */
const LOCK_BYTES = String(process.pid).length + 1;
/** Journal lines cost ~40 bytes per id; compact when it is well past what a rewrite would hold. */
const JOURNAL_SLACK = 1024 * 1024;
/** Events of failed writes kept in memory: high and critical only, at most this many and these bytes. */
const HOLD_EVENTS = 1000;
const HOLD_BYTES = 1024 * 1024;
/** Kept in memory (rank ≥ this) when a write fails: high and critical. */
const HOLD_RANK = SEVERITY_RANK.high;

const LIVE = 0;
const DEAD = 1; // acked or dropped, still in a segment file; its id stays in the ack journal
const DUP = 2; // a second copy of a live id (an append that failed half-way, then retried)
const GONE = 3; // no longer in any file

/** Locks held by this process, so a second open here is refused while a pid-reusing restart is not. */
const heldLocks = new Set<string>();

interface Segment {
  no: number;
  path: string;
  first: number; // seq range [first, end) of its records
  end: number;
  size: number; // bytes in the file
  live: number;
  liveBytes: number;
  fd?: number; // read descriptor, opened on first peek
}

interface Pending { rank: number; id: string; time: number; type: string; line: Buffer; }

interface DropStats {
  count: number;
  by: number[]; // by severity rank
  since: number;
  until: number;
  /** By event type, where known: drops of events the spool never held (cap drops know only the severity). */
  types: Map<string, number> | null;
  /** Counts of earlier reports folded in, by their reason. */
  reasons: Map<string, number>;
}

function newStats(types = false): DropStats {
  return { count: 0, by: [0, 0, 0, 0], since: Infinity, until: -Infinity, types: types ? new Map() : null, reasons: new Map() };
}

/**
 * Per-record index as parallel typed arrays (~30 bytes a record plus its id string), so 500k small
 * events stay cheap; a record's seq is its append order and its index is `seq - base`.
 */
class Slots {
  base = 0;
  len = 0;
  rank = new Uint8Array(1024);
  state = new Uint8Array(1024);
  seg = new Uint32Array(1024);
  size = new Uint32Array(1024);
  off = new Float64Array(1024);
  time = new Float64Array(1024);
  ids: (string | undefined)[] = [];

  get end(): number { return this.base + this.len; }

  push(rank: number, state: number, seg: number, off: number, size: number, time: number, id: string): number {
    if (this.len === this.rank.length) this.resize(this.len * 2);
    const i = this.len++;
    this.rank[i] = rank; this.state[i] = state; this.seg[i] = seg;
    this.off[i] = off; this.size[i] = size; this.time[i] = time;
    this.ids[i] = id;
    return this.base + i;
  }

  /** Forget leading records that are in no file any more; amortised by doing it only in big steps. */
  trim(): void {
    let k = 0;
    while (k < this.len && this.state[k] === GONE) k++;
    if (k < 4096 || k * 2 < this.len) return;
    for (const a of [this.rank, this.state, this.seg, this.size, this.off, this.time]) a.copyWithin(0, k, this.len);
    this.ids.splice(0, k);
    this.base += k;
    this.len -= k;
    if (this.rank.length > 4096 && this.len * 4 < this.rank.length) this.resize(Math.max(1024, this.len * 2));
  }

  private resize(n: number): void {
    const grow = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n); b.set(a.subarray(0, this.len)); return b;
    };
    this.rank = grow(this.rank, (m) => new Uint8Array(m));
    this.state = grow(this.state, (m) => new Uint8Array(m));
    this.seg = grow(this.seg, (m) => new Uint32Array(m));
    this.size = grow(this.size, (m) => new Uint32Array(m));
    this.off = grow(this.off, (m) => new Float64Array(m));
    this.time = grow(this.time, (m) => new Float64Array(m));
  }
}

export class Spool {
  private readonly slots = new Slots();
  private readonly segs = new Map<number, Segment>(); // ascending segment number = append order
  private readonly liveIds = new Map<string, number>(); // id → seq
  private active: { seg: Segment; fh: FileHandle } | undefined;
  private journal: FileHandle | undefined;
  private journalSize = 0;
  private journalBroken = false; // a write failed half-way: rewrite before appending again
  private nextSegNo = 1;
  private liveBytes = 0;
  private deadOnDisk = 0;
  private dropped = 0;
  private head = 0; // no live record before this seq
  private readonly cursors = [0, 0, 0, 0, 0]; // per rank: no live record of that rank before this seq
  /** Drop reports handed out by the last peek: maybe on their way to the server, so never folded (counted twice). */
  private readonly lent = new Set<number>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Events of failed writes kept for the next write (high and critical), in emit order. */
  private held: Pending[] = [];
  private readonly heldIds = new Set<string>();
  private heldBytes = 0;
  /** Events failed writes could not keep, by reason, until a report of them is on disk. */
  private readonly lost = new Map<Exclude<DropReason, 'cap'>, DropStats>();
  private failure: SpoolFault | null = null;
  private readonly journalSlack: number;

  private constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly segmentBytes: number,
    private readonly now: () => number,
    private readonly hooks: Pick<SpoolOptions, 'onFault' | 'onRecover'>,
  ) {
    // Small spools (tests, tight disks) compact sooner: the journal counts against the files' bound.
    this.journalSlack = Math.min(JOURNAL_SLACK, Math.floor(segmentBytes / 4));
  }

  static async open(dir: string, opts: SpoolOptions = {}): Promise<Spool> {
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!(Number.isSafeInteger(maxBytes) && maxBytes > 0) || !(Number.isSafeInteger(segmentBytes) && segmentBytes > 0)) {
      throw new TgError('TG_E_CONFIG', `spool maxBytes and segmentBytes must be positive integers`);
    }
    const abs = resolve(dir);
    try {
      ensureDir(abs, 0o700);
      chmodSync(abs, 0o700);
    } catch (cause) {
      throw new TgError('TG_E_SPOOL', `create spool folder ${abs}`, { cause });
    }
    takeLock(abs);
    const spool = new Spool(abs, maxBytes, segmentBytes, opts.now ?? Date.now, { onFault: opts.onFault, onRecover: opts.onRecover });
    try {
      await spool.recover();
    } catch (e) {
      await spool.closeFiles();
      releaseLock(abs);
      throw e instanceof TgError ? e : new TgError('TG_E_SPOOL', `recover spool ${abs}`, { cause: e });
    }
    return spool;
  }

  /** Durable when it resolves; a write the disk refuses rejects with TG_E_SPOOL. */
  append(events: AgentEvent[]): Promise<void> {
    return this.serial(async () => {
      await this.put(this.encode(events), true);
    });
  }

  /**
   * append() for producers that must keep running on a full or failing disk: resolves either way and
   * says what became of the events (see OfferResult). Rejects only for invalid events or a closed spool.
   */
  offer(events: AgentEvent[]): Promise<OfferResult> {
    return this.serial(() => this.put(this.encode(events), false));
  }

  /** Try again to write what failed writes left in memory (held events, the count of the others). */
  retry(): Promise<OfferResult> {
    return this.offer([]);
  }

  /** The write failure that still lasts, or null. */
  fault(): SpoolFault | null {
    return this.failure ? { ...this.failure } : null;
  }

  peek(maxEvents: number, maxBytes = Number.POSITIVE_INFINITY): AgentEvent[] {
    this.assertOpen();
    const s = this.slots;
    let seq = Math.max(this.head, s.base);
    while (seq < s.end && s.state[seq - s.base] !== LIVE) seq++;
    this.head = seq;
    // Pick first, by stored line size (a little over the JSON size), so at least one event always comes out.
    const picks: number[] = [];
    let bytes = 0;
    for (; seq < s.end && picks.length < maxEvents; seq++) {
      const i = seq - s.base;
      if (s.state[i] !== LIVE) continue;
      const size = s.size[i]!;
      if (picks.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      picks.push(i);
    }
    this.lent.clear();
    for (const i of picks) if (s.rank[i] === REPORT_RANK) this.lent.add(i + s.base);
    const out: AgentEvent[] = [];
    for (let k = 0; k < picks.length;) {
      // One read per run of neighbouring records in one segment.
      const first = picks[k]!;
      const segNo = s.seg[first]!;
      const start = s.off[first]!;
      let stop = start + s.size[first]!;
      let j = k + 1;
      while (j < picks.length && s.seg[picks[j]!] === segNo && s.off[picks[j]!] === stop) stop += s.size[picks[j++]!]!;
      const buf = this.readAt(this.segs.get(segNo)!, start, stop - start);
      for (; k < j; k++) {
        const i = picks[k]!;
        const at = s.off[i]! - start;
        out.push(JSON.parse(bodyOf(buf.subarray(at, at + s.size[i]!))) as AgentEvent);
      }
    }
    return out;
  }

  ack(ids: string[]): Promise<void> {
    return this.serial(async () => {
      const hit = [...new Set(ids)].filter((id) => this.liveIds.has(id));
      if (hit.length === 0) return;
      try {
        await this.journalWrite({ a: hit });
      } catch {
        // A full disk must not stop the drain, which is what frees space: the journal is rewritten from
        // memory before its next line; a crash before that only resends events the server already has.
      }
      for (const id of hit) this.kill(this.liveIds.get(id)!);
      await this.tidy();
    });
  }

  depth(): SpoolDepth {
    let unreported = 0;
    for (const st of this.lost.values()) unreported += st.count;
    return {
      events: this.liveIds.size, bytes: this.liveBytes, segments: this.segs.size, dropped: this.dropped,
      held: this.held.length, unreported,
    };
  }

  close(): Promise<void> {
    if (this.closed) return this.queue.then(() => undefined);
    const done = this.serial(async () => {
      await this.closeFiles();
      releaseLock(this.dir);
    });
    this.closed = true;
    return done;
  }

  // --- serialisation -------------------------------------------------------------------------

  /** append/offer/ack/close run one at a time, in call order; peek and depth see only finished calls. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new TgError('TG_E_SPOOL', `spool ${this.dir} is closed`));
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new TgError('TG_E_SPOOL', `spool ${this.dir} is closed`);
  }

  // --- recovery ------------------------------------------------------------------------------

  private async recover(): Promise<void> {
    const names = readdirSync(this.dir);
    // A temp file is a rewrite or journal compaction that never reached its rename.
    for (const n of names) if (n.endsWith('.tmp')) unlinkSync(join(this.dir, n));
    const { dead, dropped } = this.readJournal();
    this.dropped = dropped;
    const nos = names.map((n) => SEG_RE.exec(n)?.[1]).filter((x): x is string => x !== undefined)
      .map(Number).sort((a, b) => a - b);
    for (const no of nos) this.loadSegment(no, dead);
    this.nextSegNo = (nos.at(-1) ?? 0) + 1;
    for (const seg of [...this.segs.values()]) if (seg.live === 0) this.deleteSegment(seg);
    if (nos.length > this.segs.size) fsyncDir(this.dir);
    // Always start from a clean journal: drops a torn tail and acks of records no file holds.
    await this.compactJournal();
  }

  private readJournal(): { dead: Set<string>; dropped: number } {
    const dead = new Set<string>();
    let base = 0;
    let added = 0;
    let buf: Buffer;
    try {
      buf = readFileSync(join(this.dir, JOURNAL_FILE));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { dead, dropped: 0 };
      throw new TgError('TG_E_SPOOL', `read spool ack journal in ${this.dir}`, { cause: e });
    }
    for (let pos = 0; pos < buf.length;) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0) break;
      const rec = checkedJson(buf, pos, nl);
      pos = nl + 1;
      if (!rec || typeof rec !== 'object') continue;
      const r = rec as { a?: unknown; d?: unknown; n?: unknown; t?: unknown };
      for (const list of [r.a, r.d]) if (Array.isArray(list)) for (const id of list) if (typeof id === 'string') dead.add(id);
      if (typeof r.n === 'number') added += r.n;
      if (typeof r.t === 'number') base = r.t;
    }
    return { dead, dropped: base + added };
  }

  private loadSegment(no: number, dead: Set<string>): void {
    const path = join(this.dir, segName(no));
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (cause) {
      throw new TgError('TG_E_SPOOL', `read spool segment ${path}`, { cause });
    }
    const seg: Segment = { no, path, first: this.slots.end, end: this.slots.end, size: buf.length, live: 0, liveBytes: 0 };
    this.segs.set(no, seg);
    for (let pos = 0; pos < buf.length;) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0) break; // torn tail: its append never resolved
      const rec = parseLine(buf, pos, nl);
      if (rec) {
        const size = nl + 1 - pos;
        const state = dead.has(rec.id) ? DEAD : this.liveIds.has(rec.id) ? DUP : LIVE;
        const seq = this.slots.push(rec.rank, state, no, pos, size, rec.time, rec.id);
        if (state === LIVE) {
          this.liveIds.set(rec.id, seq);
          seg.live++;
          seg.liveBytes += size;
          this.liveBytes += size;
        } else {
          this.deadOnDisk++;
        }
      }
      pos = nl + 1;
    }
    seg.end = this.slots.end;
  }

  // --- append --------------------------------------------------------------------------------

  private encode(events: AgentEvent[]): Pending[] {
    const out: Pending[] = [];
    const seen = new Set<string>();
    for (const ev of events) {
      if (!isUuid(ev.id) || !(SEVERITIES as readonly string[]).includes(ev.severity)) {
        throw new TgError('TG_E_EVENT_INVALID', `spool needs a UUID id and a known severity (event ${String(ev.id)})`);
      }
      // Appending an id already held is a retry; keeping one copy keeps peek free of duplicates.
      if (this.liveIds.has(ev.id) || this.heldIds.has(ev.id) || seen.has(ev.id)) continue;
      seen.add(ev.id);
      out.push(encodeLine(SEVERITY_RANK[ev.severity], ev));
    }
    return out;
  }

  /**
   * Write `fresh` after what earlier failed writes held, with a report of what they could not keep.
   * A write the disk refuses: strict rethrows; otherwise high and critical events are held, the rest counted.
   */
  private async put(fresh: Pending[], strict: boolean): Promise<OfferResult> {
    const batch = this.held.length ? [...this.held, ...fresh] : fresh;
    const losses = [...this.lost].map(([reason, st]) => ({ count: st.count, report: makeReport(reason, st, newStats(), this.now()) }));
    if (batch.length === 0 && losses.length === 0) return { spooled: true, held: [], dropped: [] };
    const reported = losses.reduce((n, l) => n + l.count, 0);
    try {
      const plan = this.planDrops(batch, losses.reduce((n, l) => n + l.report.line.length, 0));
      // A new array: `fresh` is still needed as it is if the write fails.
      const keep = batch.filter((_, k) => !plan.batchDropped.has(k));
      if (plan.report) keep.push(plan.report);
      for (const l of losses) keep.push(l.report);
      await this.write(keep);
      if (plan.report || reported) await this.commitDrops(plan.victims, plan.count + reported);
    } catch (e) {
      if (!isTgError(e) || e.code !== 'TG_E_SPOOL') throw e;
      const fault = this.noteFailure(e);
      if (strict) throw e;
      return this.keepWhatFits(fresh, fault);
    }
    const ended = this.failure;
    const released = this.held.length;
    this.held = [];
    this.heldIds.clear();
    this.heldBytes = 0;
    this.lost.clear();
    this.failure = null;
    if (ended) call(this.hooks.onRecover, { released, reported, fault: ended });
    await this.tidy();
    return { spooled: true, held: [], dropped: [] };
  }

  private noteFailure(e: TgError): SpoolFault {
    const code = errnoOf(e) ?? 'UNKNOWN';
    const at = new Date(this.now()).toISOString();
    const cause = (e.cause as Error | undefined)?.message;
    const first = !this.failure;
    this.failure = {
      code, reason: code === 'ENOSPC' || code === 'EDQUOT' ? 'disk_full' : 'write_error',
      message: cause ? `${e.message}: ${cause}` : e.message,
      since: this.failure?.since ?? at, last: at, failures: (this.failure?.failures ?? 0) + 1,
    };
    if (first) call(this.hooks.onFault, { ...this.failure });
    return { ...this.failure };
  }

  /** First come, first kept: an answer once given (held) stays true while the process lives. */
  private keepWhatFits(fresh: Pending[], fault: SpoolFault): OfferResult {
    const held: string[] = [];
    const dropped: string[] = [];
    for (const p of fresh) {
      if (p.rank >= HOLD_RANK && this.held.length < HOLD_EVENTS && this.heldBytes + p.line.length <= HOLD_BYTES) {
        this.held.push(p);
        this.heldIds.add(p.id);
        this.heldBytes += p.line.length;
        held.push(p.id);
        continue;
      }
      let st = this.lost.get(fault.reason);
      if (!st) this.lost.set(fault.reason, st = newStats(true));
      count(st, p.rank, p.time, p.type);
      dropped.push(p.id);
    }
    return { spooled: false, held, dropped, fault };
  }

  /**
   * Earlier drop reports are folded into the new one first (their counts survive), then events go by
   * lowest severity, oldest first within one; the new batch counts as newest. `extraBytes`: lines that
   * are written with the batch but are not candidates (reports of disk failures).
   */
  private planDrops(batch: Pending[], extraBytes = 0): { victims: number[]; batchDropped: Set<number>; report?: Pending; count: number } {
    const batchBytes = batch.reduce((n, p) => n + p.line.length, extraBytes);
    const victims: number[] = [];
    const batchDropped = new Set<number>();
    if (this.liveBytes + batchBytes <= this.maxBytes) return { victims, batchDropped, count: 0 };
    const stats = newStats();
    const folded = newStats();
    let freed = 0;
    const s = this.slots;
    const candidates = this.dropCandidates(batch);
    let report = makeReport('cap', stats, folded, this.now());
    for (;;) {
      while (this.liveBytes + batchBytes - freed + report.line.length > this.maxBytes) {
        const c = candidates.next();
        if (c.done) break;
        if (c.value.seq !== undefined) {
          const i = c.value.seq - s.base;
          victims.push(c.value.seq);
          freed += s.size[i]!;
          if (s.rank[i] === REPORT_RANK) this.fold(i, folded);
          else count(stats, s.rank[i]!, s.time[i]!);
        } else {
          const p = batch[c.value.k!]!;
          batchDropped.add(c.value.k!);
          freed += p.line.length;
          count(stats, p.rank, p.time);
        }
      }
      const next = makeReport('cap', stats, folded, this.now());
      const fits = this.liveBytes + batchBytes - freed + next.line.length <= this.maxBytes;
      const grew = next.line.length > report.line.length;
      report = next;
      // Counts only add digits, so this settles in a few rounds; if even an empty spool cannot hold
      // the report, it is written anyway: the count matters more than the last few bytes of the cap.
      if (fits || !grew) break;
    }
    return { victims, batchDropped, report, count: stats.count };
  }

  private *dropCandidates(batch: Pending[]): Generator<{ seq?: number; k?: number }> {
    const s = this.slots;
    for (const rank of [REPORT_RANK, 0, 1, 2, 3]) {
      // The cursor only skips records that are not live ones of this rank, so it is safe to keep.
      let seq = Math.max(this.cursors[rank]!, s.base);
      while (seq < s.end && !(s.state[seq - s.base] === LIVE && s.rank[seq - s.base] === rank)) seq++;
      this.cursors[rank] = seq;
      for (; seq < s.end; seq++) {
        const i = seq - s.base;
        if (s.state[i] === LIVE && s.rank[i] === rank && !this.lent.has(seq)) yield { seq };
      }
      for (let k = 0; k < batch.length; k++) if (batch[k]!.rank === rank) yield { k };
    }
  }

  private fold(i: number, into: DropStats): void {
    const s = this.slots;
    const seg = this.segs.get(s.seg[i]!)!;
    const ev = JSON.parse(bodyOf(this.readAt(seg, s.off[i]!, s.size[i]!))) as AgentEvent;
    const d = ev.data as {
      count?: number; reason?: string; bySeverity?: Record<string, number>; byReason?: Record<string, number>;
      byType?: Record<string, number>; since?: string; until?: string;
    };
    into.count += d.count ?? 0;
    SEVERITIES.forEach((sev, r) => { into.by[r]! += d.bySeverity?.[sev] ?? 0; });
    // Reports from before reasons existed were all cap drops.
    for (const [reason, n] of Object.entries(d.byReason ?? { [d.reason ?? 'cap']: d.count ?? 0 })) {
      if (typeof n === 'number') into.reasons.set(reason, (into.reasons.get(reason) ?? 0) + n);
    }
    if (d.byType) {
      into.types ??= new Map();
      for (const [type, n] of Object.entries(d.byType)) if (typeof n === 'number') into.types.set(type, (into.types.get(type) ?? 0) + n);
    }
    into.since = Math.min(into.since, Date.parse(d.since ?? '') || Infinity);
    into.until = Math.max(into.until, Date.parse(d.until ?? '') || -Infinity);
  }

  /**
   * The batch and its report are durable before the drops are recorded: a crash in between leaves
   * the old records live and the report over-counting, never records gone without a report.
   * `n` also counts events of failed writes that a report in the batch covers (no records to kill).
   */
  private async commitDrops(victims: number[], n: number): Promise<void> {
    const ids = victims.map((seq) => this.slots.ids[seq - this.slots.base]!);
    for (const seq of victims) this.kill(seq);
    try {
      await this.journalWrite({ d: ids, n });
    } catch {
      // The batch is durable, so append still succeeds; the next journal rewrite records these.
    }
    this.dropped += n;
  }

  private async write(items: Pending[]): Promise<void> {
    const buf = Buffer.concat(items.map((p) => p.line));
    const { seg, fh } = await this.activeFor(buf.length);
    const start = seg.size;
    try {
      await writeAll(fh, buf, start);
      await fh.sync();
    } catch (cause) {
      await this.sealAfterFailure(start);
      throw new TgError('TG_E_SPOOL', `append to spool segment ${seg.path}`, { cause });
    }
    let off = start;
    for (const p of items) {
      const seq = this.slots.push(p.rank, LIVE, seg.no, off, p.line.length, p.time, p.id);
      this.liveIds.set(p.id, seq);
      off += p.line.length;
    }
    seg.end = this.slots.end;
    seg.size = off;
    seg.live += items.length;
    seg.liveBytes += buf.length;
    this.liveBytes += buf.length;
  }

  private async activeFor(bytes: number): Promise<{ seg: Segment; fh: FileHandle }> {
    const a = this.active;
    if (a && a.seg.size > 0 && a.seg.size + bytes > this.segmentBytes) await this.seal();
    if (this.active) return this.active;
    const no = this.nextSegNo++;
    const path = join(this.dir, segName(no));
    let fh: FileHandle;
    try {
      fh = await open(path, 'wx+', 0o600);
    } catch (cause) {
      throw new TgError('TG_E_SPOOL', `create spool segment ${path}`, { cause });
    }
    fsyncDir(this.dir); // the file's name must outlive a power cut as much as its bytes
    const seg: Segment = { no, path, first: this.slots.end, end: this.slots.end, size: 0, live: 0, liveBytes: 0, fd: fh.fd };
    this.segs.set(no, seg);
    this.active = { seg, fh };
    return this.active;
  }

  private async seal(): Promise<void> {
    const a = this.active;
    if (!a) return;
    this.active = undefined;
    a.seg.fd = undefined;
    await a.fh.close().catch(() => undefined);
  }

  /** Cut a half-written batch off if the disk lets us, and never write after it again. */
  private async sealAfterFailure(start: number): Promise<void> {
    const a = this.active;
    if (!a) return;
    try {
      await a.fh.truncate(start);
      a.seg.size = start;
    } catch {
      try { a.seg.size = (await a.fh.stat()).size; } catch { /* keep the old size; only compaction uses it */ }
    }
    await this.seal();
    if (a.seg.live === 0) {
      try { this.deleteSegment(a.seg); } catch { /* retried by the next open */ }
    }
  }

  // --- ack and reclaim -----------------------------------------------------------------------

  private kill(seq: number): void {
    const s = this.slots;
    const i = seq - s.base;
    if (s.state[i] !== LIVE) return;
    s.state[i] = DEAD;
    this.deadOnDisk++;
    this.liveIds.delete(s.ids[i]!);
    const seg = this.segs.get(s.seg[i]!)!;
    seg.live--;
    seg.liveBytes -= s.size[i]!;
    this.liveBytes -= s.size[i]!;
  }

  /** Best effort: a failure here leaves extra bytes on disk, never a lost or resurrected record. */
  private async tidy(): Promise<void> {
    let deleted = false;
    for (const seg of [...this.segs.values()]) {
      if (seg.live > 0) continue;
      try {
        if (this.active?.seg === seg) await this.seal();
        this.deleteSegment(seg);
        deleted = true;
      } catch { /* retried by the next tidy or open */ }
    }
    // The deletions must be durable before a journal rewrite forgets the acks of their records.
    if (deleted) fsyncDir(this.dir);
    for (const seg of [...this.segs.values()]) {
      const waste = seg.size - seg.liveBytes;
      if (seg === this.active?.seg || waste * 2 < seg.size || waste * 2 < this.segmentBytes) continue;
      try { await this.rewrite(seg); } catch { /* the old file is intact */ }
    }
    this.slots.trim();
    if (this.journalSize > this.journalSlack + 2 * 40 * this.deadOnDisk) {
      try { await this.compactJournal(); } catch { this.journalBroken = true; }
    }
    await this.reclaim();
  }

  /** Every file of the spool, as the bound `maxBytes + segmentBytes` counts them. */
  private filesBytes(): number {
    let n = this.journalSize + LOCK_BYTES;
    for (const seg of this.segs.values()) n += seg.size;
    return n;
  }

  /**
   * The cap holds the live records; dead ones and the journal ride on top of it. Once all files pass
   * one segment over the cap, rewrite the holiest segments (the active one too, if need be) until
   * half a segment is free again, then shrink the journal to the ids still on disk.
   */
  private async reclaim(): Promise<void> {
    if (this.filesBytes() <= this.maxBytes + this.segmentBytes) return;
    const target = this.maxBytes + this.segmentBytes / 2;
    // What the journal holds after a compaction: ~40 bytes per dead id still on disk.
    const projected = () => this.filesBytes() - this.journalSize + Math.min(this.journalSize, 64 + 41 * this.deadOnDisk);
    const waste = (seg: Segment) => seg.size - seg.liveBytes;
    const holey = [...this.segs.values()].filter((seg) => seg.live > 0 && waste(seg) > 0).sort((a, b) => waste(b) - waste(a));
    try {
      for (const seg of holey) {
        if (projected() <= target) break;
        if (seg === this.active?.seg) await this.seal();
        await this.rewrite(seg);
      }
      if (this.journalSize > 2 * (64 + 41 * this.deadOnDisk)) await this.compactJournal();
    } catch {
      // The old files are intact (a failed compaction is redone before the next journal line).
    }
  }

  private deleteSegment(seg: Segment): void {
    if (seg.fd !== undefined && this.active?.seg !== seg) closeSync(seg.fd);
    seg.fd = undefined;
    try {
      unlinkSync(seg.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.segs.delete(seg.no);
    const s = this.slots;
    for (let seq = Math.max(seg.first, s.base); seq < seg.end; seq++) this.forget(seq - s.base);
  }

  private forget(i: number): void {
    const s = this.slots;
    if (s.state[i] === DEAD || s.state[i] === DUP) this.deadOnDisk--;
    s.state[i] = GONE;
    s.ids[i] = undefined;
  }

  /** Copy a holey sealed segment's live records to a temp file, fsync, rename over it. */
  private async rewrite(seg: Segment): Promise<void> {
    const s = this.slots;
    const old = readFileSync(seg.path);
    const parts: Buffer[] = [];
    const offs = new Map<number, number>();
    let size = 0;
    for (let seq = Math.max(seg.first, s.base); seq < seg.end; seq++) {
      const i = seq - s.base;
      if (s.state[i] !== LIVE) continue;
      parts.push(old.subarray(s.off[i]!, s.off[i]! + s.size[i]!));
      offs.set(i, size);
      size += s.size[i]!;
    }
    const tmp = `${seg.path}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await writeAll(fh, Buffer.concat(parts, size), 0);
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => undefined);
      try { unlinkSync(tmp); } catch { /* removed on the next open */ }
      throw e;
    }
    await fh.close();
    // From the rename on, everything is synchronous, so a peek never sees new offsets on the old file.
    renameSync(tmp, seg.path);
    fsyncDir(this.dir);
    for (let seq = Math.max(seg.first, s.base); seq < seg.end; seq++) {
      const i = seq - s.base;
      const at = offs.get(i);
      if (at !== undefined) s.off[i] = at;
      else this.forget(i);
    }
    if (seg.fd !== undefined) closeSync(seg.fd);
    seg.fd = undefined;
    seg.size = size;
  }

  // --- ack journal ---------------------------------------------------------------------------

  private async journalWrite(rec: object): Promise<void> {
    if (this.journalBroken || !this.journal) await this.compactJournal();
    const line = Buffer.from(jsonLine(rec));
    try {
      await writeAll(this.journal!, line, null);
      await this.journal!.sync();
    } catch (cause) {
      this.journalBroken = true;
      throw new TgError('TG_E_SPOOL', `write spool ack journal in ${this.dir}`, { cause });
    }
    this.journalSize += line.length;
  }

  /** Rewrite the journal to hold only the dropped total and the ids still present in some segment. */
  private async compactJournal(): Promise<void> {
    const s = this.slots;
    const ids = new Set<string>();
    for (let i = 0; i < s.len; i++) {
      const id = s.ids[i];
      if ((s.state[i] === DEAD || s.state[i] === DUP) && id !== undefined && !this.liveIds.has(id)) ids.add(id);
    }
    const lines = [jsonLine({ t: this.dropped })];
    const all = [...ids];
    for (let k = 0; k < all.length; k += IDS_PER_JOURNAL_LINE) lines.push(jsonLine({ a: all.slice(k, k + IDS_PER_JOURNAL_LINE) }));
    const text = lines.join('');
    const path = join(this.dir, JOURNAL_FILE);
    const old = this.journal;
    this.journal = undefined;
    await old?.close().catch(() => undefined);
    try {
      writeFileAtomic(path, text, 0o600);
      this.journal = await open(path, 'a', 0o600);
    } catch (cause) {
      this.journalBroken = true;
      throw new TgError('TG_E_SPOOL', `rewrite spool ack journal ${path}`, { cause });
    }
    this.journalSize = Buffer.byteLength(text);
    this.journalBroken = false;
  }

  // --- files ---------------------------------------------------------------------------------

  private readAt(seg: Segment, pos: number, len: number): Buffer {
    const buf = Buffer.allocUnsafe(len);
    try {
      seg.fd ??= openSync(seg.path, 'r');
      for (let got = 0; got < len;) {
        const n = readSync(seg.fd, buf, got, len - got, pos + got);
        if (n === 0) throw new Error('unexpected end of file');
        got += n;
      }
    } catch (cause) {
      throw new TgError('TG_E_SPOOL', `read spool segment ${seg.path}`, { cause });
    }
    return buf;
  }

  private async closeFiles(): Promise<void> {
    await this.seal();
    for (const seg of this.segs.values()) {
      if (seg.fd !== undefined) try { closeSync(seg.fd); } catch { /* closing anyway */ }
      seg.fd = undefined;
    }
    await this.journal?.close().catch(() => undefined);
    this.journal = undefined;
  }
}

// --- line format ------------------------------------------------------------------------------

function segName(no: number): string {
  return `seg-${String(no).padStart(12, '0')}.log`;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function encodeLine(rank: number, ev: AgentEvent): Pending {
  const time = Date.parse(ev.time);
  const t = Number.isFinite(time) ? time : 0;
  const payload = Buffer.from(`${rank} ${ev.id} ${t} ${JSON.stringify(ev)}`);
  const line = Buffer.allocUnsafe(payload.length + 10);
  line.write(hex8(crc32(payload)), 0, 'latin1');
  line[8] = 32;
  payload.copy(line, 9);
  line[line.length - 1] = 10;
  return { rank, id: ev.id, time: t, type: ev.type, line };
}

/** Validate one segment line [start, nl) and return its index fields, or undefined if damaged. */
function parseLine(buf: Buffer, start: number, nl: number): { rank: number; id: string; time: number } | undefined {
  if (nl - start < TIME_AT + 3 || buf[start + 8] !== 32) return undefined;
  if (buf.toString('latin1', start, start + 8) !== hex8(crc32(buf.subarray(start + 9, nl)))) return undefined;
  const rank = buf[start + 9]! - 48;
  if (rank < 0 || rank > REPORT_RANK || buf[start + 10] !== 32 || buf[start + TIME_AT - 1] !== 32) return undefined;
  const sp = buf.indexOf(32, start + TIME_AT);
  if (sp < 0 || sp >= nl || buf[sp + 1] !== 0x7b) return undefined;
  const time = Number(buf.toString('latin1', start + TIME_AT, sp));
  const id = buf.toString('latin1', start + 11, start + TIME_AT - 1);
  if (!Number.isFinite(time) || !isUuid(id)) return undefined;
  return { rank, id, time };
}

/** The event JSON of one stored line (the line includes its newline). */
function bodyOf(line: Buffer): string {
  return line.toString('utf8', line.indexOf(32, TIME_AT) + 1, line.length - 1);
}

function jsonLine(rec: object): string {
  const json = JSON.stringify(rec);
  return `${hex8(crc32(json))} ${json}\n`;
}

function checkedJson(buf: Buffer, start: number, nl: number): unknown {
  if (nl - start < 10 || buf[start + 8] !== 32) return undefined;
  if (buf.toString('latin1', start, start + 8) !== hex8(crc32(buf.subarray(start + 9, nl)))) return undefined;
  try { return JSON.parse(buf.toString('utf8', start + 9, nl)); } catch { return undefined; }
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number | null): Promise<void> {
  for (let done = 0; done < buf.length;) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position === null ? null : position + done);
    done += bytesWritten;
  }
}

// --- drop report ------------------------------------------------------------------------------

function count(stats: DropStats, rank: number, time: number, type?: string): void {
  stats.count++;
  stats.by[rank]!++;
  if (time < stats.since) stats.since = time;
  if (time > stats.until) stats.until = time;
  if (stats.types && type !== undefined) stats.types.set(type, (stats.types.get(type) ?? 0) + 1);
}

/**
 * `reason` is why this report's own drops happened; `byReason` also holds the reports it folded in, so
 * counts per reason survive folding (sum of byReason = count). `byType` only where types are known.
 */
function makeReport(reason: DropReason, own: DropStats, folded: DropStats, now: number): Pending {
  const since = Math.min(own.since, folded.since);
  const until = Math.max(own.until, folded.until);
  const iso = (t: number): string => new Date(Number.isFinite(t) ? t : now).toISOString();
  const bySeverity = Object.fromEntries(SEVERITIES.map((sev, r) => [sev, own.by[r]! + folded.by[r]!]));
  const byReason = Object.fromEntries(folded.reasons);
  byReason[reason] = (byReason[reason] ?? 0) + own.count;
  let types: Map<string, number> | null = null;
  for (const m of [own.types, folded.types]) {
    if (!m) continue;
    types ??= new Map();
    for (const [type, n] of m) types.set(type, (types.get(type) ?? 0) + n);
  }
  const ev = newEvent('agent.spool_dropped', 'high', ['art19', 'art33'], {
    reason, count: own.count + folded.count, bySeverity, byReason, ...(types ? { byType: Object.fromEntries(types) } : {}),
    since: iso(since), until: iso(until),
  }, new Date(now));
  return encodeLine(REPORT_RANK, ev);
}

/** A caller's hook must not break the write path. */
function call<T>(fn: ((arg: T) => void) | undefined, arg: T): void {
  try { fn?.(arg); } catch { /* the hook's own problem */ }
}

/** The errno code (ENOSPC, EIO, …) somewhere in an error's cause chain. */
function errnoOf(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  }
  return undefined;
}

// --- lock -------------------------------------------------------------------------------------

function takeLock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  if (heldLocks.has(dir)) throw new TgError('TG_E_LOCKED', `spool ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      heldLocks.add(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new TgError('TG_E_SPOOL', `create spool lock ${path}`, { cause: e });
      }
    }
    const holder = readLockPid(path);
    if (holder === null) continue; // removed meanwhile: race for it again
    if (holderAlive(holder, path)) throw new TgError('TG_E_LOCKED', `spool ${dir} is held by pid ${holder ?? '?'}`);
    // Stale: remove it only while it still names the same dead holder, then race for O_EXCL again.
    if (readLockPid(path) === holder) {
      try { unlinkSync(path); } catch { /* someone else took it over first */ }
    }
  }
  throw new TgError('TG_E_LOCKED', `spool ${dir} is held by another process`);
}

/** The pid in the lock file; undefined if unreadable as one, null if the file is gone. */
function readLockPid(path: string): number | undefined | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? null : undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function holderAlive(pid: number | undefined, path: string): boolean {
  if (pid === undefined) {
    // Empty or garbled: a holder may be between its create and its write, so give it a moment.
    try { return Date.now() - statSync(path).mtimeMs < 5000; } catch { return false; }
  }
  // Our own pid without our own lock is a previous run that got the same pid (containers).
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseLock(dir: string): void {
  heldLocks.delete(dir);
  const path = join(dir, LOCK_FILE);
  if (readLockPid(path) === process.pid) {
    try { unlinkSync(path); } catch { /* already gone */ }
  }
}
