/**
 * A CheckContext over a fixture folder, the way collectors and checks meet real hosts in tests:
 *   <dir>/fs/…            files as they are on the host (e.g. fs/etc/login.defs)
 *   <dir>/commands.json   { "<cmd> <arg> <arg>": { "file": "out.txt" | "stdout": "…", "code": 0, "stderr"?: "…" } }
 * with the recorded outputs beside it. A command not listed answers like a missing tool.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeCheckContext } from '../../agent/checks/context.js';
import type { CheckContext, OsFamily } from '../../agent/checks/types.js';
import type { Runner } from '../../agent/exec.js';

interface Recorded { file?: string; stdout?: string; stderr?: string; code?: number | null; error?: string }

/** A runner answering from a table: exact command line → recorded output; anything else is a missing tool. */
export function tableRunner(table: Record<string, Recorded>, read: (r: Recorded) => string = (r) => r.stdout ?? ''): Runner & { calls: string[] } {
  const calls: string[] = [];
  const run: Runner = async (cmd, args) => {
    const key = [cmd, ...args].join(' ');
    calls.push(key);
    const r = table[key];
    if (!r) return { stdout: '', stderr: '', code: null, error: `${cmd} not found` };
    return { stdout: read(r), stderr: r.stderr ?? '', code: r.code === undefined ? 0 : r.code, ...(r.error ? { error: r.error } : {}) };
  };
  return Object.assign(run, { calls });
}

export function fixtureRunner(dir: string): Runner & { calls: string[] } {
  const table: Record<string, Recorded> = existsSync(join(dir, 'commands.json'))
    ? JSON.parse(readFileSync(join(dir, 'commands.json'), 'utf8')) as Record<string, Recorded> : {};
  return tableRunner(table, (r) => (r.file ? readFileSync(join(dir, r.file), 'utf8') : r.stdout ?? ''));
}

export function fixtureContext(dir: string, os: OsFamily, now = new Date('2026-11-25T00:00:00Z')): CheckContext {
  return makeCheckContext({ os, root: join(dir, 'fs'), procfs: join(dir, 'fs', 'proc'), sysfs: join(dir, 'fs', 'sys'), run: fixtureRunner(dir), now });
}
