/** Builds a CheckContext over a filesystem root and a runner (the host itself, or a fixture tree). */
import { lstat, open, readdir } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import type { Runner } from '../exec.js';
import type { CheckContext, OsFamily } from './types.js';

const MAX_READ = 4 * 1024 * 1024;
const CHUNK = 64 * 1024;

function under(root: string, path: string): string {
  // Fixture roots and the real root alike: a path can never climb out of the root.
  return join(root, normalize('/' + path));
}

export function makeCheckContext(o: { os: OsFamily; root?: string; procfs?: string; sysfs?: string; run: Runner; now?: Date }): CheckContext {
  const root = o.root ?? '/';
  return {
    os: o.os,
    root,
    procfs: o.procfs ?? '/proc',
    sysfs: o.sysfs ?? '/sys',
    run: o.run,
    now: o.now ?? new Date(),
    async readFile(path) {
      const p = under(root, path);
      try {
        const st = await lstat(p);
        if (!st.isFile()) return null;
        const fh = await open(p, 'r');
        try {
          // Chunked: /proc and /sys files report size 0, and some refuse large reads (ENOMEM).
          const chunks: Buffer[] = [];
          let total = 0;
          for (;;) {
            const buf = Buffer.alloc(CHUNK);
            const { bytesRead } = await fh.read(buf, 0, CHUNK, total);
            if (bytesRead === 0) break;
            chunks.push(buf.subarray(0, bytesRead));
            total += bytesRead;
            if (total >= MAX_READ) break;
          }
          return Buffer.concat(chunks, total).toString('utf8');
        } finally {
          await fh.close();
        }
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
