/**
 * The console bench's data set: 5,000 hosts, ~5,000,000 events over the last 60 days and ~100,000
 * violations raised by those events (same rules, states open/acknowledged/resolved with owners,
 * notes, due dates, escalations), written straight into a migrated SQLite file with better-sqlite3
 * (no server involved) and cached in .cache/console/ under DATA_VERSION. Seeded: every build is
 * the same set. Hot loop: ~5 M rows are built here, so per-row work stays at string concatenation.
 *
 * Size concessions keep the file near 4.7 GB instead of ~15 GB; none touches what the console reads.
 * A host's latest inventory (and a week of them for 1 host in 10) is a full 28–45 KB snapshot,
 * older ones a lean ~2.3 KB one (identity, network, accounts; empty package, service, process and
 * socket lists). A host's latest hardening run, and its last one before each month boundary (what
 * the monthly report reads), carry all ~40 results (~29 KB); other runs only the failed ones.
 * Heartbeats are thinned to ~11 a day (the agent default is one a minute) to fit the 5 M budget.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../server/store/migrations.js';
import { DUE_HOURS } from '../../server/rules/violations.js';
import { selectChecks } from '../../agent/checks/index.js';
import { DEFAULT_POLICY } from '../../shared/policy.js';
import { CACHE_DIR, num } from './lib.js';
import { mulberry32 } from '../helpers/rng.js';

/** Bump when the generator changes: the cached file is rebuilt. */
export const DATA_VERSION = 'console-data-v1';
export const HOSTS = 5_000;
export const TARGET_EVENTS = 5_000_000;
const DAYS = 60;
/** A cached set older than this is rebuilt: its "last 60 days", trend and overdue dates drift from now. */
const MAX_AGE_DAYS = 7;
const SEED = 20_240_601;

const H = 3_600_000;
const DAY = 24 * H;
const TZ_OFFSET = 8 * H; // Asia/Shanghai, the server's default report zone (no DST)

export interface DataMeta {
  version: string;
  generatedAt: string;
  genSeconds: number;
  sizeBytes: number;
  hosts: number;
  events: number;
  violations: number;
  violationsByState: Record<string, number>;
  eventsByType: Record<string, number>;
}

export interface ConsoleData { file: string; meta: DataMeta; cached: boolean }

const DIR = join(CACHE_DIR, 'console');

/** The cached data set, built first when missing, stale or of another version. */
export function consoleData(log: (s: string) => void): ConsoleData {
  const file = join(DIR, 'termguard.db');
  const metaFile = join(DIR, 'meta.json');
  if (existsSync(metaFile) && existsSync(file)) {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as DataMeta;
    const age = Date.now() - Date.parse(meta.generatedAt);
    if (meta.version === DATA_VERSION && age < MAX_AGE_DAYS * DAY) return { file, meta, cached: true };
    log(`console: cached data set is ${meta.version === DATA_VERSION ? `${num(age / DAY, 1)} days old` : `version ${meta.version}`}; rebuilding`);
  }
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const tmp = join(DIR, 'build.db');
  const t0 = performance.now();
  const stats = generate(tmp, Date.now(), log);
  const genSeconds = (performance.now() - t0) / 1000;
  renameSync(tmp, file);
  const meta: DataMeta = { version: DATA_VERSION, ...stats, genSeconds, sizeBytes: statSync(file).size };
  writeFileSync(metaFile, JSON.stringify(meta, null, 2));
  return { file, meta, cached: false };
}

/** Copy the cached file to `dest` (the server writes to its copy). */
export function copyData(src: string, dest: string): void {
  for (const s of ['', '-wal', '-shm']) rmSync(dest + s, { force: true });
  copyFileSync(src, dest);
}

// ── randomness (seeded: the same set every build) ─────────────────────────
const rnd = mulberry32(SEED);
const uni = (a: number, b: number) => a + (b - a) * rnd();
const int = (a: number, b: number) => Math.floor(uni(a, b + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const HEX = '0123456789abcdef';
function hex(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += HEX[(rnd() * 16) | 0];
  return s;
}
const uuid4 = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${HEX[8 + ((rnd() * 4) | 0)]}${hex(3)}-${hex(12)}`;
/** UUIDv7 at `ms`, as agents make event ids: time-ordered, so day-sorted inserts append to the primary key. */
function uuid7(ms: number): string {
  const t = ms.toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${hex(3)}-${HEX[8 + ((rnd() * 4) | 0)]}${hex(3)}-${hex(12)}`;
}
function gauss(): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}
/** Log-normal with the given median. */
const logn = (median: number, sigma: number) => median * Math.exp(sigma * gauss());
function poisson(lambda: number): number {
  const l = Math.exp(-lambda);
  let k = 0;
  let p = rnd();
  while (p > l) { k++; p *= rnd(); }
  return k;
}
const iso = (ms: number) => new Date(ms).toISOString();

// ── the fleet ────────────────────────────────────────────────────────────
type Os = 'win32' | 'linux';
type Sev = 'low' | 'medium' | 'high' | 'critical';

interface Host {
  i: number;
  id: string;
  machineId: string;
  hostname: string;
  group: 'trading' | 'backoffice' | 'servers';
  os: Os;
  status: 'active' | 'revoked' | 'clone';
  cloneOf: string | null;
  enrolledAt: number;
  aliveFrom: number;
  lastSeen: number;
  risk: number;
  failing: string[];
  ncFrom: number;
  ncUntil: number;
  policyVersion: number;
  ip: string;
  phases: { hb: number; inv: number; chk: number; att: number };
  /** Last hardening violation: a new one only once it is resolved (the server keeps one open per host). */
  checkViolationOpenUntil: number;
  checkFull?: string;
  checkLean?: string;
  checkFailLean?: string;
  invLean?: string;
  invFull?: string;
}

