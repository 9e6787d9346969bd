/**
 * Windows egress: the connection table through one long-lived PowerShell child (spawning
 * powershell.exe costs ~300 ms, so it is started once and prints a snapshot per interval), network
 * connectivity, WinHTTP/WinINET proxies, and the Windows Defender Firewall rules that enforce the
 * plan. Scripts are strings; parsers are pure; the reader is the only part that does I/O.
 * Hot loop: the reader's line cutter and parseWin32Connections run on every snapshot (one line per
 * interval, thousands of rows, megabytes on a busy server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { win32 as winPath } from 'node:path';
import { asArray, int, str, type Json } from '../collectors/util.js';
import { cidrRange, mergeRanges, maxAddress, portComplement, rangeText, type AddressRange } from './ranges.js';
import type { Conn, ConnState, EnforcementPlan, Family, ProcessInfo } from './types.js';

// ---------- PowerShell helpers ----------

/**
 * Serialise `$obj` as one compressed JSON line with every non-ASCII character escaped as \uXXXX:
 * powershell.exe writes redirected stdout in the OEM code page (GBK on zh-CN), and escaped JSON
 * reads the same whatever that page is.
 */
function psAsciiJson(expr: string, depth: number): string {
  return `$json = ${expr} | ConvertTo-Json -Compress -Depth ${depth}; if ($json) { [Console]::Out.WriteLine([regex]::Replace($json, '[^\\x00-\\x7F]', { param($m) '\\u{0:x4}' -f [int][char]$m.Value })) }; [Console]::Out.Flush()`;
}

