/**
 * Builds the signed attestation (art11) from a check run and an inventory snapshot, signed with
 * the agent's own key — the key its certificate certifies — and never anything else.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { signAttestation, type AttestationFile } from '../shared/attestation.js';
import { digest } from '../shared/canonical.js';
import { VERSION } from '../shared/version.js';
import type { Policy } from '../shared/policy.js';
import type { InventorySnapshot } from '../shared/inventory.js';
import type { CheckResult } from './checks/types.js';
import { summarise } from './checks/report.js';
import { statePaths } from './state.js';

export function buildAttestation(o: {
  stateDir: string;
  hostId: string;
  policy: { version: number; policy: Policy };
  profile: string;
  results: CheckResult[];
  inventory: InventorySnapshot;
  now?: Date;
}): AttestationFile {
  const p = statePaths(o.stateDir);
  const os = o.inventory.os.status === 'ok' ? `${o.inventory.os.data.name} ${o.inventory.os.data.version ?? ''}`.trim() : process.platform;
  return signAttestation({
    hostId: o.hostId,
    hostname: hostname(),
    time: (o.now ?? new Date()).toISOString(),
    agentVersion: VERSION,
    os,
    policyVersion: o.policy.version,
    policyDigest: digest(o.policy.policy),
    profile: o.profile,
    summary: summarise(o.results),
    checks: o.results.map((r) => ({
      id: r.id, status: r.status, title: r.title, articles: r.articles, mlps: r.mlps, evidence: r.evidence, ...(r.reason ? { reason: r.reason } : {}),
    })),
    inventoryDigest: digest(o.inventory),
  }, readFileSync(p.key, 'utf8'), readFileSync(p.cert, 'utf8'));
}
