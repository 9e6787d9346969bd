/** Identification and authentication (MLPS 8.1.4.1) and default accounts (8.1.4.2): login.defs, PAM, passwd/shadow. */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import { hashScheme, parseEqKv, parsePasswd, parseShadow, parseSpaceKv } from './parse.js';
import { err, fail, head, linux, num, pamModule, pamStack, pass, readWithDropins, type PamStack } from './util.js';

const ART = ['art9', 'art31'];
const MLPS_A = '8.1.4.1 a) 身份鉴别';
const MLPS_B = '8.1.4.1 b) 身份鉴别: 登录失败处理';

async function loginDefs(ctx: CheckContext): Promise<Record<string, string> | null> {
  const t = await ctx.readFile('/etc/login.defs');
  return t === null ? null : parseSpaceKv(t);
}

function loginDefsCheck(o: { id: string; key: string; ok: (v: number) => boolean; want: string; title: CheckDef['title']; remediation: CheckDef['remediation']; topic: string }): CheckDef {
  return linux({
    id: o.id, title: o.title, articles: ART, mlps: `${MLPS_A}: ${o.topic}`, remediation: o.remediation,
    async run(ctx) {
      const defs = await loginDefs(ctx);
      if (!defs) return err('/etc/login.defs not readable');
      const raw = defs[o.key];
      const v = num(raw);
      const evidence = { file: '/etc/login.defs', [o.key]: raw ?? null };
      if (v === null) return fail(`${o.key} not set in /etc/login.defs (want ${o.want})`, evidence);
      return o.ok(v) ? pass(evidence) : fail(`${o.key} is ${v} (want ${o.want})`, evidence);
    },
  });
}

/** Effective pam_pwquality / pam_cracklib settings: config files first, module arguments override (as the modules do). */
async function pwquality(ctx: CheckContext, stack: PamStack): Promise<{ module: string | null; settings: Record<string, string>; sources: string[] }> {
  const q = pamModule(stack, 'password', 'pam_pwquality');
  const c = pamModule(stack, 'password', 'pam_cracklib');
  const line = q[0] ?? c[0];
  if (!line) return { module: null, settings: {}, sources: [] };
  const settings: Record<string, string> = {};
  const sources: string[] = [];
  if (q[0]) {
    for (const f of await readWithDropins(ctx, '/etc/security/pwquality.conf', '/etc/security/pwquality.conf.d')) {
      Object.assign(settings, parseEqKv(f.text));
      sources.push(f.path);
    }
  }
  for (const [k, v] of Object.entries(line.args)) if (v !== true) settings[k.toLowerCase()] = v;
  sources.push(line.file);
  return { module: line.module, settings, sources };
}

function noPam(stack: PamStack): CheckOutcome | null {
  return stack.files.length === 0 ? err('no PAM stack found (/etc/pam.d/common-password, system-auth, password-auth)') : null;
}

const minlen = linux({
  id: 'linux.pam.minlen',
  title: { en: 'Minimum password length is at least 8', zh: '口令最小长度不少于 8 位' },
  articles: ART, mlps: `${MLPS_A}: password length`,
  remediation: {
    en: 'Install libpam-pwquality (Debian) or use pam_pwquality (RHEL) and set `minlen = 8` (or more) in /etc/security/pwquality.conf.',
    zh: '安装 libpam-pwquality（Debian）或启用 pam_pwquality（RHEL），在 /etc/security/pwquality.conf 中设置 `minlen = 8`（或更大）。',
  },
  async run(ctx) {
    const stack = await pamStack(ctx);
    const none = noPam(stack);
    if (none) return none;
    const q = await pwquality(ctx, stack);
    let value: number;
    let source: string[];
    if (q.module) {
      // libpwquality defaults to 8 (RHEL 7+: 9 for pam_cracklib).
      value = num(q.settings.minlen) ?? (q.module === 'pam_cracklib.so' ? 9 : 8);
      source = q.sources;
    } else {
      const unix = pamModule(stack, 'password', 'pam_unix')[0];
      value = num(unix?.args.minlen) ?? 6; // pam_unix's own default
      source = unix ? [unix.file] : stack.files;
    }
    const evidence = { module: q.module ?? 'pam_unix.so', minlen: value, sources: source };
    return value >= 8 ? pass(evidence) : fail(`effective minimum password length is ${value} (want ≥ 8)`, evidence);
  },
});