const USERS = ['analyst1', 'analyst2', 'analyst3', 'secadmin1', 'secadmin2', 'oncall'];
const POLICY_VERSIONS = { default: 1, trading: 5, backoffice: 3, servers: 4 } as const;

function makeHosts(t0: number, w0: number): Host[] {
  const hosts: Host[] = [];
  const sites = ['sh', 'bj', 'sz', 'hz', 'cd'];
  for (let i = 0; i < HOSTS; i++) {
    const r = rnd();
    const group = r < 0.55 ? 'trading' : r < 0.85 ? 'backoffice' : 'servers';
    const os: Os = group === 'servers' ? 'linux' : rnd() < (group === 'trading' ? 0.9 : 0.7) ? 'win32' : 'linux';
    const enrolledAt = rnd() < 0.8 ? w0 - uni(1, 400) * DAY : w0 + uni(0, 55) * DAY;
    const aliveFrom = Math.max(enrolledAt, w0);
    const s = rnd();
    let status: Host['status'] = 'active';
    let lastSeen: number;
    if (s < 0.02) { status = 'revoked'; lastSeen = uni(aliveFrom + DAY, t0 - DAY); }
    else if (s < 0.05) lastSeen = t0 - uni(1.05, 20) * DAY; // silent: more than 24 h
    else if (s < 0.15) lastSeen = t0 - uni(6 * 60_000, 23 * H); // offline
    else lastSeen = t0 - uni(0, 200_000); // online
    lastSeen = Math.max(lastSeen, aliveFrom + H);
    const nc = rnd() < 0.05;
    const cat = selectChecks(os).map((c) => c.id);
    const failing = nc ? Array.from({ length: int(1, 4) }, () => pick(cat)) : [];
    const ncFrom = rnd() < 0.5 ? w0 - DAY : uni(w0, t0);
    const ncUntil = rnd() < 0.6 ? Infinity : uni(ncFrom, t0);
    const pv = group === 'trading' && rnd() < 0.05 ? 2 : POLICY_VERSIONS[group];
    hosts.push({
      i, id: uuid4(), machineId: hex(32), hostname: `${group === 'trading' ? 'trd' : group === 'backoffice' ? 'bo' : 'srv'}-${pick(sites)}-${String(i).padStart(4, '0')}`,
      group, os, status, cloneOf: null, enrolledAt, aliveFrom, lastSeen, risk: Math.exp(gauss() * 1.1 - 0.6), failing: [...new Set(failing)], ncFrom, ncUntil,
      policyVersion: pv, ip: `10.${16 + (i >> 10)}.${(i >> 2) & 255}.${10 + (i & 3) * 50 + int(0, 40)}`,
      phases: { hb: uni(0, DAY), inv: uni(0, DAY), chk: uni(0, 6 * H), att: uni(0, DAY) },
      checkViolationOpenUntil: -Infinity,
    });
  }
  // A few clones: a second key enrolled with an existing machine id, flagged at once and quiet after.
  for (let k = 0; k < 12; k++) {
    const h = hosts[HOSTS - 1 - k * 7]!;
    const orig = hosts[k * 13]!;
    h.status = 'clone';
    h.cloneOf = orig.id;
    h.machineId = orig.machineId;
    h.enrolledAt = uni(w0, t0 - 2 * DAY);
    h.aliveFrom = h.enrolledAt;
    h.lastSeen = h.enrolledAt + uni(1, 5) * H;
  }
  return hosts;
}

// ── event payloads ─────────────────────────────────────────────────────
const WORDS = ['core', 'net', 'crypt', 'ssl', 'xml', 'json', 'gtk', 'qt', 'audio', 'video', 'font', 'print', 'sql', 'zip', 'usb', 'pci', 'acpi', 'dbus',
  'python3', 'perl', 'java', 'dotnet', 'vc-redist', 'office', 'wps', 'tdx', 'hexin', 'wind', 'ths', 'ctp', 'fix', 'market', 'quote', 'risk', 'clear', 'settle'];
const VENDORS = ['Microsoft Corporation', 'Debian', 'Kingsoft', 'Hundsun', 'Wind Information', 'Tonghuashun', 'Oracle', 'Google LLC', 'Intel', 'Realtek'];

function packages(n: number, os: Os): unknown[] {
  const out = [];
  for (let k = 0; k < n; k++) {
    out.push({
      name: `${os === 'linux' ? 'lib' : ''}${pick(WORDS)}${pick(['', '-common', '-data', '-utils', '-runtime', '2', '3'])}-${k}`,
      version: `${int(0, 12)}.${int(0, 30)}.${int(0, 200)}${os === 'linux' ? `-${int(1, 9)}+deb12u${int(1, 4)}` : ''}`,
      arch: os === 'linux' ? 'amd64' : 'x64', publisher: os === 'linux' ? null : pick(VENDORS), installedAt: iso(Date.UTC(2023, int(0, 11), int(1, 28))),
    });
  }
  return out;
}

