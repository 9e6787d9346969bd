/**
 * Pure parsers for the Linux hardening checks: text in, typed values out. No I/O here, so every
 * format is unit-tested against recorded outputs in tests/fixtures/linux/checks/.
 */

/** Lines without comments (`#` at line start or after whitespace) and without blank lines. */
export function activeLines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.replace(/(^|\s)#.*$/, '').trim()).filter((l) => l.length > 0);
}

/** `KEY value` files such as /etc/login.defs; keys upper-cased as written, last one wins (like shadow-utils). */
export function parseSpaceKv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of activeLines(text)) {
    const m = /^(\S+)\s+(.*)$/.exec(l);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/** `key = value` files (pwquality.conf, faillock.conf, auditd.conf, pwhistory.conf); keys lower-cased, last wins. A bare word is a flag. */
export function parseEqKv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of activeLines(text)) {
    const eq = l.indexOf('=');
    if (eq < 0) out[l.toLowerCase()] = 'true';
    else out[l.slice(0, eq).trim().toLowerCase()] = l.slice(eq + 1).trim();
  }
  return out;
}

/** INI / GLib keyfile (journald.conf, dconf keyfiles, smb.conf): section → key → value; sections and keys as written, last wins. */
export function parseIni(text: string, opts: { lowerKeys?: boolean } = {}): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const l = raw.trim();
    if (!l || l.startsWith('#') || l.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(l);
    if (s) { section = s[1]!.trim(); continue; }
    const eq = l.indexOf('=');
    if (eq < 0) continue;
    let key = l.slice(0, eq).trim();
    if (opts.lowerKeys) key = key.toLowerCase().replace(/\s+/g, ' ');
    (out[section] ??= {})[key] = l.slice(eq + 1).trim();
  }
  return out;
}

export interface PamLine {
  type: string;
  control: string;
  module: string;
  /** `key=value` args as strings; bare flags as `true`. */
  args: Record<string, string | true>;
}

/** A PAM service file (/etc/pam.d/*): `[-]type control module args…`; `@include` lines are returned as type '@include'. */
export function parsePam(text: string): PamLine[] {
  const out: PamLine[] = [];
  const joined = text.replace(/\\\r?\n/g, ' ');
  for (const l of activeLines(joined)) {
    if (l.startsWith('@include')) { out.push({ type: '@include', control: '', module: l.split(/\s+/)[1] ?? '', args: {} }); continue; }
    const m = /^-?(\w+)\s+(\[[^\]]*\]|\S+)\s+(\S+)\s*(.*)$/.exec(l);
    if (!m) continue;
    const args: Record<string, string | true> = {};
    for (const a of m[4]!.split(/\s+/).filter(Boolean)) {
      const eq = a.indexOf('=');
      if (eq < 0) args[a] = true;
      else args[a.slice(0, eq)] = a.slice(eq + 1);
    }
    out.push({ type: m[1]!.toLowerCase(), control: m[2]!, module: m[3]!.replace(/^.*\//, ''), args });
  }
  return out;
}

export interface PasswdEntry { name: string; uid: number; gid: number; home: string; shell: string }

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const l of text.split(/\r?\n/)) {
    if (!l || l.startsWith('#') || l.startsWith('+') || l.startsWith('-')) continue;
    const f = l.split(':');
    if (f.length < 7) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! });
  }
  return out;
}

export interface ShadowEntry { name: string; hash: string }

export function parseShadow(text: string): ShadowEntry[] {
  const out: ShadowEntry[] = [];
  for (const l of text.split(/\r?\n/)) {
    if (!l || l.startsWith('#')) continue;
    const f = l.split(':');
    if (f.length < 2) continue;
    out.push({ name: f[0]!, hash: f[1]! });
  }
  return out;
}

/** The hashing scheme of a crypt(3) string: `locked` (`!`/`*` prefix), `empty`, or the scheme name. */
export function hashScheme(hash: string): 'empty' | 'locked' | 'md5' | 'des' | 'sha256' | 'sha512' | 'yescrypt' | 'gost-yescrypt' | 'bcrypt' | 'scrypt' | 'unknown' {
  if (hash === '') return 'empty';
  if (hash.startsWith('!') || hash.startsWith('*')) return 'locked';
  const id = /^\$([^$]+)\$/.exec(hash)?.[1];
  switch (id) {
    case '1': return 'md5';
    case '5': return 'sha256';
    case '6': return 'sha512';
    case 'y': return 'yescrypt';
    case 'gy': return 'gost-yescrypt';
    case '2a': case '2b': case '2y': return 'bcrypt';
    case '7': return 'scrypt';
    default: return /^[./0-9A-Za-z]{13}$/.test(hash) ? 'des' : 'unknown';
  }
}

export type SshdItem = { key: string; value: string } | { include: string[] };