const complexity = linux({
  id: 'linux.pam.complexity',
  title: { en: 'Password complexity requires at least 3 character classes', zh: '口令复杂度要求至少包含 3 类字符' },
  articles: ART, mlps: `${MLPS_A}: password complexity`,
  remediation: {
    en: 'Enable pam_pwquality in the password stack and set `minclass = 3` in /etc/security/pwquality.conf.',
    zh: '在 password 栈中启用 pam_pwquality，并在 /etc/security/pwquality.conf 中设置 `minclass = 3`。',
  },
  async run(ctx) {
    const stack = await pamStack(ctx);
    const none = noPam(stack);
    if (none) return none;
    const q = await pwquality(ctx, stack);
    if (!q.module) return fail('no pam_pwquality or pam_cracklib in the password stack: no complexity rule is enforced', { pamFiles: stack.files });
    const minclass = num(q.settings.minclass) ?? 0;
    const required = ['dcredit', 'ucredit', 'lcredit', 'ocredit'].filter((k) => (num(q.settings[k]) ?? 0) < 0);
    const evidence = { module: q.module, minclass, requiredClasses: required, sources: q.sources };
    return minclass >= 3 || required.length >= 3 ? pass(evidence) : fail(`minclass=${minclass} and ${required.length} required classes (want 3)`, evidence);
  },
});

const history = linux({
  id: 'linux.pam.history',
  title: { en: 'Password reuse is restricted (last 5 remembered)', zh: '限制重复使用最近 5 次内的口令' },
  articles: ART, mlps: `${MLPS_A}: password history`,
  remediation: {
    en: 'Add `password required pam_pwhistory.so remember=5 use_authtok` before pam_unix in the password stack (or `remember=5` in /etc/security/pwhistory.conf).',
    zh: '在 password 栈的 pam_unix 之前加入 `password required pam_pwhistory.so remember=5 use_authtok`（或在 /etc/security/pwhistory.conf 中设置 `remember = 5`）。',
  },
  async run(ctx) {
    const stack = await pamStack(ctx);
    const none = noPam(stack);
    if (none) return none;
    const h = pamModule(stack, 'password', 'pam_pwhistory')[0];
    const u = pamModule(stack, 'password', 'pam_unix').find((l) => l.args.remember !== undefined);
    let remember = 0;
    const evidence: Record<string, unknown> = {};
    if (h) {
      const conf = await ctx.readFile('/etc/security/pwhistory.conf');
      const fromConf = conf ? num(parseEqKv(conf).remember) : null;
      // pam_pwhistory remembers 10 passwords unless told otherwise; arguments beat the config file.
      remember = num(h.args.remember) ?? fromConf ?? 10;
      Object.assign(evidence, { module: 'pam_pwhistory.so', file: h.file, remember });
    }
    if (u) {
      const r = num(u.args.remember) ?? 0;
      if (r > remember) { remember = r; Object.assign(evidence, { module: 'pam_unix.so', file: u.file, remember }); }
    }
    if (!h && !u) return fail('neither pam_pwhistory nor pam_unix remember= is configured', { pamFiles: stack.files });
    return remember >= 5 ? pass(evidence) : fail(`only ${remember} previous passwords remembered (want ≥ 5)`, evidence);
  },
});

interface Lockout { module: string; deny: number; unlockTime: number; file: string; sources: string[] }

