/** BSM audit (auditd, /etc/security/audit_control) and install log retention (MLPS 8.1.4.3). */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import { parseAslInstallLog, parseAuditControl, parseExpireAfter } from './parse.js';
import { check, error, fail, pass, requireMacos, services, serviceOn } from './util.js';

/** 网络安全法 art. 21: network logs kept at least six months. */
export const AUDIT_RETENTION_DAYS = 180;
export const INSTALL_LOG_TTL_DAYS = 365;
const AUDIT_CONTROL = '/etc/security/audit_control';

async function auditControl(ctx: CheckContext): Promise<{ ok: true; c: Map<string, string> } | { ok: false; outcome: CheckOutcome }> {
  const g = await requireMacos(ctx);
  if (g) return { ok: false, outcome: g };
  const text = await ctx.readFile(AUDIT_CONTROL);
  // macOS 14+ ships only audit_control.example; without the real file auditd records nothing.
  if (text === null) return { ok: false, outcome: fail({ file: AUDIT_CONTROL }, `${AUDIT_CONTROL} is missing: BSM auditing is not configured`) };
  return { ok: true, c: parseAuditControl(text) };
}

function flags(c: Map<string, string>): string[] {
  return (c.get('flags') ?? '').split(',').map((f) => f.trim()).filter(Boolean);
}

export const auditChecks: CheckDef[] = [
  check({
    id: 'darwin.audit.auditd_enabled',
    title: { en: 'The audit daemon (auditd) is running', zh: '审计守护进程 auditd 已启用' },
    mlps: '8.1.4.3 a) 安全审计: audit enabled for every user',
    remediation: { en: 'sudo cp /etc/security/audit_control.example /etc/security/audit_control; sudo launchctl load -w /System/Library/LaunchDaemons/com.apple.auditd.plist', zh: '执行 sudo cp /etc/security/audit_control.example /etc/security/audit_control，再执行 sudo launchctl load -w /System/Library/LaunchDaemons/com.apple.auditd.plist' },
    async run(ctx) {
      const s = await services(ctx);
      if (!s.ok) return s.outcome;
      const st = serviceOn(s.s, 'com.apple.auditd');
      const ev = { source: 'launchctl list; launchctl print-disabled system', loaded: st.loaded, override: st.override };
      if (st.override === 'disabled') return fail(ev, 'com.apple.auditd is disabled in launchd');
      return st.loaded ? pass(ev) : fail(ev, 'com.apple.auditd is not loaded');
    },
  }),
  check({
    id: 'darwin.audit.flags_login',
    title: { en: 'Audit records logins, logouts and authentication', zh: '审计覆盖登录、注销与身份鉴别事件' },
    mlps: '8.1.4.3 a) 安全审计: audit important user behaviour (logins)',
    remediation: { en: `Add lo and aa to the flags: line of ${AUDIT_CONTROL} (e.g. flags:lo,aa,ad,fd,fm,-all), then sudo audit -s`, zh: `在 ${AUDIT_CONTROL} 的 flags: 行中加入 lo 和 aa（如 flags:lo,aa,ad,fd,fm,-all），然后执行 sudo audit -s` },
    async run(ctx) {
      const a = await auditControl(ctx);
      if (!a.ok) return a.outcome;
      const f = flags(a.c);
      const missing = ['lo', 'aa'].filter((x) => !f.includes(x));
      const ev = { file: AUDIT_CONTROL, flags: f };
      return missing.length ? fail(ev, `audit flags lack ${missing.join(', ')} (success and failure)`) : pass(ev);
    },
  }),
  check({
    id: 'darwin.audit.flags_privilege',
    title: { en: 'Audit records administrative and privileged actions', zh: '审计覆盖管理操作与特权使用' },
    mlps: '8.1.4.3 a) 安全审计: audit important security events (privilege use)',
    remediation: { en: `Add ad to the flags: line of ${AUDIT_CONTROL}, then sudo audit -s`, zh: `在 ${AUDIT_CONTROL} 的 flags: 行中加入 ad，然后执行 sudo audit -s` },
    async run(ctx) {
      const a = await auditControl(ctx);
      if (!a.ok) return a.outcome;
      const f = flags(a.c);
      const ev = { file: AUDIT_CONTROL, flags: f };
      return f.includes('ad') ? pass(ev) : fail(ev, 'audit flags lack ad (administrative events: sudo, account and policy changes)');
    },
  }),
  check({
    id: 'darwin.audit.retention',
    title: { en: `Audit logs are kept at least ${AUDIT_RETENTION_DAYS} days`, zh: `审计日志保留不少于 ${AUDIT_RETENTION_DAYS} 天` },
    mlps: '8.1.4.3 c) 安全审计: protect audit records from premature deletion',
    articles: ['art9', 'art31', 'art18'],
    remediation: { en: `Set expire-after:${AUDIT_RETENTION_DAYS}d (or ${AUDIT_RETENTION_DAYS}d AND 5G) in ${AUDIT_CONTROL}`, zh: `在 ${AUDIT_CONTROL} 中设置 expire-after:${AUDIT_RETENTION_DAYS}d（或 ${AUDIT_RETENTION_DAYS}d AND 5G）` },
    async run(ctx) {
      const a = await auditControl(ctx);
      if (!a.ok) return a.outcome;
      const raw = a.c.get('expire-after');
      const ev = { file: AUDIT_CONTROL, 'expire-after': raw ?? null };
      // No expire-after: auditd never deletes trails, which keeps them as long as the disk allows.
      if (raw === undefined) return pass({ ...ev, note: 'trails are never expired' });
      const e = parseExpireAfter(raw);
      if (!e) return error(ev, `unparseable expire-after: ${raw}`);
      if (e.days === undefined) return fail(ev, 'trails expire by size only, so no retention period is guaranteed');
      if (e.joiner === 'OR' && e.bytes !== undefined) return fail(ev, 'the size limit (OR) can expire trails before the retention period');
      return e.days >= AUDIT_RETENTION_DAYS ? pass(ev) : fail(ev, `trails expire after ${e.days} days (< ${AUDIT_RETENTION_DAYS})`);
    },
  }),
  check({
    id: 'darwin.audit.install_log_retention',
    title: { en: `install.log is kept at least ${INSTALL_LOG_TTL_DAYS} days`, zh: `安装日志 install.log 保留不少于 ${INSTALL_LOG_TTL_DAYS} 天` },
    mlps: '8.1.4.3 c) 安全审计: protect audit records (software install history)',
    remediation: { en: `In /etc/asl/com.apple.install set ttl=${INSTALL_LOG_TTL_DAYS} and remove all_max= on the install.log line`, zh: `在 /etc/asl/com.apple.install 的 install.log 行中设置 ttl=${INSTALL_LOG_TTL_DAYS} 并删除 all_max=` },
    async run(ctx) {
      const text = await ctx.readFile('/etc/asl/com.apple.install');
      if (text === null) return error({ file: '/etc/asl/com.apple.install' }, '/etc/asl/com.apple.install is missing');
      const l = parseAslInstallLog(text);
      if (!l) return fail({ file: '/etc/asl/com.apple.install' }, 'no rule writes /var/log/install.log');
      const ev = { file: '/etc/asl/com.apple.install', line: l.line };
      if (l.allMax) return fail(ev, `all_max=${l.allMax} deletes old logs by size`);
      return l.ttl !== undefined && l.ttl >= INSTALL_LOG_TTL_DAYS ? pass(ev) : fail(ev, `ttl=${l.ttl ?? 'unset'} (< ${INSTALL_LOG_TTL_DAYS})`);
    },
  }),
];
