/**
 * One inventory run: every collector, a few at a time, each bounded by its own timeout so a hanging
 * or failing one becomes an `error` section and never holds up the others.
 */
import { inventorySectionNames, type InventoryRun, type InventorySection, type InventorySnapshot } from '../../shared/inventory.js';
import { antimalwareCollector } from './antimalware/index.js';
import { hardwareCollector } from './hardware/index.js';
import { listeningCollector } from './listening/index.js';
import { networkCollector } from './network/index.js';
import { osCollector } from './os/index.js';
import { patchesCollector } from './patches/index.js';
import { processesCollector } from './processes/index.js';
import { servicesCollector } from './services/index.js';
import { softwareCollector } from './software/index.js';
import type { Collected, Collector, CollectorContext } from './types.js';
import { usersCollector } from './users/index.js';

export type InventoryCollectors = { [K in InventorySection]: Collector<Extract<InventorySnapshot[K], { status: 'ok' }>['data']> };

export const defaultCollectors: InventoryCollectors = {
  os: osCollector,
  hardware: hardwareCollector,
  network: networkCollector,
  users: usersCollector,
  software: softwareCollector,
  patches: patchesCollector,
  services: servicesCollector,
  listening: listeningCollector,
  processes: processesCollector,
  antimalware: antimalwareCollector,
};

export interface InventoryOptions {
  /** Replace some collectors (tests; an agent with its own caches). */
  collectors?: Partial<InventoryCollectors>;
  /** Only these sections; the others are `unsupported` with reason "not requested". */
  only?: InventorySection[];
  /** Collectors running at once; the agent shares two cores with the terminal's own work. */
  concurrency?: number;
  /** Upper bound per collector, on top of the collector's own timeout. */
  timeoutMs?: number;
}

async function bounded<T>(c: Collector<T>, ctx: CollectorContext, timeoutMs: number): Promise<Collected<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      c.collect(ctx).catch((e: unknown): Collected<T> => ({ status: 'error', reason: `${c.name}: ${(e as Error).message}` })),
      new Promise<Collected<T>>((resolve) => { timer = setTimeout(() => resolve({ status: 'error', reason: `${c.name} timed out after ${timeoutMs} ms` }), timeoutMs); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function collectInventory(ctx: CollectorContext, opts: InventoryOptions = {}): Promise<InventoryRun> {
  const collectors = { ...defaultCollectors, ...opts.collectors } as InventoryCollectors;
  const names = opts.only ?? inventorySectionNames;
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const sections: Partial<Record<InventorySection, Collected<unknown>>> = {};
  const durationsMs: Record<string, number> = {};
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      const t0 = performance.now();
      sections[name] = await bounded(collectors[name] as Collector<unknown>, ctx, timeoutMs);
      durationsMs[name] = Math.round((performance.now() - t0) * 10) / 10;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  const snapshot = { collectedAt: ctx.now.toISOString() } as Record<string, unknown>;
  for (const n of inventorySectionNames) snapshot[n] = sections[n] ?? { status: 'unsupported', reason: `${n} not requested` };
  return { snapshot: snapshot as InventorySnapshot, durationsMs };
}