async function lockout(ctx: CheckContext, stack: PamStack): Promise<Lockout | null> {
  const fl = pamModule(stack, 'auth', 'pam_faillock');
  if (fl.length) {
    const sources = fl.map((l) => l.file);
    const conf = await ctx.readFile('/etc/security/faillock.conf');
    const c = conf ? parseEqKv(conf) : {};
    if (conf) sources.push('/etc/security/faillock.conf');
    const arg = (k: string) => fl.map((l) => num(l.args[k])).find((v) => v !== null) ?? null;
    // pam_faillock defaults: deny=3, unlock_time=600.
    return { module: 'pam_faillock.so', deny: arg('deny') ?? num(c.deny) ?? 3, unlockTime: arg('unlock_time') ?? num(c.unlock_time) ?? 600, file: fl[0]!.file, sources: [...new Set(sources)] };
  }
  const t = pamModule(stack, 'auth', 'pam_tally2')[0] ?? pamModule(stack, 'auth', 'pam_tally')[0];
  if (t) return { module: t.module, deny: num(t.args.deny) ?? 0, unlockTime: num(t.args.unlock_time) ?? 0, file: t.file, sources: [t.file] };
  return null;
}

const lockoutThreshold = linux({
  id: 'linux.pam.lockout',
  title: { en: 'Accounts lock after at most 5 failed logins', zh: '连续登录失败不超过 5 次即锁定账户' },
  articles: ART, mlps: `${MLPS_B}: account lockout threshold`,
  remediation: {
    en: 'Enable pam_faillock (RHEL: `authselect enable-feature with-faillock`; Debian: add pam_faillock preauth/authfail to common-auth) and set `deny = 5` in /etc/security/faillock.conf.',
    zh: '启用 pam_faillock（RHEL：`authselect enable-feature with-faillock`；Debian：在 common-auth 中加入 pam_faillock preauth/authfail），并在 /etc/security/faillock.conf 中设置 `deny = 5`。',
  },
  async run(ctx) {
    const stack = await pamStack(ctx);
    const none = noPam(stack);
    if (none) return none;
    const l = await lockout(ctx, stack);
    if (!l) return fail('no pam_faillock or pam_tally2 in the auth stack: failed logins never lock the account', { pamFiles: stack.files });
    const evidence = { module: l.module, deny: l.deny, sources: l.sources };
    return l.deny > 0 && l.deny <= 5 ? pass(evidence) : fail(`deny=${l.deny} (want 1–5)`, evidence);
  },
});

const lockoutDuration = linux({
  id: 'linux.pam.lockout_duration',
  title: { en: 'Locked accounts stay locked for at least 10 minutes', zh: '账户锁定时间不少于 10 分钟' },
  articles: ART, mlps: `${MLPS_B}: account lockout duration`,
  remediation: {
    en: 'Set `unlock_time = 600` (or 0 for administrator unlock) in /etc/security/faillock.conf, or unlock_time=600 on the pam_faillock/pam_tally2 line.',
    zh: '在 /etc/security/faillock.conf 中设置 `unlock_time = 600`（或 0，表示须管理员解锁），或在 pam_faillock/pam_tally2 行设置 unlock_time=600。',
  },
  async run(ctx) {
    const stack = await pamStack(ctx);
    const none = noPam(stack);
    if (none) return none;
    const l = await lockout(ctx, stack);
    if (!l) return fail('no pam_faillock or pam_tally2 in the auth stack: nothing is ever locked', { pamFiles: stack.files });
    const evidence = { module: l.module, unlock_time: l.unlockTime, sources: l.sources };
    // 0 means the account stays locked until an administrator resets it.
    return l.unlockTime === 0 || l.unlockTime >= 600 ? pass(evidence) : fail(`unlock_time=${l.unlockTime}s (want ≥ 600 or 0)`, evidence);
  },
});

