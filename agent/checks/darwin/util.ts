/**
 * Shared I/O for the darwin checks: every read goes through ctx.readFile / ctx.listDir / ctx.run,
 * and every tool failure becomes a typed `error` outcome instead of a throw. Parsing lives in
 * parse.ts / plist.ts. Tools are called by absolute path: the agent runs as root under launchd.
 */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import type { RunResult } from '../../exec.js';
import { isDict, parseOpenStep, parseXmlPlist, type PlistDict, type PlistValue } from './plist.js';
import { parseLaunchctlList, parseLaunchdOverrides, parseSshdConfig, parseAccountPolicies, summarisePasswordPolicy, type Override, type PasswordPolicySummary, type AccountPolicy } from './parse.js';

export const T = {
  pwpolicy: '/usr/bin/pwpolicy',
  defaults: '/usr/bin/defaults',
  plutil: '/usr/bin/plutil',
  launchctl: '/bin/launchctl',
  dscl: '/usr/bin/dscl',
  sysadminctl: '/usr/sbin/sysadminctl',
  systemsetup: '/usr/sbin/systemsetup',
  socketfilterfw: '/usr/libexec/ApplicationFirewall/socketfilterfw',
  spctl: '/usr/sbin/spctl',
  csrutil: '/usr/bin/csrutil',
  fdesetup: '/usr/bin/fdesetup',
  systemProfiler: '/usr/sbin/system_profiler',
  sysctl: '/usr/sbin/sysctl',
  cupsctl: '/usr/sbin/cupsctl',
} as const;

export const pass = (evidence: Record<string, unknown>): CheckOutcome => ({ status: 'pass', evidence });
export const fail = (evidence: Record<string, unknown>, reason: string): CheckOutcome => ({ status: 'fail', evidence, reason });
export const na = (evidence: Record<string, unknown>, reason: string): CheckOutcome => ({ status: 'not_applicable', evidence, reason });
export const error = (evidence: Record<string, unknown>, reason: string): CheckOutcome => ({ status: 'error', evidence, reason });

/** Common fields of every darwin check. */
export function check(c: Omit<CheckDef, 'os' | 'profiles' | 'articles'> & { articles?: string[] }): CheckDef {
  return { os: 'darwin', profiles: ['mlps3'], ...c, articles: c.articles ?? ['art9', 'art31'] };
}

export type Ran = { ok: true; r: RunResult; cmd: string } | { ok: false; outcome: CheckOutcome };

/** Run a tool; a tool that could not run (missing, timeout, denied) is an `error` outcome. Exit codes are the caller's. */
export async function tool(ctx: CheckContext, cmd: string, args: string[]): Promise<Ran> {
  const line = [cmd, ...args].join(' ');
  const r = await ctx.run(cmd, args);
  if (r.error) return { ok: false, outcome: error({ command: line }, r.error) };
  return { ok: true, r, cmd: line };
}

/** Run a tool that must exit 0. */
export async function toolOk(ctx: CheckContext, cmd: string, args: string[]): Promise<Ran> {
  const t = await tool(ctx, cmd, args);
  if (t.ok && t.r.code !== 0) {
    const msg = (t.r.stderr || t.r.stdout).trim().split('\n').pop() ?? '';
    return { ok: false, outcome: error({ command: t.cmd, code: t.r.code }, `${cmd} exited ${t.r.code}${msg ? `: ${msg.slice(0, 200)}` : ''}`) };
  }
  return t;
}

export type PlistRead = { kind: 'value'; value: PlistValue; via: string } | { kind: 'missing' } | { kind: 'error'; reason: string };

/**
 * A plist file: XML is parsed as read; binary (most of /Library/Preferences) is converted by
 * `plutil -convert xml1 -o - <path>`, which reads the file and prints XML — nothing is written.
 */
export async function readPlistFile(ctx: CheckContext, path: string): Promise<PlistRead> {
  const text = await ctx.readFile(path);
  if (text === null) return { kind: 'missing' };
  if (!text.startsWith('bplist')) {
    const v = parseXmlPlist(text);
    return v === null ? { kind: 'error', reason: `${path}: not a parseable plist` } : { kind: 'value', value: v, via: path };
  }
  const r = await ctx.run(T.plutil, ['-convert', 'xml1', '-o', '-', path]);
  if (r.error || r.code !== 0) return { kind: 'error', reason: `plutil could not convert ${path}: ${r.error ?? r.stderr.trim()}` };
  const v = parseXmlPlist(r.stdout);
  return v === null ? { kind: 'error', reason: `${path}: plutil output unparseable` } : { kind: 'value', value: v, via: `plutil ${path}` };
}

