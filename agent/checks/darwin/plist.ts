/**
 * Pure property-list parsers for the three shapes macOS tools hand us:
 *   - XML plists (files on disk, `pwpolicy -getaccountpolicies`, `plutil -convert xml1 -o -`);
 *   - the old-style (OpenStep) text that `defaults read <domain>` prints;
 *   - binary plists (`bplist00`), which is what `dscl` hex-dumps for ShadowHashData.
 * Text (or bytes) in, a PlistValue out; null when the input is not what it claims to be.
 */

export type PlistValue = string | number | boolean | Date | Uint8Array | PlistValue[] | PlistDict;
export interface PlistDict { [key: string]: PlistValue }

export function isDict(v: unknown): v is PlistDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

// ---------------------------------------------------------------- XML

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_, e: string) =>
    e.startsWith('#x') ? String.fromCodePoint(parseInt(e.slice(2), 16))
      : e.startsWith('#') ? String.fromCodePoint(parseInt(e.slice(1), 10)) : ENTITIES[e] ?? '');
}

interface Tok { close: boolean; name: string; selfClose: boolean; text?: string }

function tokenize(xml: string): Tok[] {
  const body = xml.replace(/<\?[\s\S]*?\?>/g, '').replace(/<!--[\s\S]*?-->/g, '').replace(/<!DOCTYPE[\s\S]*?>/gi, '');
  const out: Tok[] = [];
  const re = /<(\/?)([A-Za-z][\w.-]*)[^>]*?(\/?)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    if (m[4] !== undefined) out.push({ close: false, name: '#text', selfClose: false, text: m[4] });
    else out.push({ close: m[1] === '/', name: m[2]!, selfClose: m[3] === '/' });
  }
  return out;
}

