/** Password policy and login failure handling from the global account policies (MLPS 8.1.4.1 a, b). */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import type { PasswordPolicySummary } from './parse.js';
import { num } from './plist.js';
import { check, error, fail, pass, passwordPolicy, prefs, show } from './util.js';

export const MIN_LENGTH = 8;
export const MAX_AGE_DAYS = 90;
export const MIN_AGE_HOURS = 24;
export const HISTORY_DEPTH = 5;
export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MINUTES = 15;

const SRC = '/usr/bin/pwpolicy -getaccountpolicies';
const POLICY_FIX_EN = 'Install a Passcode (com.apple.mobiledevice.passwordpolicy) profile through MDM, or edit the policy plist and run sudo pwpolicy -setaccountpolicies <file>';
const POLICY_FIX_ZH = '通过 MDM 下发密码策略描述文件（com.apple.mobiledevice.passwordpolicy），或编辑策略 plist 后执行 sudo pwpolicy -setaccountpolicies <文件>';

function fromPolicy(evaluate: (p: PasswordPolicySummary) => CheckOutcome): (ctx: CheckContext) => Promise<CheckOutcome> {
  return async (ctx) => {
    const pw = await passwordPolicy(ctx);
    if (!pw.ok) return pw.outcome;
    const o = evaluate(pw.policy);
    return { ...o, evidence: { source: SRC, policies: pw.policies.length, ...o.evidence } };
  };
}

