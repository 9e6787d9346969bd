/**
 * Egress table-read worker. Hot loop: the timed reads below. Run inside the bench's network
 * namespace (`ip netns exec NS node --import tsx tests/bench/egress-worker.ts '{"reps":20,"warmup":3}'`)
 * so /proc/net, ss and systeminformation all see that namespace's sockets; reads dist/ (what ships)
 * and prints one JSON line (`WorkerResult`) on stdout.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import type * as TableMod from '../../agent/egress/linux/table.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FILES = ['tcp', 'tcp6', 'udp', 'udp6'];

export type Method = 'bare' | 'read' | 'ssTan' | 'attributed' | 'ssTanp' | 'si';

export interface Timing { median: number; p95: number; min: number; n: number; rows: number }

export interface WorkerResult {
  timings: Record<Method, Timing>;
  /** The first readProcNet + attribute with an empty inode cache (readProcNet itself warmed first). */
  cold: { ms: number; walks: number; fdsRead: number; rows: number; attributed: number };
  /** Rows with a process after a steady call, and the `users:` lines of the last `ss -tanpH`. */
  attributedRows: number;
  ssWithProcess: number;
}

const lines = (b: Buffer): number => {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
};

function ss(args: string[]): Buffer {
  const r = spawnSync('ss', args, { maxBuffer: 1 << 28, env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) throw new Error(`ss ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString()}`);
  return r.stdout;
}

const median = (s: number[]) => (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);

async function main(): Promise<void> {
  const { reps, warmup } = JSON.parse(process.argv[2] ?? '{}') as { reps?: number; warmup?: number };
  const R = reps ?? 20;
  const W = warmup ?? 3;
  const { readProcNet, ProcessAttributor } = (await import(pathToFileURL(join(ROOT, 'dist/agent/egress/linux/table.js')).href)) as typeof TableMod;
  const si = (await import('systeminformation')).default;

  // Cold: the parser warmed, the inode → pid cache empty (what the agent pays once, or after a miss).
  for (let i = 0; i < W; i++) readProcNet('/proc');
  const coldAttr = new ProcessAttributor('/proc');
  const c0 = performance.now();
  const coldRows = readProcNet('/proc');
  coldAttr.attribute(coldRows);
  const cold = { ms: performance.now() - c0, ...coldAttr.stats, rows: coldRows.length, attributed: coldRows.filter((r) => r.process).length };

  const attributor = new ProcessAttributor('/proc');
  let lastAttributed: TableMod.ProcNetRow[] = [];
  let lastSsp: Buffer = Buffer.alloc(0);
  // Each returns its raw result; rows are counted outside the timed part.
  const methods: Record<Method, () => unknown> = {
    bare: () => FILES.map((f) => readFileSync(`/proc/net/${f}`)),
    read: () => readProcNet('/proc'),
    ssTan: () => ss(['-tanH']),
    attributed: () => { const rows = readProcNet('/proc'); attributor.attribute(rows); return (lastAttributed = rows); },
    ssTanp: () => (lastSsp = ss(['-tanpH'])),
    si: () => si.networkConnections(),
  };
  const count: Record<Method, (x: unknown) => number> = {
    bare: (x) => (x as Buffer[]).reduce((a, b) => a + lines(b) - 1, 0),
    read: (x) => (x as unknown[]).length,
    ssTan: (x) => lines(x as Buffer),
    attributed: (x) => (x as unknown[]).length,
    ssTanp: (x) => lines(x as Buffer),
    si: (x) => (x as unknown[]).length,
  };
  const samples = Object.fromEntries(Object.keys(methods).map((k) => [k, [] as number[]])) as Record<Method, number[]>;
  const rows = {} as Record<Method, number>;
  // Round-robin, so drift and a neighbour's load fall on every method alike.
  for (let round = 0; round < W + R; round++) {
    for (const m of Object.keys(methods) as Method[]) {
      const t0 = performance.now();
      const out = await methods[m]();
      const ms = performance.now() - t0;
      if (round >= W) samples[m].push(ms);
      rows[m] = count[m](out);
    }
  }
  const timings = {} as Record<Method, Timing>;
  for (const m of Object.keys(samples) as Method[]) {
    const s = samples[m].sort((a, b) => a - b);
    timings[m] = { median: median(s), p95: s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]!, min: s[0]!, n: s.length, rows: rows[m] };
  }
  const result: WorkerResult = {
    timings, cold,
    attributedRows: lastAttributed.filter((r) => r.process).length,
    ssWithProcess: lastSsp.toString('latin1').split('\n').filter((l) => l.includes('users:')).length,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`egress worker: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
