/**
 * Host monitoring (art18, art31): a full inventory at start and daily, the sections that matter
 * between them polled and diffed into change events, hardening checks on their own interval and
 * when the policy changes, and a signed attestation daily or on the server's command.
 */
import type { Logger } from 'pino';
import { newEvent, type AgentEvent } from '../shared/events.js';
import type { InventorySnapshot, InventorySection } from '../shared/inventory.js';
import type { Policy } from '../shared/policy.js';
import type { AgentConfig } from './config.js';
import { agentRunner, type Runner } from './exec.js';
import type { Part } from './supervisor.js';
import { collectInventory } from './collectors/inventory.js';
import type { CollectorContext } from './collectors/types.js';
import { diffAdmins, diffAntimalware, diffListening, diffSoftware } from './collectors/diff.js';
import { unassignedAddresses } from './policy/assigned.js';
import { makeCheckContext } from './checks/context.js';
import { osFamily, runChecks, selectChecks } from './checks/index.js';
import { summarise } from './checks/report.js';
import type { CheckResult } from './checks/types.js';
import { buildAttestation } from './attest.js';
import { sleep } from './transport/backoff.js';
import { Throttle, type Sheddable } from './shedding.js';

type SectionData<K extends InventorySection> = Extract<InventorySnapshot[K], { status: 'ok' }>['data'];

function okData<K extends InventorySection>(s: Partial<InventorySnapshot>, k: K): SectionData<K> | null {
  const v = s[k] as InventorySnapshot[K] | undefined;
  return v && v.status === 'ok' ? (v as Extract<InventorySnapshot[K], { status: 'ok' }>).data as SectionData<K> : null;
}

/** Cheap, security-relevant sections re-read between full inventories. */
const WATCHED: InventorySection[] = ['network', 'users', 'software', 'listening', 'antimalware'];

export interface MonitorHost {
  stateDir: string;
  hostId(): string;
  policy(): { version: number; policy: Policy };
  emit(...events: AgentEvent[]): Promise<void>;
}

export class HostMonitor implements Part, Sheddable {
  readonly name = 'host-monitor';
  /** Inventory rounds can wait: the first part the watchdog stretches, and it may pause them. */
  readonly shedOrder = 10;
  readonly pausable = true;
  private readonly throttle = new Throttle();
  private last: Partial<InventorySnapshot> = {};
  private fullSnapshot: InventorySnapshot | null = null;
  private lastChecks: { results: CheckResult[]; profile: string; key: string } | null = null;
  private unassignedKey = '';
  private attestRequested = false;

  constructor(private readonly host: MonitorHost, private readonly cfg: AgentConfig, private readonly log: Logger, private readonly runner: Runner = agentRunner) {}

  /** The server asked for an attestation now. */
  requestAttestation(): void {
    this.attestRequested = true;
    this.throttle.wake();
  }

  /** The policy changed: checks (profile, exclusions) and address ranges are re-evaluated now. */
  policyChanged(): void {
    this.throttle.wake();
  }

  shed(factor: number): void {
    this.throttle.shed(factor);
  }

  private ctx(): CollectorContext {
    return { platform: process.platform, root: '/', procfs: this.cfg.paths.procfs, sysfs: this.cfg.paths.sysfs, run: this.runner, now: new Date() };
  }