export const authChecks: CheckDef[] = [
  check({
    id: 'darwin.auth.password_min_length',
    title: { en: `Passwords are at least ${MIN_LENGTH} characters`, zh: `口令长度不少于 ${MIN_LENGTH} 位` },
    mlps: '8.1.4.1 a) 身份鉴别: password length',
    remediation: { en: `${POLICY_FIX_EN} with minLength ≥ ${MIN_LENGTH} (policyAttributePassword matches '.{${MIN_LENGTH},}+')`, zh: `${POLICY_FIX_ZH}，设置 minLength ≥ ${MIN_LENGTH}` },
    run: fromPolicy((p) => p.minLength !== undefined && p.minLength >= MIN_LENGTH
      ? pass({ minLength: p.minLength })
      : fail({ minLength: p.minLength ?? null }, p.minLength === undefined ? 'no minimum password length is enforced' : `minimum length ${p.minLength} < ${MIN_LENGTH}`)),
  }),
  check({
    id: 'darwin.auth.password_complexity',
    title: { en: 'Passwords must mix letters, digits and symbols or cases', zh: '口令须包含字母、数字及特殊字符或大小写混合' },
    mlps: '8.1.4.1 a) 身份鉴别: password complexity',
    remediation: { en: `${POLICY_FIX_EN} with requireAlphanumeric = true and minComplexChars ≥ 1`, zh: `${POLICY_FIX_ZH}，设置 requireAlphanumeric = true 且 minComplexChars ≥ 1` },
    run: fromPolicy((p) => {
      const letters = p.requiresAlpha || p.requiresUpper || p.requiresLower;
      const ev = { letters, upper: p.requiresUpper, lower: p.requiresLower, digits: p.requiresDigit, symbols: p.requiresSymbol };
      // Three character classes: letters and digits, plus a symbol or both cases.
      return letters && p.requiresDigit && (p.requiresSymbol || (p.requiresUpper && p.requiresLower))
        ? pass(ev) : fail(ev, 'the policy does not require letters, digits and a symbol (or mixed case)');
    }),
  }),
  check({
    id: 'darwin.auth.password_max_age',
    title: { en: `Passwords expire within ${MAX_AGE_DAYS} days`, zh: `口令最长使用期限不超过 ${MAX_AGE_DAYS} 天` },
    mlps: '8.1.4.1 a) 身份鉴别: password changed regularly (maximum age)',
    remediation: { en: `${POLICY_FIX_EN} with maxPINAgeInDays ≤ ${MAX_AGE_DAYS} (policyAttributeExpiresEveryNDays)`, zh: `${POLICY_FIX_ZH}，设置 maxPINAgeInDays ≤ ${MAX_AGE_DAYS}` },
    run: fromPolicy((p) => p.maxAgeDays !== undefined && p.maxAgeDays > 0 && p.maxAgeDays <= MAX_AGE_DAYS
      ? pass({ maxAgeDays: p.maxAgeDays })
      : fail({ maxAgeDays: p.maxAgeDays ?? null }, p.maxAgeDays === undefined ? 'passwords never expire' : `passwords expire after ${p.maxAgeDays} days (> ${MAX_AGE_DAYS})`)),
  }),
  check({
    id: 'darwin.auth.password_min_age',
    title: { en: `Passwords cannot be changed again within ${MIN_AGE_HOURS} hours`, zh: `口令最短使用期限不少于 ${MIN_AGE_HOURS} 小时` },
    mlps: '8.1.4.1 a) 身份鉴别: password changed regularly (minimum age)',
    remediation: { en: `${POLICY_FIX_EN} adding a policyCategoryPasswordChange entry with policyAttributeMinimumLifetimeHours = ${MIN_AGE_HOURS}`, zh: `${POLICY_FIX_ZH}，增加 policyAttributeMinimumLifetimeHours = ${MIN_AGE_HOURS} 的策略项` },
    run: fromPolicy((p) => p.minAgeHours !== undefined && p.minAgeHours >= MIN_AGE_HOURS
      ? pass({ minAgeHours: p.minAgeHours })
      : fail({ minAgeHours: p.minAgeHours ?? null }, p.minAgeHours === undefined ? 'no minimum password lifetime' : `minimum lifetime ${p.minAgeHours} h < ${MIN_AGE_HOURS} h`)),
  }),
  check({
    id: 'darwin.auth.password_history',
    title: { en: `The last ${HISTORY_DEPTH} passwords cannot be reused`, zh: `不得重复使用最近 ${HISTORY_DEPTH} 次口令` },
    mlps: '8.1.4.1 a) 身份鉴别: password history',
    remediation: { en: `${POLICY_FIX_EN} with pinHistory ≥ ${HISTORY_DEPTH} (policyAttributePasswordHistoryDepth)`, zh: `${POLICY_FIX_ZH}，设置 pinHistory ≥ ${HISTORY_DEPTH}` },
    run: fromPolicy((p) => p.historyDepth !== undefined && p.historyDepth >= HISTORY_DEPTH
      ? pass({ historyDepth: p.historyDepth })
      : fail({ historyDepth: p.historyDepth ?? null }, p.historyDepth === undefined ? 'no password history is kept' : `history depth ${p.historyDepth} < ${HISTORY_DEPTH}`)),
  }),
  check({
    id: 'darwin.auth.lockout_threshold',
    title: { en: `Accounts lock after at most ${MAX_FAILED_LOGINS} failed logins`, zh: `连续登录失败不超过 ${MAX_FAILED_LOGINS} 次即锁定账户` },
    mlps: '8.1.4.1 b) 身份鉴别: login failure handling (attempt limit)',
    remediation: { en: `${POLICY_FIX_EN} with maxFailedAttempts ≤ ${MAX_FAILED_LOGINS} (policyAttributeMaximumFailedAuthentications)`, zh: `${POLICY_FIX_ZH}，设置 maxFailedAttempts ≤ ${MAX_FAILED_LOGINS}` },
    run: fromPolicy((p) => p.maxFailedLogins !== undefined && p.maxFailedLogins > 0 && p.maxFailedLogins <= MAX_FAILED_LOGINS
      ? pass({ maxFailedLogins: p.maxFailedLogins })
      : fail({ maxFailedLogins: p.maxFailedLogins ?? null }, p.maxFailedLogins === undefined ? 'failed logins never lock the account' : `lockout after ${p.maxFailedLogins} failures (> ${MAX_FAILED_LOGINS})`)),
  }),
  check({
    id: 'darwin.auth.lockout_duration',
    title: { en: `Locked accounts stay locked for at least ${LOCKOUT_MINUTES} minutes`, zh: `账户锁定时间不少于 ${LOCKOUT_MINUTES} 分钟` },
    mlps: '8.1.4.1 b) 身份鉴别: login failure handling (lockout duration)',
    remediation: { en: `${POLICY_FIX_EN} with minutesUntilFailedLoginReset ≥ ${LOCKOUT_MINUTES} (autoEnableInSeconds ≥ ${LOCKOUT_MINUTES * 60})`, zh: `${POLICY_FIX_ZH}，设置 minutesUntilFailedLoginReset ≥ ${LOCKOUT_MINUTES}` },
    run: fromPolicy((p) => {
      if (p.maxFailedLogins === undefined) return fail({ lockoutSeconds: null }, 'no lockout policy is configured');
      // A lockout policy without an auto-enable time locks until an admin unlocks: longer than any minimum.
      if (p.lockoutSeconds === undefined) return pass({ lockoutSeconds: null, note: 'locked until an administrator re-enables the account' });
      return p.lockoutSeconds >= LOCKOUT_MINUTES * 60
        ? pass({ lockoutSeconds: p.lockoutSeconds })
        : fail({ lockoutSeconds: p.lockoutSeconds }, `accounts unlock after ${Math.round(p.lockoutSeconds / 60)} min (< ${LOCKOUT_MINUTES})`);
    }),
  }),
  check({
    id: 'darwin.auth.password_hints_disabled',
    title: { en: 'Password hints are not shown at the login window', zh: '登录窗口不显示口令提示' },
    mlps: '8.1.4.1 a) 身份鉴别: protect authentication information',
    remediation: { en: 'sudo defaults write /Library/Preferences/com.apple.loginwindow RetriesUntilHint -int 0 (or MDM: com.apple.loginwindow RetriesUntilHint = 0)', zh: '执行 sudo defaults write /Library/Preferences/com.apple.loginwindow RetriesUntilHint -int 0（或通过 MDM 下发）' },
    async run(ctx) {
      const p = await prefs(ctx, 'com.apple.loginwindow', ['RetriesUntilHint']);
      if (p.error && !p.sources.length) return error({ domain: 'com.apple.loginwindow' }, p.error);
      const v = num(p.values.RetriesUntilHint);
      const ev = { source: p.source ?? null, RetriesUntilHint: show(p.values.RetriesUntilHint) };
      if (v === undefined) return fail(ev, 'RetriesUntilHint is not set: macOS shows the hint after 3 failed attempts');
      return v === 0 ? pass(ev) : fail(ev, `the password hint is shown after ${v} failed attempts`);
    },
  }),
];
