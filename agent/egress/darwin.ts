/**
 * macOS egress: the connection table from `lsof -F` (with `netstat -anv` as a fallback that needs no
 * per-process walk), executables from `ps`, proxies from `scutil --proxy`, and the pf anchor that
 * enforces the plan. Everything here is pure: argv arrays, rule text and parsers.
 */
import { cidrRange, formatAddress } from './ranges.js';
import type { Conn, ConnState, EnforcementPlan, Family } from './types.js';

// ---------- connection table ----------

/**
 * `lsof -nP -i -F pcuLftPTn`: numeric hosts and ports, every Internet socket, field output with
 * p pid, c command, u uid, L login name, f fd, t IPv4/IPv6, P TCP/UDP, n `local->remote`, and the
 * T lines (`TST=ESTABLISHED`, `TQR=0`, `TQS=0`).
 */
export const DARWIN_LSOF_ARGS = ['-nP', '-i', '-F', 'pcuLftPTn'];

/** `ps -axo pid=,comm=`: comm is the executable's full path on macOS. */
export const DARWIN_PS_ARGS = ['-axo', 'pid=,comm='];

/** `netstat -anvW -p tcp`: -W keeps long IPv6 addresses from being cut to the column width. */
export const DARWIN_NETSTAT_ARGS = ['-anvW', '-p', 'tcp'];

/** BSD state names as lsof and netstat print them (and Linux lsof's spellings), punctuation removed. */
const BSD_STATES: Record<string, ConnState> = {
  CLOSED: 'close', IDLE: 'close', BOUND: 'bound', LISTEN: 'listen', SYNSENT: 'syn_sent', SYNRCVD: 'syn_recv',
  SYNRECV: 'syn_recv', ESTABLISHED: 'established', CLOSEWAIT: 'close_wait', FINWAIT1: 'fin_wait1',
  CLOSING: 'closing', LASTACK: 'last_ack', FINWAIT2: 'fin_wait2', TIMEWAIT: 'time_wait',
};

function bsdState(name: string): ConnState | null {
  return BSD_STATES[name.toUpperCase().replace(/[^A-Z0-9]/g, '')] ?? null;
}

const ANY: Record<Family, string> = { 4: '0.0.0.0', 6: '::' };

function familyOfAddress(address: string): Family | null {
  if (address.includes(':')) return 6;
  return /^\d+\.\d+\.\d+\.\d+$/.test(address) ? 4 : null;
}

/** lsof's `host:port`, `[v6]:port`, `*:port`, `*:*`. */
function lsofEndpoint(text: string): { address: string; port: number } | null {
  let address: string, port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return null;
    address = text.slice(1, close);
    port = text.slice(close + 2);
  } else {
    const i = text.lastIndexOf(':');
    if (i < 0) return null;
    address = text.slice(0, i);
    port = text.slice(i + 1);
  }
  const p = port === '*' ? 0 : Number(port);
  if (!Number.isInteger(p) || p < 0 || p > 65535) return null;
  return { address: address.replace(/%.*$/, ''), port: p };
}

/**
 * lsof field output → connections with their process (name, and user as login name or uid).
 * A file set may lack an `f` line (fields then repeat), so a repeated tag also closes a file.
 */