  async run(signal: AbortSignal): Promise<void> {
    const iv = this.cfg.intervals;
    // Spread a fleet's first inventory over a minute; the agent has just started.
    await sleep(Math.random() * Math.min(60_000, iv.inventoryChanges * 1000), signal);
    let lastFull = 0;
    let lastChecks = 0;
    let lastAttest = 0;
    while (!signal.aborted) {
      const now = Date.now();
      try {
        if (now - lastFull >= iv.inventory * 1000) {
          await this.fullInventory();
          lastFull = now;
        } else {
          await this.watch();
        }
        const policy = this.host.policy();
        const checksKey = `${policy.policy.checks.profile}|${policy.policy.checks.exclude.join(',')}`;
        if (now - lastChecks >= iv.checks * 1000 || this.lastChecks?.key !== checksKey) {
          await this.checks(checksKey);
          lastChecks = now;
        }
        if (this.attestRequested || now - lastAttest >= iv.attest * 1000) {
          this.attestRequested = false;
          await this.attest();
          lastAttest = now;
        }
      } catch (err) {
        this.log.error({ err }, 'host monitoring round failed');
      }
      await this.throttle.wait(iv.inventoryChanges * 1000, signal);
    }
  }

  private async fullInventory(): Promise<void> {
    const { snapshot, durationsMs } = await collectInventory(this.ctx());
    this.fullSnapshot = snapshot;
    await this.host.emit(newEvent('host.inventory', 'low', ['art10', 'art18', 'art26', 'art30'], { ...snapshot, durationsMs } as Record<string, unknown>));
    await this.compare(snapshot);
  }

  private async watch(): Promise<void> {
    const { snapshot } = await collectInventory(this.ctx(), { only: WATCHED });
    await this.compare(snapshot);
  }

  /** Diff watched sections against the last good reading of each; the first reading sets the baseline. */
  private async compare(next: Partial<InventorySnapshot>): Promise<void> {
    const events: AgentEvent[] = [];
    const pair = <K extends InventorySection>(k: K): [SectionData<K>, SectionData<K>] | null => {
      const a = okData(this.last, k);
      const b = okData(next, k);
      return a && b ? [a, b] : null;
    };
    const sw = pair('software');
    if (sw) events.push(...diffSoftware(sw[0], sw[1]));
    const ls = pair('listening');
    if (ls) events.push(...diffListening(ls[0], ls[1]));
    const us = pair('users');
    if (us) events.push(...diffAdmins(us[0], us[1]));
    const am = pair('antimalware');
    if (am) events.push(...diffAntimalware(am[0], am[1]));
    const net = next.network;
    if (net?.status === 'ok') {
      const bad = unassignedAddresses(net.data, this.host.policy().policy.network.assigned);
      const key = JSON.stringify(bad);
      if (key !== this.unassignedKey) {
        this.unassignedKey = key;
        if (bad.length) {
          events.push(newEvent('host.ip_unassigned', 'high', ['art26'], { addresses: bad, assigned: this.host.policy().policy.network.assigned }));
        }
      }
    }
    for (const k of WATCHED) if (next[k]?.status === 'ok') (this.last as Record<string, unknown>)[k] = next[k];
    if (events.length) await this.host.emit(...events);
  }

  private async checks(key: string): Promise<void> {
    const os = osFamily();
    if (!os) return;
    const { version, policy } = this.host.policy();
    const checks = selectChecks(os, policy.checks.profile, policy.checks.exclude);
    const ctx = makeCheckContext({ os, procfs: this.cfg.paths.procfs, sysfs: this.cfg.paths.sysfs, run: this.runner });
    const results = await runChecks(ctx, checks);
    this.lastChecks = { results, profile: policy.checks.profile, key };
    const summary = summarise(results);
    await this.host.emit(newEvent('host.check', summary.fail ? 'medium' : 'low', ['art9', 'art17', 'art31'], {
      profile: policy.checks.profile, policyVersion: version, summary, results,
    }));
  }

  private async attest(): Promise<void> {
    if (!this.fullSnapshot) await this.fullInventory();
    if (!this.lastChecks) await this.checks('');
    const file = buildAttestation({
      stateDir: this.host.stateDir, hostId: this.host.hostId(), policy: this.host.policy(),
      profile: this.lastChecks!.profile, results: this.lastChecks!.results, inventory: this.fullSnapshot!,
    });
    await this.host.emit(newEvent('host.attestation', 'low', ['art11'], file as unknown as Record<string, unknown>));
  }
}
