/**
 * The hardening catalogue and its runner. Each OS family's checks live in their own folder;
 * a check that throws or hangs becomes an `error` result and never stops the others.
 */
import type { CheckContext, CheckDef, CheckResult, OsFamily } from './types.js';
import { linuxChecks } from './linux/index.js';
import { win32Checks } from './win32/index.js';
import { darwinChecks } from './darwin/index.js';

export const CATALOGUE: Record<OsFamily, CheckDef[]> = { linux: linuxChecks, win32: win32Checks, darwin: darwinChecks };

export function osFamily(platform: NodeJS.Platform = process.platform): OsFamily | null {
  return platform === 'linux' || platform === 'win32' || platform === 'darwin' ? platform : null;
}

export function selectChecks(os: OsFamily, profile = 'mlps3', exclude: string[] = []): CheckDef[] {
  const skip = new Set(exclude);
  return CATALOGUE[os].filter((c) => c.profiles.includes(profile) && !skip.has(c.id));
}

export async function runChecks(ctx: CheckContext, checks: CheckDef[], opts: { timeoutMs?: number } = {}): Promise<CheckResult[]> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const results: CheckResult[] = [];
  // One at a time: checks spawn tools, and an agent must stay light on a trading terminal.
  for (const c of checks) {
    const t0 = performance.now();
    let outcome: Awaited<ReturnType<CheckDef['run']>>;
    let timer: NodeJS.Timeout | undefined;
    try {
      outcome = await Promise.race([
        c.run(ctx),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`check timed out after ${timeoutMs} ms`)), timeoutMs); }),
      ]);
    } catch (e) {
      outcome = { status: 'error', evidence: {}, reason: (e as Error).message };
    } finally {
      clearTimeout(timer);
    }
    results.push({
      id: c.id, status: outcome.status, title: c.title, articles: c.articles, mlps: c.mlps,
      evidence: outcome.evidence, ...(outcome.reason ? { reason: outcome.reason } : {}), remediation: c.remediation,
      durationMs: Math.round(performance.now() - t0),
    });
  }
  return results;
}