export function parseLsofConnections(text: string): Conn[] {
  const out: Conn[] = [];
  const seen = new Set<string>();
  let proc: { pid: number; name: string | null; uid: string | null; login: string | null } | null = null;
  let file: { t?: string; P?: string; n?: string; state?: string } | null = null;
  const flush = () => {
    const f = file;
    file = null;
    if (!proc || !f?.n || !f.P) return;
    const proto = f.P.toUpperCase() === 'TCP' ? 'tcp' : f.P.toUpperCase() === 'UDP' ? 'udp' : null;
    if (!proto) return;
    const [l, r] = f.n.split('->');
    const local = lsofEndpoint(l!.trim());
    const remote = r === undefined ? null : lsofEndpoint(r.trim().replace(/\s.*$/, ''));
    if (!local || (r !== undefined && !remote)) return;
    const family: Family = f.t === 'IPv6' ? 6 : f.t === 'IPv4' ? 4 : familyOfAddress(local.address) ?? familyOfAddress(remote?.address ?? '') ?? 4;
    const addr = (a: string) => (a === '*' ? ANY[family] : a);
    const state: ConnState | null = proto === 'udp'
      ? (remote ? 'connected' : 'unconnected')
      : (f.state ? bsdState(f.state) : remote ? 'established' : 'listen');
    if (!state) return;
    const conn: Conn = {
      proto, family,
      localAddress: addr(local.address), localPort: local.port,
      remoteAddress: remote ? addr(remote.address) : ANY[family], remotePort: remote?.port ?? 0,
      state, pid: proc.pid,
      process: { pid: proc.pid, name: proc.name, exe: null, user: proc.login ?? proc.uid },
    };
    const key = `${proto}|${conn.localAddress}|${conn.localPort}|${conn.remoteAddress}|${conn.remotePort}|${conn.pid}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(conn);
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const tag = line[0];
    const v = line.slice(1);
    if (tag === 'p') {
      flush();
      const pid = Number(v);
      proc = Number.isInteger(pid) ? { pid, name: null, uid: null, login: null } : null;
    } else if (tag === 'c' && proc) proc.name = v;
    else if (tag === 'u' && proc) proc.uid = v;
    else if (tag === 'L' && proc) proc.login = v;
    else if (tag === 'f') { flush(); file = {}; }
    else if (tag === 't' || tag === 'P' || tag === 'n') {
      if (file?.[tag] !== undefined) flush();
      file ??= {};
      file[tag] = v;
    } else if (tag === 'T' && v.startsWith('ST=')) {
      file ??= {};
      file.state = v.slice(3);
    }
  }
  flush();
  return out;
}

/** `ps -axo pid=,comm=` → pid → executable path (as ps prints it; not every entry is absolute). */
export function parsePsComm(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(.+?)\s*$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]!);
  }
  return out;
}

/** Fill `process.exe` from parsePsComm's map; only absolute paths count as an executable. */
export function attachDarwinExe(conns: Conn[], exe: Map<number, string>): Conn[] {
  return conns.map((c) => {
    const path = c.pid === null ? undefined : exe.get(c.pid);
    if (!path?.startsWith('/')) return c;
    const process = c.process ?? { pid: c.pid!, name: path.slice(path.lastIndexOf('/') + 1), exe: null, user: null };
    return { ...c, process: { ...process, exe: path } };
  });
}

/** netstat's `address.port`, `*.port`, `*.*`. */
function netstatEndpoint(text: string, family: Family): { address: string; port: number } | null {
  const i = text.lastIndexOf('.');
  if (i < 0) return null;
  const a = text.slice(0, i).replace(/%.*$/, '');
  const p = text.slice(i + 1);
  const port = p === '*' ? 0 : Number(p);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { address: a === '*' ? ANY[family] : a, port };
}

/**
 * `netstat -anv -p tcp` on macOS. The columns after `(state)` changed across releases: `rhiwat
 * shiwat pid epid …` (10.x), `rxbytes txbytes rhiwat shiwat pid epid …` (11–15), and `… shiwat
 * process:pid …` (26), where the name is right-aligned in 16 characters and may hold spaces.
 * The header says which; rows without a pid column get `pid: null`.
 */
export function parseNetstatAnv(text: string): Conn[] {
  const out: Conn[] = [];
  let after: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('Proto')) {
      const h = line.split(/\s+/);
      after = h.slice(h.indexOf('(state)') + 1);
      continue;
    }
    const t = line.split(/\s+/);
    const pm = /^(tcp|udp)(4|6|46)?$/.exec(t[0] ?? '');
    if (!pm || t.length < 5) continue;
    const proto = pm[1] as 'tcp' | 'udp';
    const host = (s: string) => (s.includes('.') ? s.slice(0, s.lastIndexOf('.')) : s).replace(/%.*$/, '');
    // tcp46 is a dual-stack socket: IPv6 unless it shows an IPv4 address.
    const fam: Family = pm[2] === '4' ? 4 : pm[2] === '6' ? 6 : familyOfAddress(host(t[3]!)) ?? familyOfAddress(host(t[4]!)) ?? (pm[2] === '46' ? 6 : 4);
    const local = netstatEndpoint(t[3]!, fam);
    const remote = netstatEndpoint(t[4]!, fam);
    if (!local || !remote) continue;
    let state: ConnState | null;
    let rest: string[];
    if (proto === 'tcp') {
      state = bsdState(t[5] ?? '');
      rest = t.slice(6);
    } else {
      const connected = remote.port > 0;
      state = connected ? 'connected' : 'unconnected';
      rest = t.slice(5);
    }
    if (!state) continue;
    let pid: number | null = null;
    let name: string | null = null;
    const iPid = after.indexOf('pid');
    const iProc = after.indexOf('process:pid');
    if (iPid >= 0) {
      const n = Number(rest[iPid]);
      pid = Number.isInteger(n) && n > 0 ? n : null;
    } else if (iProc >= 0) {
      for (let j = iProc, words: string[] = []; j < rest.length && j < iProc + 6; j++) {
        words.push(rest[j]!);
        const m = /^(.*):(\d+)$/.exec(rest[j]!);
        if (m) {
          pid = Number(m[2]);
          name = [...words.slice(0, -1), m[1]!].join(' ').trim() || null;
          break;
        }
      }
    }
    out.push({
      proto, family: fam,
      localAddress: local.address, localPort: local.port,
      remoteAddress: remote.address, remotePort: remote.port,
      state, pid,
      ...(name && pid !== null ? { process: { pid, name, exe: null, user: null } } : {}),
    });
  }
  return out;
}

// ---------- proxies ----------

export interface DarwinProxy {
  kind: 'http' | 'https' | 'socks' | 'pac';
  /** host:port, or the PAC URL; null for automatic discovery (WPAD), which has no URL. */
  proxy: string | null;
}

/**
 * `scutil --proxy`: the top-level dictionary only (`__SCOPED__` repeats it per interface). Keys are
 * `HTTPEnable`/`HTTPProxy`/`HTTPPort`, the same for HTTPS and SOCKS, `ProxyAutoConfigEnable` with
 * `ProxyAutoConfigURLString`, and `ProxyAutoDiscoveryEnable`.
 */
export function parseScutilProxy(text: string): DarwinProxy[] {
  const top = new Map<string, string>();
  let depth = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line === '}') { depth--; continue; }
    const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line);
    if (m && depth === 1 && !m[2]!.endsWith('{')) top.set(m[1]!, m[2]!.trim());
    if (line.endsWith('{')) depth++;
  }
  const on = (k: string) => top.get(k) === '1';
  const out: DarwinProxy[] = [];
  for (const [kind, key] of [['http', 'HTTP'], ['https', 'HTTPS'], ['socks', 'SOCKS']] as const) {
    if (!on(`${key}Enable`)) continue;
    const host = top.get(`${key}Proxy`);
    const port = top.get(`${key}Port`);
    out.push({ kind, proxy: host ? (port ? `${host}:${port}` : host) : null });
  }
  if (on('ProxyAutoConfigEnable')) out.push({ kind: 'pac', proxy: top.get('ProxyAutoConfigURLString') || null });
  if (on('ProxyAutoDiscoveryEnable')) out.push({ kind: 'pac', proxy: null });
  return out;
}

// ---------- pf ----------

/** macOS's /etc/pf.conf evaluates `anchor "com.apple/*"`, so a child of com.apple runs without editing it. */
export const PF_ANCHOR = 'com.apple/termguard';

export const PFCTL = '/sbin/pfctl';

function pfHost(family: Family, address: string, prefix: number): string {
  const r = cidrRange(family, address, prefix);
  const text = formatAddress(family, r.start);
  return prefix === (family === 4 ? 32 : 128) ? text : `${text}/${prefix}`;
}

/**
 * The anchor's ruleset: pass (quick, stateful) loopback, the server's address, DHCP and DHCPv6,
 * DNS on 53, router/neighbour solicitation and neighbour advertisement, and each allow entry (TCP
 * and UDP on its port when it has one); then drop everything else going out. `hash` labels the
 * block rule, which `pfctl -vsr` shows back, so the enforcer can tell which plan is loaded.
 */
export function darwinPfRules(plan: EnforcementPlan, hash?: string): string {
  if (hash !== undefined && !/^[A-Za-z0-9._-]{1,48}$/.test(hash)) throw new Error(`bad plan hash for a pf label: ${hash}`);
  const inet = (f: Family) => (f === 4 ? 'inet' : 'inet6');
  const host = (f: Family, a: string, p: number, what: string) => {
    try {
      return pfHost(f, a, p);
    } catch (e) {
      throw new Error(`enforcement plan ${what} ${a}/${p}`, { cause: e });
    }
  };
  const rules = [
    `# termguard egress allow-list (generated; anchor ${PF_ANCHOR})`,
    'pass out quick on lo0 all',
    // The whole server address, as on Linux and Windows: the console runs beside the agent listener.
    ...plan.server.map((s) => `pass out quick ${inet(s.family)} from any to ${host(s.family, s.address, s.family === 4 ? 32 : 128, 'server')}`),
    'pass out quick inet proto udp from any port 68 to any port 67',
    'pass out quick inet6 proto udp from any port 546 to ff02::1:2 port 547',
    ...plan.dns.map((d) => `pass out quick ${inet(d.family)} proto { tcp udp } from any to ${host(d.family, d.address, d.family === 4 ? 32 : 128, 'dns')} port 53`),
    'pass out quick inet6 proto ipv6-icmp all icmp6-type { routersol neighbrsol neighbradv }',
    ...plan.allow.map((a) => {
      const to = host(a.family, a.address, a.prefix, `allow ${a.text}`);
      return a.port === null
        ? `pass out quick ${inet(a.family)} from any to ${to}`
        : `pass out quick ${inet(a.family)} proto { tcp udp } from any to ${to} port ${a.port}`;
    }),
    `block drop out quick all${hash ? ` label "termguard:${hash}"` : ''}`,
  ];
  return rules.join('\n') + '\n';
}

