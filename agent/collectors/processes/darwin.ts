import type { ProcessData, ProcessesData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { runText } from '../util.js';
import type { ExecutableHashCache } from './hash.js';
import { parsePsLstart } from './parse.js';

/** Add hashes of each distinct executable path. */
export async function withHashes(ctx: CollectorContext, cache: ExecutableHashCache, rows: Omit<ProcessData, 'sha256'>[]): Promise<ProcessesData> {
  const before = { ...cache.stats };
  const byPath = new Map<string, string | null>();
  const processes: ProcessData[] = [];
  for (const r of rows) {
    if (r.path && !byPath.has(r.path)) byPath.set(r.path, (await cache.hash(ctx.root, r.path)).sha256);
    processes.push({ ...r, sha256: r.path ? byPath.get(r.path) ?? null : null });
  }
  return { processes, hashed: cache.stats.computed - before.computed, hashCacheHits: cache.stats.hits - before.hits };
}

export function makeDarwinProcesses(cache: ExecutableHashCache) {
  return async (ctx: CollectorContext): Promise<ProcessesData> => {
    const out = await runText(ctx, 'ps', ['-axo', 'pid=,ppid=,user=,lstart=,comm='], { maxBytes: 16 * 1024 * 1024 });
    return withHashes(ctx, cache, parsePsLstart(out, -ctx.now.getTimezoneOffset()));
  };
}
