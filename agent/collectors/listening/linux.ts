/**
 * Listening sockets from /proc/net/* (cheap: the kernel formats them) and their owners from /proc/[pid]/fd.
 * Walking every fd of every process is the expensive part (~90 ms with 10,000 sockets), so the
 * inode → (pid, fd) answers are cached and re-verified with one readlink each; only a socket not in
 * the cache (or whose fd moved) triggers a full walk.
 */
import { join } from 'node:path';
import type { ListeningData, SocketData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { linkTarget, listDir, readText, trimmed } from '../util.js';
import { parseProcNet, sortSockets, type ProcNetRow } from './parse.js';

export class SocketOwnerCache {
  private owners = new Map<number, { pid: number; fd: string }>();
  /** Inodes a full walk did not find (owner in another pid namespace, or fds we cannot read): not worth a walk every poll. */
  private unowned = new Set<number>();
  private sinceScan = 0;
  readonly stats = { fullScans: 0, verified: 0 };

  /** @param rescanEvery polls after which sockets without a known owner are looked for again */
  constructor(readonly rescanEvery = 30) {}

  async resolve(procfs: string, inodes: Set<number>): Promise<Map<number, number>> {
    const found = new Map<number, number>();
    const missing = new Set<number>();
    for (const inode of inodes) {
      const c = this.owners.get(inode);
      if (c && (await linkTarget(join(procfs, String(c.pid), 'fd', c.fd))) === `socket:[${inode}]`) {
        found.set(inode, c.pid);
        this.stats.verified++;
      } else missing.add(inode);
    }
    for (const inode of this.owners.keys()) if (!inodes.has(inode)) this.owners.delete(inode);
    for (const inode of this.unowned) if (!inodes.has(inode)) this.unowned.delete(inode);
    this.sinceScan++;
    const news = [...missing].some((i) => !this.unowned.has(i));
    if (missing.size === 0 || (!news && this.sinceScan < this.rescanEvery)) return found;
    this.sinceScan = 0;
    this.stats.fullScans++;
    for (const pid of await listDir(procfs)) {
      if (!/^\d+$/.test(pid)) continue;
      const fdDir = join(procfs, pid, 'fd');
      for (const fd of await listDir(fdDir)) {
        const t = await linkTarget(join(fdDir, fd));
        if (!t?.startsWith('socket:[')) continue;
        const inode = Number(t.slice(8, -1));
        if (!missing.has(inode)) continue;
        this.owners.set(inode, { pid: Number(pid), fd });
        found.set(inode, Number(pid));
        missing.delete(inode);
      }
      if (missing.size === 0) break;
    }
    this.unowned = missing;
    return found;
  }
}

export function makeLinuxListening(cache: SocketOwnerCache) {
  return async (ctx: CollectorContext): Promise<ListeningData> => {
    const rows: ProcNetRow[] = [];
    let readable = 0;
    for (const [file, protocol, family] of [['tcp', 'tcp', 'ipv4'], ['tcp6', 'tcp', 'ipv6'], ['udp', 'udp', 'ipv4'], ['udp6', 'udp', 'ipv6']] as const) {
      const text = await readText(join(ctx.procfs, 'net', file), 64 * 1024 * 1024);
      if (text === null) continue; // no IPv6 in the kernel: tcp6/udp6 are absent
      readable++;
      rows.push(...parseProcNet(text, protocol, family));
    }
    if (readable === 0) throw new Error(`${join(ctx.procfs, 'net')}: no tcp/udp tables readable`);
    const owners = await cache.resolve(ctx.procfs, new Set(rows.map((r) => r.inode).filter((i) => i > 0)));
    const names = new Map<number, string | null>();
    const sockets: SocketData[] = [];
    for (const r of rows) {
      const pid = owners.get(r.inode) ?? null;
      if (pid !== null && !names.has(pid)) names.set(pid, await trimmed(join(ctx.procfs, String(pid), 'comm')));
      sockets.push({ protocol: r.protocol, family: r.family, address: r.address, port: r.port, pid, process: pid === null ? null : names.get(pid) ?? null });
    }
    return { sockets: sortSockets(sockets) };
  };
}