export interface DarwinPfCommands {
  /** Load the anchor's rules; the ruleset goes on stdin. */
  apply: string[];
  /** Enable pf and take a reference; stderr carries `Token : <n>`. */
  enable: string[];
  /** Flush everything in our anchor. */
  remove: string[];
  /** Give back our enable reference; pf stays on while others hold one. */
  release: (token: string) => string[];
  /** Rules with their evaluation, packet and byte counters. */
  counts: string[];
}

/** argv for each pf step. pf is reference-counted on macOS: never `pfctl -d`, which drops every holder. */
export function darwinPfCommands(): DarwinPfCommands {
  return {
    apply: [PFCTL, '-a', PF_ANCHOR, '-f', '-'],
    enable: [PFCTL, '-E'],
    remove: [PFCTL, '-a', PF_ANCHOR, '-F', 'all'],
    release: (token) => {
      if (!/^\d+$/.test(token)) throw new Error(`not a pf enable token: ${token}`);
      return [PFCTL, '-X', token];
    },
    counts: [PFCTL, '-a', PF_ANCHOR, '-vsr'],
  };
}

/** `pfctl -E` prints `pf enabled` and `Token : <u64>` on stderr; the token stays a string (it can exceed 2^53). */
export function parsePfctlToken(stderr: string): string | null {
  return /^Token\s*:\s*(\d+)\s*$/m.exec(stderr)?.[1] ?? null;
}