/**
 * `defaults read <path>` of a whole domain. A missing domain ("Domain … does not exist", exit 1) is
 * `missing`, not an error: it means nothing was ever set, and the macOS default applies.
 */
export async function readDefaults(ctx: CheckContext, domainPath: string): Promise<PlistRead> {
  const r = await ctx.run(T.defaults, ['read', domainPath]);
  if (r.error) return { kind: 'error', reason: r.error };
  if (r.code !== 0) {
    if (/does not exist/i.test(r.stderr + r.stdout)) return { kind: 'missing' };
    return { kind: 'error', reason: `defaults read ${domainPath} exited ${r.code}: ${r.stderr.trim().slice(0, 200)}` };
  }
  const v = parseOpenStep(r.stdout);
  return v === null ? { kind: 'error', reason: `defaults read ${domainPath}: output unparseable` } : { kind: 'value', value: v, via: `defaults read ${domainPath}` };
}

export interface PrefLookup { values: Record<string, PlistValue | undefined>; source?: string; sources: string[]; error?: string }

/**
 * Preference keys of a domain as the system applies them: an MDM profile
 * (/Library/Managed Preferences/<domain>.plist) wins over the local /Library/Preferences domain,
 * key by key. `source` is where the first found key came from.
 */
export async function prefs(ctx: CheckContext, domain: string, keys: string[], opts: { managed?: boolean; local?: boolean } = {}): Promise<PrefLookup> {
  const out: PrefLookup = { values: {}, sources: [] };
  const layers: Array<[string, () => Promise<PlistRead>]> = [];
  if (opts.managed !== false) layers.push([`/Library/Managed Preferences/${domain}.plist`, () => readPlistFile(ctx, `/Library/Managed Preferences/${domain}.plist`)]);
  if (opts.local !== false) layers.push([`/Library/Preferences/${domain}`, () => readDefaults(ctx, `/Library/Preferences/${domain}`)]);
  for (const [name, read] of layers) {
    const r = await read();
    if (r.kind === 'error') { out.error ??= r.reason; continue; }
    if (r.kind === 'missing' || !isDict(r.value)) continue;
    out.sources.push(name);
    for (const k of keys) {
      if (out.values[k] === undefined && r.value[k] !== undefined) {
        out.values[k] = r.value[k];
        out.source ??= name;
      }
    }
  }
  return out;
}

/** Compact a plist value for evidence. */
export function show(v: PlistValue | undefined): unknown {
  if (v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (Array.isArray(v)) return v.map(show);
  if (isDict(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, show(x)]));
  return v;
}

// ---------------------------------------------------------------- launchd services

export interface ServiceStates { overrides: Map<string, Override>; loaded: Set<string> }
export type Services = { ok: true; s: ServiceStates } | { ok: false; outcome: CheckOutcome };

/** launchd overrides (`launchctl print-disabled system`) and loaded jobs (`launchctl list`, system domain as root). */
export async function services(ctx: CheckContext): Promise<Services> {
  const d = await toolOk(ctx, T.launchctl, ['print-disabled', 'system']);
  if (!d.ok) return d;
  const l = await toolOk(ctx, T.launchctl, ['list']);
  if (!l.ok) return l;
  return { ok: true, s: { overrides: parseLaunchdOverrides(d.r.stdout), loaded: new Set(parseLaunchctlList(l.r.stdout).map((j) => j.label)) } };
}

/** A service is on when its override says enabled or launchd has it loaded (either alone can lie). */
export function serviceOn(s: ServiceStates, label: string): { label: string; override: Override | 'default'; loaded: boolean; on: boolean } {
  const override = s.overrides.get(label) ?? 'default';
  const loaded = s.loaded.has(label);
  return { label, override, loaded, on: override === 'enabled' || loaded };
}

// ---------------------------------------------------------------- sshd

export type SshdConfig = { ok: true; settings: Map<string, string>; files: string[] } | { ok: false; outcome: CheckOutcome };

function globToRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
}

/**
 * The effective top-level sshd settings: the first value of each keyword wins, `Include` files are
 * read in place (globs sorted, relative to /etc/ssh), `Match` blocks are ignored.
 */