/** A PowerShell single-quoted string literal. */
function psq(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

// ---------- connection table ----------

/**
 * One long-lived child: every `intervalMs` it prints `{"Tcp":[…],"Udp":[…],"Procs":[…]}` on one line.
 * Only processes that own a socket are looked up; `-IncludeUserName` needs the agent's SYSTEM rights.
 * Every statement is on one line because `-Command -` runs stdin like an interactive prompt.
 */
export function WIN32_CONNECTIONS_SCRIPT(intervalMs: number): string {
  const ms = Math.max(100, Math.trunc(intervalMs));
  const body = [
    "$tcp = @(Get-NetTCPConnection | Select-Object LocalAddress,LocalPort,RemoteAddress,RemotePort,@{n='State';e={[int]$_.State}},OwningProcess)",
    '$udp = @(Get-NetUDPEndpoint | Select-Object LocalAddress,LocalPort,RemoteAddress,RemotePort,OwningProcess)',
    '$ids = @(@($tcp) + @($udp) | ForEach-Object { [int]$_.OwningProcess } | Where-Object { $_ -gt 0 } | Sort-Object -Unique)',
    '$procs = @(if ($ids.Count) { Get-Process -Id $ids -IncludeUserName | Select-Object Id,ProcessName,Path,UserName })',
    psAsciiJson('[pscustomobject]@{ Tcp = $tcp; Udp = $udp; Procs = $procs }', 3),
    `Start-Sleep -Milliseconds ${ms}`,
  ].join('; ');
  return [
    "$ErrorActionPreference = 'SilentlyContinue'",
    "$ProgressPreference = 'SilentlyContinue'",
    `while ($true) { ${body} }`,
    '',
    '',
  ].join('\n');
}

/** MSFT_NetTCPConnection.State, as a number (what the script prints) or as the enum's name. */
const WIN_TCP_STATES: Record<string, ConnState> = {
  1: 'close', 2: 'listen', 3: 'syn_sent', 4: 'syn_recv', 5: 'established', 6: 'fin_wait1', 7: 'fin_wait2',
  8: 'close_wait', 9: 'closing', 10: 'last_ack', 11: 'time_wait', 12: 'delete_tcb', 100: 'bound',
  closed: 'close', listen: 'listen', synsent: 'syn_sent', synreceived: 'syn_recv', established: 'established',
  finwait1: 'fin_wait1', finwait2: 'fin_wait2', closewait: 'close_wait', closing: 'closing', lastack: 'last_ack',
  timewait: 'time_wait', deletetcb: 'delete_tcb', bound: 'bound',
};

function winTcpState(v: unknown): ConnState | null {
  const key = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim().toLowerCase() : '';
  return WIN_TCP_STATES[key] ?? null;
}

function familyOf(address: string): Family {
  return address.includes(':') ? 6 : 4;
}

function cleanAddress(v: unknown): string | null {
  const s = str(v);
  return s ? s.replace(/%.*$/, '') : null;
}

/**
 * The reader's JSON line → connections, TCP then UDP. A UDP endpoint without a remote address is
 * `unconnected`; OwningProcess 0 (TIME_WAIT sockets, the Idle pseudo-process) means no owner.
 */
export function parseWin32Connections(json: unknown): Conn[] {
  const o: Json = asArray(json)[0] ?? {};
  const procs = new Map<number, ProcessInfo>();
  for (const p of asArray(o.Procs)) {
    const pid = int(p.Id);
    if (pid !== null) procs.set(pid, { pid, name: str(p.ProcessName), exe: str(p.Path), user: str(p.UserName) });
  }
  const owner = (v: unknown) => {
    const pid = int(v);
    return pid === null || pid <= 0 ? { pid: null, process: null } : { pid, process: procs.get(pid) ?? null };
  };
  const out: Conn[] = [];
  for (const s of asArray(o.Tcp)) {
    const localAddress = cleanAddress(s.LocalAddress);
    const localPort = int(s.LocalPort);
    const state = winTcpState(s.State);
    if (!localAddress || localPort === null || !state) continue;
    const family = familyOf(localAddress);
    out.push({
      proto: 'tcp', family, localAddress, localPort,
      remoteAddress: cleanAddress(s.RemoteAddress) ?? (family === 4 ? '0.0.0.0' : '::'),
      remotePort: int(s.RemotePort) ?? 0,
      state, ...owner(s.OwningProcess),
    });
  }
  for (const s of asArray(o.Udp)) {
    const localAddress = cleanAddress(s.LocalAddress);
    const localPort = int(s.LocalPort);
    if (!localAddress || localPort === null) continue;
    const family = familyOf(localAddress);
    const remote = cleanAddress(s.RemoteAddress);
    const remotePort = int(s.RemotePort) ?? 0;
    const connected = remote !== null && remote !== '0.0.0.0' && remote !== '::' && remotePort > 0;
    out.push({
      proto: 'udp', family, localAddress, localPort,
      remoteAddress: connected ? remote : family === 4 ? '0.0.0.0' : '::',
      remotePort: connected ? remotePort : 0,
      state: connected ? 'connected' : 'unconnected', ...owner(s.OwningProcess),
    });
  }
  return out;
}

export interface Win32ConnectionReaderOptions {
  /** Called with every complete snapshot, in order. */
  onSnapshot: (conns: Conn[]) => void;
  /** Why the child stopped or a snapshot was dropped; one line. */
  onError?: (message: string) => void;
  intervalMs?: number;
  /** Injected for tests; default `powershell.exe -NoProfile -NonInteractive -Command -`. */
  command?: string;
  args?: string[];
  /** Written to the child's stdin; default WIN32_CONNECTIONS_SCRIPT(intervalMs). */
  script?: string;
  restartMinMs?: number;
  restartMaxMs?: number;
  /** A line longer than this is dropped as malformed (a runaway child must not grow our memory). */
  maxLineChars?: number;
}

/**
 * Keeps one PowerShell child printing snapshots; restarts it with exponential backoff when it exits.
 * Malformed lines are counted and skipped, never thrown.
 */
export class Win32ConnectionReader {
  readonly stats = { snapshots: 0, malformed: 0, restarts: 0 };
  private readonly opts: Required<Omit<Win32ConnectionReaderOptions, 'onError'>> & Pick<Win32ConnectionReaderOptions, 'onError'>;
  private child: ChildProcess | null = null;
  private parts: string[] = [];
  private partsLength = 0;
  private discarding = false;
  private stopped = true;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private last: Conn[] | null = null;

  constructor(opts: Win32ConnectionReaderOptions) {
    const intervalMs = opts.intervalMs ?? 2_000;
    this.opts = {
      onSnapshot: opts.onSnapshot,
      onError: opts.onError,
      intervalMs,
      command: opts.command ?? 'powershell.exe',
      args: opts.args ?? ['-NoProfile', '-NonInteractive', '-Command', '-'],
      script: opts.script ?? WIN32_CONNECTIONS_SCRIPT(intervalMs),
      restartMinMs: opts.restartMinMs ?? 1_000,
      restartMaxMs: opts.restartMaxMs ?? 60_000,
      maxLineChars: opts.maxLineChars ?? 64 * 1024 * 1024,
    };
  }

  start(signal?: AbortSignal): void {
    if (!this.stopped) return;
    if (signal?.aborted) return;
    this.stopped = false;
    signal?.addEventListener('abort', () => this.stop(), { once: true });
    this.launch();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) child.kill();
  }

  /** The latest complete snapshot; null before the first. */
  latest(): Conn[] | null {
    return this.last;
  }

  /** The running child's pid, for diagnostics. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private launch(): void {
    let child: ChildProcess;
    try {
      child = spawn(this.opts.command, this.opts.args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    } catch (e) {
      this.failed(`cannot run ${this.opts.command}: ${(e as Error).message}`);
      return;
    }
    this.child = child;
    this.parts = [];
    this.partsLength = 0;
    this.discarding = false;
    let stderrTail = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => this.take(s));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => { stderrTail = (stderrTail + s).slice(-2_000); });
    child.stdin!.on('error', () => { /* the child may exit before reading its script */ });
    child.stdin!.end(this.opts.script);
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = null;
      if (this.stopped) return;
      const line = stderrTail.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).pop();
      this.failed(line ? `${why}: ${line}` : why);
    };
    child.on('error', (e: NodeJS.ErrnoException) => gone(e.code === 'ENOENT' ? `${this.opts.command} not found` : `${this.opts.command}: ${e.message}`));
    child.on('close', (code, signal) => gone(`${this.opts.command} exited with ${code ?? signal}`));
  }

  private failed(message: string): void {
    this.opts.onError?.(message);
    if (this.stopped) return;
    const delay = Math.min(this.opts.restartMaxMs, this.opts.restartMinMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      this.stats.restarts++;
      this.launch();
    }, delay);
  }

  /** Cut lines out of stdout; only the new chunk is searched, so a multi-megabyte line costs one pass. */
  private take(chunk: string): void {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      const piece = chunk.slice(start, nl);
      const line = this.parts.length ? this.parts.join('') + piece : piece;
      this.parts = [];
      this.partsLength = 0;
      start = nl + 1;
      if (this.discarding) { this.discarding = false; continue; }
      this.line(line);
    }
    if (start >= chunk.length || this.discarding) return;
    this.parts.push(chunk.slice(start));
    this.partsLength += chunk.length - start;
    if (this.partsLength > this.opts.maxLineChars) {
      this.parts = [];
      this.partsLength = 0;
      this.discarding = true;
      this.stats.malformed++;
      this.opts.onError?.(`dropped a snapshot line longer than ${this.opts.maxLineChars} characters`);
    }
  }

  private line(raw: string): void {
    const text = raw.replace(/^\uFEFF/, '').trim();
    if (!text) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !('Tcp' in value || 'Udp' in value)) {
      this.stats.malformed++;
      this.opts.onError?.(`skipped a malformed snapshot line (${text.length} characters)`);
      return;
    }
    const conns = parseWin32Connections(value);
    this.last = conns;
    this.stats.snapshots++;
    this.failures = 0;
    try {
      this.opts.onSnapshot(conns);
    } catch (e) {
      this.opts.onError?.(`snapshot handler failed: ${(e as Error).message}`);
    }
  }
}

