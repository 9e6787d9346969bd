/**
 * Pure parsers for the macOS tools and config files the darwin checks read. Text in, typed values
 * out; nothing here runs a command or touches the filesystem, so each is tested against recorded
 * outputs in tests/fixtures/darwin/.
 */
import { isDict, num, parseBinaryPlist, parseXmlPlist, type PlistDict, type PlistValue } from './plist.js';

// ---------------------------------------------------------------- pwpolicy

export interface AccountPolicy {
  category: string;
  identifier: string;
  content: string;
  parameters: PlistDict;
}

/** `pwpolicy -getaccountpolicies`: an optional "Getting global account policies" line, then an XML plist. */
export function parseAccountPolicies(text: string): AccountPolicy[] | null {
  const root = parseXmlPlist(text);
  if (!isDict(root)) return null;
  const out: AccountPolicy[] = [];
  for (const [category, list] of Object.entries(root)) {
    if (!Array.isArray(list)) continue;
    for (const p of list) {
      if (!isDict(p)) continue;
      out.push({
        category,
        identifier: typeof p.policyIdentifier === 'string' ? p.policyIdentifier : '',
        content: typeof p.policyContent === 'string' ? p.policyContent : '',
        parameters: isDict(p.policyParameters) ? p.policyParameters : {},
      });
    }
  }
  return out;
}

export interface PasswordPolicySummary {
  minLength?: number;
  requiresAlpha: boolean;
  requiresUpper: boolean;
  requiresLower: boolean;
  requiresDigit: boolean;
  requiresSymbol: boolean;
  maxAgeDays?: number;
  minAgeHours?: number;
  historyDepth?: number;
  maxFailedLogins?: number;
  lockoutSeconds?: number;
}

function param(p: AccountPolicy, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = num(p.parameters[k]);
    if (v !== undefined) return v;
  }
  return undefined;
}

const minOf = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
const maxOf = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.max(a, b));

/**
 * What the account policies enforce, read from both the policy parameters and the
 * `policyAttributePassword matches '…'` regexes (profiles from MDM land here too, with
 * `ProfilePayload:<uuid>:<key>` identifiers). Where several policies set one value the strictest wins.
 */
export function summarisePasswordPolicy(policies: AccountPolicy[]): PasswordPolicySummary {
  const s: PasswordPolicySummary = { requiresAlpha: false, requiresUpper: false, requiresLower: false, requiresDigit: false, requiresSymbol: false };
  for (const p of policies) {
    const c = p.content;
    const len = /policyAttributePassword\s+matches\s+'\.\{(\d+),?\d*\}\+?'/.exec(c);
    if (len) s.minLength = maxOf(s.minLength, Number(len[1]));
    s.minLength = maxOf(s.minLength, param(p, 'minimumLength', 'minLength'));
    if (/policyAttributePassword\s+matches/.test(c)) {
      const rx = /'(.*)'/.exec(c)?.[1] ?? '';
      if (/\[\^[^\]]*0-9[^\]]*\]|\[\^a-zA-Z0-9\]|\[\^A-Za-z0-9\]|\[\[:punct:\]\]|\\W/.test(rx)) s.requiresSymbol = true;
      else {
        if (/\[(a-zA-Z|A-Za-z)\]|\[\[:alpha:\]\]/.test(rx)) s.requiresAlpha = true;
        if (/\[A-Z\]|\[\[:upper:\]\]/.test(rx)) s.requiresUpper = true;
        if (/\[a-z\]|\[\[:lower:\]\]/.test(rx)) s.requiresLower = true;
        if (/\[0-9\]|\\d|\[\[:digit:\]\]/.test(rx)) s.requiresDigit = true;
      }
    }
    if ((param(p, 'minimumAlphaCharacters') ?? 0) > 0) s.requiresAlpha = true;
    if ((param(p, 'minimumNumericCharacters') ?? 0) > 0) s.requiresDigit = true;
    if ((param(p, 'minimumSymbols', 'minimumComplexCharacters', 'minComplexChars') ?? 0) > 0) s.requiresSymbol = true;
    if ((param(p, 'minimumMixedCaseCharacters') ?? 0) > 0) { s.requiresUpper = true; s.requiresLower = true; }

    if (/policyAttributeExpiresEveryNDays/.test(c)) s.maxAgeDays = minOf(s.maxAgeDays, param(p, 'policyAttributeExpiresEveryNDays'));
    if (/policyAttributeDaysUntilExpiration/.test(c)) s.maxAgeDays = minOf(s.maxAgeDays, param(p, 'policyAttributeDaysUntilExpiration'));
    if (/policyAttributeMinimumLifetimeHours/.test(c)) s.minAgeHours = maxOf(s.minAgeHours, param(p, 'policyAttributeMinimumLifetimeHours'));
    if (/policyAttributePasswordHistory/.test(c)) s.historyDepth = maxOf(s.historyDepth, param(p, 'policyAttributePasswordHistoryDepth'));
    if (/policyAttributeMaximumFailedAuthentications/.test(c)) {
      s.maxFailedLogins = minOf(s.maxFailedLogins, param(p, 'policyAttributeMaximumFailedAuthentications'));
      const auto = param(p, 'autoEnableInSeconds');
      const minutes = param(p, 'policyAttributeMinutesUntilFailedAuthenticationReset');
      s.lockoutSeconds = maxOf(s.lockoutSeconds, auto ?? (minutes !== undefined ? minutes * 60 : undefined));
    }
  }
  return s;
}