function inventory(h: Host, full: boolean): string {
  const win = h.os === 'win32';
  // Lean snapshots keep identity, network and accounts; their long lists are left empty.
  const nPkg = full ? int(80, 170) : 0;
  const nProc = full ? int(28, 60) : 0;
  const nSvc = full ? int(28, 60) : 0;
  const snap = {
    collectedAt: '__T__',
    os: { status: 'ok', data: { platform: h.os, name: win ? 'Microsoft Windows 11 Pro' : 'Debian GNU/Linux', version: win ? '10.0.22631' : '12', build: win ? '22631' : null, kernel: win ? '10.0.22631' : '6.1.0-18-amd64', arch: 'x86_64', hostname: h.hostname, bootTime: '__T__' } },
    hardware: { status: 'ok', data: { vendor: pick(['Lenovo', 'Dell Inc.', 'HP', 'Inspur']), model: pick(['ThinkCentre M920t', 'OptiPlex 7090', 'ProDesk 600 G6', 'NF5280M6']), serial: hex(10).toUpperCase(), boardSerial: hex(14).toUpperCase(), cpu: { model: 'Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz', cores: 8, logical: 16 }, memoryBytes: 34_359_738_368, disks: [{ name: win ? '\\\\.\\PHYSICALDRIVE0' : 'nvme0n1', model: 'SAMSUNG MZVLB512HBJQ', serial: hex(14).toUpperCase(), sizeBytes: 512_110_190_592 }], notes: [] } },
    network: { status: 'ok', data: { interfaces: [{ name: win ? 'Ethernet' : 'eno1', mac: `00:1a:2b:${hex(2)}:${hex(2)}:${hex(2)}`, up: true, type: 'ethernet', driver: 'e1000e', addresses: [{ family: 'ipv4', address: h.ip, prefix: 24 }] }, { name: win ? 'Loopback Pseudo-Interface 1' : 'lo', mac: null, up: true, type: 'loopback', driver: null, addresses: [{ family: 'ipv4', address: '127.0.0.1', prefix: 8 }] }], gateways: [{ family: 'ipv4', address: h.ip.replace(/\.\d+$/, '.1'), interface: win ? 'Ethernet' : 'eno1' }], dns: ['10.0.0.53', '10.0.1.53'] } },
    users: { status: 'ok', data: { accounts: [{ name: win ? 'Administrator' : 'root', id: win ? 'S-1-5-21-1-500' : '0', admin: true, disabled: win, shell: win ? null : '/bin/bash', home: win ? null : '/root' }, { name: `op${h.i}`, id: win ? `S-1-5-21-1-${1000 + h.i}` : String(1000 + (h.i % 50)), admin: false, disabled: false, shell: win ? null : '/bin/bash', home: win ? `C:\\Users\\op${h.i}` : `/home/op${h.i}` }], sessions: [{ user: `op${h.i}`, tty: win ? 'console' : 'tty1', from: null, since: '__T__', state: 'Active' }] } },
    software: { status: 'ok', data: { source: win ? 'registry' : 'dpkg', packages: packages(nPkg, h.os) } },
    patches: { status: 'ok', data: { source: win ? 'hotfix' : 'apt', installed: win ? Array.from({ length: full ? int(15, 35) : 0 }, () => ({ id: `KB50${int(10000, 99999)}`, description: pick(['Security Update', 'Update', 'Hotfix']), installedAt: iso(Date.UTC(2024, int(0, 11), int(1, 28))) })) : [], pending: Array.from({ length: full ? int(0, 4) : 0 }, () => ({ name: `${pick(WORDS)}-${int(1, 9)}`, version: `${int(1, 9)}.${int(0, 9)}`, security: rnd() < 0.4, origin: win ? null : 'Debian-Security' })), pendingSecurity: int(0, 2), metadataUpdatedAt: '__T__', lastChangeAt: '__T__' } },
    services: { status: 'ok', data: { manager: win ? 'scm' : 'systemd', services: Array.from({ length: nSvc }, (_, k) => ({ name: `${pick(WORDS)}svc${k}`, displayName: `${pick(VENDORS)} ${pick(WORDS)} service`, state: rnd() < 0.7 ? 'running' : 'stopped', startup: pick(['automatic', 'manual', 'disabled']) })) } },
    listening: { status: 'ok', data: { sockets: Array.from({ length: full ? int(8, 25) : 0 }, (_, k) => ({ protocol: rnd() < 0.8 ? 'tcp' : 'udp', family: 'ipv4', address: rnd() < 0.5 ? '0.0.0.0' : '127.0.0.1', port: 1024 + k * 37, pid: int(300, 30_000), process: `${pick(WORDS)}d` })) } },
    processes: { status: 'ok', data: { processes: Array.from({ length: nProc }, (_, k) => ({ pid: 100 + k * 17, ppid: 1, name: `${pick(WORDS)}${win ? '.exe' : ''}`, path: win ? `C:\\Program Files\\${pick(VENDORS)}\\${pick(WORDS)}.exe` : `/usr/bin/${pick(WORDS)}`, cmdline: win ? `"C:\\Program Files\\${pick(WORDS)}.exe" --profile default` : `/usr/bin/${pick(WORDS)} --config /etc/${pick(WORDS)}.conf`, user: rnd() < 0.5 ? (win ? 'SYSTEM' : 'root') : `op${h.i}`, startTime: '__T__', sha256: hex(64) })), hashed: int(0, 10), hashCacheHits: nProc } },
    antimalware: { status: 'ok', data: { products: [{ product: win ? 'Microsoft Defender Antivirus' : 'ClamAV', present: true, enabled: true, upToDate: rnd() < 0.95, signaturesVersion: `1.4${int(10, 99)}.${int(100, 999)}.0`, signaturesDate: '__T__' }] } },
    durationsMs: { os: 21, hardware: 64, network: 58, users: 33, software: 410, patches: 95, services: 180, listening: 40, processes: 620, antimalware: 77 },
  };
  return JSON.stringify(snap);
}