// ---------- connectivity ----------

/**
 * Get-NetConnectionProfile with the connectivity enums as numbers (PowerShell 5.1 and 7 agree on
 * those). With no network connected the cmdlet errors and the script prints nothing: no rows.
 */
export const WIN32_CONNECTIVITY_SCRIPT = [
  "$ErrorActionPreference = 'SilentlyContinue'",
  psAsciiJson("@(Get-NetConnectionProfile | Select-Object Name,InterfaceAlias,InterfaceIndex,@{n='IPv4Connectivity';e={[int]$_.IPv4Connectivity}},@{n='IPv6Connectivity';e={[int]$_.IPv6Connectivity}})", 3),
].join('\n');

/** NetConnectionProfile IPv4Connectivity / IPv6Connectivity, in rising order. */
const CONNECTIVITY = ['disconnected', 'no_traffic', 'subnet', 'local_network', 'internet'] as const;

function connectivityRank(v: unknown): number {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v < CONNECTIVITY.length ? v : -1;
  if (typeof v !== 'string') return -1;
  const k = v.trim().replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  return CONNECTIVITY.indexOf(k as (typeof CONNECTIVITY)[number]);
}

/** One row per connected network; `level` is the better of IPv4 and IPv6 connectivity. */
export function parseWin32Connectivity(json: unknown): { interface: string | null; name: string | null; internet: boolean; level: string }[] {
  return asArray(json).map((p) => {
    const best = Math.max(connectivityRank(p.IPv4Connectivity), connectivityRank(p.IPv6Connectivity));
    return {
      interface: str(p.InterfaceAlias),
      name: str(p.Name),
      internet: best === CONNECTIVITY.indexOf('internet'),
      level: best >= 0 ? CONNECTIVITY[best]! : 'unknown',
    };
  });
}

