/**
 * Remote administration (MLPS 8.1.4.1 b/c 身份鉴别: session timeout, credentials protected in
 * transit): RDP, Remote Assistance, WinRM. Group Policy values under HKLM\SOFTWARE\Policies win
 * over the local ones, as Windows applies them.
 */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import { check, fail, notApplicable, pass } from './define.js';
import type { RegValue } from './parse.js';
import { REG, regKey, regNum, services, type Got } from './sources.js';

interface Rdp {
  enabled: boolean;
  policy: Map<string, RegValue>;
  rdpTcp: Map<string, RegValue>;
  fDenyTSConnections: number;
}

async function rdp(ctx: CheckContext): Promise<Got<Rdp>> {
  const policy = await regKey(ctx, REG.terminalServicesPolicy);
  if (!policy.ok) return policy;
  const ts = await regKey(ctx, REG.terminalServer);
  if (!ts.ok) return ts;
  const rdpTcp = await regKey(ctx, REG.rdpTcp);
  if (!rdpTcp.ok) return rdpTcp;
  // Absent everywhere means the Windows default: connections denied.
  const deny = regNum(policy.value, 'fDenyTSConnections') ?? regNum(ts.value, 'fDenyTSConnections') ?? 1;
  return { ok: true, value: { enabled: deny === 0, policy: policy.value, rdpTcp: rdpTcp.value, fDenyTSConnections: deny }, from: 'reg query (Terminal Server, RDP-Tcp, Terminal Services policy)' };
}

/** A value as Windows applies it: the policy one if set, else the RDP-Tcp listener's. */
function effective(r: Rdp, name: string): { value?: number; from: string } {
  const p = regNum(r.policy, name);
  if (p !== undefined) return { value: p, from: 'policy' };
  const l = regNum(r.rdpTcp, name);
  return l !== undefined ? { value: l, from: 'RDP-Tcp' } : { from: 'absent' };
}

function rdpCheck(judge: (r: Rdp, evidence: Record<string, unknown>) => CheckOutcome) {
  return async (ctx: CheckContext): Promise<CheckOutcome> => {
    const got = await rdp(ctx);
    if (!got.ok) return got.outcome;
    const evidence: Record<string, unknown> = { source: got.from, fDenyTSConnections: got.value.fDenyTSConnections };
    if (!got.value.enabled) return notApplicable(evidence, 'Remote Desktop is disabled (fDenyTSConnections = 1)');
    return judge(got.value, evidence);
  };
}

const MAX_IDLE_MS = 15 * 60 * 1000;

