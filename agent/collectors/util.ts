/**
 * I/O helpers shared by collector variants: capped reads under the context's roots, commands through
 * the injected runner (a failed run throws an Error whose message is the reason shown to staff), and
 * the small decoders PowerShell's ConvertTo-Json and friends need.
 */
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { readSmallFile } from '../fsread.js';
import { join, normalize } from 'node:path';
import type { RunOptions } from '../exec.js';
import type { CollectorContext } from './types.js';

const MAX_READ = 8 * 1024 * 1024;

/** Join a host path under a root (the real `/` or a fixture tree); `..` can never climb out. */
export function under(root: string, path: string): string {
  return join(root, normalize('/' + path));
}

/** Read at most `max` bytes of a regular file (procfs files report size 0, so read until EOF up to the cap); null when absent or unreadable. */
export async function readText(path: string, max = MAX_READ): Promise<string | null> {
  try {
    const st = await lstat(path);
    if (!st.isFile()) return null;
    return await readSmallFile(path, max);
  } catch {
    return null;
  }
}

/** Like readText but says why it failed, for files a collector cannot do without. */
export async function readRequired(path: string, max = MAX_READ): Promise<string> {
  try {
    await lstat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${path} not found` : code === 'EACCES' ? `${path}: permission denied` : `${path}: ${(e as Error).message}`);
  }
  const text = await readText(path, max);
  if (text === null) throw new Error(`${path}: cannot read`);
  return text;
}

export async function trimmed(path: string): Promise<string | null> {
  const t = await readText(path, 64 * 1024);
  const v = t?.trim();
  return v ? v : null;
}

export async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

export async function linkTarget(path: string): Promise<string | null> {
  try {
    return await readlink(path);
  } catch {
    return null;
  }
}

export async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function mtime(path: string): Promise<Date | null> {
  try {
    return (await stat(path)).mtime;
  } catch {
    return null;
  }
}

/** Run a command; throw with a one-line reason when it cannot run or exits non-zero (unless `okCodes` allows it). */
export async function runText(ctx: CollectorContext, cmd: string, args: string[], opts: RunOptions & { okCodes?: number[] } = {}): Promise<string> {
  const r = await ctx.run(cmd, args, opts);
  if (r.error) throw new Error(r.error);
  const ok = opts.okCodes ?? [0];
  if (r.code === null || !ok.includes(r.code)) {
    const line = firstLine(r.stderr) || firstLine(r.stdout);
    throw new Error(`${cmd} exited with ${r.code}${line ? `: ${line}` : ''}`);
  }
  return r.stdout;
}

export function firstLine(s: string): string {
  return s.split(/\r?\n/).map((l) => l.trim()).find((l) => l) ?? '';
}

/** PowerShell without profile or prompts; scripts end in ConvertTo-Json. */
export async function powershell(ctx: CollectorContext, script: string, timeoutMs = 60_000): Promise<unknown> {
  const out = await runText(ctx, 'powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', script], { timeoutMs });
  return parseJson(out, 'powershell.exe');
}

export function parseJson(text: string, what: string): unknown {
  const t = text.replace(/^\uFEFF/, '').trim();
  if (!t) return null;
  try {
    return JSON.parse(t) as unknown;
  } catch (e) {
    throw new Error(`${what} printed invalid JSON: ${(e as Error).message}`);
  }
}

export type Json = Record<string, unknown>;

/** ConvertTo-Json prints one object for one item and an array for many; null for none. */
export function asArray(v: unknown): Json[] {
  if (v === null || v === undefined || v === '') return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is Json => typeof x === 'object' && x !== null);
}

export function str(v: unknown): string | null {
  if (typeof v === 'string') {
    const t = v.trim();
    return t ? t : null;
  }
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return null;
}

export function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() && Number.isFinite(Number(v))) return Number(v);
  return null;
}

export function int(v: unknown): number | null {
  const n = num(v);
  return n === null ? null : Math.trunc(n);
}

/**
 * A date as PowerShell prints it: Windows PowerShell 5.1 writes "\/Date(1700000000000)\/" (or an object
 * with `value` and `DateTime` for ETS-decorated dates), PowerShell 7 writes ISO 8601.
 */
export function psDate(v: unknown): string | null {
  if (v && typeof v === 'object' && 'value' in v) return psDate((v as { value: unknown }).value);
  if (typeof v !== 'string' || !v.trim()) return null;
  const m = /\/Date\((-?\d+)(?:[+-]\d{4})?\)\//.exec(v);
  if (m) return isoOrNull(new Date(Number(m[1])));
  return isoOrNull(new Date(v));
}

export function isoOrNull(d: Date): string | null {
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export function normMac(v: string | null | undefined): string | null {
  if (!v) return null;
  const t = v.trim().toLowerCase().replace(/-/g, ':');
  if (!/^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5,}$/.test(t)) return null;
  return t.split(':').map((p) => p.padStart(2, '0')).join(':');
}

export const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
