/**
 * The Linux connection table, read straight from `<procfs>/net/{tcp,tcp6,udp,udp6}` (the kernel
 * formats them; parsing is a fixed-offset walk) and attributed to processes through
 * `<procfs>/<pid>/fd` — the expensive part, so inode → pid answers are cached and a full walk runs
 * only when a socket we are asked about is not in the cache. `/proc/net` is per network namespace.
 */
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAddress } from '../../collectors/listening/parse.js';
import type { Conn, ConnState, Family, ProcessInfo, Proto } from '../types.js';

const TCP_STATES: Record<string, ConnState> = {
  '01': 'established', '02': 'syn_sent', '03': 'syn_recv', '04': 'fin_wait1', '05': 'fin_wait2', '06': 'time_wait',
  '07': 'close', '08': 'close_wait', '09': 'last_ack', '0A': 'listen', '0B': 'closing', '0C': 'new_syn_recv',
};

const TABLES: [string, Proto, Family][] = [['tcp', 'tcp', 4], ['tcp6', 'tcp', 6], ['udp', 'udp', 4], ['udp6', 'udp', 6]];

/** Hex → dotted/colon text, remembered: a table repeats the same few addresses thousands of times. */
const addressMemo = new Map<string, string>();
function address(hex: string): string {
  let a = addressMemo.get(hex);
  if (a === undefined) {
    a = decodeAddress(hex);
    if (addressMemo.size > 20_000) addressMemo.clear();
    addressMemo.set(hex, a);
  }
  return a;
}

export interface ProcNetRow extends Conn { uid: number; inode: number }

/**
 * Every row of one /proc/net table. Row layout (net/ipv4/tcp_ipv4.c, udp.c, ipv6):
 * `sl: LOCAL:PORT REMOTE:PORT ST TX:RX TR:WHEN RETRNSMT UID TIMEOUT INODE ...`, addresses as 8 or 32
 * hex digits in host byte order. Malformed rows are skipped.
 */
export function parseProcNetAll(text: string, proto: Proto, family: Family, out: ProcNetRow[] = []): ProcNetRow[] {
  const alen = family === 4 ? 8 : 32;
  let pos = text.indexOf('\n') + 1; // header
  const n = text.length;
  while (pos > 0 && pos < n) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    const colon = text.indexOf(':', pos);
    const p = colon + 2;
    pos = end + 1;
    if (colon < 0 || p + 2 * (alen + 6) + 2 > end) continue;
    if (text.charCodeAt(p + alen) !== 58 || text.charCodeAt(p + alen + 5 + 1 + alen) !== 58) continue; // ':'
    const lport = parseInt(text.substr(p + alen + 1, 4), 16);
    const r = p + alen + 6;
    const rport = parseInt(text.substr(r + alen + 1, 4), 16);
    const st = text.substr(r + alen + 6, 2);
    // After state: tx:rx (17) tr:when (11) retrnsmt (8), then space-separated uid, timeout, inode.
    let q = r + alen + 6 + 2 + 1 + 17 + 1 + 11 + 1 + 8;
    const fields: number[] = [];
    while (fields.length < 3 && q < end) {
      while (q < end && text.charCodeAt(q) === 32) q++;
      const s = q;
      while (q < end && text.charCodeAt(q) !== 32) q++;
      fields.push(Number(text.slice(s, q)));
    }
    if (fields.length < 3 || !Number.isFinite(lport) || !Number.isFinite(rport)) continue;
    const remoteAddress = address(text.substr(r, alen));
    let state: ConnState;
    if (proto === 'tcp') {
      const s = TCP_STATES[st];
      if (!s) continue;
      state = s;
    } else state = rport === 0 ? 'unconnected' : 'connected';
    out.push({
      proto, family, localAddress: address(text.substr(p, alen)), localPort: lport, remoteAddress, remotePort: rport,
      state, uid: fields[0]!, inode: fields[2]!, pid: null,
    });
  }
  return out;
}

export function readProcNet(procfs: string): ProcNetRow[] {
  const rows: ProcNetRow[] = [];
  let readable = 0;
  for (const [file, proto, family] of TABLES) {
    let text: string;
    try {
      text = readFileSync(join(procfs, 'net', file), 'latin1');
    } catch {
      continue; // no IPv6 in the kernel: tcp6/udp6 are absent
    }
    readable++;
    parseProcNetAll(text, proto, family, rows);
  }
  if (readable === 0) throw new Error(`${join(procfs, 'net')}: no tcp/udp tables readable`);
  return rows;
}

