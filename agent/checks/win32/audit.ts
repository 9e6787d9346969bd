/**
 * Security audit (MLPS 8.1.4.3 安全审计): advanced audit policy from `auditpol /get /category:* /r`,
 * matched by subcategory GUID (names are localised), plus the Security log's size and the
 * services that keep the log written.
 */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import { check, error, fail, pass } from './define.js';
import { auditpol, REG, regKey, regNum, services } from './sources.js';

interface Need {
  guid: string;
  name: string;
  success?: boolean;
  failure?: boolean;
}

const G = (hex: string) => `{0CCE${hex}-69AE-11D9-BED3-505054503030}`;
const SUB = {
  securityStateChange: G('9210'), securitySystemExtension: G('9211'), systemIntegrity: G('9212'),
  logon: G('9215'), logoff: G('9216'), accountLockout: G('9217'), specialLogon: G('921B'),
  sensitivePrivilegeUse: G('9228'), processCreation: G('922B'),
  auditPolicyChange: G('922F'), authenticationPolicyChange: G('9230'),
  userAccountManagement: G('9235'), securityGroupManagement: G('9237'),
  credentialValidation: G('923F'),
};

function auditCheck(needs: Need[]) {
  return async (ctx: CheckContext): Promise<CheckOutcome> => {
    const got = await auditpol(ctx);
    if (!got.ok) return got.outcome;
    const byGuid = new Map(got.value.map((r) => [r.guid, r]));
    const settings: Record<string, string> = {};
    const short: string[] = [];
    for (const n of needs) {
      const row = byGuid.get(n.guid);
      if (!row) return error({ source: got.from, settings }, `auditpol lists no subcategory ${n.name} ${n.guid}`);
      settings[n.name] = row.inclusion;
      const want = [n.success && 'Success', n.failure && 'Failure'].filter(Boolean).join(' and ');
      if ((n.success && !row.success) || (n.failure && !row.failure)) short.push(`${n.name} is "${row.inclusion}", needs ${want}`);
    }
    const evidence = { source: got.from, settings };
    return short.length ? fail(evidence, short.join('; ')) : pass(evidence);
  };
}

const auditRemediation = (subs: string): { en: string; zh: string } => ({
  en: `Advanced Audit Policy Configuration (or auditpol /set): ${subs}`,
  zh: `在“高级审核策略配置”中设置（或使用 auditpol /set）：${subs}`,
});

/** 192 MB, the CIS Benchmark floor for the Security log; the 20 MB default overwrites within hours on a busy host. */
const MIN_SECURITY_LOG_KB = 196_608;

