/**
 * Unauthorised outbound connection control (art28, art29, art31): one part of the agent's group.
 * Every `pollMs` it reads the connection table and the network paths; violations of the policy's
 * `egress.allow` are reported once and then aggregated; short-lived connections come from the
 * platform's socket events; probes run at start, on network change, on policy change and on an
 * interval; with `egress.enforce` the host firewall is applied, the server's reachability verified,
 * and the rules rolled back when it is not. Rules stay when the agent stops (fail closed).
 */
import type { Logger } from 'pino';
import { newEvent, type AgentEvent } from '../../shared/events.js';
import type { Policy } from '../../shared/policy.js';
import { sleep } from '../transport/backoff.js';
import type { Part } from '../supervisor.js';
import { Throttle, type Sheddable } from '../shedding.js';
import { AllowList, parseAllow, unmap } from './allow.js';
import { planHash, type BlockedCounts, type FirewallEnforcer } from './enforcer.js';
import { changeSeverity, diffPaths, type PathChange, type PathSnapshot } from './paths.js';
import { runProbe, type ProbeResult } from './probes.js';
import type { Conn, EnforcementPlan, Family, ProcessInfo } from './types.js';

export interface SocketEventLike {
  source: string;
  proto: Conn['proto'];
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** What one OS provides; every member but `readConnections` and `readPaths` is optional. */
export interface EgressPlatform {
  readConnections(): Promise<Conn[]>;
  /**
   * A cheap fingerprint of the socket tables (Linux: /proc/net/sockstat), or undefined when the
   * platform cannot vouch for one. While it is unchanged and no socket event came in, the full
   * table read is skipped (up to `fullReadSeconds`): at rest the agent reads a few hundred bytes a
   * second instead of walking the kernel's whole TCP hash.
   */
  quickSignature?(): string | undefined;
  /** Fill `process` of the rows given (Linux: from the inode cache); readers that attribute themselves omit it. */
  attribute?(rows: Conn[]): void;
  /** Start long-lived sources of short-lived connections; returns a stop function. */
  watchSockets?(onEvent: (e: SocketEventLike) => void, onError: (why: string) => void): () => void;
  readPaths(): Promise<PathSnapshot>;
  /** DNS servers in use (always allowed on port 53). */
  dnsServers(): Promise<{ address: string; family: Family }[]>;
  /** The OS's own internet verdict (NetworkManager connectivity, Windows NLM), when it has one. */
  connectivity?(): Promise<{ source: string; internet: boolean; detail: string } | null>;
  enforcer: FirewallEnforcer | null;
}

export interface EgressOptions {
  pollMs: number;
  probeSeconds: number;
  aggregateSeconds: number;
  blockedSeconds: number;
  retrySeconds: number;
  verifyAttempts: number;
  verifyTimeoutMs: number;
  probeTimeoutMs: number;
  /** Longest time between two full table reads when the quick signature says nothing changed. */
  fullReadSeconds: number;
}

export interface EgressDeps {
  policy: () => Policy;
  emit: (...events: AgentEvent[]) => Promise<void>;
  /** The management server's endpoints as this host resolves them (always allowed). */
  serverEndpoints: () => Promise<{ address: string; family: Family; port: number }[]>;
  /** One fresh connection and TLS handshake to the server; true when it answered. */
  reachServer: (timeoutMs: number) => Promise<boolean>;
}

type Direction = 'outbound' | 'inbound';

interface Aggregate {
  key: string;
  direction: Direction;
  first: Record<string, unknown>;
  firstSeen: number;
  lastSeen: number;
  count: number;
  reported: number;
}

const TUPLE_TTL_MS = 65_000; // longer than TIME_WAIT (60 s): the same tuple within it is the same connection
const AGGREGATE_IDLE_MS = 3_600_000;

/** Loopback by its text, before any parsing: most sockets on a busy host are local. */
const isLoopbackText = (a: string) => a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');

const tupleKey = (c: { proto: string; localAddress: string; localPort: number; remoteAddress: string; remotePort: number }) =>
  `${c.proto}|${unmap(c.localAddress)}|${c.localPort}|${unmap(c.remoteAddress)}|${c.remotePort}`;

export class EgressControl implements Part, Sheddable {
  readonly name = 'egress';
  private allow: AllowList | null = null;
  private plan: EnforcementPlan | null = null;
  private paths: PathSnapshot | null = null;
  private readonly tuples = new Map<string, number>();
  private readonly aggregates = new Map<string, Aggregate>();
  /** destination → the key of its latest aggregate */
  private readonly byDestination = new Map<string, string>();
  private pendingEvents: SocketEventLike[] = [];
  private listening = new Set<string>();
  private lastAggregateFlush = Date.now();
  private lastBlocked: BlockedCounts | null = null;
  private lastBlockedAt = 0;
  private lastProbeAt = 0;
  private lastSignature: string | undefined;
  private lastFullRead = 0;
  private lastGood: { plan: EnforcementPlan; hash: string } | null = null;
  private retryAt = 0;
  private enforceState: 'off' | 'applied' | 'rolled_back' | 'failed' | 'unsupported' = 'off';
  /** The watchdog may stretch the poll interval (detection slows), never pause it; rules in force stay. */
  readonly shedOrder = 20;
  readonly pausable = false;
  private readonly throttle = new Throttle();
  private policyDirty = true;
  private probeReason: string | null = 'start';
  readonly stats = { polls: 0, tableReads: 0, violations: 0, repeats: 0, probes: 0, socketEvents: 0, pollMs: 0 };