/** uid → account name from an /etc/passwd text. */
export function parsePasswd(text: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]!)) if (!m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
  }
  return m;
}

/**
 * inode → pid, cached. `attribute` fills `pid` and `process` of the rows given. A socket not in the
 * cache triggers one walk of every `/proc/<pid>/fd` (then remembered; sockets the walk cannot place
 * — another user namespace, TIME_WAIT — are looked for again only every `rescanEvery` calls).
 */
export class ProcessAttributor {
  private owners = new Map<number, number>();
  private unowned = new Set<number>();
  private processes = new Map<number, ProcessInfo>();
  private users: Map<number, string> | null = null;
  private calls = 0;
  readonly stats = { walks: 0, fdsRead: 0 };

  constructor(readonly procfs: string, readonly passwdPath = '/etc/passwd', readonly rescanEvery = 30) {}

  attribute(rows: ProcNetRow[]): void {
    this.calls++;
    const missing = new Set<number>();
    for (const r of rows) {
      if (r.inode === 0) continue;
      if (!this.owners.has(r.inode) && (!this.unowned.has(r.inode) || this.calls % this.rescanEvery === 0)) missing.add(r.inode);
    }
    if (missing.size > 0) this.walk(missing);
    const alive = new Map<number, boolean>();
    for (const r of rows) {
      const pid = this.owners.get(r.inode);
      if (pid === undefined) { r.process = null; continue; }
      let live = alive.get(pid);
      if (live === undefined) {
        live = exists(join(this.procfs, String(pid)));
        alive.set(pid, live);
        if (!live) this.forget(pid);
      }
      r.pid = live ? pid : null;
      r.process = live ? this.process(pid, r.uid) : null;
    }
  }

  /** Drop cache entries of sockets no longer in the table. */
  prune(present: Set<number>): void {
    for (const inode of this.owners.keys()) if (!present.has(inode)) this.owners.delete(inode);
    for (const inode of this.unowned) if (!present.has(inode)) this.unowned.delete(inode);
    const pids = new Set(this.owners.values());
    for (const pid of this.processes.keys()) if (!pids.has(pid)) this.processes.delete(pid);
  }

  private forget(pid: number): void {
    for (const [inode, p] of this.owners) if (p === pid) this.owners.delete(inode);
    this.processes.delete(pid);
  }

  private walk(missing: Set<number>): void {
    this.stats.walks++;
    let pids: string[];
    try {
      pids = readdirSync(this.procfs);
    } catch {
      return;
    }
    for (const pid of pids) {
      const c = pid.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const fdDir = join(this.procfs, pid, 'fd');
      let fds: string[];
      try {
        fds = readdirSync(fdDir);
      } catch {
        continue; // gone, or not ours to read
      }
      for (const fd of fds) {
        let t: string;
        try {
          t = readlinkSync(join(fdDir, fd));
        } catch {
          continue;
        }
        this.stats.fdsRead++;
        if (!t.startsWith('socket:[')) continue;
        const inode = Number(t.slice(8, -1));
        if (!missing.has(inode)) continue;
        this.owners.set(inode, Number(pid));
        missing.delete(inode);
      }
      if (missing.size === 0) break;
    }
    for (const inode of missing) this.unowned.add(inode);
  }

  private process(pid: number, uid: number): ProcessInfo {
    let p = this.processes.get(pid);
    if (p) return p;
    const dir = join(this.procfs, String(pid));
    let name: string | null = null;
    let exe: string | null = null;
    try { name = readFileSync(join(dir, 'comm'), 'utf8').trim() || null; } catch { /* gone */ }
    try { exe = readlinkSync(join(dir, 'exe')); } catch { /* kernel thread, or not ours to read */ }
    p = { pid, name, exe, user: this.user(uid) };
    this.processes.set(pid, p);
    return p;
  }

  private user(uid: number): string {
    if (!this.users) {
      try {
        this.users = parsePasswd(readFileSync(this.passwdPath, 'utf8'));
      } catch {
        this.users = new Map();
      }
    }
    return this.users.get(uid) ?? String(uid);
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
