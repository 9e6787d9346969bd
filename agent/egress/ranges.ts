/**
 * Address and port range arithmetic for firewalls that can only say "block these": Windows Defender
 * Firewall lets a block rule override any allow rule, so "allow only X" is written as a block of
 * everything that is not X. Addresses are bigints (IPv4 32 bits, IPv6 128 bits); pure functions only.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Family } from './types.js';

/** An inclusive address range. */
export interface AddressRange {
  start: bigint;
  end: bigint;
}

const BITS: Record<Family, bigint> = { 4: 32n, 6: 128n };

export function maxAddress(family: Family): bigint {
  return (1n << BITS[family]) - 1n;
}

/** Parse an IPv4 or IPv6 address of the given family (an IPv6 zone `%en0` is ignored); null when it is not one. */
export function parseAddress(family: Family, text: string): bigint | null {
  const t = text.trim().replace(/%.*$/, '');
  if (family === 4) {
    if (!isIPv4(t)) return null;
    return t.split('.').reduce((acc, x) => (acc << 8n) | BigInt(Number(x)), 0n);
  }
  if (!isIPv6(t)) return null;
  let body = t;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    body = `${body.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = body.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const groups = halves.length > 1 ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Dotted quad, or RFC 5952 IPv6 text (lower case, longest run of two or more zero groups as `::`). */
export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const g: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) g.push(Number((value >> s) & 0xffffn));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The range a CIDR block spans; host bits in `address` are ignored. Throws on a bad address or prefix. */
export function cidrRange(family: Family, address: string, prefix: number): AddressRange {
  const v = parseAddress(family, address);
  if (v === null) throw new Error(`not an IPv${family} address: ${address}`);
  if (!Number.isInteger(prefix) || prefix < 0 || BigInt(prefix) > BITS[family]) throw new Error(`bad prefix /${prefix} for IPv${family}`);
  const host = BITS[family] - BigInt(prefix);
  const start = (v >> host) << host;
  return { start, end: start | ((1n << host) - 1n) };
}

/** Sort and merge overlapping or adjacent ranges. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: AddressRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1n) {
      if (r.end > last.end) last.end = r.end;
    } else {
      out.push({ start: r.start, end: r.end });
    }
  }
  return out;
}

/** What `ranges` leave uncovered in the family's whole address space, merged and sorted. */
export function invertRanges(family: Family, ranges: readonly AddressRange[]): AddressRange[] {
  const out: AddressRange[] = [];
  let next = 0n;
  for (const r of mergeRanges(ranges)) {
    if (r.start > next) out.push({ start: next, end: r.start - 1n });
    next = r.end + 1n;
  }
  if (next <= maxAddress(family)) out.push({ start: next, end: maxAddress(family) });
  return out;
}

/** A range as Windows Firewall's RemoteAddress takes it: `a.b.c.d-e.f.g.h`, `x::-y::`, or one address alone. */
export function rangeText(family: Family, r: AddressRange): string {
  const a = formatAddress(family, r.start);
  return r.start === r.end ? a : `${a}-${formatAddress(family, r.end)}`;
}

/** The address ranges that `covered` (CIDR blocks) leaves out, merged, sorted, as RemoteAddress strings. */
export function complementRanges(family: Family, covered: readonly { address: string; prefix: number }[]): string[] {
  return invertRanges(family, covered.map((c) => cidrRange(family, c.address, c.prefix))).map((r) => rangeText(family, r));
}

/** Ports 1–65535 not in `ports`, as RemotePort strings (`1-442`, `444-65535`; a lone port as `444`). */
export function portComplement(ports: readonly number[]): string[] {
  const wanted = [...new Set(ports.filter((p) => Number.isInteger(p) && p >= 1 && p <= 65535))].sort((a, b) => a - b);
  const out: string[] = [];
  let next = 1;
  for (const p of [...wanted, 65536]) {
    if (p > next) out.push(p - 1 === next ? String(next) : `${next}-${p - 1}`);
    next = p + 1;
  }
  return out;
}
