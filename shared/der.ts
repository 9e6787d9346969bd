/**
 * A tiny DER encoder and a strict DER reader: just enough ASN.1 for PKCS#10 requests, X.509
 * certificates and CRLs. node-forge cannot hold EC keys and the agent must not load it, so the
 * structures we sign are built here and signed with node:crypto.
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// ---------------------------------------------------------------------------------------------
// Encoder

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV with a single-byte tag. */
export function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, Buffer.concat(parts));

/** SET OF: DER wants the elements sorted by their encodings. */
export const set = (...parts: Uint8Array[]): Buffer =>
  tlv(TAG.SET, Buffer.concat([...parts].sort((a, b) => Buffer.compare(a, b))));

export const nul = (): Buffer => Buffer.from([TAG.NULL, 0]);
export const bool = (v: boolean): Buffer => Buffer.from([TAG.BOOLEAN, 1, v ? 0xff : 0]);
export const octets = (b: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, b);
export const utf8 = (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
export const ia5 = (s: string): Buffer => tlv(TAG.IA5_STRING, Buffer.from(s, 'ascii'));

/** BIT STRING holding whole bytes (signatures, public keys). */
export const bits = (b: Uint8Array): Buffer => tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([0]), b]));

/** BIT STRING of named bits (KeyUsage): bit 0 is the most significant bit of the first byte. */
export function namedBits(bitNumbers: number[]): Buffer {
  const max = Math.max(...bitNumbers);
  const out = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const n of bitNumbers) out[n >> 3]! |= 0x80 >> (n & 7);
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([7 - (max & 7)]), out]));
}

/** Non-negative INTEGER from a number, a bigint or big-endian unsigned bytes. */
export function int(v: number | bigint | Uint8Array): Buffer {
  let b: Buffer;
  if (v instanceof Uint8Array) {
    b = Buffer.from(v);
  } else {
    let n = BigInt(v);
    if (n < 0n) throw new RangeError('der.int encodes non-negative integers only');
    let hex = n.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    b = Buffer.from(hex, 'hex');
  }
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b.length === 0) b = Buffer.from([0]);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(TAG.INTEGER, b);
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => {
    if (!/^\d+$/.test(s)) throw new RangeError(`bad OID ${dotted}`);
    return BigInt(s);
  });
  if (arcs.length < 2) throw new RangeError(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (n: bigint): void => {
    const chunk: number[] = [Number(n & 0x7fn)];
    for (n >>= 7n; n > 0n; n >>= 7n) chunk.unshift(Number(n & 0x7fn) | 0x80);
    out.push(...chunk);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(TAG.OID, Buffer.from(out));
}

/** Context-specific tag [n]; constructed for EXPLICIT wrappers and IMPLICIT SETs/SEQUENCEs. */
export const ctx = (n: number, content: Uint8Array, constructed = true): Buffer =>
  tlv((constructed ? 0xa0 : 0x80) | n, content);

/** X.509 Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const y = d.getUTCFullYear();
  const body = iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(iso.slice(2, 4) + body, 'ascii'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(iso.slice(0, 4) + body, 'ascii'));
}

// ---------------------------------------------------------------------------------------------
// Reader (strict: definite lengths only, single-byte tags, no bytes past the end)

export interface Tlv {
  tag: number;
  /** The whole element, header included. */
  raw: Buffer;
  /** The content octets. */
  value: Buffer;
}

export class DerError extends Error {
  override name = 'DerError';
}

/** Read one element at `offset`; returns it and the offset just after it. */
export function readTlv(buf: Buffer, offset = 0): { tlv: Tlv; next: number } {
  if (offset + 2 > buf.length) throw new DerError('truncated element');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4) throw new DerError('element length too large');
    if (p + n > buf.length) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    if (len < 0x80 || buf[p] === 0) throw new DerError('non-minimal length is not DER');
    p += n;
  }
  if (p + len > buf.length) throw new DerError('element runs past the end of its container');
  return { tlv: { tag, raw: buf.subarray(offset, p + len), value: buf.subarray(p, p + len) }, next: p + len };
}

/** Parse a buffer that must hold exactly one element. */
export function parseOne(buf: Buffer): Tlv {
  const { tlv: t, next } = readTlv(buf, 0);
  if (next !== buf.length) throw new DerError('trailing bytes after the element');
  return t;
}

/** The children of a constructed element. */
export function children(t: Tlv): Tlv[] {
  if (!(t.tag & 0x20)) throw new DerError(`tag 0x${t.tag.toString(16)} is not constructed`);
  const out: Tlv[] = [];
  for (let p = 0; p < t.value.length; ) {
    const r = readTlv(t.value, p);
    out.push(r.tlv);
    p = r.next;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`${what} is missing`);
  if (t.tag !== tag) throw new DerError(`${what} has tag 0x${t.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return t;
}

export function readOid(t: Tlv): string {
  expectTag(t, TAG.OID, 'OID');
  const v = t.value;
  if (v.length === 0) throw new DerError('empty OID');
  const arcs: bigint[] = [];
  let n = 0n;
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    if (n === 0n && b === 0x80) throw new DerError('non-minimal OID arc');
    n = (n << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(n);
      n = 0n;
    } else if (i === v.length - 1) {
      throw new DerError('truncated OID');
    }
  }
  const first = arcs.shift()!;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs].join('.');
}

/** Content of a BIT STRING that must hold whole bytes. */
export function readBits(t: Tlv): Buffer {
  expectTag(t, TAG.BIT_STRING, 'BIT STRING');
  if (t.value.length < 1 || t.value[0] !== 0) throw new DerError('BIT STRING with unused bits');
  return t.value.subarray(1);
}

/** A small non-negative INTEGER (versions). */
export function readSmallInt(t: Tlv): number {
  expectTag(t, TAG.INTEGER, 'INTEGER');
  if (t.value.length === 0 || t.value.length > 4 || t.value[0]! & 0x80) throw new DerError('INTEGER out of range');
  return t.value.reduce((a, b) => a * 256 + b, 0);
}

/** A directory string (CN and friends) as text, or null for an unknown string type. */
export function readString(t: Tlv): string | null {
  switch (t.tag) {
    case TAG.UTF8_STRING:
      return t.value.toString('utf8');
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
      return t.value.toString('ascii');
    case TAG.T61_STRING:
      return t.value.toString('latin1');
    case TAG.BMP_STRING: {
      if (t.value.length % 2) return null;
      const le = Buffer.from(t.value);
      le.swap16();
      return le.toString('utf16le');
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// PEM

/** Wrap DER in PEM with 64-column lines. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * The DER of the single PEM block with one of `labels`; null when there is none, more than one,
 * or the base64 is not clean.
 */
export function fromPem(pem: string, labels: readonly string[]): Buffer | null {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const blocks = [...pem.matchAll(re)];
  if (blocks.length !== 1) return null;
  const [, label, body] = blocks[0]!;
  if (!labels.includes(label!)) return null;
  const b64 = body!.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0 || b64.length === 0) return null;
  return Buffer.from(b64, 'base64');
}
