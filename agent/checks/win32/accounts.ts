/**
 * Accounts and passwords (MLPS 8.1.4.1 身份鉴别, 8.1.4.2 访问控制): the account policy from one
 * `secedit /export`, local accounts from Get-LocalUser, Administrators members by SID.
 */
import type { CheckDef, CheckOutcome, CheckContext } from '../types.js';
import { check, fail, pass, error } from './define.js';
import { infNumber, infString, psBool, type Inf } from './parse.js';
import { ADMIN_MEMBERS, LOCAL_USERS, psList, REG, regKey, regNum, secpol } from './sources.js';

const SA = 'System Access';

/**
 * Reads [System Access] values (all of `required`, any of `optional`) and hands them to `judge`:
 * null is a pass, a string a fail with that reason, an outcome is returned as it is.
 */
function policyCheck(
  required: string[],
  judge: (v: Record<string, number>, inf: Inf) => CheckOutcome | string | null,
  optional: string[] = [],
) {
  return async (ctx: CheckContext): Promise<CheckOutcome> => {
    const got = await secpol(ctx);
    if (!got.ok) return got.outcome;
    const v: Record<string, number> = {};
    for (const k of [...required, ...optional]) {
      const n = infNumber(got.value, SA, k);
      if (n !== undefined) v[k] = n;
    }
    const evidence = { source: got.from, ...v };
    const missing = required.filter((k) => v[k] === undefined);
    if (missing.length) return error(evidence, `[System Access] lacks ${missing.join(', ')}`);
    const verdict = judge(v, got.value);
    if (verdict === null) return pass(evidence);
    if (typeof verdict === 'string') return fail(evidence, verdict);
    return { ...verdict, evidence: { ...evidence, ...verdict.evidence } };
  };
}

const MIN_LENGTH = 8;
const MAX_AGE_DAYS = 90;
const HISTORY = 5;
const LOCKOUT_MAX_ATTEMPTS = 5;
const LOCKOUT_MIN_MINUTES = 15;

// Broad principals that must never sit in Administrators (the Windows form of "an extra UID 0").
const BROAD_SIDS: Record<string, string> = {
  'S-1-1-0': 'Everyone',
  'S-1-5-11': 'Authenticated Users',
  'S-1-5-4': 'INTERACTIVE',
  'S-1-5-7': 'ANONYMOUS LOGON',
  'S-1-5-32-545': 'Users',
  'S-1-5-32-546': 'Guests',
};
/** The built-in Administrator plus a named administrator and a domain group: more is a finding. */
const MAX_ADMIN_MEMBERS = 3;