function checkPayload(h: Host, failed: boolean, full: boolean): string {
  const cat = selectChecks(h.os);
  const fails = failed ? new Set(h.failing) : new Set<string>();
  const results = cat.map((c, k) => {
    const status = fails.has(c.id) ? 'fail' : k % 17 === 5 ? 'not_applicable' : 'pass';
    return { id: c.id, status, title: c.title, articles: c.articles, mlps: c.mlps, evidence: { source: h.os === 'win32' ? 'secedit /export' : '/etc/login.defs', value: status === 'pass' ? 'compliant' : 'not set' },
      ...(status === 'fail' ? { reason: `${c.title.en}: not configured` } : status === 'not_applicable' ? { reason: 'not present on this host' } : {}), remediation: c.remediation, durationMs: int(2, 400) };
  });
  const summary = { pass: results.filter((r) => r.status === 'pass').length, fail: fails.size, not_applicable: results.filter((r) => r.status === 'not_applicable').length, error: 0 };
  return JSON.stringify({ profile: 'mlps3', policyVersion: h.policyVersion, summary, results: full ? results : results.filter((r) => r.status === 'fail') });
}

const PROCS_OUT = ['chrome.exe', 'msedge.exe', 'WeChat.exe', 'QQ.exe', 'python.exe', 'curl', 'firefox', 'DingTalk.exe', 'BaiduNetdisk.exe', 'TeamViewer.exe'];
const USB_DEV = [
  { vendorId: '0781', productId: '5581', manufacturer: 'SanDisk', product: 'Ultra', deviceClass: '00', interfaces: ['08:06:50'], drivers: ['usb-storage'] },
  { vendorId: '0951', productId: '1666', manufacturer: 'Kingston', product: 'DataTraveler 3.0', deviceClass: '00', interfaces: ['08:06:50'], drivers: ['usb-storage'] },
  { vendorId: '04e8', productId: '6860', manufacturer: 'SAMSUNG', product: 'Galaxy (MTP)', deviceClass: '00', interfaces: ['06:01:01', 'ff:ff:00'], drivers: ['usbfs'] },
  { vendorId: '05ac', productId: '12a8', manufacturer: 'Apple Inc.', product: 'iPhone', deviceClass: '00', interfaces: ['06:01:01', 'ff:fe:02'], drivers: ['usbfs'] },
  { vendorId: '046d', productId: 'c52b', manufacturer: 'Logitech', product: 'USB Receiver', deviceClass: '00', interfaces: ['03:01:01', '03:01:02'], drivers: ['usbhid'] },
];

// ── generation ─────────────────────────────────────────────────────────
type Ev = [id: string, host: string, type: string, time: number, recv: number, sev: Sev, articles: string, data: string];
interface Viol {
  id: string; host: string; event: string; type: string; rule: string; articles: string; sev: Sev; summary: string;
  state: string; owner: string | null; due: number; created: number; updated: number; ackedAt: number | null; ackedBy: string | null;
  resolvedAt: number | null; resolvedBy: string | null; notes: string; escalatedAt: number | null; drill: number;
}

const ART = (xs: string[]) => JSON.stringify(xs);