// ---------------------------------------------------------------- launchctl

export type Override = 'enabled' | 'disabled';

/**
 * `launchctl print-disabled system`: `"com.openssh.sshd" => enabled` (macOS 11+) or `=> false`
 * (older: the value is the Disabled flag, so false means enabled).
 */
export function parseLaunchdOverrides(text: string): Map<string, Override> {
  const out = new Map<string, Override>();
  for (const line of text.split('\n')) {
    const m = /^\s*"([^"]+)"\s*=>\s*(enabled|disabled|true|false)\s*$/.exec(line);
    if (!m) continue;
    out.set(m[1]!, m[2] === 'enabled' || m[2] === 'false' ? 'enabled' : 'disabled');
  }
  return out;
}

export interface LaunchdJob { label: string; pid: number | null; status: number | null }

/** `launchctl list`: a `PID\tStatus\tLabel` header, then one job a line (`-` where no pid). */
export function parseLaunchctlList(text: string): LaunchdJob[] {
  const out: LaunchdJob[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\t+|\s{2,}/);
    if (f.length < 3 || f[0] === 'PID') continue;
    const pid = /^\d+$/.test(f[0]!) ? Number(f[0]) : null;
    const status = /^-?\d+$/.test(f[1]!) ? Number(f[1]) : null;
    out.push({ label: f.slice(2).join(' '), pid, status });
  }
  return out;
}

// ---------------------------------------------------------------- dscl

/**
 * `dscl . -read <record> <attrs…>`: `Key: v1 v2` on one line, or `Key:` then the value on indented
 * lines (used for long or spaced values); `No such key: X` for absent attributes.
 */
export function parseDsclRead(text: string): { attrs: Map<string, string[]>; missing: string[] } {
  const attrs = new Map<string, string[]>();
  const missing: string[] = [];
  let cur: string | null = null;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const no = /^No such key:\s*(\S+)/.exec(line);
    if (no) { missing.push(no[1]!); cur = null; continue; }
    if (/^\s/.test(line) && cur) { attrs.get(cur)!.push(line.trim()); continue; }
    const m = /^([A-Za-z][\w:.-]*):(?:\s(.*))?$/.exec(line);
    if (!m) continue;
    cur = m[1]!;
    attrs.set(cur, m[2] !== undefined && m[2].trim() ? m[2].trim().split(/\s+/) : []);
  }
  return { attrs, missing };
}

/** `dscl . -list /Users UniqueID`: a name and a number per line, space-padded. */
export function parseDsclList(text: string): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.+?)\s*$/.exec(line);
    if (m) out.push({ name: m[1]!, value: m[2]! });
  }
  return out;
}

