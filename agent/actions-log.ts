/**
 * The agent's log of its own actions (start, stop, policy applied, USB blocked or allowed, firewall
 * applied or rolled back, watchdog shedding): `actions.log` in the state folder, 0600, append-only,
 * one JSON line per action, each line's hash covering the previous line's hash, so an edited,
 * removed or reordered line shows. The head (last seq and hash) rides in every heartbeat, so the
 * server holds evidence of a cut-off tail or a rewritten log too.
 */
import { closeSync, constants, fchmodSync, fdatasyncSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { canonicalize } from '../shared/canonical.js';

export interface ActionEntry {
  seq: number;
  time: string;
  action: string;
  details: Record<string, unknown>;
  /** Hash of the previous entry (GENESIS for the first). */
  prev: string;
  hash: string;
}

export interface ActionsHead { seq: number; hash: string }

export interface ActionsLogCheck {
  entries: number;
  ok: boolean;
  /** The first seq that is missing, edited or out of chain; null when the chain holds. */
  firstBadSeq: number | null;
  problem: string | null;
  head: ActionsHead | null;
}

export const GENESIS = '0'.repeat(64);
/** Longest log verified or scanned (enforcement actions are rare: years of them fit). */
const MAX_BYTES = 64 * 1024 * 1024;
const MAX_DETAILS = 2000;

export function entryHash(e: Omit<ActionEntry, 'hash'>): string {
  return createHash('sha256').update(canonicalize({ seq: e.seq, time: e.time, action: e.action, details: e.details, prev: e.prev })).digest('hex');
}

function readCapped(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const size = Math.min(fstatSync(fd).size, MAX_BYTES);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (!n) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Walk the chain. `known` is a head someone else holds (the server's last heartbeat): a log whose
 * last seq is below it was cut off, one whose entry at that seq has another hash was rewritten.
 */
export function verifyActionsLog(path: string, known?: ActionsHead | null): ActionsLogCheck {
  const text = readCapped(path);
  const lines = text === null ? [] : text.split('\n').filter((l) => l.length > 0);
  let prev = GENESIS;
  let expect = 1;
  let head: ActionsHead | null = null;
  const bad = (seq: number, problem: string): ActionsLogCheck => ({ entries: lines.length, ok: false, firstBadSeq: seq, problem, head });
  for (const line of lines) {
    let e: ActionEntry;
    try {
      e = JSON.parse(line) as ActionEntry;
    } catch {
      return bad(expect, `entry ${expect}: not JSON (edited or torn)`);
    }
    if (typeof e !== 'object' || e === null || typeof e.seq !== 'number') return bad(expect, `entry ${expect}: not an entry`);
    if (e.seq !== expect) return bad(expect, e.seq > expect ? `entries ${expect}–${e.seq - 1} missing` : `entry ${e.seq} out of order after ${expect - 1}`);
    if (e.prev !== prev) return bad(e.seq, `entry ${e.seq}: does not follow entry ${e.seq - 1}`);
    if (entryHash(e) !== e.hash) return bad(e.seq, `entry ${e.seq}: edited (hash does not match)`);
    if (known && e.seq === known.seq && e.hash !== known.hash) return bad(e.seq, `entry ${e.seq}: differs from the head the server holds (log rewritten)`);
    prev = e.hash;
    head = { seq: e.seq, hash: e.hash };
    expect++;
  }
  if (known && (head?.seq ?? 0) < known.seq) {
    return { entries: lines.length, ok: false, firstBadSeq: (head?.seq ?? 0) + 1, problem: `log ends at entry ${head?.seq ?? 0}, the server holds entry ${known.seq} (tail cut off)`, head };
  }
  return { entries: lines.length, ok: true, firstBadSeq: null, problem: null, head };
}

/** Last entry that parses, for continuing the chain (a broken log goes on from its last good line). */
function lastHead(text: string): ActionsHead | null {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i]) continue;
    try {
      const e = JSON.parse(lines[i]!) as ActionEntry;
      if (typeof e.seq === 'number' && typeof e.hash === 'string') return { seq: e.seq, hash: e.hash };
    } catch { /* torn or edited: look further back */ }
  }
  return null;
}

export class ActionsLog {
  private fd: number;
  private headNow: ActionsHead | null;
  /** Entries that could not be written (full or failing disk); said once per failure spell. */
  unwritten = 0;
  private failing = false;

  constructor(readonly path: string, private readonly onError: (err: Error) => void = () => undefined) {
    this.fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    if (process.platform !== 'win32') fchmodSync(this.fd, 0o600);
    const text = readCapped(path) ?? '';
    this.headNow = lastHead(text);
    // A line torn by a crash stays (verify shows it); the next entry starts on its own line.
    if (text.length && !text.endsWith('\n')) this.write('\n');
  }

  head(): ActionsHead | null {
    return this.headNow;
  }

  append(action: string, details: Record<string, unknown>, time = new Date()): ActionEntry {
    const text = JSON.stringify(details);
    const capped = text.length > MAX_DETAILS
      ? { truncated: true, bytes: text.length, sha256: createHash('sha256').update(text).digest('hex') } : details;
    const body = { seq: (this.headNow?.seq ?? 0) + 1, time: time.toISOString(), action, details: capped, prev: this.headNow?.hash ?? GENESIS };
    const entry: ActionEntry = { ...body, hash: entryHash(body) };
    if (this.write(JSON.stringify(entry) + '\n')) this.headNow = { seq: entry.seq, hash: entry.hash };
    return entry;
  }

  private write(s: string): boolean {
    try {
      const buf = Buffer.from(s);
      for (let off = 0; off < buf.length;) off += writeSync(this.fd, buf, off);
      fdatasyncSync(this.fd);
      this.failing = false;
      return true;
    } catch (err) {
      this.unwritten++;
      if (!this.failing) this.onError(err as Error);
      this.failing = true;
      return false;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
