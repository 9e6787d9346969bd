/**
 * Inventory and checks cost: one full collectInventory with the agent's runner (cold: first call in
 * a fresh process; warm: the second call in it), one mlps3 check run, against the systeminformation
 * calls that read the same kind of data, all in fresh forked processes, interleaved, median of the
 * rounds. CPU = the worker's own (process.cpuUsage) + its reaped children's (cutime+cstime from
 * /proc/self/stat; `time` cannot split one process into steps). Env: BENCH_INVENTORY_ROUNDS (3).
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { ROOT, ensureBuilt, forkWorker, num, ratio, table, CLK_TCK } from './lib.js';
import { SI_CALLS, type Plan, type PlanResult, type Step, type StepResult } from './inventory-worker.js';
import type { InventorySection } from '../../shared/inventory.js';

const ROUNDS = Math.max(1, Number(process.env.BENCH_INVENTORY_ROUNDS ?? 3));
/** termguard sections that systeminformation's calls cover (no software, patches, anti-malware). */
const SI_SECTIONS: InventorySection[] = ['os', 'hardware', 'network', 'users', 'services', 'listening', 'processes'];

const PLANS: Record<string, { steps: Step[]; rows: string[] }> = {
  termguard: {
    steps: [{ kind: 'import-termguard' }, { kind: 'inventory' }, { kind: 'inventory' }, { kind: 'checks' }],
    rows: ['', 'inventory cold', 'inventory warm', 'checks after inventory'],
  },
  checks: { steps: [{ kind: 'import-termguard' }, { kind: 'checks' }], rows: ['', 'checks cold'] },
  subset: {
    steps: [{ kind: 'import-termguard' }, { kind: 'inventory', only: SI_SECTIONS }, { kind: 'inventory', only: SI_SECTIONS }],
    rows: ['', 'inventory cold, si sections only', 'inventory warm, si sections only'],
  },
  si: {
    steps: [{ kind: 'import-si' }, { kind: 'si' }, { kind: 'si' }],
    rows: ['', 'systeminformation cold', 'systeminformation warm'],
  },
};

/**
 * Module load cost in a plain node (the workers run under tsx, whose loader triples import time):
 * wall, CPU and RSS after import.
 */
function importCost(specifiers: string[]): StepResult & { rssMiB: number } {
  const script = `const t=performance.now();const c=process.cpuUsage();await Promise.all(${JSON.stringify(specifiers)}.map((s)=>import(s)));` +
    `const u=process.cpuUsage(c);process.stdout.write(JSON.stringify({wallMs:performance.now()-t,selfMs:(u.user+u.system)/1000,rssMiB:process.memoryUsage().rss/1048576}))`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`import of ${specifiers.join(', ')} failed: ${r.stderr}`);
  return { kind: 'import-termguard', childMs: 0, ...(JSON.parse(r.stdout) as { wallMs: number; selfMs: number; rssMiB: number }) };
}

const TG_MODULES = ['agent/collectors/inventory.js', 'agent/checks/index.js', 'agent/checks/context.js', 'agent/exec.js']
  .map((p) => pathToFileURL(join(ROOT, 'dist', p)).href);