export async function sshdConfig(ctx: CheckContext): Promise<SshdConfig> {
  const settings = new Map<string, string>();
  const files: string[] = [];
  const visit = async (path: string, depth: number): Promise<boolean> => {
    if (depth > 8) return true;
    const text = await ctx.readFile(path);
    if (text === null) return false;
    files.push(path);
    for (const [k, v] of parseSshdConfig(text)) {
      if (k === 'include') {
        for (const pat of v.split(/\s+/)) {
          const abs = pat.startsWith('/') ? pat : `/etc/ssh/${pat}`;
          if (/[*?]/.test(abs)) {
            const dir = abs.slice(0, abs.lastIndexOf('/'));
            const re = globToRegExp(abs.slice(abs.lastIndexOf('/') + 1));
            for (const f of (await ctx.listDir(dir)).filter((n) => re.test(n))) await visit(`${dir}/${f}`, depth + 1);
          } else await visit(abs, depth + 1);
        }
      } else if (!settings.has(k)) settings.set(k, v);
    }
    return true;
  };
  if (!(await visit('/etc/ssh/sshd_config', 0))) return { ok: false, outcome: error({ file: '/etc/ssh/sshd_config' }, '/etc/ssh/sshd_config is missing or unreadable') };
  return { ok: true, settings, files };
}

/** Remote Login state from launchd — `systemsetup -getremotelogin` reports Off without Full Disk Access. */
export async function remoteLogin(ctx: CheckContext): Promise<{ ok: true; on: boolean; evidence: Record<string, unknown> } | { ok: false; outcome: CheckOutcome }> {
  const s = await services(ctx);
  if (!s.ok) return s;
  const st = serviceOn(s.s, 'com.openssh.sshd');
  return { ok: true, on: st.on, evidence: { sshd_override: st.override, sshd_loaded: st.loaded } };
}

/** Wrap an sshd check: not_applicable while Remote Login is off. */
export function sshdCheck(evaluate: (settings: Map<string, string>, files: string[]) => CheckOutcome): (ctx: CheckContext) => Promise<CheckOutcome> {
  return async (ctx) => {
    const rl = await remoteLogin(ctx);
    if (!rl.ok) return rl.outcome;
    if (!rl.on) return na({ source: 'launchctl print-disabled system; launchctl list', ...rl.evidence }, 'Remote Login (sshd) is off');
    const c = await sshdConfig(ctx);
    if (!c.ok) return c.outcome;
    const o = evaluate(c.settings, c.files);
    return { ...o, evidence: { files: c.files, ...o.evidence } };
  };
}

// ---------------------------------------------------------------- pwpolicy

export type Pw = { ok: true; policy: PasswordPolicySummary; policies: AccountPolicy[] } | { ok: false; outcome: CheckOutcome };

/** Global account policies; MDM passcode payloads show up here too. */
export async function passwordPolicy(ctx: CheckContext): Promise<Pw> {
  const t = await tool(ctx, T.pwpolicy, ['-getaccountpolicies']);
  if (!t.ok) return t;
  const out = t.r.stdout;
  // With no policies at all pwpolicy prints only the header (or "No global policies"), exit 0 or 1.
  if (!/<plist/.test(out)) {
    if (t.r.code === 0 || /no (global )?(account )?polic/i.test(out + t.r.stderr)) return { ok: true, policy: summarisePasswordPolicy([]), policies: [] };
    return { ok: false, outcome: error({ command: t.cmd, code: t.r.code }, `pwpolicy exited ${t.r.code}: ${t.r.stderr.trim().slice(0, 200)}`) };
  }
  const policies = parseAccountPolicies(out);
  if (!policies) return { ok: false, outcome: error({ command: t.cmd }, 'pwpolicy output is not a parseable plist') };
  return { ok: true, policy: summarisePasswordPolicy(policies), policies };
}

/**
 * Checks that read a config file whose absence is itself a finding (audit_control, nsmb.conf,
 * managed profiles) first make sure they are looking at a macOS root: SystemVersion.plist is on
 * every Mac and readable by all, so its absence means the wrong root, not a missing setting.
 */
export async function requireMacos(ctx: CheckContext): Promise<CheckOutcome | null> {
  const p = '/System/Library/CoreServices/SystemVersion.plist';
  return (await ctx.readFile(p)) === null ? na({ file: p }, 'not a macOS system root (SystemVersion.plist missing)') : null;
}

export const DAY_MS = 86_400_000;
export const ageDays = (now: Date, then: Date): number => Math.floor((now.getTime() - then.getTime()) / DAY_MS);
export type { PlistDict };