  constructor(private readonly platform: EgressPlatform, private readonly deps: EgressDeps, private readonly o: EgressOptions, private readonly log: Logger) {}

  /** The policy changed: re-plan, re-apply, re-probe at the next turn. */
  policyChanged(): void {
    this.policyDirty = true;
    this.probeReason = 'policy';
    this.throttle.wake();
  }

  shed(factor: number): void {
    this.throttle.shed(factor);
  }

  status(): { enforcement: string; violations: number; trackedAggregates: number } {
    return { enforcement: this.enforceState, violations: this.stats.violations, trackedAggregates: this.aggregates.size };
  }

  async run(signal: AbortSignal): Promise<void> {
    const stop = this.platform.watchSockets?.((e) => {
      this.stats.socketEvents++;
      if (this.pendingEvents.length < 100_000) this.pendingEvents.push(e);
    }, (why) => this.log.warn({ why }, 'socket event source'));
    try {
      while (!signal.aborted) {
        const t0 = performance.now();
        try {
          await this.turn();
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, 'egress turn failed');
        }
        this.stats.pollMs = performance.now() - t0;
        await this.throttle.wait(this.o.pollMs, signal);
      }
    } finally {
      stop?.();
      await this.flushAggregates(true).catch(() => undefined);
    }
  }

  /** One poll: paths, plan, enforcement, connections, probes, counters. */
  async turn(): Promise<void> {
    this.stats.polls++;
    const now = Date.now();
    const paths = await this.platform.readPaths();
    const changes = diffPaths(this.paths, paths);
    const networkChanged = this.paths !== null && changes.length > 0;
    this.paths = paths;
    if (changes.length) await this.deps.emit(...changes.map((c) => this.pathEvent(c)));
    if (this.policyDirty || networkChanged) {
      this.policyDirty = false;
      await this.replan();
      await this.reconcile();
    } else if (this.retryAt && now >= this.retryAt) {
      this.retryAt = 0;
      await this.reconcile();
    }
    await this.connections(now);
    if (networkChanged) this.probeReason ??= 'network_change';
    if (!this.probeReason && now - this.lastProbeAt >= this.o.probeSeconds * 1000) this.probeReason = 'interval';
    if (this.probeReason) {
      const why = this.probeReason;
      this.probeReason = null;
      this.lastProbeAt = now;
      await this.probes(why);
    }
    if (now - this.lastAggregateFlush >= this.o.aggregateSeconds * 1000) await this.flushAggregates(false);
    if (this.enforceState === 'applied' && now - this.lastBlockedAt >= this.o.blockedSeconds * 1000) {
      this.lastBlockedAt = now;
      await this.blocked();
    }
  }

  private async replan(): Promise<void> {
    const policy = this.deps.policy();
    const [server, dns] = await Promise.all([this.deps.serverEndpoints(), this.platform.dnsServers()]);
    this.plan = { server, dns, allow: parseAllow(policy.egress.allow) };
    this.allow = new AllowList(this.plan);
  }

  // ---------- connections ----------

