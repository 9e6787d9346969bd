import { join } from 'node:path';
import type { ProcessData, ProcessesData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { isoOrNull, linkTarget, listDir, readText, under } from '../util.js';
import type { ExecutableHashCache } from './hash.js';
import { CLK_TCK, parseCmdline, parseProcStat, parseStatusUid, passwdNames } from './parse.js';
import { parseBtime } from '../os/parse.js';

export function makeLinuxProcesses(cache: ExecutableHashCache) {
  return async (ctx: CollectorContext): Promise<ProcessesData> => {
    const btime = parseBtime((await readText(join(ctx.procfs, 'stat'))) ?? '');
    const bootMs = btime ? Date.parse(btime) : null;
    const users = passwdNames((await readText(under(ctx.root, '/etc/passwd'))) ?? '');
    const before = { ...cache.stats };
    const processes: ProcessData[] = [];
    for (const entry of await listDir(ctx.procfs)) {
      if (!/^\d+$/.test(entry)) continue;
      const dir = join(ctx.procfs, entry);
      const stat = parseProcStat((await readText(join(dir, 'stat'))) ?? '');
      if (!stat) continue; // exited while we looked
      const uid = parseStatusUid((await readText(join(dir, 'status'))) ?? '');
      const exe = await linkTarget(join(dir, 'exe')); // EACCES without root, absent for kernel threads
      const cmdline = parseCmdline((await readText(join(dir, 'cmdline'), 64 * 1024)) ?? '');
      const hashed = exe ? await cache.hash(ctx.root, exe) : { sha256: null };
      processes.push({
        pid: stat.pid,
        ppid: stat.ppid,
        name: stat.comm,
        path: exe,
        cmdline,
        user: uid === null ? null : users.get(uid) ?? String(uid),
        startTime: bootMs !== null && Number.isFinite(stat.startTicks) ? isoOrNull(new Date(bootMs + (stat.startTicks / CLK_TCK) * 1000)) : null,
        sha256: hashed.sha256,
      });
    }
    if (processes.length === 0) throw new Error(`${ctx.procfs}: no processes readable`);
    return { processes: processes.sort((a, b) => a.pid - b.pid), hashed: cache.stats.computed - before.computed, hashCacheHits: cache.stats.hits - before.hits };
  };
}
