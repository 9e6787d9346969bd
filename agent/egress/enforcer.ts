/**
 * A host firewall that lets out only what the plan allows (nftables on Linux, Windows Defender
 * Firewall rules, a pf anchor on macOS). The control loop in `control.ts` applies, verifies the
 * server is still reachable, and rolls back; an enforcer only knows its own firewall.
 */
import { createHash } from 'node:crypto';
import type { EnforcementPlan } from './types.js';

export interface BlockedCounts {
  packets: number;
  bytes: number;
  /** Per destination address, when the firewall can tell. */
  destinations: { address: string; packets: number; bytes: number }[];
}

export interface FirewallEnforcer {
  /** `nftables`, `windows-firewall`, `pf`. */
  readonly kind: string;
  /** Hash of the plan in force, null when no rules of ours are installed. */
  installed(): Promise<string | null>;
  /** Replace our rules with the plan's, atomically where the firewall allows; throws on failure. */
  apply(plan: EnforcementPlan, hash: string): Promise<void>;
  /** Remove every rule of ours; no error when there are none. */
  remove(): Promise<void>;
  /** What the drop rules counted since they were installed; null when unknown. */
  counts(): Promise<BlockedCounts | null>;
}

/** Stable hash of a plan (order-independent), stored with the rules to tell whether they are current. */
export function planHash(plan: EnforcementPlan): string {
  const norm = {
    server: plan.server.map((s) => `${s.address}|${s.port}`).sort(),
    dns: plan.dns.map((d) => d.address).sort(),
    allow: plan.allow.map((a) => `${a.address}/${a.prefix}|${a.port ?? ''}`).sort(),
  };
  return createHash('sha256').update(JSON.stringify(norm)).digest('hex').slice(0, 32);
}