const maxDays = loginDefsCheck({
  id: 'linux.login_defs.pass_max_days', key: 'PASS_MAX_DAYS', ok: (v) => v > 0 && v <= 90, want: '1–90', topic: 'password maximum age',
  title: { en: 'Passwords expire within 90 days', zh: '口令最长使用期限不超过 90 天' },
  remediation: {
    en: 'Set `PASS_MAX_DAYS 90` in /etc/login.defs and apply to existing accounts with `chage --maxdays 90 <user>`.',
    zh: '在 /etc/login.defs 中设置 `PASS_MAX_DAYS 90`，并用 `chage --maxdays 90 <用户>` 应用到已有账户。',
  },
});

const minDays = loginDefsCheck({
  id: 'linux.login_defs.pass_min_days', key: 'PASS_MIN_DAYS', ok: (v) => v >= 1, want: '≥ 1', topic: 'password minimum age',
  title: { en: 'Passwords cannot be changed again within 1 day', zh: '口令最短使用期限不少于 1 天' },
  remediation: {
    en: 'Set `PASS_MIN_DAYS 1` in /etc/login.defs and apply with `chage --mindays 1 <user>`.',
    zh: '在 /etc/login.defs 中设置 `PASS_MIN_DAYS 1`，并用 `chage --mindays 1 <用户>` 应用到已有账户。',
  },
});

async function readAccounts(ctx: CheckContext) {
  const p = await ctx.readFile('/etc/passwd');
  const s = await ctx.readFile('/etc/shadow');
  return { passwd: p === null ? null : parsePasswd(p), shadow: s === null ? null : parseShadow(s) };
}

const emptyPasswords = linux({
  id: 'linux.accounts.empty_password',
  title: { en: 'No account has an empty password', zh: '不存在空口令账户' },
  articles: ART, mlps: `${MLPS_A}: no empty passwords`,
  remediation: { en: 'Lock the account (`passwd -l <user>`) or set a password (`passwd <user>`).', zh: '锁定该账户（`passwd -l <用户>`）或为其设置口令（`passwd <用户>`）。' },
  async run(ctx) {
    const { shadow } = await readAccounts(ctx);
    if (!shadow) return err('/etc/shadow not readable (the agent must run as root)');
    const empty = shadow.filter((e) => e.hash === '').map((e) => e.name);
    const evidence = { file: '/etc/shadow', accounts: shadow.length, emptyPassword: empty };
    return empty.length === 0 ? pass(evidence) : fail(`accounts with an empty password: ${empty.join(', ')}`, evidence);
  },
});

const uid0 = linux({
  id: 'linux.accounts.uid0',
  title: { en: 'Only root has UID 0', zh: '仅 root 账户的 UID 为 0' },
  articles: ART, mlps: '8.1.4.2 d) 访问控制: 管理用户最小权限（无多余超级用户）',
  remediation: { en: 'Give the extra account its own UID (`usermod -u <uid> <user>`) or delete it (`userdel <user>`); grant admin rights through sudo instead.', zh: '为多余账户分配独立 UID（`usermod -u <uid> <用户>`）或删除该账户（`userdel <用户>`），管理权限改用 sudo 授予。' },
  async run(ctx) {
    const { passwd } = await readAccounts(ctx);
    if (!passwd) return err('/etc/passwd not readable');
    const zero = passwd.filter((e) => e.uid === 0).map((e) => e.name);
    const evidence = { file: '/etc/passwd', uid0: zero };
    const extra = zero.filter((n) => n !== 'root');
    return extra.length === 0 ? pass(evidence) : fail(`accounts other than root with UID 0: ${extra.join(', ')}`, evidence);
  },
});

const NOLOGIN = /(^|\/)(nologin|false|sync|shutdown|halt)$/;
const GUESTS = ['guest', 'test', 'demo', 'temp', 'user'];