  private async connections(now: number): Promise<void> {
    const allow = this.allow;
    if (!allow) return;
    const sig = this.platform.quickSignature?.();
    if (sig !== undefined && sig === this.lastSignature && this.pendingEvents.length === 0 && now - this.lastFullRead < this.o.fullReadSeconds * 1000) return;
    this.lastSignature = sig;
    this.lastFullRead = now;
    this.stats.tableReads++;
    const rows = await this.platform.readConnections();
    const listening = new Set<string>();
    for (const r of rows) if (r.state === 'listen') listening.add(`${r.proto}|${r.localPort}`);
    this.listening = listening;
    const fresh: { conn: Conn; direction: Direction }[] = [];
    for (const r of rows) {
      if (r.state === 'listen' || r.state === 'unconnected' || r.state === 'bound' || isLoopbackText(r.remoteAddress)) continue;
      const direction = this.direction(r.proto, r.localPort, r.state);
      // Only violating connections are tracked: allowed traffic costs one memoised lookup per poll.
      if (!this.violates(allow, direction, r.proto, r.remoteAddress, r.remotePort)) continue;
      const key = tupleKey(r);
      const known = this.tuples.has(key);
      this.tuples.set(key, now);
      if (!known) fresh.push({ conn: r, direction });
    }
    if (fresh.length && this.platform.attribute) this.platform.attribute(fresh.map((f) => f.conn).filter((c) => c.process === undefined));
    for (const f of fresh) this.record(f.direction, f.conn, 'table', now);
    // Socket events the table did not show: connections that came and went between two polls.
    const events = this.pendingEvents;
    this.pendingEvents = [];
    for (const e of events) {
      if (isLoopbackText(e.remoteAddress)) continue;
      const direction = this.direction(e.proto, e.localPort, 'closed');
      if (!this.violates(allow, direction, e.proto, e.remoteAddress, e.remotePort)) continue;
      const key = tupleKey(e);
      const known = this.tuples.has(key);
      this.tuples.set(key, now);
      if (known) continue;
      this.record(direction, {
        proto: e.proto, family: e.remoteAddress.includes(':') && !e.remoteAddress.startsWith('::ffff:') ? 6 : 4,
        localAddress: e.localAddress, localPort: e.localPort, remoteAddress: e.remoteAddress, remotePort: e.remotePort,
        state: 'closed', pid: null, process: null,
      }, e.source, now);
    }
    for (const [k, seen] of this.tuples) if (now - seen > TUPLE_TTL_MS) this.tuples.delete(k);
    const batch = this.outbox.splice(0);
    if (batch.length) await this.deps.emit(...batch);
  }

  private direction(proto: Conn['proto'], localPort: number, state: string): Direction {
    if (proto === 'tcp' && (state === 'syn_recv' || state === 'new_syn_recv')) return 'inbound';
    return this.listening.has(`${proto}|${localPort}`) ? 'inbound' : 'outbound';
  }

  private violates(allow: AllowList, direction: Direction, proto: Conn['proto'], address: string, port: number): boolean {
    if (direction === 'outbound') return allow.verdict(proto, address, port) === 'violation';
    // Inbound: the peer must be somewhere this host may talk to (any port of an allowed range).
    const v = allow.verdict(proto, address, 0);
    return v === 'violation' && !allow.peerAllowed(address);
  }

  private readonly outbox: AgentEvent[] = [];

  private record(direction: Direction, c: Conn, source: string, now: number): void {
    const p: ProcessInfo | null = c.process ?? null;
    const remote = unmap(c.remoteAddress);
    const port = direction === 'outbound' ? c.remotePort : c.localPort;
    const dest = `${direction}|${c.proto}|${remote}|${port}`;
    // A sighting without a process (a socket event, TIME_WAIT) belongs to the destination's known aggregate.
    const key = p ? `${dest}|${p.exe ?? p.name ?? ''}` : this.byDestination.get(dest) ?? `${dest}|`;
    const a = this.aggregates.get(key);
    if (a) {
      a.count++;
      a.lastSeen = now;
      return;
    }
    const data: Record<string, unknown> = {
      direction, proto: c.proto, family: c.family, state: c.state,
      localAddress: unmap(c.localAddress), localPort: c.localPort, remoteAddress: remote, remotePort: c.remotePort,
      process: p ? { pid: p.pid, name: p.name, exe: p.exe, user: p.user } : null,
      source, blocked: this.enforceState === 'applied',
      firstSeen: new Date(now).toISOString(), lastSeen: new Date(now).toISOString(), count: 1,
    };
    this.aggregates.set(key, { key, direction, first: data, firstSeen: now, lastSeen: now, count: 1, reported: 1 });
    this.byDestination.set(dest, key);
    this.stats.violations++;
    this.outbox.push(newEvent('egress.violation', 'high', direction === 'outbound' ? ['art29', 'art31'] : ['art28', 'art31'], data, new Date(now)));
  }

