/** Run the checks on this host, with the profile and exclusions of the applied policy. */
import { readFileSync } from 'node:fs';
import type { AgentConfig } from '../config.js';
import { agentRunner } from '../exec.js';
import { statePaths } from '../state.js';
import { DEFAULT_POLICY, type Policy } from '../../shared/policy.js';
import { TgError } from '../../shared/errors.js';
import { makeCheckContext } from './context.js';
import { osFamily, runChecks, selectChecks } from './index.js';
import type { CheckResult } from './types.js';

/** The applied policy from the state folder; the defaults when none was applied yet. */
export function appliedPolicy(stateDir: string): { version: number; policy: Policy } {
  try {
    return JSON.parse(readFileSync(statePaths(stateDir).policy, 'utf8')) as { version: number; policy: Policy };
  } catch {
    return { version: 0, policy: DEFAULT_POLICY };
  }
}

export async function hostChecks(stateDir: string, cfg: AgentConfig, profileOverride?: string): Promise<{ profile: string; results: CheckResult[] }> {
  const os = osFamily();
  if (!os) throw new TgError('TG_E_CONFIG', `no hardening checks for platform ${process.platform}`);
  const { policy } = appliedPolicy(stateDir);
  const profile = profileOverride ?? policy.checks.profile;
  const checks = selectChecks(os, profile, policy.checks.exclude);
  if (!checks.length) throw new TgError('TG_E_CONFIG', `profile "${profile}" has no checks on ${os}`);
  const ctx = makeCheckContext({ os, procfs: cfg.paths.procfs, sysfs: cfg.paths.sysfs, run: agentRunner });
  return { profile, results: await runChecks(ctx, checks) };
}