/**
 * sshd_config tokens up to the first `Match` (what applies to every connection). Keywords are
 * lower-cased; `Include` is returned for the caller to expand, since sshd reads included files in place.
 */
export function parseSshdConfig(text: string): SshdItem[] {
  const out: SshdItem[] = [];
  for (const l of activeLines(text)) {
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(l);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    if (key === 'match') break;
    const value = m[2]!.trim().replace(/^"(.*)"$/, '$1');
    if (key === 'include') out.push({ include: value.split(/\s+/).filter(Boolean) });
    else out.push({ key, value });
  }
  return out;
}

export interface SsSocket { netid: string; state: string; local: string; address: string; port: number; peer: string }

/** `ss -tulnH`: `Netid State Recv-Q Send-Q Local:Port Peer:Port [Process]`, no header. */
export function parseSs(text: string): SsSocket[] {
  const out: SsSocket[] = [];
  for (const l of text.split(/\r?\n/)) {
    const f = l.trim().split(/\s+/);
    if (f.length < 6) continue;
    const local = f[4]!;
    const i = local.lastIndexOf(':');
    if (i < 0) continue;
    const port = Number(local.slice(i + 1));
    if (!Number.isInteger(port)) continue;
    const address = local.slice(0, i).replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
    out.push({ netid: f[0]!, state: f[1]!, local, address, port, peer: f[5]! });
  }
  return out;
}

export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || address === 'localhost' || /^::ffff:127\./.test(address);
}

/** `systemctl list-unit-files --no-legend`: `unit state [preset]`; returns unit → state. */
export function parseUnitFiles(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split(/\r?\n/)) {
    const f = l.trim().split(/\s+/);
    if (f.length >= 2 && /\.(service|socket|timer|target|mount|path)$/.test(f[0]!)) out[f[0]!] = f[1]!;
  }
  return out;
}

export interface AptSimulation { upgrades: { pkg: string; from: string | null; to: string; origin: string }[]; security: string[] }

/** `apt-get -s upgrade`: `Inst pkg [old] (new Origin:version/suite [arch])`; security = origin suite ending in -security. */
export function parseAptSimulate(text: string): AptSimulation {
  const upgrades: AptSimulation['upgrades'] = [];
  for (const l of text.split(/\r?\n/)) {
    const m = /^Inst (\S+)(?: \[([^\]]*)\])? \((\S+) (.+?) \[[^\]]*\]\)/.exec(l);
    if (m) upgrades.push({ pkg: m[1]!, from: m[2] ?? null, to: m[3]!, origin: m[4]! });
  }
  const security = upgrades.filter((u) => /(^|[-/,\s])[\w.-]*-security\b|Debian-Security/i.test(u.origin)).map((u) => u.pkg);
  return { upgrades, security };
}

/** The `Date:` field of an apt Release/InRelease file. */
export function parseReleaseDate(text: string): Date | null {
  const m = /^Date:\s*(.+)$/m.exec(text);
  if (!m) return null;
  const d = new Date(m[1]!.trim().replace(/ UTC$/, ' GMT'));
  return Number.isNaN(d.getTime()) ? null : d;
}

export interface Advisory { id: string; severity: string; pkg: string }

/** `dnf|yum updateinfo list --security`: `ADVISORY Severity/Sec. package-nevra`; plus the metadata-age line if printed. */
export function parseUpdateinfo(text: string): { advisories: Advisory[]; metadataLine: string | null } {
  const advisories: Advisory[] = [];
  let metadataLine: string | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const l = raw.trim();
    if (/^Last metadata expiration check/.test(l)) metadataLine = l;
    const m = /^(\S+)\s+(\w+)\/Sec\.\s+(\S+)$/.exec(l);
    if (m) advisories.push({ id: m[1]!, severity: m[2]!, pkg: m[3]! });
  }
  return { advisories, metadataLine };
}

export interface BlockDevice { name: string; type: string; fstype: string | null; mountpoint: string | null; children?: BlockDevice[] }

/** `lsblk -J -o NAME,TYPE,FSTYPE,MOUNTPOINT`; throws on text that is not lsblk JSON. */
export function parseLsblk(text: string): BlockDevice[] {
  const j = JSON.parse(text) as { blockdevices?: unknown };
  if (!Array.isArray(j.blockdevices)) throw new Error('lsblk JSON has no blockdevices array');
  return j.blockdevices as BlockDevice[];
}

