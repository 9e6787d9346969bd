/**
 * Which destinations are allowed: the policy's `egress.allow` (CIDR, optional port) plus what is
 * always allowed — loopback, the management server, DNS servers in use and DHCP. Addresses are
 * compared as bigints; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is matched as the IPv4 address it is.
 */
import { isIP } from 'node:net';
import { parseDestination } from '../../shared/policy.js';
import type { AllowEntry, EnforcementPlan, Family, Proto } from './types.js';

export function parseAllow(list: readonly string[]): AllowEntry[] {
  return list.flatMap((text) => {
    const d = parseDestination(text);
    return d ? [{ text, family: d.family, address: d.address, prefix: d.prefix, port: d.port }] : [];
  });
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; other addresses unchanged. */
export function unmap(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export function toBigInt(address: string): { family: Family; value: bigint } | null {
  const a = unmap(address);
  const fam = isIP(a);
  if (fam === 4) {
    const p = a.split('.');
    return { family: 4, value: p.reduce((acc, x) => (acc << 8n) | BigInt(Number(x)), 0n) };
  }
  if (fam !== 6) return null;
  let text = a.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) { // embedded IPv4 tail: two groups
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const split = text.split('::');
  const head = split[0] ? split[0].split(':') : [];
  const rest = split.length > 1 && split[1] ? split[1].split(':') : [];
  const groups = split.length > 1 ? [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8) return null;
  return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

interface Range { family: Family; lo: bigint; hi: bigint; port: number | null }

function range(family: Family, address: string, prefix: number, port: number | null): Range | null {
  const v = toBigInt(address);
  if (!v || v.family !== family) return null;
  const bits = family === 4 ? 32n : 128n;
  const host = bits - BigInt(prefix);
  const lo = (v.value >> host) << host;
  return { family, lo, hi: lo | ((1n << host) - 1n), port };
}

const LOOPBACK = [range(4, '127.0.0.0', 8, null)!, range(6, '::1', 128, null)!];

export type Verdict = 'allowed' | 'loopback' | 'server' | 'dns' | 'dhcp' | 'violation';

/** The compiled allow list; build once per policy or plan change, ask for every connection. */
export class AllowList {
  private readonly ranges: Range[];
  private readonly server: Range[];
  private readonly dns: Range[];
  private readonly memo = new Map<string, Verdict>();

  constructor(readonly plan: EnforcementPlan) {
    this.ranges = plan.allow.flatMap((e) => range(e.family, e.address, e.prefix, e.port) ?? []);
    // The whole server address is trusted, not only its agent port: the console runs beside it.
    this.server = plan.server.flatMap((s) => range(s.family, s.address, s.family === 4 ? 32 : 128, null) ?? []);
    this.dns = plan.dns.flatMap((s) => range(s.family, s.address, s.family === 4 ? 32 : 128, 53) ?? []);
  }

  /** Classify a remote end (outbound: the destination; inbound: the peer). */
  verdict(proto: Proto, address: string, port: number): Verdict {
    const key = `${proto}|${address}|${port}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const v = this.classify(proto, address, port);
    if (this.memo.size > 50_000) this.memo.clear();
    this.memo.set(key, v);
    return v;
  }

  /** Inbound peers: any address inside an allowed range, whatever its port. */
  peerAllowed(address: string): boolean {
    const a = toBigInt(address);
    return a !== null && this.ranges.some((r) => r.family === a.family && a.value >= r.lo && a.value <= r.hi);
  }

  private classify(proto: Proto, address: string, port: number): Verdict {
    const a = toBigInt(address);
    if (!a) return 'violation';
    if (a.value === 0n) return 'loopback'; // unspecified: not a destination
    const inside = (r: Range, withPort: boolean) => r.family === a.family && a.value >= r.lo && a.value <= r.hi && (!withPort || r.port === null || r.port === port);
    if (LOOPBACK.some((r) => inside(r, false))) return 'loopback';
    if (this.server.some((r) => inside(r, false))) return 'server';
    if (this.dns.some((r) => inside(r, true))) return 'dns';
    if (proto === 'udp' && (port === 67 || port === 68 || port === 546 || port === 547)) return 'dhcp';
    if (this.ranges.some((r) => inside(r, true))) return 'allowed';
    return 'violation';
  }
}