const defaultAccounts = linux({
  id: 'linux.accounts.default_disabled',
  title: { en: 'System and guest accounts cannot log in', zh: '系统默认账户及来宾账户已禁用登录' },
  articles: ART, mlps: '8.1.4.2 b) 访问控制: 重命名或删除默认账户',
  remediation: {
    en: 'For each listed account: `usermod -s /usr/sbin/nologin <user>` and `passwd -l <user>`, or delete it with `userdel <user>`.',
    zh: '对每个列出的账户执行 `usermod -s /usr/sbin/nologin <用户>` 和 `passwd -l <用户>`，或用 `userdel <用户>` 删除。',
  },
  async run(ctx) {
    const { passwd, shadow } = await readAccounts(ctx);
    if (!passwd) return err('/etc/passwd not readable');
    if (!shadow) return err('/etc/shadow not readable (the agent must run as root)');
    const defs = await loginDefs(ctx);
    const uidMin = num(defs?.UID_MIN) ?? 1000;
    const hash = new Map(shadow.map((s) => [s.name, s.hash]));
    const usable = (n: string) => { const h = hash.get(n); return h !== undefined && !h.startsWith('!') && !h.startsWith('*'); };
    const offenders = passwd.filter((e) => e.uid !== 0 && usable(e.name) && !NOLOGIN.test(e.shell) && (e.uid < uidMin || GUESTS.includes(e.name)))
      .map((e) => `${e.name}(uid ${e.uid}, ${e.shell})`);
    const evidence = { files: ['/etc/passwd', '/etc/shadow'], UID_MIN: uidMin, loginCapable: offenders };
    return offenders.length === 0 ? pass(evidence) : fail(`system or guest accounts with a login shell and a usable password: ${offenders.join(', ')}`, evidence);
  },
});

const STRONG = new Set(['sha512', 'yescrypt', 'gost-yescrypt', 'bcrypt', 'scrypt']);

const hashing = linux({
  id: 'linux.accounts.password_hashing',
  title: { en: 'Passwords are stored with a strong hash (SHA-512 or yescrypt)', zh: '口令以强哈希算法存储（SHA-512 或 yescrypt）' },
  articles: ART, mlps: '8.1.4.8 b) 数据保密性: 鉴别数据存储加密',
  remediation: {
    en: 'Set `ENCRYPT_METHOD SHA512` (or YESCRYPT) in /etc/login.defs and `sha512`/`yescrypt` on the pam_unix password line, then have users with old hashes change their password.',
    zh: '在 /etc/login.defs 中设置 `ENCRYPT_METHOD SHA512`（或 YESCRYPT），在 pam_unix password 行使用 `sha512`/`yescrypt`，并让仍为旧哈希的用户修改口令。',
  },
  async run(ctx) {
    const { shadow } = await readAccounts(ctx);
    if (!shadow) return err('/etc/shadow not readable (the agent must run as root)');
    const defs = await loginDefs(ctx);
    const stack = await pamStack(ctx);
    const unix = pamModule(stack, 'password', 'pam_unix')[0];
    const pamMethod = unix ? ['yescrypt', 'gost_yescrypt', 'sha512', 'blowfish', 'sha256', 'md5', 'bigcrypt'].find((m) => unix.args[m] !== undefined) ?? null : null;
    const method = (pamMethod ?? defs?.ENCRYPT_METHOD ?? 'DES').toLowerCase().replace('gost_yescrypt', 'gost-yescrypt').replace('blowfish', 'bcrypt');
    const weak = shadow.filter((e) => { const s = hashScheme(e.hash); return !['locked', 'empty', 'unknown'].includes(s) && !STRONG.has(s); })
      .map((e) => `${e.name}:${hashScheme(e.hash)}`);
    const evidence = { configured: method, from: pamMethod ? unix!.file : '/etc/login.defs ENCRYPT_METHOD', weakHashes: head(weak) };
    if (!STRONG.has(method)) return fail(`new passwords are hashed with ${method}`, evidence);
    return weak.length === 0 ? pass(evidence) : fail(`accounts still stored with weak hashes: ${weak.join(', ')}`, evidence);
  },
});

export const accountChecks: CheckDef[] = [maxDays, minDays, minlen, complexity, history, lockoutThreshold, lockoutDuration, emptyPasswords, uid0, defaultAccounts, hashing];
