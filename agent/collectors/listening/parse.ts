/**
 * Pure parsers for the listening collector. parseProcNet runs every poll over tables that can hold
 * tens of thousands of rows, so it avoids regexes and per-field allocations it does not need.
 */
import type { SocketData } from '../../../shared/inventory.js';
import { asArray, int, str } from '../util.js';

export interface ProcNetRow { protocol: 'tcp' | 'udp'; family: 'ipv4' | 'ipv6'; address: string; port: number; inode: number }

const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';

/** Hex address from /proc/net: IPv4 is one 32-bit word, IPv6 four, each in host (little-endian) byte order. */
export function decodeAddress(hex: string): string {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8);
    for (let i = 6; i >= 0; i -= 2) bytes.push(parseInt(word.slice(i, i + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  // ::ffff:a.b.c.d — a v4 client on a v6 socket
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return compressV6(groups);
}

function compressV6(g: string[]): string {
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}

/** /proc/net/{tcp,tcp6,udp,udp6}: listening TCP (state 0A) and unconnected UDP (07) rows. */
export function parseProcNet(text: string, protocol: 'tcp' | 'udp', family: 'ipv4' | 'ipv6'): ProcNetRow[] {
  const want = protocol === 'tcp' ? TCP_LISTEN : UDP_UNCONNECTED;
  const out: ProcNetRow[] = [];
  let pos = text.indexOf('\n') + 1; // header
  while (pos > 0 && pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const f = text.slice(pos, end).trim().split(/\s+/);
    pos = end + 1;
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if (f.length < 10 || f[3] !== want) continue;
    const local = f[1]!;
    const colon = local.indexOf(':');
    out.push({ protocol, family, address: decodeAddress(local.slice(0, colon)), port: parseInt(local.slice(colon + 1), 16), inode: Number(f[9]) });
  }
  return out;
}

/** Windows: { Tcp: Get-NetTCPConnection -State Listen, Udp: Get-NetUDPEndpoint, Procs: Get-Process Id,ProcessName }. */
export function parseWin32Listening(json: unknown): SocketData[] {
  const o = asArray(json)[0] ?? {};
  const names = new Map(asArray(o.Procs).map((p) => [int(p.Id), str(p.ProcessName)] as const));
  const rows = (list: unknown, protocol: 'tcp' | 'udp') => asArray(list).flatMap((s) => {
    const address = str(s.LocalAddress);
    const port = int(s.LocalPort);
    if (!address || port === null) return [];
    const pid = int(s.OwningProcess);
    return [{ protocol, family: address.includes(':') ? 'ipv6' as const : 'ipv4' as const, address, port, pid, process: pid === null ? null : names.get(pid) ?? null }];
  });
  return sortSockets([...rows(o.Tcp, 'tcp'), ...rows(o.Udp, 'udp')]);
}

/**
 * `lsof -nP -iTCP -sTCP:LISTEN -iUDP -F pcnPtn`: one field per line, tagged by its first character —
 * p<pid> and c<command> open a process, f<fd> opens a file, then t<IPv4|IPv6>, P<TCP|UDP>, n<address:port>.
 */
export function parseLsofListen(text: string): SocketData[] {
  const out: SocketData[] = [];
  let pid: number | null = null;
  let cmd: string | null = null;
  let file: { t?: string; P?: string; n?: string } | null = null;
  const flush = () => {
    if (!file?.n || !file.P) return;
    const n = file.n;
    if (n.includes('->')) return; // connected UDP
    const i = n.lastIndexOf(':');
    const port = Number(n.slice(i + 1));
    if (i < 0 || !Number.isInteger(port)) return;
    const address = n.slice(0, i).replace(/^\[|\]$/g, '');
    const family = file.t === 'IPv6' || address.includes(':') ? 'ipv6' : 'ipv4';
    out.push({ protocol: file.P === 'TCP' ? 'tcp' : 'udp', family, address, port, pid, process: cmd });
  };
  for (const line of text.split('\n')) {
    const tag = line[0];
    const v = line.slice(1);
    if (tag === 'p') { flush(); file = null; pid = Number(v); cmd = null; }
    else if (tag === 'c') cmd = v;
    else if (tag === 'f') { flush(); file = {}; }
    else if (tag === 't' || tag === 'P' || tag === 'n') {
      file ??= {};
      if (file[tag] !== undefined) { flush(); file = {}; } // fields repeat without an f line
      file[tag] = v;
    }
  }
  flush();
  return sortSockets(dedupe(out));
}

function dedupe(list: SocketData[]): SocketData[] {
  const seen = new Set<string>();
  return list.filter((s) => {
    const k = `${s.protocol}|${s.family}|${s.address}|${s.port}|${s.pid}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function sortSockets(list: SocketData[]): SocketData[] {
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return list.sort((a, b) => cmp(a.protocol, b.protocol) || a.port - b.port || cmp(a.family, b.family) || cmp(a.address, b.address) || (a.pid ?? -1) - (b.pid ?? -1));
}