// ---------- proxies ----------

/**
 * WinHTTP (`netsh winhttp show proxy`, as text) and WinINET for every loaded user hive (SYSTEM,
 * local/domain and Entra ID accounts), with the account name when the SID resolves.
 */
export const WIN32_PROXY_SCRIPT = [
  "$ErrorActionPreference = 'SilentlyContinue'",
  '$winhttp = (& netsh.exe winhttp show proxy | Out-String)',
  'if (-not (Get-PSDrive -Name HKU)) { New-PSDrive -Name HKU -PSProvider Registry -Root HKEY_USERS | Out-Null }',
  "$users = @(Get-ChildItem -Path 'HKU:\\' | Where-Object { $_.PSChildName -match '^S-1-(5-18|5-21-[0-9-]+|12-1-[0-9-]+)$' } | ForEach-Object { $sid = $_.PSChildName; $p = Get-ItemProperty -Path \"HKU:\\$sid\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\"; $name = $null; try { $name = (New-Object System.Security.Principal.SecurityIdentifier($sid)).Translate([System.Security.Principal.NTAccount]).Value } catch { }; [pscustomobject]@{ Sid = $sid; User = $name; ProxyEnable = $p.ProxyEnable; ProxyServer = $p.ProxyServer; AutoConfigURL = $p.AutoConfigURL } })",
  psAsciiJson('[pscustomobject]@{ WinHttp = $winhttp; Users = $users }', 3),
].join('\n');

/**
 * `netsh winhttp show proxy`: the first `label : value` line is the proxy, the second the bypass
 * list. Reading by position keeps localised output (e.g. zh-CN) working; "Direct access (no proxy
 * server)." has no such line.
 */
export function parseNetshWinhttpProxy(text: string): { proxy: string | null; bypass: string | null } {
  const values: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*\S.*?\s*[:：]\s+(\S.*?)\s*$/.exec(line);
    if (m) values.push(m[1]!);
  }
  return { proxy: values[0] ?? null, bypass: values[1] ?? null };
}

export interface Win32Proxy {
  source: 'winhttp' | 'wininet';
  /** Account (DOMAIN\name, or the SID when it does not resolve); null for WinHTTP. */
  user: string | null;
  proxy: string | null;
  pac: string | null;
}

/** WIN32_PROXY_SCRIPT output → the proxies actually configured (a disabled ProxyServer is not one). */
export function parseWin32Proxy(json: unknown): Win32Proxy[] {
  const o: Json = asArray(json)[0] ?? {};
  const out: Win32Proxy[] = [];
  const winhttp = parseNetshWinhttpProxy(typeof o.WinHttp === 'string' ? o.WinHttp : '');
  if (winhttp.proxy) out.push({ source: 'winhttp', user: null, proxy: winhttp.proxy, pac: null });
  for (const u of asArray(o.Users)) {
    const proxy = int(u.ProxyEnable) === 1 ? str(u.ProxyServer) : null;
    const pac = str(u.AutoConfigURL);
    if (proxy || pac) out.push({ source: 'wininet', user: str(u.User) ?? str(u.Sid), proxy, pac });
  }
  return out;
}

// ---------- firewall ----------

export const WIN32_FIREWALL_GROUP = 'termguard';