export const accountChecks: CheckDef[] = [
  check({
    id: 'win32.account.password_min_length',
    title: { en: `Minimum password length is at least ${MIN_LENGTH}`, zh: `密码最小长度不少于 ${MIN_LENGTH} 位` },
    mlps: '8.1.4.1 a) 身份鉴别: password length',
    remediation: {
      en: `Local Security Policy > Account Policies > Password Policy > Minimum password length = ${MIN_LENGTH} (or: net accounts /minpwlen:${MIN_LENGTH})`,
      zh: `本地安全策略 > 帐户策略 > 密码策略 > 密码长度最小值设为 ${MIN_LENGTH}（或执行 net accounts /minpwlen:${MIN_LENGTH}）`,
    },
    run: policyCheck(['MinimumPasswordLength'], (v) =>
      v.MinimumPasswordLength! >= MIN_LENGTH ? null : `MinimumPasswordLength is ${v.MinimumPasswordLength}, below ${MIN_LENGTH}`),
  }),
  check({
    id: 'win32.account.password_complexity',
    title: { en: 'Passwords must meet complexity requirements', zh: '密码必须符合复杂性要求' },
    mlps: '8.1.4.1 a) 身份鉴别: password complexity',
    remediation: {
      en: 'Local Security Policy > Account Policies > Password Policy > Password must meet complexity requirements = Enabled',
      zh: '本地安全策略 > 帐户策略 > 密码策略 > “密码必须符合复杂性要求”设为已启用',
    },
    run: policyCheck(['PasswordComplexity'], (v) =>
      v.PasswordComplexity === 1 ? null : 'PasswordComplexity is 0 (disabled)'),
  }),
  check({
    id: 'win32.account.password_max_age',
    title: { en: `Passwords expire within ${MAX_AGE_DAYS} days`, zh: `密码最长使用期限不超过 ${MAX_AGE_DAYS} 天` },
    mlps: '8.1.4.1 a) 身份鉴别: password maximum age (定期更换)',
    remediation: {
      en: `Local Security Policy > Password Policy > Maximum password age = ${MAX_AGE_DAYS} days or less (net accounts /maxpwage:${MAX_AGE_DAYS})`,
      zh: `本地安全策略 > 密码策略 > 密码最长使用期限设为不超过 ${MAX_AGE_DAYS} 天（net accounts /maxpwage:${MAX_AGE_DAYS}）`,
    },
    run: policyCheck(['MaximumPasswordAge'], (v) => {
      const d = v.MaximumPasswordAge!;
      if (d <= 0) return `MaximumPasswordAge is ${d}: passwords never expire`;
      return d <= MAX_AGE_DAYS ? null : `MaximumPasswordAge is ${d} days, above ${MAX_AGE_DAYS}`;
    }),
  }),
  check({
    id: 'win32.account.password_min_age',
    title: { en: 'Minimum password age is at least 1 day', zh: '密码最短使用期限不少于 1 天' },
    mlps: '8.1.4.1 a) 身份鉴别: password minimum age',
    remediation: {
      en: 'Local Security Policy > Password Policy > Minimum password age = 1 day (net accounts /minpwage:1)',
      zh: '本地安全策略 > 密码策略 > 密码最短使用期限设为 1 天（net accounts /minpwage:1）',
    },
    run: policyCheck(['MinimumPasswordAge'], (v) =>
      v.MinimumPasswordAge! >= 1 ? null : 'MinimumPasswordAge is 0: a password can be cycled back at once'),
  }),
  check({
    id: 'win32.account.password_history',
    title: { en: `Password history remembers at least ${HISTORY} passwords`, zh: `强制密码历史不少于 ${HISTORY} 个` },
    mlps: '8.1.4.1 a) 身份鉴别: password history',
    remediation: {
      en: `Local Security Policy > Password Policy > Enforce password history = ${HISTORY} or more (net accounts /uniquepw:${HISTORY})`,
      zh: `本地安全策略 > 密码策略 > 强制密码历史设为不少于 ${HISTORY} 个（net accounts /uniquepw:${HISTORY}）`,
    },
    run: policyCheck(['PasswordHistorySize'], (v) =>
      v.PasswordHistorySize! >= HISTORY ? null : `PasswordHistorySize is ${v.PasswordHistorySize}, below ${HISTORY}`),
  }),
  check({
    id: 'win32.account.lockout_threshold',
    title: { en: `Accounts lock after at most ${LOCKOUT_MAX_ATTEMPTS} failed logons`, zh: `连续登录失败不超过 ${LOCKOUT_MAX_ATTEMPTS} 次即锁定帐户` },
    mlps: '8.1.4.1 b) 身份鉴别: login failure handling (限制非法登录次数)',
    remediation: {
      en: `Local Security Policy > Account Lockout Policy > Account lockout threshold = ${LOCKOUT_MAX_ATTEMPTS} (net accounts /lockoutthreshold:${LOCKOUT_MAX_ATTEMPTS})`,
      zh: `本地安全策略 > 帐户锁定策略 > 帐户锁定阈值设为 ${LOCKOUT_MAX_ATTEMPTS} 次（net accounts /lockoutthreshold:${LOCKOUT_MAX_ATTEMPTS}）`,
    },
    run: policyCheck(['LockoutBadCount'], (v) => {
      const n = v.LockoutBadCount!;
      if (n === 0) return 'LockoutBadCount is 0: accounts never lock';
      return n <= LOCKOUT_MAX_ATTEMPTS ? null : `LockoutBadCount is ${n}, above ${LOCKOUT_MAX_ATTEMPTS}`;
    }),
  }),
  check({
    id: 'win32.account.lockout_duration',
    title: { en: `Locked accounts stay locked for at least ${LOCKOUT_MIN_MINUTES} minutes`, zh: `帐户锁定时间不少于 ${LOCKOUT_MIN_MINUTES} 分钟` },
    mlps: '8.1.4.1 b) 身份鉴别: login failure handling (lockout duration)',
    remediation: {
      en: `Local Security Policy > Account Lockout Policy > Account lockout duration and Reset account lockout counter after = ${LOCKOUT_MIN_MINUTES} minutes or more (net accounts /lockoutduration:${LOCKOUT_MIN_MINUTES} /lockoutwindow:${LOCKOUT_MIN_MINUTES})`,
      zh: `本地安全策略 > 帐户锁定策略 > 帐户锁定时间与“重置帐户锁定计数器”均设为不少于 ${LOCKOUT_MIN_MINUTES} 分钟（net accounts /lockoutduration:${LOCKOUT_MIN_MINUTES} /lockoutwindow:${LOCKOUT_MIN_MINUTES}）`,
    },
    // secedit omits LockoutDuration and ResetLockoutCount while the threshold is 0.
    run: policyCheck(['LockoutBadCount'], (v) => {
      if (v.LockoutBadCount === 0) return fail({}, 'account lockout is off (LockoutBadCount = 0), so there is no lockout duration');
      const d = v.LockoutDuration;
      const r = v.ResetLockoutCount;
      if (d === undefined || r === undefined) return error({}, '[System Access] lacks LockoutDuration or ResetLockoutCount');
      if (d !== -1 && d < LOCKOUT_MIN_MINUTES) return `LockoutDuration is ${d} minutes, below ${LOCKOUT_MIN_MINUTES}`;
      if (r < LOCKOUT_MIN_MINUTES) return `ResetLockoutCount is ${r} minutes, below ${LOCKOUT_MIN_MINUTES}`;
      return null;
    }, ['LockoutDuration', 'ResetLockoutCount']),
  }),
  check({
    id: 'win32.account.guest_disabled',
    title: { en: 'The Guest account is disabled', zh: '来宾（Guest）帐户已禁用' },
    mlps: '8.1.4.2 c) 访问控制: disable redundant accounts (Guest)',
    remediation: {
      en: 'Local Security Policy > Security Options > Accounts: Guest account status = Disabled (net user Guest /active:no)',
      zh: '本地安全策略 > 安全选项 > “帐户: 来宾帐户状态”设为已禁用（net user Guest /active:no）',
    },
    run: policyCheck(['EnableGuestAccount'], (v) =>
      v.EnableGuestAccount === 0 ? null : 'EnableGuestAccount is 1: the Guest account is enabled'),
  }),
  check({
    id: 'win32.account.default_admin',
    title: { en: 'The built-in Administrator is renamed or disabled', zh: '内置管理员（Administrator）帐户已重命名或禁用' },
    mlps: '8.1.4.2 b) 访问控制: rename or delete default accounts',
    remediation: {
      en: 'Local Security Policy > Security Options > Accounts: Rename administrator account (and/or Accounts: Administrator account status = Disabled)',
      zh: '本地安全策略 > 安全选项 > “帐户: 重命名系统管理员帐户”设为非默认名称（或将“帐户: 管理员帐户状态”设为已禁用）',
    },
    run: policyCheck(['EnableAdminAccount'], (v, inf) => {
      const name = infString(inf, SA, 'NewAdministratorName');
      if (name === undefined) return error({}, '[System Access] lacks NewAdministratorName');
      if (v.EnableAdminAccount === 0) return pass({ NewAdministratorName: name });
      if (name.toLowerCase() !== 'administrator') return pass({ NewAdministratorName: name });
      return fail({ NewAdministratorName: name }, 'the built-in Administrator is enabled and keeps its default name');
    }),
  }),
  check({
    id: 'win32.account.no_empty_password',
    title: { en: 'No enabled local account may have an empty password', zh: '不存在允许空密码的已启用本地帐户' },
    mlps: '8.1.4.1 a) 身份鉴别: no empty passwords',
    remediation: {
      en: 'For each listed account: net user <name> /passwordreq:yes, then set a password (or disable it: net user <name> /active:no)',
      zh: '对列出的每个帐户执行 net user <帐户名> /passwordreq:yes 并设置密码（或执行 net user <帐户名> /active:no 禁用）',
    },
    async run(ctx) {
      const got = await psList(ctx, LOCAL_USERS, 'Get-LocalUser');
      if (!got.ok) return got.outcome;
      const enabled = got.value.filter((u) => psBool(u.Enabled) === true);
      const noPassword = enabled.filter((u) => psBool(u.PasswordRequired) === false).map((u) => String(u.Name));
      const evidence = { source: got.from, enabledAccounts: enabled.map((u) => String(u.Name)), passwordNotRequired: noPassword };
      if (got.value.length === 0) return error(evidence, 'Get-LocalUser listed no accounts');
      return noPassword.length ? fail(evidence, `enabled accounts that may have an empty password (PasswordRequired = False): ${noPassword.join(', ')}`) : pass(evidence);
    },
  }),
  check({
    id: 'win32.account.limit_blank_password',
    title: { en: 'Blank-password accounts are limited to console logon', zh: '空密码帐户仅允许控制台登录' },
    mlps: '8.1.4.1 a) 身份鉴别: no empty passwords (network logon)',
    remediation: {
      en: 'Local Security Policy > Security Options > Accounts: Limit local account use of blank passwords to console logon only = Enabled (HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa LimitBlankPasswordUse = 1)',
      zh: '本地安全策略 > 安全选项 > “帐户: 使用空密码的本地帐户只允许进行控制台登录”设为已启用（注册表 HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa LimitBlankPasswordUse = 1）',
    },
    async run(ctx) {
      const got = await regKey(ctx, REG.lsa);
      if (!got.ok) return got.outcome;
      const v = regNum(got.value, 'LimitBlankPasswordUse');
      const evidence = { source: got.from, LimitBlankPasswordUse: v ?? 'absent (default 1)' };
      return v === 0 ? fail(evidence, 'LimitBlankPasswordUse is 0: blank-password accounts can log on over the network') : pass(evidence);
    },
  }),
  check({
    id: 'win32.account.admin_members',
    title: { en: 'Administrators holds only a few named members', zh: '管理员组（Administrators）仅包含少数指定成员' },
    mlps: '8.1.4.2 d) 访问控制: least privilege for administrative users',
    remediation: {
      en: 'Remove unexpected members: Remove-LocalGroupMember -SID S-1-5-32-544 -Member <name> (keep at most the built-in Administrator, one named admin and the domain admin group)',
      zh: '移除多余成员：Remove-LocalGroupMember -SID S-1-5-32-544 -Member <成员名>（最多保留内置管理员、一个指定管理员帐户和域管理员组）',
    },
    async run(ctx) {
      const got = await psList(ctx, ADMIN_MEMBERS, 'Get-LocalGroupMember -SID S-1-5-32-544');
      if (!got.ok) return got.outcome;
      const members = got.value.map((m) => ({ name: String(m.Name ?? ''), sid: String(m.SID ?? '') }));
      const broad = members.filter((m) => BROAD_SIDS[m.sid] !== undefined).map((m) => `${m.name} (${m.sid})`);
      const evidence = { source: got.from, members: members.map((m) => m.name), count: members.length };
      if (broad.length) return fail(evidence, `broad principals are administrators: ${broad.join(', ')}`);
      if (members.length > MAX_ADMIN_MEMBERS) return fail(evidence, `Administrators has ${members.length} members, more than ${MAX_ADMIN_MEMBERS}`);
      return pass(evidence);
    },
  }),
];
