/** The Linux egress platform: /proc tables, ss -E and conntrack events, sysfs paths, nftables. */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { which, type Runner } from '../../exec.js';
import { parseResolvConf } from '../../collectors/network/parse.js';
import type { EgressPlatform, SocketEventLike } from '../control.js';
import type { Family } from '../types.js';
import { NftEnforcer } from './nft.js';
import { readLinuxPaths } from './paths.js';
import type { PathSnapshot } from '../paths.js';
import { EventStream, parseConntrackEvent, parseSsEvent, type SocketEvent } from './socket-events.js';
import { ProcessAttributor, readProcNet, type ProcNetRow } from './table.js';

export interface LinuxEgressOptions {
  procfs: string;
  sysfs: string;
  root: string;
  run: Runner;
  /** Start `ss -E` / `conntrack -E` children (root only). */
  socketEvents: boolean;
  nft: string;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Run through `stdbuf -oL` when there is one: a pipe would otherwise hold the lines back. */
function lineBuffered(cmd: string, args: string[]): { cmd: string; args: string[] } {
  const stdbuf = which('stdbuf');
  return stdbuf ? { cmd: stdbuf, args: ['-oL', cmd, ...args] } : { cmd, args };
}

/**
 * The per-namespace socket counts of /proc/net/sockstat{,6} (`sockets: used`, `TCP: inuse`,
 * `UDP: inuse`, …). `orphan`, `tw`, `alloc` and `mem` are left out: they count for the whole host,
 * and change with traffic that opens nothing new.
 */
export function sockstatSignature(text: string): string {
  const out: string[] = [];
  for (const m of text.matchAll(/^(sockets|TCP6?|UDP6?|UDPLITE6?|RAW6?):\s+(?:used|inuse)\s+(\d+)/gm)) out.push(`${m[1]}=${m[2]}`);
  return out.join(' ');
}

export function linuxEgress(o: LinuxEgressOptions): EgressPlatform {
  const attributor = new ProcessAttributor(o.procfs, join(o.root, 'etc/passwd'));
  const isRoot = process.getuid?.() === 0;
  const nft = which(o.nft) ?? (o.nft.includes('/') ? o.nft : null);
  let ssStream: EventStream | null = null;
  // Paths are re-read when `ip monitor` reports a link, address or route change (and every 30 s
  // regardless); without it, every poll.
  let monitor: EventStream<true> | null = null;
  let pathsDirty = true;
  let paths: { at: number; snap: PathSnapshot } | null = null;
  return {
    quickSignature() {
      // Only with ss -E running: a connection that closes while another opens leaves the counts
      // equal, and it is the destroy event that then asks for a full read.
      if (!ssStream?.running) return undefined;
      return sockstatSignature(readText(join(o.procfs, 'net/sockstat')) + readText(join(o.procfs, 'net/sockstat6')));
    },
    async readConnections() {
      const rows = readProcNet(o.procfs);
      attributor.prune(new Set(rows.map((r) => r.inode)));
      return rows;
    },
    attribute(rows) {
      attributor.attribute(rows as ProcNetRow[]);
    },
    watchSockets(onEvent: (e: SocketEventLike) => void, onError: (why: string) => void) {
      const ipCmd = which('ip');
      if (ipCmd) {
        monitor = new EventStream<true>({ ...lineBuffered(ipCmd, ['-o', 'monitor', 'link', 'address', 'route']), parse: () => true, onEvent: () => { pathsDirty = true; }, onExit: onError });
        monitor.start();
      }
      if (!o.socketEvents || !isRoot) return () => { monitor?.stop(); monitor = null; };
      const streams: { start(): void; stop(): void }[] = [];
      const line = lineBuffered;
      const ss = which('ss');
      if (ss) {
        ssStream = new EventStream<SocketEvent>({ ...line(ss, ['-E', '-tunH']), parse: parseSsEvent, onEvent, onExit: onError });
        streams.push(ssStream);
      }
      const ct = which('conntrack');
      if (ct) streams.push(new EventStream<SocketEvent>({ ...line(ct, ['-E', '-e', 'NEW']), parse: parseConntrackEvent, onEvent, onExit: onError }));
      for (const s of streams) s.start();
      return () => { ssStream = null; monitor?.stop(); monitor = null; for (const s of streams) s.stop(); };
    },
    async readPaths() {
      const now = Date.now();
      if (!paths || pathsDirty || !monitor?.running || now - paths.at > 30_000) {
        pathsDirty = false;
        paths = { at: now, snap: readLinuxPaths(o.sysfs, o.procfs, o.root) };
      }
      return paths.snap;
    },
    async dnsServers() {
      const servers = parseResolvConf(readText(join(o.root, 'etc/resolv.conf')));
      // systemd-resolved's stub (127.0.0.53) forwards to the upstreams in its own file.
      if (servers.some((s) => s.startsWith('127.'))) servers.push(...parseResolvConf(readText(join(o.root, 'run/systemd/resolve/resolv.conf'))));
      return [...new Set(servers.map((s) => s.replace(/%.*$/, '')))]
        .filter((s) => isIP(s) && !s.startsWith('127.') && s !== '::1')
        .map((address) => ({ address, family: isIP(address) as Family }));
    },
    async connectivity() {
      if (!which('nmcli')) return null;
      // The last verdict NetworkManager reached on its own; `connectivity check` would probe now.
      const r = await o.run('nmcli', ['-t', '-f', 'CONNECTIVITY', 'general'], { timeoutMs: 5000 });
      const v = r.stdout.trim();
      return r.code === 0 && v ? { source: 'NetworkManager', internet: v === 'full', detail: `connectivity ${v}` } : null;
    },
    enforcer: nft && isRoot ? new NftEnforcer(o.run, nft) : null,
  };
}