/** Mount points that sit on a dm-crypt mapping (TYPE crypt) anywhere above them. */
export function encryptedMounts(devs: BlockDevice[]): { mounts: string[]; cryptDevices: string[] } {
  const mounts: string[] = [];
  const cryptDevices: string[] = [];
  const walk = (d: BlockDevice, underCrypt: boolean) => {
    const crypt = underCrypt || d.type === 'crypt';
    if (d.type === 'crypt') cryptDevices.push(d.name);
    if (crypt && d.mountpoint) mounts.push(d.mountpoint);
    for (const c of d.children ?? []) walk(c, crypt);
  };
  for (const d of devs) walk(d, false);
  return { mounts, cryptDevices };
}

export function allMounts(devs: BlockDevice[]): string[] {
  const out: string[] = [];
  const walk = (d: BlockDevice) => { if (d.mountpoint) out.push(d.mountpoint); for (const c of d.children ?? []) walk(c); };
  devs.forEach(walk);
  return out;
}

/**
 * The 512-byte header of a ClamAV .cvd/.cld file:
 * `ClamAV-VDB:<build time>:<version>:<sigs>:<flevel>:<md5>:<dsig>:<builder>:<epoch seconds>`.
 */
export function parseCvdHeader(text: string): { version: number; built: Date } | null {
  const head = text.slice(0, 512);
  if (!head.startsWith('ClamAV-VDB:')) return null;
  const f = head.split(':');
  const version = Number(f[2]);
  const stime = Number((f[8] ?? '').replace(/[^0-9].*$/s, ''));
  let built: Date | null = stime > 0 ? new Date(stime * 1000) : null;
  if (!built) {
    // "07 Mar 2017 08-02 -0500": hours and minutes joined by a dash.
    const t = /^(\d{2}) (\w{3}) (\d{4}) (\d{2})-(\d{2}) ([+-]\d{4})$/.exec(f[1] ?? '');
    if (t) built = new Date(`${t[2]} ${t[1]} ${t[3]} ${t[4]}:${t[5]}:00 ${t[6]}`);
  }
  if (!built || Number.isNaN(built.getTime()) || !Number.isFinite(version)) return null;
  return { version, built };
}

/** `sigtool --info <file>`: the `Build time:` and `Version:` lines. */
export function parseSigtoolInfo(text: string): { version: number; built: Date } | null {
  const bt = /^Build time:\s*(\d{2}) (\w{3}) (\d{4}) (\d{2})-(\d{2}) ([+-]\d{4})\s*$/m.exec(text);
  const v = /^Version:\s*(\d+)/m.exec(text);
  if (!bt || !v) return null;
  const built = new Date(`${bt[2]} ${bt[1]} ${bt[3]} ${bt[4]}:${bt[5]}:00 ${bt[6]}`);
  return Number.isNaN(built.getTime()) ? null : { version: Number(v[1]), built };
}

export interface AuditRule { kind: 'watch' | 'syscall' | 'control'; path?: string; perms?: string; text: string }

/** auditctl rule files (/etc/audit/rules.d/*.rules): `-w path -p perms -k key`, `-a action,list -S … -F …`, `-e 2`. */
export function parseAuditRules(text: string): AuditRule[] {
  const out: AuditRule[] = [];
  for (const l of activeLines(text)) {
    if (l.startsWith('-w ')) {
      const path = /-w\s+(\S+)/.exec(l)?.[1];
      const perms = /-p\s+(\S+)/.exec(l)?.[1];
      out.push({ kind: 'watch', ...(path ? { path } : {}), ...(perms ? { perms } : {}), text: l });
    } else if (/^-[aA]\s/.test(l)) {
      const path = /-F\s+(?:path|dir)=(\S+)/.exec(l)?.[1];
      out.push({ kind: 'syscall', ...(path ? { path } : {}), text: l });
    } else out.push({ kind: 'control', text: l });
  }
  return out;
}

export interface LogrotateBlock { files: string[]; directives: Record<string, string> }

/** logrotate configuration: global directives and `files { … }` blocks; scripts (postrotate … endscript) skipped. */
export function parseLogrotate(text: string): { global: Record<string, string>; blocks: LogrotateBlock[] } {
  const global: Record<string, string> = {};
  const blocks: LogrotateBlock[] = [];
  let cur: LogrotateBlock | null = null;
  let pendingFiles: string[] = [];
  let inScript = false;
  for (const l of activeLines(text)) {
    if (inScript) { if (l === 'endscript') inScript = false; continue; }
    if (/^(postrotate|prerotate|firstaction|lastaction|preremove)$/.test(l)) { inScript = true; continue; }
    if (l.endsWith('{')) {
      const files = [...pendingFiles, ...l.slice(0, -1).trim().split(/\s+/).filter(Boolean)];
      cur = { files, directives: {} };
      pendingFiles = [];
      continue;
    }
    if (l === '}') { if (cur) blocks.push(cur); cur = null; continue; }
    if (!cur && l.startsWith('/')) { pendingFiles.push(...l.split(/\s+/)); continue; }
    const [k, ...rest] = l.split(/\s+/);
    const target = cur ? cur.directives : global;
    target[k!] = rest.join(' ');
  }
  return { global, blocks };
}

