/**
 * Pure parsers for the Windows tools the win32 checks read: text in, typed values out, no I/O.
 * Each is tested against recorded outputs in tests/fixtures/win32/checks/_outputs/.
 * Windows tools print CRLF; every parser accepts CRLF, LF and a leading BOM.
 */

function lines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r*\n/).map((l) => l.replace(/\r+$/, ''));
}

// ---------------------------------------------------------------------------------------------
// secedit /export INF: `[Section]` headers, `Key = value` lines (System Access, Event Audit…) and
// `MACHINE\path\Value=<type>,<data>` lines (Registry Values). Keys are matched case-insensitively.

export type Inf = Map<string, Map<string, string>>;

export function parseInf(text: string): Inf {
  const inf: Inf = new Map();
  let section: Map<string, string> | undefined;
  for (const raw of lines(text)) {
    const line = raw.trim();
    if (!line || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      const name = head[1]!.trim().toLowerCase();
      section = inf.get(name) ?? new Map();
      inf.set(name, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq <= 0) continue;
    section.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return inf;
}

/** A string value with its INF quotes removed, or undefined when the key is absent. */
export function infString(inf: Inf, section: string, key: string): string | undefined {
  const v = inf.get(section.toLowerCase())?.get(key.toLowerCase());
  return v === undefined ? undefined : v.replace(/^"(.*)"$/, '$1');
}

/** An integer value (secedit prints decimal; -1 means "never"/"until an administrator unlocks"). */
export function infNumber(inf: Inf, section: string, key: string): number | undefined {
  const v = infString(inf, section, key);
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

// ---------------------------------------------------------------------------------------------
// auditpol /get /category:* /r — CSV with a header row; auditpol ends lines with \r\r\n, which
// reads as a blank line after each row. /backup files add a numeric `Setting Value` column.

export interface AuditRow {
  subcategory: string;
  /** Upper-case, with braces: {0CCE9215-69AE-11D9-BED3-505054503030}. */
  guid: string;
  inclusion: string;
  success: boolean;
  failure: boolean;
}

/** Inclusion Setting texts, English and Simplified Chinese, to [success, failure]. */
const INCLUSION: Record<string, [boolean, boolean]> = {
  'no auditing': [false, false],
  'success': [true, false],
  'failure': [false, true],
  'success and failure': [true, true],
  '无审核': [false, false],
  '成功': [true, false],
  '失败': [false, true],
  '成功和失败': [true, true],
};

function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Throws when the text has no auditpol header or a row's setting cannot be read. */
export function parseAuditpolCsv(text: string): AuditRow[] {
  const rows = lines(text).filter((l) => l.trim() !== '');
  const header = rows.findIndex((l) => /Subcategory GUID/i.test(l));
  if (header < 0) throw new Error('no auditpol CSV header (Subcategory GUID column)');
  const cols = csvFields(rows[header]!).map((c) => c.trim().toLowerCase());
  const iSub = cols.indexOf('subcategory');
  const iGuid = cols.indexOf('subcategory guid');
  const iInc = cols.indexOf('inclusion setting');
  const iVal = cols.indexOf('setting value');
  if (iSub < 0 || iGuid < 0 || iInc < 0) throw new Error('auditpol CSV header lacks Subcategory / Inclusion Setting');
  const out: AuditRow[] = [];
  for (const row of rows.slice(header + 1)) {
    const f = csvFields(row);
    const guid = (f[iGuid] ?? '').trim().toUpperCase();
    if (!/^\{[0-9A-F-]{36}\}$/.test(guid)) continue;
    const inclusion = (f[iInc] ?? '').trim();
    let sf = INCLUSION[inclusion.toLowerCase()];
    const value = iVal >= 0 ? (f[iVal] ?? '').trim() : '';
    if (/^[0-3]$/.test(value)) sf = [(Number(value) & 1) !== 0, (Number(value) & 2) !== 0];
    if (!sf) throw new Error(`unrecognised auditpol inclusion setting "${inclusion}" for ${guid}`);
    out.push({ subcategory: (f[iSub] ?? '').trim(), guid, inclusion, success: sf[0], failure: sf[1] });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// reg query <key>: a blank line, the key path, then one line per value indented four spaces,
// `    Name    REG_TYPE    data` (four-space separators; names may hold single spaces), then
// subkey paths. DWORD/QWORD data is hex (0x1).

export interface RegValue {
  name: string;
  type: string;
  data: string;
  /** Numeric value for REG_DWORD / REG_QWORD, or a decimal REG_SZ. */
  num?: number;
}

/** Values of the queried key (not of its subkeys), by lower-case name. */
export function parseRegQuery(text: string): Map<string, RegValue> {
  const out = new Map<string, RegValue>();
  let keysSeen = 0;
  for (const line of lines(text)) {
    if (/^HKEY_/i.test(line)) { keysSeen++; continue; }
    if (keysSeen !== 1) continue;
    const m = /^ {4}(.+?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(line);
    if (!m) continue;
    const name = m[1]!;
    const type = m[2]!;
    const data = m[3] ?? '';
    const v: RegValue = { name, type, data };
    if ((type === 'REG_DWORD' || type === 'REG_QWORD') && /^0x[0-9a-f]+$/i.test(data)) v.num = Number(BigInt(data));
    else if (type === 'REG_SZ' && /^\d+$/.test(data)) v.num = Number(data);
    out.set(name.toLowerCase(), v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PowerShell ConvertTo-Json: one object prints as an object, several as an array, none as nothing.

export function parsePsJsonList(text: string): Record<string, unknown>[] {
  const t = text.replace(/^\uFEFF/, '').trim();
  if (!t) return [];
  const v: unknown = JSON.parse(t);
  const arr = Array.isArray(v) ? v : [v];
  return arr.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null);
}

/**
 * A date as ConvertTo-Json prints it: Windows PowerShell 5.1 writes "\/Date(1732492800000)\/"
 * (JSON.parse leaves "/Date(…)/"), sometimes wrapped as { value, DateTime } when the DateTime
 * carries extended members; PowerShell 7 writes ISO 8601.
 */
export function parsePsDate(v: unknown): Date | null {
  if (v && typeof v === 'object' && 'value' in v) return parsePsDate((v as { value: unknown }).value);
  if (typeof v !== 'string') return null;
  const ms = /^\\?\/Date\((-?\d+)(?:[+-]\d{4})?\)\\?\/$/.exec(v);
  if (ms) return new Date(Number(ms[1]));
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return null;
}

/** A PowerShell boolean or enum printed by ConvertTo-Json (5.1 prints enums as numbers). */
export function psBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'True' || v === 'true') return true;
  if (v === 'False' || v === 'false') return false;
  return undefined;
}

const SERVICE_STATUS = ['', 'Stopped', 'StartPending', 'StopPending', 'Running', 'ContinuePending', 'PausePending', 'Paused'];
const START_TYPE = ['Boot', 'System', 'Automatic', 'Manual', 'Disabled'];

export interface ServiceRow {
  name: string;
  status: string;
  startType: string;
}

/** Get-Service | Select-Object Name,Status,StartType | ConvertTo-Json (enums as numbers or names). */
export function parseServices(text: string): ServiceRow[] {
  return parsePsJsonList(text).map((o) => ({
    name: String(o.Name ?? ''),
    status: typeof o.Status === 'number' ? SERVICE_STATUS[o.Status] ?? String(o.Status) : String(o.Status ?? ''),
    startType: typeof o.StartType === 'number' ? START_TYPE[o.StartType] ?? String(o.StartType) : String(o.StartType ?? ''),
  })).filter((s) => s.name !== '');
}

// ---------------------------------------------------------------------------------------------
// netsh advfirewall show allprofiles state — per profile a `<Name> Profile Settings:` header, a
// dashed rule and `State   ON|OFF`. zh-CN prints `域配置文件 设置:` and `状态   启用|关闭`.

export interface FirewallProfile {
  profile: 'domain' | 'private' | 'public';
  on: boolean;
}

export function parseNetshFirewall(text: string): FirewallProfile[] {
  const out: FirewallProfile[] = [];
  let current: FirewallProfile['profile'] | undefined;
  for (const raw of lines(text)) {
    const line = raw.trim();
    if (/^(Domain Profile|域配置文件)/i.test(line)) current = 'domain';
    else if (/^(Private Profile|专用配置文件)/i.test(line)) current = 'private';
    else if (/^(Public Profile|公用配置文件)/i.test(line)) current = 'public';
    else if (current) {
      const m = /^(State|状态)\s+(\S+)$/i.exec(line);
      if (!m) continue;
      const val = m[2]!.toUpperCase();
      if (val === 'ON' || val === '启用') out.push({ profile: current, on: true });
      else if (val === 'OFF' || val === '关闭') out.push({ profile: current, on: false });
      current = undefined;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// w32tm /query /status — `Label: value` lines; the sync time is in the host's locale and local
// time zone, so it is read as a wall-clock time (good to a day, which is all the check needs).

export interface W32tmStatus {
  source?: string;
  /** null when w32tm says "unspecified" (never synchronised) or the date cannot be read. */
  lastSync: Date | null;
  lastSyncText?: string;
  leapIndicator?: number;
  stratum?: number;
}

export function parseLocalDateTime(s: string): Date | null {
  const t = s.trim();
  let m = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(t);
  if (m) return utc(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0));
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(AM|PM)?$/i.exec(t);
  if (m) {
    let h = +m[4]!;
    if (m[7]) h = (h % 12) + (m[7].toUpperCase() === 'PM' ? 12 : 0);
    return utc(+m[3]!, +m[1]!, +m[2]!, h, +m[5]!, +(m[6] ?? 0));
  }
  m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(t);
  if (m) return utc(+m[3]!, +m[2]!, +m[1]!, +m[4]!, +m[5]!, +(m[6] ?? 0));
  return null;
}

function utc(y: number, mo: number, d: number, h: number, mi: number, s: number): Date | null {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

export function parseW32tmStatus(text: string): W32tmStatus {
  const st: W32tmStatus = { lastSync: null };
  for (const raw of lines(text)) {
    const m = /^([^:：]+)[:：]\s*(.*)$/.exec(raw.trim());
    if (!m) continue;
    const label = m[1]!.trim().toLowerCase();
    const value = m[2]!.trim();
    if (label === 'source' || label === '源') st.source = value;
    else if (label === 'last successful sync time' || label === '上次成功同步时间') {
      st.lastSyncText = value;
      st.lastSync = parseLocalDateTime(value);
    } else if (label === 'leap indicator' || label === '闰秒指示器') st.leapIndicator = parseInt(value, 10);
    else if (label === 'stratum' || label === '层次') st.stratum = parseInt(value, 10);
  }
  return st;
}

// ---------------------------------------------------------------------------------------------
// root/SecurityCenter2 AntiVirusProduct.productState: bits 12-15 scanner state (1 = on,
// 0 = off, 2 = snoozed, 3 = expired), bits 4-7 signatures (0 = up to date, 1 = out of date),
// bits 8-11 owner (1 = Windows). E.g. 397568 = 0x61100: Windows Defender, on, up to date.

export function decodeProductState(state: number): { enabled: boolean; upToDate: boolean; windows: boolean } {
  return {
    enabled: ((state >> 12) & 0xf) === 1,
    upToDate: ((state >> 4) & 0xf) === 0,
    windows: ((state >> 8) & 0xf) === 1,
  };
}
