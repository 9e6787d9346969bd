/** Builds a CheckContext over a filesystem root and a runner (the host itself, or a fixture tree). */
import { lstat, readdir } from 'node:fs/promises';
import { readSmallFile } from '../fsread.js';
import { join, normalize } from 'node:path';
import type { Runner } from '../exec.js';
import type { CheckContext, OsFamily } from './types.js';

const MAX_READ = 4 * 1024 * 1024;

function under(root: string, path: string): string {
  // Fixture roots and the real root alike: a path can never climb out of the root.
  return join(root, normalize('/' + path));
}

/** Within one check run the same query is asked by several checks (systemctl, ss): run it once. */
function onceEach(run: Runner): Runner {
  const seen = new Map<string, ReturnType<Runner>>();
  return (cmd, args, opts) => {
    if (opts?.input !== undefined) return run(cmd, args, opts);
    const key = JSON.stringify([cmd, args, opts?.encoding ?? null]);
    let p = seen.get(key);
    if (!p) { p = run(cmd, args, opts); seen.set(key, p); }
    return p;
  };
}

export function makeCheckContext(o: { os: OsFamily; root?: string; procfs?: string; sysfs?: string; run: Runner; now?: Date }): CheckContext {
  const root = o.root ?? '/';
  return {
    os: o.os,
    root,
    procfs: o.procfs ?? '/proc',
    sysfs: o.sysfs ?? '/sys',
    run: onceEach(o.run),
    now: o.now ?? new Date(),
    async readFile(path) {
      const p = under(root, path);
      try {
        const st = await lstat(p);
        if (!st.isFile()) return null;
        return await readSmallFile(p, MAX_READ);
      } catch {
        return null;
      }
    },
    async listDir(path) {
      try {
        return (await readdir(under(root, path))).sort();
      } catch {
        return [];
      }
    },
  };
}
