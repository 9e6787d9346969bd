/** I/O helpers shared by the Linux checks: every read goes through the CheckContext, never the host directly. */
import { relative, isAbsolute } from 'node:path';
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import { parsePam, parseUnitFiles, type PamLine } from './parse.js';

export const pass = (evidence: Record<string, unknown>): CheckOutcome => ({ status: 'pass', evidence });
export const fail = (reason: string, evidence: Record<string, unknown>): CheckOutcome => ({ status: 'fail', evidence, reason });
export const na = (reason: string, evidence: Record<string, unknown> = {}): CheckOutcome => ({ status: 'not_applicable', evidence, reason });
export const err = (reason: string, evidence: Record<string, unknown> = {}): CheckOutcome => ({ status: 'error', evidence, reason });

/** Fills in what every Linux check shares. */
export function linux(c: Omit<CheckDef, 'os' | 'profiles'> & { profiles?: string[] }): CheckDef {
  return { os: 'linux', profiles: ['mlps3'], ...c };
}

/** Evidence lists stay small: the first n items and how many there were. */
export function head<T>(xs: T[], n = 10): T[] | { first: T[]; total: number } {
  return xs.length <= n ? xs : { first: xs.slice(0, n), total: xs.length };
}

/**
 * A /proc path readable through ctx.readFile, which resolves under ctx.root: on a host root is '/'
 * and procfs '/proc'; in tests procfs sits inside the fixture root.
 */
export function procPath(ctx: CheckContext, p: string): string {
  const rel = relative(ctx.root, ctx.procfs);
  const base = rel && !rel.startsWith('..') && !isAbsolute(rel) ? '/' + rel.split('\\').join('/') : '/proc';
  return base + p;
}

export interface ConfFile { path: string; text: string }

/** Files in a directory whose names match a shell-style glob (`*.conf`), in sshd/systemd order (lexical). */
export async function globDir(ctx: CheckContext, dir: string, glob: string): Promise<string[]> {
  const re = new RegExp('^' + glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return (await ctx.listDir(dir)).filter((f) => re.test(f)).map((f) => `${dir}/${f}`);
}

/** A main file plus its drop-in directory (`*.conf`), in the order the owning tool reads them (main first). */
export async function readWithDropins(ctx: CheckContext, main: string, dropinDir: string, glob = '*.conf'): Promise<ConfFile[]> {
  const out: ConfFile[] = [];
  const m = await ctx.readFile(main);
  if (m !== null) out.push({ path: main, text: m });
  for (const p of await globDir(ctx, dropinDir, glob)) {
    const t = await ctx.readFile(p);
    if (t !== null) out.push({ path: p, text: t });
  }
  return out;
}

/** The first of several candidate files that exists. */
export async function readFirst(ctx: CheckContext, paths: string[]): Promise<ConfFile | null> {
  for (const p of paths) {
    const t = await ctx.readFile(p);
    if (t !== null) return { path: p, text: t };
  }
  return null;
}

export type EnabledUnits = { units: Record<string, string>; source: string } | { error: string };

/**
 * Enabled systemd units: `systemctl list-unit-files` when it runs, else the `*.wants/` symlinks under
 * /etc/systemd/system (which is what `systemctl enable` creates).
 */
export async function enabledUnits(ctx: CheckContext): Promise<EnabledUnits> {
  const r = await ctx.run('systemctl', ['list-unit-files', '--type=service,socket', '--state=enabled', '--no-legend', '--no-pager']);
  if (!r.error && r.code === 0) return { units: parseUnitFiles(r.stdout), source: 'systemctl list-unit-files' };
  const base = '/etc/systemd/system';
  const dirs = (await ctx.listDir(base)).filter((d) => d.endsWith('.wants'));
  if (dirs.length === 0) return { error: `systemctl failed (${r.error ?? `exit ${r.code}`}) and ${base} has no *.wants directories` };
  const units: Record<string, string> = {};
  for (const d of dirs) for (const u of await ctx.listDir(`${base}/${d}`)) units[u] = 'enabled';
  return { units, source: `${base}/*.wants` };
}

/** Whether any enabled unit matches one of the names (`clamd@` matches `clamd@scan.service`). */
export function findUnits(units: Record<string, string>, names: string[]): string[] {
  return Object.keys(units).filter((u) => names.some((n) => u === n || u === `${n}.service` || u === `${n}.socket` || (n.endsWith('@') && u.startsWith(n))));
}

export interface PamStack { files: string[]; lines: (PamLine & { file: string })[] }

/** The password and auth stacks of both families: Debian `common-*`, RHEL `system-auth` / `password-auth`. */
export async function pamStack(ctx: CheckContext): Promise<PamStack> {
  const files: string[] = [];
  const lines: PamStack['lines'] = [];
  for (const f of ['common-password', 'common-auth', 'system-auth', 'password-auth']) {
    const p = `/etc/pam.d/${f}`;
    const t = await ctx.readFile(p);
    if (t === null) continue;
    files.push(p);
    for (const l of parsePam(t)) lines.push({ ...l, file: p });
  }
  return { files, lines };
}

export function pamModule(stack: PamStack, type: string, module: string): (PamLine & { file: string })[] {
  return stack.lines.filter((l) => l.type === type && l.module === `${module}.so`);
}

/** A graphical session is installed (a display manager would offer it). */
export async function hasDesktop(ctx: CheckContext): Promise<string[]> {
  const a = await ctx.listDir('/usr/share/xsessions');
  const b = await ctx.listDir('/usr/share/wayland-sessions');
  return [...a, ...b].filter((f) => f.endsWith('.desktop'));
}

/** All dconf system-database keyfiles (`/etc/dconf/db/<db>.d/*`, not the `locks` folder), merged in read order. */
export async function dconfFiles(ctx: CheckContext): Promise<ConfFile[]> {
  const out: ConfFile[] = [];
  for (const db of (await ctx.listDir('/etc/dconf/db')).filter((d) => d.endsWith('.d'))) {
    for (const f of await ctx.listDir(`/etc/dconf/db/${db}`)) {
      if (f === 'locks') continue;
      const p = `/etc/dconf/db/${db}/${f}`;
      const t = await ctx.readFile(p);
      if (t !== null) out.push({ path: p, text: t });
    }
  }
  return out;
}

export function num(v: string | undefined | true): number | null {
  if (v === undefined || v === true) return null;
  const n = Number(v.trim());
  return Number.isFinite(n) ? n : null;
}