/**
 * Windows Firewall refuses more than 1000 entries in one rule's address list (reported in
 * MichaelApproved/powershell-block-windows-attack#1), so longer lists are split across rules.
 */
export const WIN32_RULE_ADDRESS_LIMIT = 1000;

type Ports = 'all' | number[];
interface Allowance { family: Family; range: AddressRange; ports: Ports }

/**
 * Always let out, whatever the policy: loopback, DHCP's broadcast (UDP 67), and IPv6 link-local and
 * link-scope multicast, which neighbour discovery and DHCPv6 (ff02::1:2) need and which cannot leave
 * the link. A unicast DHCP renewal to a server outside the allow list is blocked (a rule cannot say
 * "UDP 67 to anywhere" under a block of everything); the client then rebinds by broadcast at T2.
 */
const ALWAYS: { family: Family; address: string; prefix: number; ports: Ports }[] = [
  { family: 4, address: '127.0.0.0', prefix: 8, ports: 'all' },
  { family: 4, address: '255.255.255.255', prefix: 32, ports: [67] },
  { family: 6, address: '::1', prefix: 128, ports: 'all' },
  { family: 6, address: 'fe80::', prefix: 10, ports: 'all' },
  { family: 6, address: 'ff02::', prefix: 16, ports: 'all' },
];

/**
 * What the plan lets out. The management server's whole address is allowed (a Windows rule cannot
 * say "not TCP" without listing protocols, and the server is ours); DNS servers only on port 53.
 */
function allowances(plan: EnforcementPlan): Allowance[] {
  const at = (family: Family, address: string, prefix: number, ports: Ports, what: string): Allowance => {
    try {
      return { family, range: cidrRange(family, address, prefix), ports };
    } catch (e) {
      throw new Error(`enforcement plan ${what} ${address}/${prefix}`, { cause: e });
    }
  };
  return [
    ...ALWAYS.map((a) => at(a.family, a.address, a.prefix, a.ports, 'built-in')),
    ...plan.server.map((s) => at(s.family, s.address, s.family === 4 ? 32 : 128, 'all', 'server')),
    ...plan.dns.map((d) => at(d.family, d.address, d.family === 4 ? 32 : 128, [53], 'dns')),
    ...plan.allow.map((a) => at(a.family, a.address, a.prefix, a.port === null ? 'all' : [a.port], `allow ${a.text}`)),
  ];
}

export interface BlockLayout {
  /** Blocked for every protocol and port. */
  all: AddressRange[];
  /** Ranges allowed only on some ports (TCP and UDP): everything else to them is blocked. */
  ported: { ports: number[]; ranges: AddressRange[] }[];
}

/**
 * Split one family's address space at every allowance boundary and classify each piece: allowed on
 * all ports, on a port set (the union of its port-restricted entries), or not at all.
 */
