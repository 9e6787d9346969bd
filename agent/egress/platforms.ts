/**
 * The Windows and macOS egress platforms: the parsers and firewall scripts of `win32.ts` and
 * `darwin.ts` behind the same `EgressPlatform` and `FirewallEnforcer` as Linux. Paths, proxies and
 * DNS servers come from the inventory's network collector, read at most every `pathsTtlMs` (they
 * cost a PowerShell or several commands each); the connection table is read every poll.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import type { NetworkData } from '../../shared/inventory.js';
import type { Runner } from '../exec.js';
import { darwinNetwork } from '../collectors/network/darwin.js';
import { win32Network } from '../collectors/network/win32.js';
import type { CollectorContext } from '../collectors/types.js';
import type { EgressPlatform } from './control.js';
import type { BlockedCounts, FirewallEnforcer } from './enforcer.js';
import type { PathSnapshot, ProxySetting } from './paths.js';
import type { Conn, EnforcementPlan, Family } from './types.js';
import {
  parseWin32Connectivity, parseWin32FirewallLog, parseWin32FirewallVerify, parseWin32Proxy, win32FirewallLogPath, win32FirewallLoggingScript,
  win32FirewallScript, Win32ConnectionReader, WIN32_CONNECTIVITY_SCRIPT, WIN32_FIREWALL_REMOVE_SCRIPT, WIN32_FIREWALL_VERIFY_SCRIPT, WIN32_PROXY_SCRIPT,
} from './win32.js';
import {
  attachDarwinExe, darwinPfCommands, darwinPfRules, DARWIN_LSOF_ARGS, DARWIN_PS_ARGS, parseLsofConnections, parsePfctlToken, parsePfctlVerboseRules,
  parsePsComm, parseScutilProxy, pfBlockedPackets, pfPlanHash,
} from './darwin.js';

/** Network data → the paths snapshot the control diffs. */
export function pathsFromNetwork(n: NetworkData, proxies: ProxySetting[]): PathSnapshot {
  return {
    interfaces: n.interfaces.map((i) => ({ name: i.name, type: i.type, up: i.up, driver: i.driver, usb: null })),
    defaultRoutes: n.gateways.map((g) => ({ family: g.family === 'ipv4' ? 4 as const : 6 as const, interface: g.interface ?? '?', gateway: g.address })),
    proxies,
  };
}

function dnsOf(n: NetworkData): { address: string; family: Family }[] {
  return n.dns.filter((d) => isIP(d) && !d.startsWith('127.') && d !== '::1').map((address) => ({ address, family: isIP(address) as Family }));
}

/** Remember an async read for a while. */
function cached<T>(ttlMs: number, read: () => Promise<T>): () => Promise<T> {
  let at = 0;
  let value: Promise<T> | null = null;
  return () => {
    if (!value || Date.now() - at > ttlMs) {
      at = Date.now();
      value = read().catch((e: unknown) => { value = null; throw e; });
    }
    return value;
  };
}

async function ps(run: Runner, script: string, timeoutMs = 60_000): Promise<string> {
  // The script goes on stdin (`-Command -`): long rule lists do not fit a command line.
  const r = await run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', '-'], { input: `${script}\n\n`, timeoutMs, encoding: 'oem', maxBytes: 64 * 1024 * 1024 });
  if (r.error || r.code !== 0) throw new Error(`powershell: ${r.error ?? r.stderr.trim().slice(0, 500)}`);
  return r.stdout;
}

function json(text: string): unknown {
  const t = text.trim();
  return t ? JSON.parse(t) as unknown : null;
}

