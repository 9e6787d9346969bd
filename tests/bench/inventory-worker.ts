/**
 * Inventory bench worker (a fresh forked process per plan, so "cold" means cold): runs the steps it
 * is sent against dist/ (what ships) and reports, per step, wall ms, its own CPU from
 * process.cpuUsage(), and its children's CPU from cutime+cstime in /proc/self/stat.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CLK_TCK, ROOT, pool, reply, type WorkerMessage } from './lib.js';
import type * as InventoryMod from '../../agent/collectors/inventory.js';
import type * as ChecksMod from '../../agent/checks/index.js';
import type * as ContextMod from '../../agent/checks/context.js';
import type * as ExecMod from '../../agent/exec.js';
import type { InventorySection } from '../../shared/inventory.js';

export type Step =
  | { kind: 'import-termguard' }
  | { kind: 'inventory'; only?: InventorySection[] }
  | { kind: 'checks' }
  | { kind: 'import-si' }
  | { kind: 'si' };

export interface StepResult { kind: Step['kind']; wallMs: number; selfMs: number; childMs: number; durationsMs?: Record<string, number>; bytes?: number; detail?: string }
export interface Plan extends WorkerMessage { type: 'plan'; steps: Step[] }
export interface PlanResult extends WorkerMessage { type: 'done'; results: StepResult[] }

/** The systeminformation calls that read what termguard's os/hardware/network/users/services/listening/processes do. */
export const SI_CALLS = ['osInfo', 'system', 'cpu', 'mem', 'diskLayout', 'networkInterfaces', 'networkGatewayDefault', 'users', 'services', 'networkConnections', 'processes'] as const;

/**
 * CPU of reaped children (and, through them, their own reaped children), in ms. Node reaps every
 * child it spawns before reporting its exit, so after a step's promises settle its tools are counted.
 */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
}

const dist = (p: string) => import(pathToFileURL(join(ROOT, 'dist', p)).href);
let inv: typeof InventoryMod;
let checks: typeof ChecksMod;
let context: typeof ContextMod;
let exec: typeof ExecMod;
let si: Record<string, (arg?: string) => Promise<unknown>>;
/** The runner of the last inventory in this process: checks after an inventory share its apt memo, as in the agent. */
let lastRunner: ExecMod.Runner | undefined;

/** A runner like agentRunner but with its own memo, so a second inventory does not reuse the first one's apt simulation. */
function freshRunner(): ExecMod.Runner {
  return exec.memoRunner(exec.runCommand, 10 * 60_000, exec.slowQueries);
}

async function step(s: Step): Promise<Omit<StepResult, 'kind' | 'wallMs' | 'selfMs' | 'childMs'>> {
  switch (s.kind) {
    case 'import-termguard':
      [inv, checks, context, exec] = await Promise.all([
        dist('agent/collectors/inventory.js'), dist('agent/checks/index.js'), dist('agent/checks/context.js'), dist('agent/exec.js'),
      ]) as [typeof InventoryMod, typeof ChecksMod, typeof ContextMod, typeof ExecMod];
      return {};
    case 'inventory': {
      lastRunner = freshRunner();
      const ctx = { platform: process.platform, root: '/', procfs: '/proc', sysfs: '/sys', run: lastRunner, now: new Date() };
      const { snapshot, durationsMs } = await inv.collectInventory(ctx, s.only ? { only: s.only } : {});
      const notOk = Object.entries(snapshot).filter(([, v]) => typeof v === 'object' && (v as { status: string }).status !== 'ok')
        .map(([k, v]) => `${k}: ${(v as { reason?: string }).reason ?? (v as { status: string }).status}`);
      return { durationsMs, bytes: Buffer.byteLength(JSON.stringify(snapshot)), detail: notOk.join('; ') };
    }
    case 'checks': {
      const ctx = context.makeCheckContext({ os: 'linux', run: lastRunner ?? freshRunner() });
      const results = await checks.runChecks(ctx, checks.selectChecks('linux', 'mlps3'));
      const by: Record<string, number> = {};
      const durationsMs: Record<string, number> = {};
      for (const r of results) {
        by[r.status] = (by[r.status] ?? 0) + 1;
        durationsMs[r.id] = r.durationMs;
      }
      return { durationsMs, bytes: Buffer.byteLength(JSON.stringify(results)), detail: `${results.length} checks: ${Object.entries(by).map(([k, v]) => `${v} ${k}`).join(', ')}` };
    }
    case 'import-si':
      si = (await import('systeminformation')).default as unknown as typeof si;
      return {};
    case 'si': {
      const durationsMs: Record<string, number> = {};
      const out: Record<string, unknown> = {};
      // Two at a time, as collectInventory's default concurrency.
      await pool([...SI_CALLS], 2, async (name) => {
        const t0 = performance.now();
        out[name] = await (name === 'services' ? si.services!('*') : si[name]!());
        durationsMs[name] = Math.round((performance.now() - t0) * 10) / 10;
      });
      return { durationsMs, bytes: Buffer.byteLength(JSON.stringify(out)) };
    }
  }
}

process.on('message', (m: WorkerMessage) => {
  if (m.type !== 'plan') return;
  void (async () => {
    const results: StepResult[] = [];
    for (const s of (m as Plan).steps) {
      const c0 = process.cpuUsage();
      const k0 = childCpuMs();
      const t0 = performance.now();
      const extra = await step(s);
      const wallMs = performance.now() - t0;
      const c = process.cpuUsage(c0);
      results.push({ kind: s.kind, wallMs, selfMs: (c.user + c.system) / 1000, childMs: childCpuMs() - k0, ...extra });
    }
    reply({ type: 'done', results } satisfies PlanResult);
  })().catch((e: unknown) => {
    process.stderr.write(`inventory worker: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
});