export interface ShadowHash { algorithm: string; iterations: number; salt: Buffer; entropy: Buffer }

/** The SALTED-SHA512-PBKDF2 entry of `dscl . -read /Users/x dsAttrTypeNative:ShadowHashData` (hex words of a bplist). */
export function parseShadowHashData(text: string): ShadowHash | null {
  const at = text.indexOf('dsAttrTypeNative:ShadowHashData:');
  if (at < 0) return null;
  const hex = text.slice(at + 'dsAttrTypeNative:ShadowHashData:'.length).replace(/[^0-9a-fA-F]/g, '');
  if (!hex || hex.length % 2) return null;
  const root = parseBinaryPlist(Buffer.from(hex, 'hex'));
  if (!isDict(root)) return null;
  const e = root['SALTED-SHA512-PBKDF2'];
  if (!isDict(e)) return null;
  const { iterations, salt, entropy } = e as Record<string, PlistValue>;
  if (typeof iterations !== 'number' || !(salt instanceof Uint8Array) || !(entropy instanceof Uint8Array)) return null;
  return { algorithm: 'SALTED-SHA512-PBKDF2', iterations, salt: Buffer.from(salt), entropy: Buffer.from(entropy) };
}

// ---------------------------------------------------------------- audit

/** /etc/security/audit_control: `key:value` lines, `#` comments. */
export function parseAuditControl(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0 && !out.has(line.slice(0, i))) out.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return out;
}

export interface ExpireAfter { days?: number; bytes?: number; joiner?: 'AND' | 'OR' }

/** audit_control `expire-after:` — `60d`, `10M`, `60d OR 5G`, `60d AND 5G` (s/h/d/y; B/K/M/G). */
export function parseExpireAfter(v: string): ExpireAfter | null {
  const parts = v.trim().split(/\s+(AND|OR)\s+/i);
  const out: ExpireAfter = {};
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k]!.trim();
    if (k % 2 === 1) { out.joiner = p.toUpperCase() as 'AND' | 'OR'; continue; }
    const m = /^(\d+)\s*([smhdyBKMG]?)$/i.exec(p);
    if (!m) return null;
    const n = Number(m[1]);
    const u = m[2]!;
    if ('shdy'.includes(u) && u !== '') out.days = u === 's' ? n / 86400 : u === 'h' ? n / 24 : u === 'd' ? n : n * 365;
    else out.bytes = n * ({ '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[u.toUpperCase()]!;
  }
  return out;
}

/** The `ttl=` and `all_max=` options on the /etc/asl line that writes /var/log/install.log. */
export function parseAslInstallLog(text: string): { line: string; ttl?: number; allMax?: string } | null {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || !/install\.log/.test(line) || !/\bfile\b|^>/.test(line)) continue;
    const ttl = /\bttl=(\d+)/.exec(line);
    const all = /\ball_max=(\S+)/.exec(line);
    return { line, ...(ttl ? { ttl: Number(ttl[1]) } : {}), ...(all ? { allMax: all[1] } : {}) };
  }
  return null;
}

// ---------------------------------------------------------------- sshd

/** sshd_config lines as `[keyword-lowercase, value, lineNo]`, stopping at the first `Match` block. */
export function parseSshdConfig(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    if (key === 'match') break;
    out.push([key, m[2]!.trim().replace(/^"(.*)"$/, '$1')]);
  }
  return out;
}

/** sshd time format: 900, 15m, 1h30m (units s m h d w). */
export function sshTime(v: string): number | undefined {
  if (/^\d+$/.test(v)) return Number(v);
  let total = 0;
  const re = /(\d+)([smhdw])/gi;
  let m: RegExpExecArray | null;
  let seen = '';
  while ((m = re.exec(v))) { total += Number(m[1]) * ({ s: 1, m: 60, h: 3600, d: 86400, w: 604800 } as Record<string, number>)[m[2]!.toLowerCase()]!; seen += m[0]; }
  return seen.length === v.length && seen ? total : undefined;
}