/** The tail of a file (the firewall log can be large). */
function tail(path: string, max: number): string {
  let fd: number | null = null;
  try {
    const size = statSync(path).size;
    fd = openSync(path, 'r');
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

export class Win32FirewallEnforcer implements FirewallEnforcer {
  readonly kind = 'windows-firewall';
  private appliedAt: Date = new Date();

  constructor(private readonly run: Runner, private readonly logPath = win32FirewallLogPath()) {}

  async installed(): Promise<string | null> {
    const s = parseWin32FirewallVerify(json(await ps(this.run, WIN32_FIREWALL_VERIFY_SCRIPT)));
    return s.rules > 0 && s.enabled === s.rules && s.hashes.length === 1 ? s.hashes[0]! : null;
  }

  async apply(plan: EnforcementPlan, hash: string): Promise<void> {
    await ps(this.run, win32FirewallLoggingScript());
    await ps(this.run, win32FirewallScript(plan, hash), 300_000);
    this.appliedAt = new Date();
  }

  async remove(): Promise<void> {
    await ps(this.run, WIN32_FIREWALL_REMOVE_SCRIPT);
  }

  async counts(): Promise<BlockedCounts | null> {
    const drops = parseWin32FirewallLog(tail(this.logPath, 16 * 1024 * 1024), this.appliedAt);
    const per = new Map<string, { packets: number; bytes: number }>();
    for (const d of drops) {
      const x = per.get(d.destination) ?? { packets: 0, bytes: 0 };
      x.packets += d.count;
      x.bytes += d.bytes;
      per.set(d.destination, x);
    }
    const destinations = [...per].map(([address, v]) => ({ address, ...v }));
    return { packets: destinations.reduce((n, d) => n + d.packets, 0), bytes: destinations.reduce((n, d) => n + d.bytes, 0), destinations };
  }
}

export class PfEnforcer implements FirewallEnforcer {
  readonly kind = 'pf';
  private token: string | null = null;
  private readonly cmd = darwinPfCommands();

  constructor(private readonly run: Runner) {}

  private async pfctl(argv: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
    const r = await this.run(argv[0]!, argv.slice(1), { timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) });
    if (r.error || r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.error ?? r.stderr.trim().slice(0, 500)}`);
    return r;
  }

  private async rows() {
    return parsePfctlVerboseRules((await this.pfctl(this.cmd.counts)).stdout);
  }

  async installed(): Promise<string | null> {
    return pfPlanHash(await this.rows());
  }

  async apply(plan: EnforcementPlan, hash: string): Promise<void> {
    await this.pfctl(this.cmd.apply, darwinPfRules(plan, hash));
    if (!this.token) this.token = parsePfctlToken((await this.pfctl(this.cmd.enable)).stderr);
  }

  async remove(): Promise<void> {
    await this.pfctl(this.cmd.remove);
    if (this.token) {
      const t = this.token;
      this.token = null;
      await this.pfctl(this.cmd.release(t));
    }
  }

  async counts(): Promise<BlockedCounts | null> {
    const rows = await this.rows();
    return { packets: pfBlockedPackets(rows), bytes: rows.filter((r) => r.rule.startsWith('block')).reduce((n, r) => n + r.bytes, 0), destinations: [] };
  }
}

export function win32Egress(run: Runner, pollMs: number, ctx: CollectorContext): EgressPlatform {
  let latest: Conn[] = [];
  const reader = new Win32ConnectionReader({ intervalMs: pollMs, onSnapshot: (c) => { latest = c; } });
  const network = cached(10_000, () => win32Network(ctx));
  const proxies = cached(60_000, async () => parseWin32Proxy(json(await ps(run, WIN32_PROXY_SCRIPT))).flatMap((p) => {
    const v = p.proxy ?? p.pac;
    return v ? [{ source: `${p.source}${p.user ? `:${p.user}` : ''}`, proxy: v }] : [];
  }));
  return {
    readConnections: async () => latest,
    // The reader is the one long-lived child: it snapshots every poll interval on its own.
    watchSockets: () => { reader.start(); return () => reader.stop(); },
    readPaths: async () => pathsFromNetwork(await network(), await proxies().catch(() => [])),
    dnsServers: async () => dnsOf(await network()),
    connectivity: async () => {
      const profiles = parseWin32Connectivity(json(await ps(run, WIN32_CONNECTIVITY_SCRIPT)));
      const net = profiles.filter((p) => p.internet);
      return { source: 'Windows NLM', internet: net.length > 0, detail: profiles.map((p) => `${p.interface ?? p.name}: ${p.level}`).join(', ') };
    },
    enforcer: new Win32FirewallEnforcer(run),
  };
}

export function darwinEgress(run: Runner, ctx: CollectorContext): EgressPlatform {
  const exe = new Map<number, string>();
  const network = cached(10_000, () => darwinNetwork(ctx));
  const proxies = cached(60_000, async () => {
    const r = await run('scutil', ['--proxy'], { timeoutMs: 10_000 });
    return parseScutilProxy(r.stdout).flatMap((p) => (p.proxy ? [{ source: `scutil:${p.kind}`, proxy: p.proxy }] : p.kind === 'pac' ? [{ source: 'scutil:pac', proxy: 'automatic discovery (WPAD)' }] : []));
  });
  return {
    async readConnections() {
      const r = await run('lsof', DARWIN_LSOF_ARGS, { timeoutMs: 30_000, maxBytes: 64 * 1024 * 1024 }); // exits 1 when nothing matched
      if (r.error) throw new Error(`lsof: ${r.error}`);
      const conns = parseLsofConnections(r.stdout);
      if (conns.some((c) => c.pid !== null && !exe.has(c.pid))) {
        const p = await run('ps', DARWIN_PS_ARGS, { timeoutMs: 10_000 });
        exe.clear();
        for (const [pid, path] of parsePsComm(p.stdout)) exe.set(pid, path);
      }
      return attachDarwinExe(conns, exe);
    },
    readPaths: async () => pathsFromNetwork(await network(), await proxies().catch(() => [])),
    dnsServers: async () => dnsOf(await network()),
    enforcer: new PfEnforcer(run),
  };
}