export function blockLayout(plan: EnforcementPlan, family: Family): BlockLayout {
  const list = allowances(plan).filter((a) => a.family === family);
  const cuts = new Set<bigint>([0n]);
  for (const a of list) {
    cuts.add(a.range.start);
    if (a.range.end < maxAddress(family)) cuts.add(a.range.end + 1n);
  }
  const points = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const all: AddressRange[] = [];
  const groups = new Map<string, { ports: number[]; ranges: AddressRange[] }>();
  points.forEach((start, i) => {
    const end = i + 1 < points.length ? points[i + 1]! - 1n : maxAddress(family);
    const over = list.filter((a) => a.range.start <= start && start <= a.range.end);
    if (over.length === 0) { all.push({ start, end }); return; }
    if (over.some((a) => a.ports === 'all')) return;
    const ports = [...new Set(over.flatMap((a) => a.ports as number[]))].sort((x, y) => x - y);
    const key = ports.join(',');
    (groups.get(key) ?? groups.set(key, { ports, ranges: [] }).get(key)!).ranges.push({ start, end });
  });
  return {
    all: mergeRanges(all),
    ported: [...groups.values()].map((g) => ({ ports: g.ports, ranges: mergeRanges(g.ranges) }))
      .sort((a, b) => a.ports[0]! - b.ports[0]! || a.ports.join(',').localeCompare(b.ports.join(','))),
  };
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

const psList = (xs: readonly string[]) => `@(${xs.map(psq).join(',')})`;

/**
 * PowerShell that replaces every rule of group `termguard` with block rules for what the plan does
 * not allow. Windows evaluates block rules before allow rules, so "allow only X" is a block of the
 * complement of X: one catch-all rule per family (any protocol), and for ranges allowed only on some
 * ports, TCP and UDP blocks on the other ports plus an ICMP block. Other IP protocols (GRE, ESP…)
 * to a port-restricted range are not blocked: a rule cannot negate a protocol. `hash` is stored in
 * each rule's Description so the enforcer can tell which plan is installed.
 */
export function win32FirewallScript(plan: EnforcementPlan, hash?: string): string {
  const lines = ["$ErrorActionPreference = 'Stop'", WIN32_FIREWALL_REMOVE_SCRIPT];
  const rule = (name: string, display: string, proto: string | null, addresses: string[], ports: string[] | null) => {
    if (addresses.length === 0) return; // an empty RemoteAddress would mean "any"
    lines.push([
      'New-NetFirewallRule',
      `-Group ${psq(WIN32_FIREWALL_GROUP)}`,
      `-Name ${psq(name)}`,
      `-DisplayName ${psq(display)}`,
      ...(hash ? [`-Description ${psq(`termguard egress plan ${hash}`)}`] : []),
      '-Direction Outbound -Action Block',
      ...(proto ? [`-Protocol ${proto}`] : []),
      `-RemoteAddress ${psList(addresses)}`,
      ...(ports ? [`-RemotePort ${psList(ports)}`] : []),
      '-Profile Any -Enabled True | Out-Null',
    ].join(' '));
  };
  for (const family of [4, 6] as const) {
    const layout = blockLayout(plan, family);
    const text = (rs: AddressRange[]) => rs.map((r) => rangeText(family, r));
    const parts = chunks(text(layout.all), WIN32_RULE_ADDRESS_LIMIT);
    parts.forEach((addrs, i) => {
      const n = parts.length > 1 ? ` (${i + 1}/${parts.length})` : '';
      rule(`termguard-v${family}-all-${i + 1}`, `termguard block IPv${family}${n}`, null, addrs, null);
    });
    layout.ported.forEach((g, gi) => {
      const except = portComplement(g.ports);
      const label = g.ports.join(',');
      chunks(text(g.ranges), WIN32_RULE_ADDRESS_LIMIT).forEach((addrs, i) => {
        const id = `termguard-v${family}-p${gi + 1}-${i + 1}`;
        rule(`${id}-tcp`, `termguard block IPv${family} tcp except ${label}`, 'TCP', addrs, except);
        rule(`${id}-udp`, `termguard block IPv${family} udp except ${label}`, 'UDP', addrs, except);
        rule(`${id}-icmp`, `termguard block IPv${family} icmp (ports ${label} only)`, family === 4 ? 'ICMPv4' : 'ICMPv6', addrs, null);
      });
    });
  }
  return lines.join('\n') + '\n';
}

/** Remove every rule of ours; quiet when there are none. */
export const WIN32_FIREWALL_REMOVE_SCRIPT = `Remove-NetFirewallRule -Group ${psq(WIN32_FIREWALL_GROUP)} -ErrorAction SilentlyContinue`;

/**
 * How many rules of ours exist and are enabled, which plan they carry, and whether the firewall is
 * on for each profile (rules do nothing in a profile whose firewall is off).
 */
export const WIN32_FIREWALL_VERIFY_SCRIPT = [
  "$ErrorActionPreference = 'Stop'",
  `$rules = @(Get-NetFirewallRule -Group ${psq(WIN32_FIREWALL_GROUP)} -ErrorAction SilentlyContinue)`,
  "$profiles = @(Get-NetFirewallProfile | ForEach-Object { [pscustomobject]@{ Name = [string]$_.Name; Enabled = ([string]$_.Enabled -eq 'True') } })",
  psAsciiJson("[pscustomobject]@{ Count = $rules.Count; Enabled = @($rules | Where-Object { [string]$_.Enabled -eq 'True' }).Count; Descriptions = @($rules | ForEach-Object { [string]$_.Description } | Sort-Object -Unique); Profiles = $profiles }", 3),
].join('\n');

export interface Win32FirewallState {
  rules: number;
  enabled: number;
  /** Plan hashes found in the rules' descriptions (one when the install is consistent). */
  hashes: string[];
  profiles: { name: string; enabled: boolean }[];
}

export function parseWin32FirewallVerify(json: unknown): Win32FirewallState {
  const o: Json = asArray(json)[0] ?? {};
  const descriptions = Array.isArray(o.Descriptions) ? o.Descriptions : [o.Descriptions];
  const hashes = [...new Set(descriptions.flatMap((d) => {
    const m = /termguard egress plan (\S+)/.exec(typeof d === 'string' ? d : '');
    return m ? [m[1]!] : [];
  }))].sort();
  return {
    rules: int(o.Count) ?? 0,
    enabled: int(o.Enabled) ?? 0,
    hashes,
    profiles: asArray(o.Profiles).flatMap((p) => {
      const name = str(p.Name);
      return name ? [{ name, enabled: p.Enabled === true || String(p.Enabled).toLowerCase() === 'true' }] : [];
    }),
  };
}

/** The default log location, as the firewall service expands it. */
export const WIN32_FIREWALL_LOG_SETTING = '%systemroot%\\system32\\LogFiles\\Firewall\\pfirewall.log';

/** The same file as a path the agent can open. */
export function win32FirewallLogPath(env: NodeJS.ProcessEnv = process.env): string {
  return winPath.join(env.SystemRoot ?? env.SYSTEMROOT ?? 'C:\\Windows', 'System32', 'LogFiles', 'Firewall', 'pfirewall.log');
}

/** Log dropped packets in every profile (the file holds at most 32 MiB before it rolls to .old). */
export function win32FirewallLoggingScript(logFile = WIN32_FIREWALL_LOG_SETTING): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    `Set-NetFirewallProfile -Profile Domain,Private,Public -LogBlocked True -LogFileName ${psq(logFile)} -LogMaxSizeKilobytes 32767`,
  ].join('\n');
}