  /** Repeats since the last report go out as one event per destination (count, first and last seen). */
  private async flushAggregates(final: boolean): Promise<void> {
    const now = Date.now();
    this.lastAggregateFlush = now;
    const out: AgentEvent[] = [];
    for (const [k, a] of this.aggregates) {
      if (a.count > a.reported) {
        out.push(newEvent('egress.violation', 'high', a.direction === 'outbound' ? ['art29', 'art31'] : ['art28', 'art31'], {
          ...a.first, repeat: true, count: a.count, newSinceLastReport: a.count - a.reported,
          firstSeen: new Date(a.firstSeen).toISOString(), lastSeen: new Date(a.lastSeen).toISOString(),
        }));
        a.reported = a.count;
        this.stats.repeats++;
      } else if (!final && now - a.lastSeen > AGGREGATE_IDLE_MS) {
        this.aggregates.delete(k);
        for (const [d, key] of this.byDestination) if (key === k) this.byDestination.delete(d);
      }
    }
    if (out.length) await this.deps.emit(...out);
  }

  // ---------- paths and probes ----------

  private pathEvent(c: PathChange): AgentEvent {
    const data: Record<string, unknown> = { change: c.change };
    if ('interface' in c) Object.assign(data, { interface: c.interface.name, type: c.interface.type, up: c.interface.up, driver: c.interface.driver, usb: c.interface.usb });
    if ('route' in c) Object.assign(data, { interface: c.route.interface, family: c.route.family, gateway: c.route.gateway, defaultRoutes: c.defaultRoutes });
    if ('proxy' in c) Object.assign(data, { source: c.proxy.source, proxy: c.proxy.proxy });
    return newEvent('egress.interface', changeSeverity(c), ['art29', 'art31'], data);
  }

  private gatewayOf(iface: string | null): string | null {
    if (!iface || !this.paths) return null;
    return this.paths.defaultRoutes.find((r) => r.interface === iface)?.gateway ?? null;
  }

  private async probes(trigger: string): Promise<void> {
    const list = this.deps.policy().egress.probes;
    const results: ProbeResult[] = await Promise.all(list.map((p) => runProbe(p, { timeoutMs: this.o.probeTimeoutMs })));
    this.stats.probes += results.length;
    const events: AgentEvent[] = [];
    for (const r of results) {
      if (!r.reachable) continue;
      events.push(newEvent('egress.internet_reachable', 'critical', ['art29', 'art31'], {
        source: 'probe', probe: r.probe, trigger, address: r.address, localAddress: r.localAddress,
        interface: r.interface, gateway: this.gatewayOf(r.interface), latencyMs: r.latencyMs, detail: r.detail,
      }));
    }
    const os = await this.platform.connectivity?.().catch(() => null);
    if (os?.internet) events.push(newEvent('egress.internet_reachable', 'critical', ['art29', 'art31'], { source: 'os', tool: os.source, trigger, detail: os.detail }));
    if (events.length) await this.deps.emit(...events);
  }

  // ---------- enforcement ----------

  private async enforcementEvent(state: string, severity: 'low' | 'medium' | 'high', data: Record<string, unknown>): Promise<void> {
    await this.deps.emit(newEvent('egress.enforcement', severity, ['art29', 'art31'], { state, firewall: this.platform.enforcer?.kind ?? null, ...data }));
  }

  private async reachable(): Promise<boolean> {
    for (let i = 0; i < this.o.verifyAttempts; i++) {
      if (await this.deps.reachServer(this.o.verifyTimeoutMs)) return true;
      if (i + 1 < this.o.verifyAttempts) await sleep(Math.min(2000, this.o.verifyTimeoutMs));
    }
    return false;
  }