/** Days a rotation period covers; null when rotation is by size only. */
export function periodDays(d: Record<string, string>): number | null {
  if ('daily' in d) return 1;
  if ('weekly' in d) return 7;
  if ('monthly' in d) return 30;
  if ('yearly' in d) return 365;
  return null;
}

/** NTP sources in chrony.conf / ntp.conf: `server|pool|peer host [options]`. */
export function parseNtpSources(text: string): string[] {
  const out: string[] = [];
  for (const l of activeLines(text)) {
    const m = /^(server|pool|peer)\s+(\S+)/.exec(l);
    if (m) out.push(m[2]!);
  }
  return out;
}

/** modprobe.d: how usb-storage is kept from loading (`install usb-storage /bin/true|false`, `blacklist usb-storage`). */
export function usbStorageRules(text: string): { install: string | null; blacklist: boolean } {
  let install: string | null = null;
  let blacklist = false;
  for (const l of activeLines(text)) {
    const m = /^install\s+(usb[-_]storage)\s+(.+)$/.exec(l);
    if (m) install = m[2]!.trim();
    if (/^blacklist\s+usb[-_]storage$/.test(l)) blacklist = true;
  }
  return { install, blacklist };
}

export interface NftInputChain { table: string; chain: string; policy: string; dropRules: number; rules: number }

/** `nft list ruleset`: the base chains hooked on input, their policy and how many rules drop or reject. */
export function parseNftInputChains(text: string): NftInputChain[] {
  const out: NftInputChain[] = [];
  let table = '';
  let chain: NftInputChain | null = null;
  let chainName = '';
  let depth = 0;
  for (const raw of text.split(/\r?\n/)) {
    const l = raw.trim();
    if (!l || l.startsWith('#')) continue;
    const t = /^table\s+(\S+\s+\S+)\s*\{$/.exec(l);
    if (t && depth === 0) { table = t[1]!; depth = 1; continue; }
    const c = /^chain\s+(\S+)\s*\{$/.exec(l);
    if (c && depth === 1) { chainName = c[1]!; chain = null; depth = 2; continue; }
    if (depth === 2) {
      if (l === '}') { if (chain) out.push(chain); chain = null; depth = 1; continue; }
      if (/^type\s+filter\s+hook\s+input\b/.test(l)) {
        chain = { table, chain: chainName, policy: /policy\s+(\w+)/.exec(l)?.[1] ?? 'accept', dropRules: 0, rules: 0 };
        continue;
      }
      if (chain) { chain.rules++; if (/\b(drop|reject)\b/.test(l)) chain.dropRules++; }
      if (l.endsWith('{')) depth++;
      continue;
    }
    if (l.endsWith('{')) depth++;
    else if (l === '}') depth = Math.max(0, depth - 1);
  }
  return out;
}

/** `iptables -S`: the INPUT policy and whether any rule drops or rejects. */
export function parseIptablesS(text: string): { inputPolicy: string | null; inputRules: number; dropRules: number } {
  let inputPolicy: string | null = null;
  let inputRules = 0;
  let dropRules = 0;
  for (const l of text.split(/\r?\n/)) {
    const p = /^-P INPUT (\S+)/.exec(l);
    if (p) inputPolicy = p[1]!;
    if (/^-A INPUT\b/.test(l)) inputRules++;
    if (/^-A \S+ .*-j (DROP|REJECT)\b/.test(l)) dropRules++;
  }
  return { inputPolicy, inputRules, dropRules };
}

/** Shell lines assigning TMOUT (`TMOUT=600`, `export TMOUT=600`, `readonly TMOUT=600`, `declare -r TMOUT=600`). */
export function findTmout(text: string): number | null {
  let v: number | null = null;
  for (const l of activeLines(text)) {
    const m = /^(?:(?:export|readonly|declare\s+-\w+|typeset\s+-\w+)\s+)?TMOUT=["']?(\d+)["']?(?:\s|;|$)/.exec(l);
    if (m) v = Number(m[1]);
  }
  return v;
}

/** `/etc/os-release` KEY=value (quotes removed). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of activeLines(text)) {
    const m = /^([A-Z_]+)=(.*)$/.exec(l);
    if (m) out[m[1]!] = m[2]!.replace(/^["'](.*)["']$/, '$1');
  }
  return out;
}

/** A GVariant uint32 or plain integer from a dconf keyfile (`uint32 300`, `300`). */
export function gvariantInt(v: string | undefined): number | null {
  if (v === undefined) return null;
  const m = /^(?:u?int(?:32|64)\s+)?(-?\d+)$/.exec(v.trim());
  return m ? Number(m[1]) : null;
}