/** `ChannelTimeout session=15m *=1h`: the timeout that covers interactive sessions. */
export function channelTimeoutSeconds(v: string): number | undefined {
  let star: number | undefined;
  for (const part of v.split(/\s+/)) {
    const [k, t] = part.split('=');
    if (!t) continue;
    if (k === 'session' || k === 'session:shell') return sshTime(t);
    if (k === '*') star = sshTime(t);
  }
  return star;
}

// ---------------------------------------------------------------- sudoers

/** The last `Defaults … timestamp_timeout=N` in a sudoers file (sudo applies them in order), and its includes. */
export function parseSudoers(text: string): { timestampTimeout?: number; includeDirs: string[]; includes: string[] } {
  let timeout: number | undefined;
  const includeDirs: string[] = [];
  const includes: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const inc = /^[#@]include(dir)?\s+(\S+)/.exec(line);
    if (inc) { (inc[1] ? includeDirs : includes).push(inc[2]!); continue; }
    if (line.startsWith('#') || !/^Defaults\b/.test(line)) continue;
    // Only the plain `Defaults` form applies to every user; `Defaults:user` and friends are scoped.
    if (!/^Defaults\s/.test(line)) continue;
    const m = /\btimestamp_timeout\s*=\s*(-?\d+(?:\.\d+)?)/.exec(line);
    if (m) timeout = Number(m[1]);
  }
  return { ...(timeout !== undefined ? { timestampTimeout: timeout } : {}), includeDirs, includes };
}

// ---------------------------------------------------------------- misc

/** INI text (/etc/nsmb.conf): section → key → value, keys lowercased. */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let sec = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) { sec = s[1]!.trim().toLowerCase(); continue; }
    const i = line.indexOf('=');
    if (i < 0) continue;
    if (!out.has(sec)) out.set(sec, new Map());
    out.get(sec)!.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

/** `key=value` lines (cupsctl). */
export function parseKeyEquals(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return out;
}

/** `Label: value` — the one line systemsetup / sysctl print; undefined when the label is absent. */
export function parseLabelled(text: string, label: string): string | undefined {
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && line.slice(0, i).trim().toLowerCase() === label.toLowerCase()) return line.slice(i + 1).trim();
  }
  return undefined;
}

export interface InstallRecord { name: string; date: Date; version?: string; source?: string }

/** `system_profiler SPInstallHistoryDataType -json`. */
export function parseInstallHistory(text: string): InstallRecord[] | null {
  let j: unknown;
  try { j = JSON.parse(text); } catch { return null; }
  const items = (j as { SPInstallHistoryDataType?: unknown }).SPInstallHistoryDataType;
  if (!Array.isArray(items)) return null;
  const out: InstallRecord[] = [];
  for (const it of items as Array<Record<string, unknown>>) {
    const d = new Date(String(it.install_date ?? ''));
    if (typeof it._name !== 'string' || Number.isNaN(d.getTime())) continue;
    out.push({
      name: it._name, date: d,
      ...(typeof it.install_version === 'string' ? { version: it.install_version } : {}),
      ...(typeof it.package_source === 'string' ? { source: it.package_source } : {}),
    });
  }
  return out;
}

/** `socketfilterfw --getglobalstate`: "Firewall is enabled. (State = 1)". */
export function parseFirewallState(text: string): number | null {
  const m = /\(State\s*=\s*(\d)\)/.exec(text);
  if (m) return Number(m[1]);
  if (/Firewall is enabled/i.test(text)) return 1;
  if (/Firewall is disabled/i.test(text)) return 0;
  return null;
}

/** `socketfilterfw --getstealthmode`: "Stealth mode enabled" (≤12) or "Firewall stealth mode is on" (13+). */
export function parseStealthMode(text: string): boolean | null {
  if (/stealth mode (is )?(enabled|on)\b/i.test(text)) return true;
  if (/stealth mode (is )?(disabled|off)\b/i.test(text)) return false;
  return null;
}