export interface PfRuleCounters {
  rule: string;
  evaluations: number;
  packets: number;
  bytes: number;
}

/**
 * `pfctl -a <anchor> -vsr`: each rule as pf renders it (lists expanded, `port = 53`, `keep state`
 * added), then `[ Evaluations: … Packets: … Bytes: … States: … ]` and an `[ Inserted: … ]` line.
 */
export function parsePfctlVerboseRules(text: string): PfRuleCounters[] {
  const out: PfRuleCounters[] = [];
  let current: PfRuleCounters | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (!trimmed) continue;
    if (/^\s/.test(line) || trimmed.startsWith('[')) {
      const m = /Evaluations:\s*(\d+)\s+Packets:\s*(\d+)\s+Bytes:\s*(\d+)/.exec(trimmed);
      if (m && current) {
        current.evaluations = Number(m[1]);
        current.packets = Number(m[2]);
        current.bytes = Number(m[3]);
      }
      continue;
    }
    if (/^(No ALTQ support|ALTQ related functions|pfctl:)/.test(trimmed)) continue;
    current = { rule: trimmed.replace(/^@\d+\s+/, ''), evaluations: 0, packets: 0, bytes: 0 };
    out.push(current);
  }
  return out;
}

/** Packets dropped by the block rules. */
export function pfBlockedPackets(rows: readonly PfRuleCounters[]): number {
  return rows.filter((r) => r.rule.startsWith('block')).reduce((n, r) => n + r.packets, 0);
}

/** The plan hash darwinPfRules put in the block rule's label; null when none is loaded. */
export function pfPlanHash(rows: readonly PfRuleCounters[]): string | null {
  for (const r of rows) {
    const m = /label "termguard:([^"]+)"/.exec(r.rule);
    if (m) return m[1]!;
  }
  return null;
}
