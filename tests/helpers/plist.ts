/**
 * A strict parser for XML property lists (the subset launchd plists use: dict, array, key, string,
 * integer, real, true, false), so a plist can be checked without plutil. Anything else throws.
 */
export type PlistValue = string | number | boolean | PlistValue[] | { [k: string]: PlistValue };

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescape = (s: string) => s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ENTITIES[e]!);

export function parsePlist(xml: string): PlistValue {
  let s = xml.replace(/^\uFEFF/, '');
  if (!/^<\?xml version="1\.0" encoding="UTF-8"\?>\s*<!DOCTYPE plist PUBLIC "-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN" "http:\/\/www\.apple\.com\/DTDs\/PropertyList-1\.0\.dtd">/.test(s)) {
    throw new Error('plist: missing the XML declaration or the Apple plist DOCTYPE');
  }
  s = s.replace(/<!--[\s\S]*?-->/g, '');
  const tokens = [...s.matchAll(/<(\/?)([A-Za-z!?][^\s>/]*)[^>]*?(\/?)>|([^<]+)/g)];
  let i = 0;
  const skipWs = () => { while (i < tokens.length && tokens[i]![4] !== undefined && !tokens[i]![4]!.trim()) i++; };
  const open = (name: string) => {
    skipWs();
    const t = tokens[i];
    if (!t || t[1] || t[2] !== name) throw new Error(`plist: expected <${name}>, got ${t?.[0] ?? 'end'}`);
    i++;
    return t[3] === '/';
  };
  const text = (name: string) => {
    let out = '';
    while (tokens[i] && tokens[i]![4] !== undefined) out += tokens[i++]![4];
    const t = tokens[i++];
    if (!t || t[1] !== '/' || t[2] !== name) throw new Error(`plist: <${name}> not closed`);
    return unescape(out);
  };
  const closes = (name: string) => { skipWs(); const t = tokens[i]; return !!t && t[1] === '/' && t[2] === name; };
  const value = (): PlistValue => {
    skipWs();
    const t = tokens[i];
    if (!t || t[1] || t[4] !== undefined) throw new Error(`plist: expected a value, got ${t?.[0] ?? 'end'}`);
    const name = t[2]!;
    i++;
    const empty = t[3] === '/';
    switch (name) {
      case 'true': case 'false':
        if (!empty) { skipWs(); if (tokens[i]?.[2] !== name || tokens[i]?.[1] !== '/') throw new Error(`plist: <${name}> not closed`); i++; }
        return name === 'true';
      case 'string': return empty ? '' : text('string');
      case 'integer': { const v = text('integer').trim(); if (!/^-?\d+$/.test(v)) throw new Error(`plist: bad integer ${v}`); return Number(v); }
      case 'real': { const v = Number(text('real').trim()); if (Number.isNaN(v)) throw new Error('plist: bad real'); return v; }
      case 'array': {
        const a: PlistValue[] = [];
        if (empty) return a;
        while (!closes('array')) a.push(value());
        i++;
        return a;
      }
      case 'dict': {
        const d: Record<string, PlistValue> = {};
        if (empty) return d;
        while (!closes('dict')) {
          if (open('key')) throw new Error('plist: empty <key/>');
          const k = text('key');
          if (k in d) throw new Error(`plist: duplicate key ${k}`);
          d[k] = value();
        }
        i++;
        return d;
      }
      default: throw new Error(`plist: unsupported element <${name}>`);
    }
  };
  // Skip the prolog (<?xml …?> and <!DOCTYPE …>), then <plist version="1.0"> one value </plist>.
  while (tokens[i] && (tokens[i]![2]?.startsWith('?') || tokens[i]![2]?.startsWith('!') || (tokens[i]![4] !== undefined && !tokens[i]![4]!.trim()))) i++;
  if (!/^<plist version="1\.0">$/.test(tokens[i]?.[0] ?? '')) throw new Error('plist: expected <plist version="1.0">');
  i++;
  const v = value();
  skipWs();
  if (!closes('plist')) throw new Error('plist: more than one value in <plist>');
  i++;
  skipWs();
  if (i !== tokens.length) throw new Error('plist: content after </plist>');
  return v;
}