/** Parse an XML plist. Leading noise before `<?xml`/`<plist` (pwpolicy prints a header line) is skipped. */
export function parseXmlPlist(text: string): PlistValue | null {
  const start = text.search(/<\?xml|<plist|<!DOCTYPE/);
  if (start < 0) return null;
  const toks = tokenize(text.slice(start)).filter((t) => t.name !== '#text' || t.text!.trim() !== '');
  let i = 0;
  const textUntil = (name: string): string => {
    let s = '';
    while (i < toks.length && !(toks[i]!.close && toks[i]!.name === name)) {
      const t = toks[i++]!;
      if (t.name === '#text') s += t.text;
    }
    if (i >= toks.length) throw new Error(`unterminated <${name}>`);
    i++;
    return unescapeXml(s);
  };
  const value = (): PlistValue => {
    const t = toks[i++];
    if (!t || t.close || t.name === '#text') throw new Error('expected a value element');
    switch (t.name) {
      case 'true': if (!t.selfClose) textUntil('true'); return true;
      case 'false': if (!t.selfClose) textUntil('false'); return false;
      case 'string': return t.selfClose ? '' : textUntil('string');
      case 'integer': { const s = textUntil('integer').trim(); const n = Number(s); if (!Number.isFinite(n)) throw new Error(`bad integer ${s}`); return n; }
      case 'real': return Number(textUntil('real').trim());
      case 'date': return new Date(textUntil('date').trim());
      case 'data': return t.selfClose ? new Uint8Array() : new Uint8Array(Buffer.from(textUntil('data').replace(/\s+/g, ''), 'base64'));
      case 'array': {
        const arr: PlistValue[] = [];
        if (t.selfClose) return arr;
        while (i < toks.length && !(toks[i]!.close && toks[i]!.name === 'array')) arr.push(value());
        i++;
        return arr;
      }
      case 'dict': {
        const d: PlistDict = {};
        if (t.selfClose) return d;
        while (i < toks.length && !(toks[i]!.close && toks[i]!.name === 'dict')) {
          const k = toks[i++]!;
          if (k.name !== 'key' || k.close) throw new Error('expected <key>');
          const key = k.selfClose ? '' : textUntil('key');
          d[key] = value();
        }
        i++;
        return d;
      }
      default: throw new Error(`unknown element <${t.name}>`);
    }
  };
  try {
    while (i < toks.length && toks[i]!.name !== 'plist') i++;
    if (i >= toks.length) return null;
    i++;
    return value();
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- OpenStep (`defaults read`)

/**
 * Parse what `defaults read <domain>` prints: `{ Key = value; "Quoted Key" = ( a, b ); }`.
 * Scalars come back as strings (booleans print as 1/0, dates as "2024-03-20 10:15:03 +0000");
 * callers coerce with num()/bool(). Data prints as `<0a0b…>` or `{length = 32, bytes = 0x…}`.
 */
export function parseOpenStep(text: string): PlistValue | null {
  let i = 0;
  const s = text;
  const ws = () => { while (i < s.length && /\s/.test(s[i]!)) i++; };
  const quoted = (): string => {
    i++;
    let out = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\') {
        const n = s[i + 1];
        if (n === 'n') out += '\n';
        else if (n === 't') out += '\t';
        else if (n === 'U' || n === 'u') { out += String.fromCharCode(parseInt(s.slice(i + 2, i + 6), 16)); i += 4; }
        else out += n ?? '';
        i += 2;
      } else out += s[i++];
    }
    if (i >= s.length) throw new Error('unterminated string');
    i++;
    return out;
  };
  const value = (): PlistValue => {
    ws();
    const c = s[i];
    if (c === undefined) throw new Error('unexpected end');
    if (c === '{') {
      i++;
      const d: PlistDict = {};
      for (;;) {
        ws();
        if (s[i] === '}') { i++; return d; }
        if (i >= s.length) throw new Error('unterminated dict');
        let key: string;
        if (s[i] === '"') key = quoted();
        else { const j = s.indexOf('=', i); if (j < 0) throw new Error('expected ='); key = s.slice(i, j).trim(); i = j; }
        ws();
        if (s[i] !== '=') throw new Error('expected =');
        i++;
        d[key] = value();
        ws();
        if (s[i] === ';' || s[i] === ',') i++;
      }
    }
    if (c === '(') {
      i++;
      const a: PlistValue[] = [];
      for (;;) {
        ws();
        if (s[i] === ')') { i++; return a; }
        if (i >= s.length) throw new Error('unterminated array');
        a.push(value());
        ws();
        if (s[i] === ',') i++;
      }
    }
    if (c === '"') return quoted();
    if (c === '<') { const j = s.indexOf('>', i); if (j < 0) throw new Error('unterminated data'); const v = s.slice(i, j + 1); i = j + 1; return v; }
    const start = i;
    while (i < s.length && !';,)}'.includes(s[i]!)) i++;
    return s.slice(start, i).trim();
  };
  try {
    const v = value();
    ws();
    return i >= s.length ? v : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- binary

/** Parse a `bplist00` buffer (the subset Apple's tools write: ints, reals, data, strings, arrays, dicts, booleans). */
export function parseBinaryPlist(buf: Uint8Array): PlistValue | null {
  try {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    if (b.length < 40 || b.toString('latin1', 0, 8) !== 'bplist00') return null;
    const t = b.length - 32;
    const offSize = b[t + 6]!;
    const refSize = b[t + 7]!;
    const numObjects = Number(b.readBigUInt64BE(t + 8));
    const top = Number(b.readBigUInt64BE(t + 16));
    const tableAt = Number(b.readBigUInt64BE(t + 24));
    const uint = (at: number, size: number): number => b.readUIntBE(at, size);
    const offsetOf = (ref: number): number => {
      if (ref >= numObjects) throw new Error('object ref out of range');
      return uint(tableAt + ref * offSize, offSize);
    };
    const depthLimit = 64;
    const obj = (ref: number, depth: number): PlistValue => {
      if (depth > depthLimit) throw new Error('plist too deep');
      let at = offsetOf(ref);
      const marker = b[at]!;
      const hi = marker >> 4;
      const lo = marker & 0x0f;
      at++;
      const count = (): number => {
        if (lo !== 0x0f) return lo;
        const m = b[at]!;
        const n = 1 << (m & 0x0f);
        const v = n > 6 ? Number(b.readBigUInt64BE(at + 1)) : uint(at + 1, n);
        at += 1 + n;
        return v;
      };
      switch (hi) {
        case 0x0: if (lo === 0x08) return false; if (lo === 0x09) return true; throw new Error('unsupported null/fill');
        case 0x1: { const n = 1 << lo; return n > 6 ? Number(b.readBigInt64BE(at)) : uint(at, n); }
        case 0x2: return lo === 2 ? b.readFloatBE(at) : b.readDoubleBE(at);
        case 0x3: return new Date(Date.UTC(2001, 0, 1) + b.readDoubleBE(at) * 1000);
        case 0x4: { const n = count(); return new Uint8Array(b.subarray(at, at + n)); }
        case 0x5: { const n = count(); return b.toString('latin1', at, at + n); }
        case 0x6: { const n = count(); const u = Buffer.from(b.subarray(at, at + 2 * n)); u.swap16(); return u.toString('utf16le'); }
        case 0xa: { const n = count(); const a: PlistValue[] = []; for (let k = 0; k < n; k++) a.push(obj(uint(at + k * refSize, refSize), depth + 1)); return a; }
        case 0xd: {
          const n = count();
          const d: PlistDict = {};
          for (let k = 0; k < n; k++) {
            const key = obj(uint(at + k * refSize, refSize), depth + 1);
            d[String(key)] = obj(uint(at + (n + k) * refSize, refSize), depth + 1);
          }
          return d;
        }
        default: throw new Error(`unsupported marker 0x${marker.toString(16)}`);
      }
    };
    return obj(top, 0);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- coercion

/** A plist scalar as a number: integers, reals, booleans, and `defaults read`'s "1"/"0"/"600". */
export function num(v: PlistValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

/** A plist scalar as a boolean: true/false, 1/0, and the YES/NO/true/false strings `defaults` accepts. */
export function bool(v: PlistValue | undefined): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (['1', 'yes', 'true'].includes(t)) return true;
    if (['0', 'no', 'false'].includes(t)) return false;
  }
  return undefined;
}

/** A plist date: a real Date, or `defaults read`'s "2024-03-20 10:15:03 +0000". */
export function date(v: PlistValue | undefined): Date | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v;
  if (typeof v === 'string') {
    const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\s*([+-]\d{2})(\d{2})|Z)?$/.exec(v.trim());
    if (!m) return undefined;
    const d = new Date(`${m[1]}T${m[2]}${m[3] ? `${m[3]}:${m[4]}` : 'Z'}`);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}