async function runPlan(steps: Step[]): Promise<StepResult[]> {
  const w = forkWorker('inventory-worker.ts');
  try {
    const done = w.next<PlanResult>('done');
    w.send({ type: 'plan', steps } satisfies Plan);
    return (await done).results;
  } finally {
    await w.stop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function inventoryBench(): Promise<void> {
  ensureBuilt();
  process.stdout.write(`inventory: ${ROUNDS} round(s) of 4 fresh worker processes (termguard, checks alone, si sections only, systeminformation)\n`);
  const byRow = new Map<string, StepResult[]>();
  const rss: Record<string, number[]> = { tg: [], si: [], bare: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [row, key, mods] of [['import termguard modules', 'tg', TG_MODULES], ['import systeminformation', 'si', ['systeminformation']], ['', 'bare', []]] as const) {
      const res = importCost([...mods]);
      rss[key]!.push(res.rssMiB);
      if (row) byRow.set(row, [...(byRow.get(row) ?? []), res]);
    }
    for (const plan of Object.values(PLANS)) {
      const results = await runPlan(plan.steps);
      results.forEach((res, i) => {
        const row = plan.rows[i]!;
        if (row) byRow.set(row, [...(byRow.get(row) ?? []), res]);
      });
    }
  }
  const agg = (row: string) => {
    const rs = byRow.get(row) ?? [];
    return { wall: median(rs.map((x) => x.wallMs)), cpu: median(rs.map((x) => x.selfMs + x.childMs)), child: median(rs.map((x) => x.childMs)), runs: rs };
  };
  const base = { import: agg('import systeminformation'), cold: agg('systeminformation cold'), warm: agg('systeminformation warm') };
  const line = (row: string, against: keyof typeof base) => {
    const a = agg(row);
    const b = base[against];
    return [row, num(a.wall), num(a.cpu), num(a.child), ratio(a.wall, b.wall), ratio(a.cpu, b.cpu)];
  };
  const detail = (row: string) => agg(row).runs.at(-1)?.detail;
  const slowest = () => {
    const cold = agg('checks cold').runs;
    const warm = agg('checks after inventory').runs;
    const ms = (runs: StepResult[], id: string) => median(runs.map((x) => x.durationsMs?.[id] ?? NaN));
    return Object.keys(cold[0]?.durationsMs ?? {}).sort((a, b) => ms(cold, b) - ms(cold, a)).slice(0, 4)
      .map((id) => `${id} ${num(ms(cold, id))} / ${num(ms(warm, id))} ms`).join(', ');
  };
  const kib = (row: string) => num(median(agg(row).runs.map((x) => x.bytes ?? 0)) / 1024);
  process.stdout.write(table(
    `inventory — wall and CPU of one run, median of ${ROUNDS} fresh process(es); ratios vs the systeminformation calls alone`,
    ['what', 'wall ms', 'CPU ms', 'of which children', 'wall ratio', 'CPU ratio'],
    [
      line('inventory cold', 'cold'),
      line('inventory warm', 'warm'),
      line('checks cold', 'cold'),
      line('checks after inventory', 'cold'),
      line('inventory cold, si sections only', 'cold'),
      line('inventory warm, si sections only', 'warm'),
      line('systeminformation cold', 'cold'),
      line('systeminformation warm', 'warm'),
      line('import termguard modules', 'import'),
      line('import systeminformation', 'import'),
    ],
    [
      'cold rows and checks vs systeminformation cold; warm rows vs systeminformation warm; imports vs each other',
      `imports in a plain node: RSS after import ${num(median(rss.tg!), 1)} MiB termguard, ${num(median(rss.si!), 1)} MiB systeminformation, ${num(median(rss.bare!), 1)} MiB nothing`,
      `systeminformation: ${SI_CALLS.map((c) => `si.${c}()`).join(', ')}, two at a time (as collectInventory); it reads no packages, patches, anti-malware, nor hashes executables`,
      `si sections only: termguard's ${SI_SECTIONS.join(', ')}; children CPU resolution ${num(1000 / CLK_TCK)} ms (clock ticks)`,
      'each inventory gets its own apt memo (a daily inventory finds the last one expired); checks after inventory share it, as at agent start',
      `snapshot JSON ${kib('inventory cold')} KiB (si sections ${kib('inventory cold, si sections only')} KiB; systeminformation ${kib('systeminformation cold')} KiB); check results ${kib('checks cold')} KiB`,
      `checks: ${detail('checks cold') ?? '-'}; slowest (cold / after inventory): ${slowest()}`,
      ...(detail('inventory cold') ? [`not ok: ${detail('inventory cold')}`] : []),
    ],
  ));
  const durs = (row: string, name: string) => num(median(agg(row).runs.map((x) => x.durationsMs?.[name] ?? NaN)), 1);
  const sections = Object.keys(agg('inventory cold').runs[0]?.durationsMs ?? {}).sort();
  process.stdout.write(table(
    'inventory — per-collector ms (two collectors at a time, so they overlap), median',
    ['collector', 'cold', 'warm', 'cold, si sections', 'warm, si sections'],
    sections.map((s) => [s, durs('inventory cold', s), durs('inventory warm', s), durs('inventory cold, si sections only', s), durs('inventory warm, si sections only', s)]),
  ));
  process.stdout.write(table(
    'systeminformation — per-call ms (two at a time), median',
    ['call', 'cold', 'warm'],
    SI_CALLS.map((c) => [`si.${c}()`, durs('systeminformation cold', c), durs('systeminformation warm', c)]),
  ));
}
