/** The Linux egress platform: /proc tables, ss -E and conntrack events, sysfs paths, nftables. */
import { accessSync, constants, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { delimiter, join } from 'node:path';
import type { Runner } from '../../exec.js';
import { parseResolvConf } from '../../collectors/network/parse.js';
import type { EgressPlatform, SocketEventLike } from '../control.js';
import type { Family } from '../types.js';
import { NftEnforcer } from './nft.js';
import { readLinuxPaths } from './paths.js';
import { EventStream, parseConntrackEvent, parseSsEvent } from './socket-events.js';
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

/** A program on PATH (plus the sbin folders a service's PATH may lack), or null. */
export function which(cmd: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch { /* next */ }
  }
  return null;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function linuxEgress(o: LinuxEgressOptions): EgressPlatform {
  const attributor = new ProcessAttributor(o.procfs, join(o.root, 'etc/passwd'));
  const isRoot = process.getuid?.() === 0;
  const nft = which(o.nft) ?? (o.nft.includes('/') ? o.nft : null);
  return {
    async readConnections() {
      const rows = readProcNet(o.procfs);
      attributor.prune(new Set(rows.map((r) => r.inode)));
      return rows;
    },
    attribute(rows) {
      attributor.attribute(rows as ProcNetRow[]);
    },
    watchSockets(onEvent: (e: SocketEventLike) => void, onError: (why: string) => void) {
      if (!o.socketEvents || !isRoot) return () => undefined;
      const streams: EventStream[] = [];
      const stdbuf = which('stdbuf');
      const line = (cmd: string, args: string[]) => (stdbuf ? { cmd: stdbuf, args: ['-oL', cmd, ...args] } : { cmd, args });
      const ss = which('ss');
      if (ss) streams.push(new EventStream({ ...line(ss, ['-E', '-tunH']), parse: parseSsEvent, onEvent, onExit: onError }));
      const ct = which('conntrack');
      if (ct) streams.push(new EventStream({ ...line(ct, ['-E', '-e', 'NEW']), parse: parseConntrackEvent, onEvent, onExit: onError }));
      for (const s of streams) s.start();
      return () => { for (const s of streams) s.stop(); };
    },
    async readPaths() {
      return readLinuxPaths(o.sysfs, o.procfs, o.root);
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