export const auditChecks: CheckDef[] = [
  check({
    id: 'win32.audit.logon_events',
    title: { en: 'Logon, logoff and credential validation are audited', zh: '已审核登录、注销与凭据验证事件' },
    mlps: '8.1.4.3 a) 安全审计: audit logons (重要用户行为)',
    remediation: auditRemediation('auditpol /set /subcategory:{0CCE9215-69AE-11D9-BED3-505054503030} /success:enable /failure:enable (Logon); likewise Credential Validation S+F, Logoff S, Special Logon S, Account Lockout F'),
    run: auditCheck([
      { guid: SUB.credentialValidation, name: 'Credential Validation', success: true, failure: true },
      { guid: SUB.logon, name: 'Logon', success: true, failure: true },
      { guid: SUB.logoff, name: 'Logoff', success: true },
      { guid: SUB.specialLogon, name: 'Special Logon', success: true },
      { guid: SUB.accountLockout, name: 'Account Lockout', failure: true },
    ]),
  }),
  check({
    id: 'win32.audit.privilege_use',
    title: { en: 'Sensitive privilege use is audited', zh: '已审核敏感权限使用' },
    mlps: '8.1.4.3 a) 安全审计: audit privilege use',
    remediation: auditRemediation('auditpol /set /subcategory:{0CCE9228-69AE-11D9-BED3-505054503030} /success:enable /failure:enable (Sensitive Privilege Use)'),
    run: auditCheck([{ guid: SUB.sensitivePrivilegeUse, name: 'Sensitive Privilege Use', success: true, failure: true }]),
  }),
  check({
    id: 'win32.audit.account_management',
    title: { en: 'User and group management is audited', zh: '已审核用户帐户与安全组管理' },
    mlps: '8.1.4.3 a) 安全审计: audit account management',
    remediation: auditRemediation('auditpol /set /subcategory:{0CCE9235-69AE-11D9-BED3-505054503030} /success:enable /failure:enable (User Account Management); Security Group Management {0CCE9237-…} /success:enable'),
    run: auditCheck([
      { guid: SUB.userAccountManagement, name: 'User Account Management', success: true, failure: true },
      { guid: SUB.securityGroupManagement, name: 'Security Group Management', success: true },
    ]),
  }),
  check({
    id: 'win32.audit.policy_change',
    title: { en: 'Audit and authentication policy changes are audited', zh: '已审核审核策略与身份验证策略更改' },
    mlps: '8.1.4.3 a) 安全审计: audit security policy changes (重要安全事件)',
    remediation: auditRemediation('auditpol /set /subcategory:{0CCE922F-69AE-11D9-BED3-505054503030} /success:enable (Audit Policy Change); Authentication Policy Change {0CCE9230-…} /success:enable'),
    run: auditCheck([
      { guid: SUB.auditPolicyChange, name: 'Audit Policy Change', success: true },
      { guid: SUB.authenticationPolicyChange, name: 'Authentication Policy Change', success: true },
    ]),
  }),
  check({
    id: 'win32.audit.system_events',
    title: { en: 'Security state, security system extension and system integrity events are audited', zh: '已审核安全状态更改、安全系统扩展与系统完整性事件' },
    mlps: '8.1.4.3 a) 安全审计: audit important security events',
    remediation: auditRemediation('Security State Change {0CCE9210-…} /success:enable; Security System Extension {0CCE9211-…} /success:enable; System Integrity {0CCE9212-…} /success:enable /failure:enable'),
    run: auditCheck([
      { guid: SUB.securityStateChange, name: 'Security State Change', success: true },
      { guid: SUB.securitySystemExtension, name: 'Security System Extension', success: true },
      { guid: SUB.systemIntegrity, name: 'System Integrity', success: true, failure: true },
    ]),
  }),
  check({
    id: 'win32.audit.process_creation',
    title: { en: 'Process creation is audited', zh: '已审核进程创建' },
    articles: ['art9', 'art18', 'art31'],
    mlps: '8.1.4.3 a) 安全审计: audit important user behaviour (process creation)',
    remediation: auditRemediation('auditpol /set /subcategory:{0CCE922B-69AE-11D9-BED3-505054503030} /success:enable (Process Creation)'),
    run: auditCheck([{ guid: SUB.processCreation, name: 'Process Creation', success: true }]),
  }),
  check({
    id: 'win32.audit.subcategory_override',
    title: { en: 'Advanced audit subcategories override legacy category settings', zh: '高级审核子类别设置优先于旧版类别设置' },
    mlps: '8.1.4.3 a) 安全审计: audit policy applied as configured',
    remediation: {
      en: 'Local Security Policy > Security Options > Audit: Force audit policy subcategory settings to override audit policy category settings = Enabled (HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa SCENoApplyLegacyAuditPolicy = 1)',
      zh: '本地安全策略 > 安全选项 > “审核: 强制审核策略子类别设置来替代审核策略类别设置”设为已启用（Lsa 下 SCENoApplyLegacyAuditPolicy = 1）',
    },
    async run(ctx) {
      const got = await regKey(ctx, REG.lsa);
      if (!got.ok) return got.outcome;
      const v = regNum(got.value, 'SCENoApplyLegacyAuditPolicy');
      const evidence = { source: got.from, SCENoApplyLegacyAuditPolicy: v ?? 'absent' };
      return v === 1 ? pass(evidence) : fail(evidence, 'SCENoApplyLegacyAuditPolicy is not 1: a legacy category policy can silently replace the subcategory settings');
    },
  }),
  check({
    id: 'win32.audit.security_log_size',
    title: { en: 'The Security event log holds at least 192 MB', zh: '安全事件日志最大容量不小于 192 MB' },
    mlps: '8.1.4.3 c) 安全审计: protect audit records from overwriting (log size / retention)',
    remediation: {
      en: 'Group Policy > Windows Components > Event Log Service > Security > Specify the maximum log file size (KB) = 196608 or more, and forward events to the log server (wevtutil sl Security /ms:201326592)',
      zh: '组策略 > Windows 组件 > 事件日志服务 > 安全 > “指定最大日志文件大小(KB)”设为不小于 196608，并将日志转发至日志服务器（wevtutil sl Security /ms:201326592）',
    },
    async run(ctx) {
      const pol = await regKey(ctx, REG.securityLogPolicy);
      if (!pol.ok) return pol.outcome;
      const svc = await regKey(ctx, REG.securityLog);
      if (!svc.ok) return svc.outcome;
      // The policy value is in KB and wins; the service value is in bytes.
      const polKb = regNum(pol.value, 'MaxSize');
      const svcBytes = regNum(svc.value, 'MaxSize');
      const kb = polKb ?? (svcBytes !== undefined ? Math.floor(svcBytes / 1024) : undefined);
      const evidence = {
        source: polKb !== undefined ? pol.from : svc.from, maxSizeKB: kb,
        retention: pol.value.get('retention')?.data ?? svc.value.get('retention')?.data ?? 'absent',
      };
      if (kb === undefined) return error(evidence, 'no MaxSize value for the Security log');
      return kb >= MIN_SECURITY_LOG_KB ? pass(evidence) : fail(evidence, `Security log maximum size is ${kb} KB, below ${MIN_SECURITY_LOG_KB} KB`);
    },
  }),
  check({
    id: 'win32.audit.eventlog_service',
    title: { en: 'The Windows Event Log service is running and starts automatically', zh: 'Windows 事件日志服务正在运行且为自动启动' },
    mlps: '8.1.4.3 d) 安全审计: protect the audit process from interruption',
    remediation: {
      en: 'Set-Service -Name EventLog -StartupType Automatic; Start-Service EventLog',
      zh: '执行 Set-Service -Name EventLog -StartupType Automatic; Start-Service EventLog',
    },
    async run(ctx) {
      const got = await services(ctx);
      if (!got.ok) return got.outcome;
      const s = got.value.find((x) => x.name.toLowerCase() === 'eventlog');
      if (!s) return fail({ source: got.from }, 'the EventLog service is not installed');
      const evidence = { source: got.from, status: s.status, startType: s.startType };
      return s.status === 'Running' && s.startType === 'Automatic' ? pass(evidence) : fail(evidence, `EventLog is ${s.status}, start type ${s.startType}`);
    },
  }),
  check({
    id: 'win32.audit.powershell_logging',
    title: { en: 'PowerShell script block logging is on', zh: '已启用 PowerShell 脚本块日志记录' },
    articles: ['art9', 'art18', 'art31'],
    mlps: '8.1.4.3 a) 安全审计: audit important user behaviour (scripts run)',
    remediation: {
      en: 'Group Policy > Windows Components > Windows PowerShell > Turn on PowerShell Script Block Logging = Enabled (HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\PowerShell\\ScriptBlockLogging EnableScriptBlockLogging = 1)',
      zh: '组策略 > Windows 组件 > Windows PowerShell > “启用 PowerShell 脚本块日志记录”设为已启用（EnableScriptBlockLogging = 1）',
    },
    async run(ctx) {
      const got = await regKey(ctx, REG.scriptBlockLogging);
      if (!got.ok) return got.outcome;
      const v = regNum(got.value, 'EnableScriptBlockLogging');
      const evidence = { source: got.from, EnableScriptBlockLogging: v ?? 'absent' };
      return v === 1 ? pass(evidence) : fail(evidence, 'script block logging is not enabled by policy');
    },
  }),
];