export const WIN32_FIREWALL_LOGGING_SCRIPT = win32FirewallLoggingScript();

export interface Win32Drop {
  destination: string;
  port: number | null;
  protocol: string;
  count: number;
  /** Sum of the `size` column (packet sizes as logged). */
  bytes: number;
}

const DEFAULT_FIELDS = 'date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path'.split(' ');

/**
 * pfirewall.log (W3C extended format, local time): outbound drops (`DROP … SEND`) per destination,
 * port and protocol, most frequent first. The `#Fields:` header is honoured (Windows 11 appends `pid`).
 */
export function parseWin32FirewallLog(text: string, since?: Date): Win32Drop[] {
  let fields = DEFAULT_FIELDS;
  const col = (name: string) => fields.indexOf(name);
  const totals = new Map<string, Win32Drop>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^#Fields:\s*(.+)$/i.exec(line);
      if (m) fields = m[1]!.trim().split(/\s+/);
      continue;
    }
    const f = line.split(/\s+/);
    const get = (name: string) => { const i = col(name); return i >= 0 ? f[i] : undefined; };
    if (get('action') !== 'DROP' || get('path') !== 'SEND') continue;
    const destination = get('dst-ip');
    if (!destination || destination === '-') continue;
    if (since) {
      const at = new Date(`${get('date')}T${get('time')}`); // no zone: local time, as the log writes it
      if (Number.isNaN(at.getTime()) || at < since) continue;
    }
    const portText = get('dst-port');
    const port = portText && /^\d+$/.test(portText) ? Number(portText) : null;
    const protocol = (get('protocol') ?? '-').toLowerCase();
    const size = Number(get('size'));
    const key = `${destination}|${port}|${protocol}`;
    const row = totals.get(key) ?? totals.set(key, { destination, port, protocol, count: 0, bytes: 0 }).get(key)!;
    row.count++;
    if (Number.isFinite(size)) row.bytes += size;
  }
  return [...totals.values()].sort((a, b) => b.count - a.count || (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0) || (a.port ?? -1) - (b.port ?? -1));
}

/** For callers and tests: the complement that the catch-all rules block, per family. */
export function win32BlockedRanges(plan: EnforcementPlan, family: Family): string[] {
  return blockLayout(plan, family).all.map((r) => rangeText(family, r));
}