export function generate(file: string, t0: number, log: (s: string) => void): Omit<DataMeta, 'version' | 'genSeconds' | 'sizeBytes'> {
  const w0 = t0 - DAYS * DAY;
  const hosts = makeHosts(t0, w0);
  const monthEdges: number[] = [];
  for (let d = new Date(w0 + TZ_OFFSET); ; ) {
    const edge = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - TZ_OFFSET;
    if (edge > t0) break;
    monthEdges.push(edge);
    d = new Date(edge + TZ_OFFSET);
  }

  // Heartbeats fill the budget the other events leave: ~5 M in all.
  const aliveMs = hosts.reduce((n, h) => n + Math.max(0, h.lastSeen - h.aliveFrom), 0);
  const OTHER_PER_DAY = 1.25;
  const nonHb = (aliveMs / DAY) * (1 + 4 + 1 / 7 + OTHER_PER_DAY);
  const hbEvery = aliveMs / (TARGET_EVENTS - nonHb);

  const db = new Database(file);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('cache_size = -1000000');
  db.pragma('temp_store = MEMORY');
  // Exactly what SqliteStore.migrate does, so the file is what the server would have made.
  for (let v = 0; v < MIGRATIONS.length; v++) {
    db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${v + 1}`);
  }
  // Secondary indexes are built once at the end: sorting 5 M entries beats 5 M random inserts.
  const indexSql = (db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL").all() as { name: string; sql: string }[]);
  for (const ix of indexSql) db.exec(`DROP INDEX ${ix.name}`);

  // Fleet, certificates, policies.
  const policy = JSON.stringify(DEFAULT_POLICY);
  const insPolicy = db.prepare('INSERT INTO policies (grp, version, body, created_at) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    insPolicy.run('default', 1, policy, iso(w0 - 200 * DAY));
    insPolicy.run('trading', 2, policy, iso(w0 - 150 * DAY));
    insPolicy.run('backoffice', 3, policy, iso(w0 - 120 * DAY));
    insPolicy.run('servers', 4, policy, iso(w0 - 100 * DAY));
    insPolicy.run('trading', 5, policy, iso(w0 + 20 * DAY));
    const insHost = db.prepare(`INSERT INTO hosts (id, machine_id, hostname, grp, spki, cert_serial, cert_not_after, renewal_hash, enrolled_at, last_seen, policy_version, status, clone_of)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insCert = db.prepare('INSERT INTO certs (serial, host_id, spki, not_before, not_after, revoked_at) VALUES (?, ?, ?, ?, ?, ?)');
    for (const h of hosts) {
      const spki = hex(64);
      const serial = hex(32);
      const notAfter = iso(h.enrolledAt + 397 * DAY > t0 ? h.enrolledAt + 397 * DAY : t0 + uni(30, 300) * DAY);
      insHost.run(h.id, h.machineId, h.hostname, h.group, spki, serial, notAfter, hex(64), iso(h.enrolledAt), iso(h.lastSeen), h.policyVersion, h.status, h.cloneOf);
      insCert.run(serial, h.id, spki, iso(h.enrolledAt), notAfter, h.status === 'revoked' ? iso(h.lastSeen + uni(1, 48) * H) : null);
    }
    const insUser = db.prepare('INSERT INTO users (name, password_hash, role, must_change, disabled, created_at) VALUES (?, ?, ?, 0, 0, ?)');
    for (const u of USERS) insUser.run(u, 'scrypt$32768$8$1$x$x', u.startsWith('secadmin') ? 'secadmin' : 'analyst', iso(w0 - 200 * DAY));
  })();

  const violations: Viol[] = [];
  /** The lifecycle a violation has had by t0: triage, resolution, escalation past its due date. */
  const violation = (e: Ev, rule: string, sev: Sev, articles: string[], summary: string, drill = 0): Viol => {
    const created = e[4] + uni(5, 400);
    const due = created + DUE_HOURS[sev] * H;
    const never = rnd() < 0.1;
    const resolveAfter = logn({ critical: 8, high: 30, medium: 60, low: 150 }[sev] * H, 0.9);
    const ackAfter = Math.min(logn(2 * H, 1), resolveAfter * 0.6);
    const v: Viol = {
      id: uuid4(), host: e[1], event: e[0], type: e[2], rule, articles: ART(articles), sev, summary: summary.slice(0, 500), state: 'open', owner: null, due, created, updated: created,
      ackedAt: null, ackedBy: null, resolvedAt: null, resolvedBy: null, notes: '[]', escalatedAt: null, drill,
    };
    const who = pick(USERS);
    if (!never && created + resolveAfter < t0) {
      Object.assign(v, { state: 'resolved', owner: who, ackedAt: created + ackAfter, ackedBy: who, resolvedAt: created + resolveAfter, resolvedBy: who, updated: created + resolveAfter,
        notes: JSON.stringify([{ at: iso(created + resolveAfter), by: who, text: pick(['device removed; user briefed', 'allow-list entry added after review', 'false positive: approved vendor update', 'host re-hardened by IT', 'process uninstalled'])}]) });
    } else if (created + ackAfter < t0 && rnd() < 0.45) {
      Object.assign(v, { state: 'acknowledged', owner: who, ackedAt: created + ackAfter, ackedBy: who, updated: created + ackAfter });
    } else if (rnd() < 0.2) {
      v.owner = who;
    }
    const closed = v.resolvedAt ?? Infinity;
    if (due < Math.min(closed, t0)) v.escalatedAt = due + uni(1, 60) * 1000;
    violations.push(v);
    return v;
  };

  const insEvent = db.prepare('INSERT INTO events (id, host_id, type, time, received_at, severity, articles, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const eventsByType: Record<string, number> = {};
  let total = 0;
  const A31 = ART(['art31']);
  const A2931 = ART(['art29', 'art31']);

  for (let day = 0; day < DAYS; day++) {
    const d0 = w0 + day * DAY;
    const d1 = d0 + DAY;
    const out: Ev[] = [];
    const push = (h: Host, type: string, t: number, sev: Sev, articles: string, data: string, lo: number, hi: number): Ev | null => {
      if (t < lo || t >= hi) return null;
      // Most arrive within seconds; 1 in 100 sat in the agent's spool for up to 6 h.
      const recv = t + (rnd() < 0.01 ? uni(60_000, 6 * H) : uni(40, 2500));
      const e: Ev = [uuid7(Math.floor(t)), h.id, type, t, recv, sev, articles, data];
      out.push(e);
      return e;
    };
    for (const h of hosts) {
      const a = Math.max(d0, h.aliveFrom);
      const b = Math.min(d1, h.lastSeen + 1);
      if (a >= b) continue;
      const win = h.os === 'win32';
      // Heartbeats.
      for (let t = h.phases.hb + Math.ceil((a - h.phases.hb) / hbEvery) * hbEvery; t < b; t += hbEvery) {
        push(h, 'agent.heartbeat', t + uni(-0.05, 0.05) * hbEvery, 'low', A31,
          `{"policyVersion":${h.policyVersion},"uptimeSeconds":${int(60, 3_000_000)},"rssBytes":${int(60, 95) * 1_048_576},"spool":0,"version":"0.1.0"}`, a, b);
      }
      // Daily inventory.
      const ti = d0 + h.phases.inv;
      if (ti >= a && ti < b) {
        const full = h.lastSeen - ti < DAY || (h.i % 10 === 0 && t0 - ti < 7 * DAY);
        const tpl = full ? (h.invFull ??= inventory(h, true)) : (h.invLean ??= inventory(h, false));
        if (full && h.i % 10 !== 0) h.invFull = undefined;
        push(h, 'host.inventory', ti, 'low', ART(['art10', 'art18', 'art26', 'art30']), tpl.replaceAll('__T__', iso(ti)), a, b);
      }
      // Hardening checks every 6 h.
      for (let k = 0; k < 4; k++) {
        const t = d0 + h.phases.chk + k * 6 * H;
        if (t < a || t >= b) continue;
        const failed = h.failing.length > 0 && t >= h.ncFrom && t < h.ncUntil;
        const full = h.lastSeen - t < 6 * H || monthEdges.some((m) => t < m && m <= t + 6 * H);
        const data = full ? checkPayload(h, failed, true) : failed ? (h.checkFailLean ??= checkPayload(h, true, false)) : (h.checkLean ??= checkPayload(h, false, false));
        const e = push(h, 'host.check', t, failed ? 'medium' : 'low', ART(['art9', 'art17', 'art31']), data, a, b);
        if (e && failed && e[4] >= h.checkViolationOpenUntil) {
          const v = violation(e, 'host.hardening_failed', 'medium', ['art9', 'art17', 'art31'], `${h.failing.length} hardening check(s) failed (profile mlps3)`);
          h.checkViolationOpenUntil = v.resolvedAt ?? Infinity;
        }
      }
      // Weekly signed attestation.
      if ((day + h.i) % 7 === 0) {
        push(h, 'host.attestation', d0 + h.phases.att, 'low', ART(['art11']), JSON.stringify({
          body: { kind: 'termguard.attestation', version: 1, hostId: h.id, hostname: h.hostname, time: iso(d0 + h.phases.att), agentVersion: '0.1.0', os: win ? 'Microsoft Windows 11 Pro 10.0.22631' : 'Debian GNU/Linux 12',
            policyVersion: h.policyVersion, policyDigest: `sha256:${hex(64)}`, profile: 'mlps3', summary: { pass: 38, fail: 0, not_applicable: 2, error: 0 },
            checks: selectChecks(h.os).map((c) => ({ id: c.id, status: 'pass' })), inventoryDigest: `sha256:${hex(64)}`, fieldDigests: { checks: `sha256:${hex(64)}`, summary: `sha256:${hex(64)}` } },
          signature: hex(128), certificate: `-----BEGIN CERTIFICATE-----\n${hex(900)}\n-----END CERTIFICATE-----\n`,
        }), a, b);
      }
      // Incidents, more on risky hosts.
      const at = () => uni(a, b);
      for (let n = poisson(0.19 * h.risk); n > 0; n--) { // unauthorised connection (+ repeats)
        const t = at();
        const inbound = rnd() < 0.12;
        const remote = rnd() < 0.5 ? `${int(1, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}` : `198.18.${int(0, 255)}.${int(1, 254)}`;
        const port = pick([443, 80, 8080, 3389, 22, 5938, 8443]);
        const proc = pick(PROCS_OUT);
        const data = { direction: inbound ? 'inbound' : 'outbound', proto: 'tcp', family: 4, state: 'ESTABLISHED', localAddress: h.ip, localPort: int(30000, 65000), remoteAddress: remote, remotePort: port,
          process: { pid: int(300, 30000), name: proc, exe: win ? `C:\\Program Files\\${proc}` : `/usr/bin/${proc}`, user: `op${h.i}` }, source: 'proc', blocked: false, firstSeen: iso(t), lastSeen: iso(t), count: 1 };
        const arts = inbound ? ['art28', 'art31'] : ['art29', 'art31'];
        const e = push(h, 'egress.violation', t, 'high', ART(arts), JSON.stringify(data), a, b);
        if (e) violation(e, inbound ? 'egress.inbound_unauthorised' : 'egress.outbound_unauthorised', 'high', arts, `${inbound ? 'inbound from' : 'outbound to'} ${remote}:${port} (tcp) by ${proc}`);
        for (let r = poisson(0.55); r > 0; r--) {
          const tr = t + uni(60_000, 2 * H);
          push(h, 'egress.violation', tr, 'high', ART(arts), JSON.stringify({ ...data, repeat: true, count: r + 1, newSinceLastReport: 1, lastSeen: iso(tr) }), a, b);
        }
      }
      for (let n = poisson(0.05 * h.risk); n > 0; n--) {
        push(h, 'egress.blocked', at(), 'medium', A2931, JSON.stringify({ remoteAddress: `198.18.${int(0, 255)}.${int(1, 254)}`, remotePort: 443, proto: 'tcp', process: pick(PROCS_OUT), count: int(1, 20) }), a, b);
      }
      for (let n = poisson(0.19 * h.risk); n > 0; n--) { // a USB device: allowed, audited, or blocked
        const t = at();
        const dev = { id: `${int(1, 4)}-${int(1, 8)}`, ...pick(USB_DEV), serial: hex(12).toUpperCase(), port: `${int(1, 4)}-${int(1, 8)}`, connectType: 'hotplug', hash: hex(44) };
        const kind = rnd();
        const verdict = kind < 0.45 ? { action: 'allow', enforced: true, reason: 'allow-list', kinds: ['storage'] }
          : kind < 0.67 ? { action: 'block', enforced: false, reason: 'mode', kinds: ['storage'], wouldBe: 'block' }
            : { action: 'block', enforced: true, reason: 'mode', kinds: ['storage'] };
        const att = push(h, 'usb.attached', t, kind < 0.45 ? 'low' : 'high', A31, JSON.stringify({ device: dev, verdict }), a, b);
        if (!att) continue;
        if (kind >= 0.45 && kind < 0.67) violation(att, 'usb.unauthorised_device', 'high', ['art31'], `unauthorised USB device (audit mode, would block): ${dev.vendorId}:${dev.productId} ${dev.product}`);
        if (kind >= 0.67) {
          const held = rnd() > 0.03;
          const e = push(h, 'usb.blocked', t + 150, held ? 'high' : 'critical', A31, JSON.stringify({ device: dev, action: 'block', method: win ? 'pnputil /disable-device' : 'usbguard', held, reason: 'mode' }), a, b);
          if (e) violation(e, held ? 'usb.blocked' : 'usb.block_failed', held ? 'medium' : 'critical', ['art31'], `${held ? '' : 'FAILED to '}block USB ${dev.vendorId}:${dev.productId} ${dev.product}`);
        }
        let tt = t + uni(2000, 8000);
        if (kind < 0.45) {
          const mp = win ? `${pick(['E', 'F', 'G'])}:\\` : `/media/op${h.i}/${hex(4).toUpperCase()}-${hex(4).toUpperCase()}`;
          const vol = { device: win ? `\\\\?\\Volume{${uuid4()}}` : '/dev/sdb1', mountPoint: mp, fsType: pick(['vfat', 'exfat', 'ntfs']) };
          push(h, 'media.mounted', tt, 'medium', A31, JSON.stringify({ ...vol, sizeBytes: pick([16, 32, 64, 128]) * 1_000_000_000, label: pick(['KINGSTON', 'SANDISK', 'DATA', 'BACKUP']), readOnly: false, removableReason: 'usb transport', transport: 'usb' }), a, b);
          for (let f = int(0, 3); f > 0; f--) {
            tt += uni(5000, 600_000);
            push(h, 'media.file_written', tt, 'low', A31, JSON.stringify({ path: `${mp}${pick(['报表', 'report', 'export', 'scan'])}_${int(1, 999)}.${pick(['xlsx', 'pdf', 'csv', 'docx'])}`, event: 'add', kind: 'file', size: int(1000, 50_000_000), sha256: hex(64), mtime: iso(tt), mountPoint: mp, device: vol.device }), a, b);
          }
          if (rnd() < 0.05) push(h, 'media.files_burst', tt + 1000, 'medium', A31, JSON.stringify({ mountPoint: mp, device: vol.device, windowStart: iso(tt - 10_000), windowEnd: iso(tt), individualEvents: 20, count: int(50, 2000), added: 40, changed: 0, totalBytes: int(1e7, 1e10), hashed: 20, notHashed: 30 }), a, b);
          tt += uni(60_000, 3 * H);
          push(h, 'media.unmounted', tt, 'low', A31, JSON.stringify({ ...vol, label: null }), a, b);
        }
        push(h, 'usb.detached', tt + uni(1000, 30_000), 'low', A31, JSON.stringify({ device: dev }), a, b);
      }
      const misc = poisson(0.11 * h.risk);
      for (let n = 0; n < misc; n++) {
        const t = at();
        const r = rnd();
        let e: Ev | null;
        if (r < 0.09) {
          e = push(h, 'egress.internet_reachable', t, 'critical', A2931, JSON.stringify({ source: 'probe', probe: 'https://canary.example.cn/', trigger: 'interface', address: '203.0.113.10', localAddress: h.ip, interface: win ? 'WLAN' : 'wlan0', gateway: '192.168.43.1', latencyMs: int(20, 90), detail: 'HTTP 204' }), a, b);
          if (e) violation(e, 'egress.internet_reachable', 'critical', ['art29', 'art31'], `internet reachable: https://canary.example.cn/ via ${win ? 'WLAN' : 'wlan0'}`);
        } else if (r < 0.39) {
          const high = rnd() < 0.4;
          const ifc = pick(['WLAN', 'usb0', 'wwan0', 'Ethernet 2']);
          e = push(h, 'egress.interface', t, high ? 'high' : 'low', A2931, JSON.stringify({ change: high ? 'interface_up' : 'route_changed', interface: ifc, type: high ? pick(['wifi', 'usb', 'cellular']) : 'ethernet', up: true, driver: null, usb: null }), a, b);
          if (e && high) violation(e, 'egress.second_path', 'high', ['art29', 'art31'], `second path: interface_up ${ifc} (wifi)`);
        } else if (r < 0.66) {
          push(h, 'agent.stopped', t, 'low', A31, '{"reason":"SIGTERM","uptimeSeconds":86400}', a, b);
          push(h, 'agent.started', t + uni(20_000, 600_000), 'low', A31, `{"version":"0.1.0","pid":${int(300, 30000)},"policyVersion":${h.policyVersion}}`, a, b);
          const failed = rnd() < 0.09;
          e = push(h, 'egress.enforcement', t + 700_000, failed ? 'high' : 'low', A2931, JSON.stringify({ state: failed ? 'rolled_back' : 'applied', firewall: win ? 'windows-firewall' : 'nftables', ...(failed ? { reason: 'could not reach the server after applying the rules' } : {}) }), a, b);
          if (e && failed) violation(e, 'egress.enforcement_failed', 'high', ['art29', 'art31'], 'outbound control not in force: rolled_back — could not reach the server after applying the rules');
        } else if (r < 0.73) {
          push(h, 'usb.unblocked', t, 'medium', A31, JSON.stringify({ device: null, volume: { device: '/dev/sdb' }, action: 'readonly', held: true }), a, b);
        } else if (r < 0.8) {
          e = push(h, 'host.admin_added', t, 'high', ART(['art9', 'art18']), JSON.stringify({ accounts: [{ name: `tmpadmin${int(1, 9)}` }] }), a, b);
          if (e) violation(e, 'host.admin_added', 'high', ['art9', 'art18'], `administrator account added: tmpadmin`);
        } else if (r < 0.87) {
          e = push(h, 'host.antimalware_disabled', t, 'high', ART(['art18', 'art30']), JSON.stringify({ product: win ? 'Microsoft Defender Antivirus' : 'ClamAV' }), a, b);
          if (e) violation(e, 'host.antimalware_disabled', 'high', ['art18', 'art30'], 'anti-malware protection disabled');
        } else if (r < 0.94) {
          e = push(h, 'host.ip_unassigned', t, 'high', ART(['art26']), JSON.stringify({ addresses: [`192.168.${int(0, 255)}.${int(2, 254)}`], assigned: ['10.16.0.0/12'] }), a, b);
          if (e) violation(e, 'host.ip_unassigned', 'high', ['art26'], 'address outside the assigned ranges: 192.168.x.x');
        } else if (r < 0.97) {
          e = push(h, 'usb.exception_refused', t, 'high', A31, JSON.stringify({ problem: 'signature does not verify', exception: null }), a, b);
          if (e) violation(e, 'usb.exception_refused', 'medium', ['art31'], 'USB exception refused by the agent: signature does not verify');
        } else {
          push(h, 'host.software_changed', t, 'low', ART(['art10']), JSON.stringify({ added: [{ name: `${pick(WORDS)}-tool`, version: '1.0' }], removed: [] }), a, b);
        }
      }
    }
    out.sort((x, y) => x[3] - y[3]);
    db.transaction(() => {
      for (const e of out) insEvent.run(e[0], e[1], e[2], iso(e[3]), iso(e[4]), e[5], e[6], e[7]);
    })();
    for (const e of out) eventsByType[e[2]] = (eventsByType[e[2]] ?? 0) + 1;
    total += out.length;
    if (day % 10 === 9) log(`console: day ${day + 1}/${DAYS}, ${num(total)} events, ${num(violations.length)} violations`);
  }

  // Drills: started from the console, answered by the agent, each raising a drill violation.
  const insCmd = db.prepare('INSERT INTO commands (host_id, type, payload, created_at) VALUES (?, ?, ?, ?)');
  const insDrill = db.prepare('INSERT INTO drills (id, host_id, command_seq, started_by, started_at, violation_id, acked_by, acked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    const online = hosts.filter((h) => h.status === 'active' && t0 - h.lastSeen < DAY && h.enrolledAt < w0);
    for (let k = 0; k < 30; k++) {
      const h = pick(online);
      const started = uni(w0, t0 - H);
      const drillId = uuid4();
      const seq = Number(insCmd.run(h.id, 'drill', JSON.stringify({ drillId, note: `quarterly drill ${k + 1}`, startedBy: 'secadmin1' }), iso(started)).lastInsertRowid);
      const t = started + uni(5000, 60_000);
      const e: Ev = [uuid7(Math.floor(t)), h.id, 'drill', t, t + 300, 'high', ART(['art16', 'art24', 'art25']), JSON.stringify({ drillId, commandSeq: seq, note: `quarterly drill ${k + 1}` })];
      insEvent.run(e[0], e[1], e[2], iso(e[3]), iso(e[4]), e[5], e[6], e[7]);
      eventsByType.drill = (eventsByType.drill ?? 0) + 1;
      total++;
      const v = violation(e, 'drill', 'high', ['art16', 'art24', 'art25'], `emergency drill: quarterly drill ${k + 1}`, 1);
      insDrill.run(drillId, h.id, seq, 'secadmin1', iso(started), v.id, v.ackedBy, v.ackedAt === null ? null : iso(v.ackedAt));
    }
  })();

  log(`console: ${num(total)} events; writing ${num(violations.length)} violations, building indexes`);
  const insV = db.prepare(`INSERT INTO violations (id, host_id, event_id, type, rule, articles, severity, summary, state, owner, due_at, created_at, updated_at,
                           acked_at, acked_by, resolved_at, resolved_by, notes, escalated_at, drill) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const o = (n: number | null) => (n === null ? null : iso(n));
  const byState: Record<string, number> = {};
  violations.sort((x, y) => x.created - y.created);
  db.transaction(() => {
    for (const v of violations) {
      insV.run(v.id, v.host, v.event, v.type, v.rule, v.articles, v.sev, v.summary, v.state, v.owner, iso(v.due), iso(v.created), iso(v.updated),
        o(v.ackedAt), v.ackedBy, o(v.resolvedAt), v.resolvedBy, v.notes, o(v.escalatedAt), v.drill);
      byState[v.state] = (byState[v.state] ?? 0) + 1;
    }
  })();
  byState.overdue = violations.filter((v) => v.state !== 'resolved' && v.due < t0).length;
  for (const ix of indexSql) db.exec(ix.sql);
  db.pragma('journal_mode = WAL');
  db.close();
  return { generatedAt: iso(t0), hosts: hosts.length, events: total, violations: violations.length, violationsByState: byState, eventsByType };
}