  /** Bring the firewall to what the policy asks; verify; roll back if the server is lost. */
  async reconcile(): Promise<void> {
    const enforcer = this.platform.enforcer;
    const want = this.deps.policy().egress.enforce;
    if (!enforcer) {
      if (want && this.enforceState !== 'unsupported') {
        this.enforceState = 'unsupported';
        await this.enforcementEvent('unsupported', 'high', { reason: `no host firewall control on ${process.platform}` });
      }
      return;
    }
    let installed: string | null;
    try {
      installed = await enforcer.installed();
    } catch (e) {
      this.enforceState = 'failed';
      this.retryAt = Date.now() + this.o.retrySeconds * 1000;
      await this.enforcementEvent('failed', 'high', { reason: (e as Error).message });
      return;
    }
    if (!want) {
      const was = this.enforceState;
      this.enforceState = 'off';
      this.lastGood = null;
      if (installed !== null) {
        try {
          await enforcer.remove();
          await this.enforcementEvent('removed', 'medium', { hash: installed });
        } catch (e) {
          await this.enforcementEvent('failed', 'high', { reason: `remove: ${(e as Error).message}` });
        }
      } else if (was === 'applied') await this.enforcementEvent('removed', 'medium', { hash: null, note: 'rules were already gone' });
      return;
    }
    const plan = this.plan!;
    const hash = planHash(plan);
    if (installed === hash) {
      // Already in force (an agent restart): rules held while we were away; nothing to verify anew.
      if (this.enforceState !== 'applied') {
        this.enforceState = 'applied';
        this.lastGood = { plan, hash };
        // Counters kept running while we were away and were reported up to then: start from here.
        this.lastBlocked = await enforcer.counts().catch(() => null);
        this.lastBlockedAt = Date.now();
        this.log.info({ hash }, 'egress rules already in force');
      }
      return;
    }
    if (this.enforceState === 'rolled_back' && !(await this.reachable())) {
      // The server is down even without our rules: applying could not be verified. Try later.
      this.retryAt = Date.now() + this.o.retrySeconds * 1000;
      return;
    }
    const previous = this.lastGood;
    try {
      await enforcer.apply(plan, hash);
      const now = await enforcer.installed();
      if (now !== hash) throw new Error(`rules read back as ${now ?? 'absent'} instead of ${hash}`);
    } catch (e) {
      this.enforceState = 'failed';
      this.retryAt = Date.now() + this.o.retrySeconds * 1000;
      await this.enforcementEvent('failed', 'high', { reason: (e as Error).message, hash });
      return;
    }
    if (await this.reachable()) {
      this.enforceState = 'applied';
      this.lastGood = { plan, hash };
      this.lastBlocked = null;
      this.lastBlockedAt = Date.now();
      await this.enforcementEvent('applied', 'low', {
        hash, allow: plan.allow.map((a) => a.text), server: plan.server.map((s) => `${s.address}:${s.port}`), dns: plan.dns.map((d) => d.address),
      });
      this.log.info({ hash }, 'egress rules applied and the server is reachable');
      return;
    }
    // Velociraptor's quarantine rule: rules that cut the agent off its server do not stay.
    let restored: string | null = null;
    try {
      if (previous) {
        await enforcer.apply(previous.plan, previous.hash);
        restored = previous.hash;
      } else await enforcer.remove();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'egress rollback failed');
    }
    this.enforceState = 'rolled_back';
    this.retryAt = Date.now() + this.o.retrySeconds * 1000;
    this.log.warn({ hash, restored }, 'management server unreachable after applying egress rules: rolled back');
    await this.enforcementEvent('rolled_back', 'high', {
      hash, restored, reason: `management server unreachable after applying (${this.o.verifyAttempts} attempts of ${this.o.verifyTimeoutMs} ms)`,
    });
  }

  private async blocked(): Promise<void> {
    const enforcer = this.platform.enforcer;
    if (!enforcer) return;
    const c = await enforcer.counts().catch(() => null);
    if (!c) return;
    const prev = this.lastBlocked;
    this.lastBlocked = c;
    const delta = c.packets - (prev?.packets ?? 0);
    if (delta <= 0) return;
    const before = new Map((prev?.destinations ?? []).map((d) => [d.address, d.packets]));
    const destinations = c.destinations
      .map((d) => ({ address: d.address, packets: d.packets - (before.get(d.address) ?? 0), totalPackets: d.packets }))
      .filter((d) => d.packets > 0)
      .sort((a, b) => b.packets - a.packets)
      .slice(0, 50);
    await this.deps.emit(newEvent('egress.blocked', 'medium', ['art29', 'art31'], {
      packets: delta, bytes: c.bytes - (prev?.bytes ?? 0), totalPackets: c.packets, totalBytes: c.bytes,
      destinations, firewall: enforcer.kind, sinceSeconds: this.o.blockedSeconds,
    }));
  }
}