export const remoteChecks: CheckDef[] = [
  check({
    id: 'win32.remote.rdp_nla',
    title: { en: 'Remote Desktop requires Network Level Authentication', zh: '远程桌面要求网络级别身份验证（NLA）' },
    mlps: '8.1.4.1 c) 身份鉴别: protect credentials during remote administration',
    remediation: {
      en: 'Group Policy > Remote Desktop Session Host > Security > Require user authentication for remote connections by using Network Level Authentication = Enabled (RDP-Tcp UserAuthentication = 1)',
      zh: '组策略 > 远程桌面会话主机 > 安全 > “要求使用网络级别的身份验证对远程连接的用户进行身份验证”设为已启用（RDP-Tcp UserAuthentication = 1）',
    },
    run: rdpCheck((r, evidence) => {
      const ua = effective(r, 'UserAuthentication');
      Object.assign(evidence, { UserAuthentication: ua.value ?? 'absent', from: ua.from });
      return ua.value === 1 ? pass(evidence) : fail(evidence, 'RDP accepts connections without Network Level Authentication');
    }),
  }),
  check({
    id: 'win32.remote.rdp_encryption',
    title: { en: 'Remote Desktop uses TLS and high encryption', zh: '远程桌面使用 TLS 及高加密级别' },
    mlps: '8.1.4.1 c) 身份鉴别: prevent eavesdropping of credentials in transit',
    remediation: {
      en: 'Group Policy > Remote Desktop Session Host > Security > Set client connection encryption level = High Level, and Require use of specific security layer = SSL (MinEncryptionLevel = 3, SecurityLayer = 2)',
      zh: '组策略 > 远程桌面会话主机 > 安全 > “设置客户端连接加密级别”设为高级别，“要求使用指定的安全层”设为 SSL（MinEncryptionLevel = 3，SecurityLayer = 2）',
    },
    run: rdpCheck((r, evidence) => {
      const level = effective(r, 'MinEncryptionLevel');
      const layer = effective(r, 'SecurityLayer');
      Object.assign(evidence, { MinEncryptionLevel: level.value ?? 'absent', SecurityLayer: layer.value ?? 'absent' });
      if (layer.value === 0) return fail(evidence, 'SecurityLayer is 0: the legacy RDP security layer without TLS');
      if (level.value === undefined || level.value < 3) return fail(evidence, `MinEncryptionLevel is ${level.value ?? 'unset'}, below 3 (High)`);
      return pass(evidence);
    }),
  }),
  check({
    id: 'win32.remote.rdp_idle_timeout',
    title: { en: 'Idle Remote Desktop sessions end within 15 minutes', zh: '远程桌面空闲会话 15 分钟内自动断开' },
    mlps: '8.1.4.1 b) 身份鉴别: end sessions on timeout (登录连接超时自动退出)',
    remediation: {
      en: 'Group Policy > Remote Desktop Session Host > Session Time Limits > Set time limit for active but idle Remote Desktop Services sessions = 15 minutes (MaxIdleTime = 900000)',
      zh: '组策略 > 远程桌面会话主机 > 会话时间限制 > “设置活动但空闲的远程桌面服务会话的时间限制”设为 15 分钟（MaxIdleTime = 900000）',
    },
    run: rdpCheck((r, evidence) => {
      const idle = effective(r, 'MaxIdleTime');
      Object.assign(evidence, { MaxIdleTimeMs: idle.value ?? 'absent', from: idle.from });
      if (!idle.value) return fail(evidence, 'no idle limit for RDP sessions (MaxIdleTime unset or 0)');
      return idle.value <= MAX_IDLE_MS ? pass(evidence) : fail(evidence, `MaxIdleTime is ${idle.value / 60000} minutes, above 15`);
    }),
  }),
  check({
    id: 'win32.remote.remote_assistance',
    title: { en: 'Remote Assistance is off', zh: '已关闭远程协助' },
    mlps: '8.1.4.4 c) 入侵防范: restrict remote management access',
    remediation: {
      en: 'System Properties > Remote > clear "Allow Remote Assistance connections", or Group Policy > System > Remote Assistance > Configure Solicited Remote Assistance = Disabled (fAllowToGetHelp = 0)',
      zh: '系统属性 > 远程 > 取消“允许远程协助连接这台计算机”，或组策略 > 系统 > 远程协助 > “配置请求的远程协助”设为已禁用（fAllowToGetHelp = 0）',
    },
    async run(ctx) {
      const pol = await regKey(ctx, REG.terminalServicesPolicy);
      if (!pol.ok) return pol.outcome;
      const ra = await regKey(ctx, REG.remoteAssistance);
      if (!ra.ok) return ra.outcome;
      const p = regNum(pol.value, 'fAllowToGetHelp');
      const v = p ?? regNum(ra.value, 'fAllowToGetHelp');
      const evidence = { source: p !== undefined ? pol.from : ra.from, fAllowToGetHelp: v ?? 'absent (default allows)' };
      return v === 0 ? pass(evidence) : fail(evidence, 'Remote Assistance connections are allowed');
    },
  }),
  check({
    id: 'win32.remote.winrm_secure',
    title: { en: 'WinRM is off, or refuses Basic authentication and unencrypted traffic', zh: 'WinRM 未运行，或已禁止基本身份验证和未加密通信' },
    mlps: '8.1.4.1 c) 身份鉴别: protect credentials during remote administration (WinRM)',
    remediation: {
      en: 'If unused: Stop-Service WinRM; Set-Service WinRM -StartupType Disabled. Otherwise Group Policy > Windows Remote Management > WinRM Service > Allow Basic authentication = Disabled and Allow unencrypted traffic = Disabled',
      zh: '如不使用：Stop-Service WinRM; Set-Service WinRM -StartupType Disabled；否则在组策略 > Windows 远程管理 > WinRM 服务中将“允许基本身份验证”和“允许未加密通信”设为已禁用',
    },
    async run(ctx) {
      const svc = await services(ctx);
      if (!svc.ok) return svc.outcome;
      const w = svc.value.find((s) => s.name.toLowerCase() === 'winrm');
      if (!w || w.status !== 'Running') return pass({ source: svc.from, WinRM: w ? `${w.status}, ${w.startType}` : 'not installed' });
      const pol = await regKey(ctx, REG.winrmPolicy);
      if (!pol.ok) return pol.outcome;
      const basic = regNum(pol.value, 'AllowBasic');
      const plain = regNum(pol.value, 'AllowUnencryptedTraffic');
      const evidence = { source: pol.from, WinRM: `${w.status}, ${w.startType}`, AllowBasic: basic ?? 'absent (default 0)', AllowUnencryptedTraffic: plain ?? 'absent (default 0)' };
      const bad = [basic === 1 && 'Basic authentication', plain === 1 && 'unencrypted traffic'].filter(Boolean);
      return bad.length ? fail(evidence, `WinRM is running and allows ${bad.join(' and ')}`) : pass(evidence);
    },
  }),
];
