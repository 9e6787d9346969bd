/**
 * Host settings (MLPS 8.1.4.1–8.1.4.8): screen lock, AutoRun, firewall, UAC, LSA hardening,
 * removable storage, time synchronisation and disk encryption.
 */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import type { RegValue } from './parse.js';
import { ageDays, check, error, fail, notApplicable, pass } from './define.js';
import { BITLOCKER, firewall, psList, REG, regKey, regNum, w32tm } from './sources.js';

/** Reads one registry key and hands its values to `judge`. */
function regCheck(key: string, judge: (v: Map<string, RegValue>, evidence: Record<string, unknown>) => CheckOutcome) {
  return async (ctx: CheckContext): Promise<CheckOutcome> => {
    const got = await regKey(ctx, key);
    if (!got.ok) return got.outcome;
    return judge(got.value, { source: got.from });
  };
}

const MAX_INACTIVITY_SECS = 900;
const MAX_SYNC_AGE_DAYS = 7;
const LOCAL_CLOCKS = /local cmos clock|free-running system clock|本地 cmos 时钟|自由运行的系统时钟/i;

const BITLOCKER_PROTECTION = ['Off', 'On', 'Unknown'];

export const systemChecks: CheckDef[] = [
  check({
    id: 'win32.system.screen_lock',
    title: { en: 'The machine locks after at most 15 minutes of inactivity', zh: '计算机不活动 15 分钟内自动锁定' },
    mlps: '8.1.4.1 b) 身份鉴别: session timeout (登录连接超时自动退出)',
    remediation: {
      en: `Local Security Policy > Security Options > Interactive logon: Machine inactivity limit = ${MAX_INACTIVITY_SECS} seconds or less (InactivityTimeoutSecs)`,
      zh: `本地安全策略 > 安全选项 > “交互式登录: 计算机不活动限制”设为不超过 ${MAX_INACTIVITY_SECS} 秒（InactivityTimeoutSecs）`,
    },
    run: regCheck(REG.policiesSystem, (v, e) => {
      const secs = regNum(v, 'InactivityTimeoutSecs');
      Object.assign(e, { InactivityTimeoutSecs: secs ?? 'absent' });
      if (!secs) return fail(e, 'no machine inactivity limit is set');
      return secs <= MAX_INACTIVITY_SECS ? pass(e) : fail(e, `InactivityTimeoutSecs is ${secs}, above ${MAX_INACTIVITY_SECS}`);
    }),
  }),
  check({
    id: 'win32.system.autorun_disabled',
    title: { en: 'AutoRun is off for all drive types', zh: '已对所有驱动器类型关闭自动运行' },
    mlps: '8.1.4.5 恶意代码防范: block malicious code from removable media (AutoRun off)',
    remediation: {
      en: 'Group Policy > Windows Components > AutoPlay Policies > Turn off AutoPlay = Enabled, All drives (NoDriveTypeAutoRun = 0xff); Set the default behavior for AutoRun = Do not execute (NoAutorun = 1)',
      zh: '组策略 > Windows 组件 > 自动播放策略 > “关闭自动播放”设为已启用、所有驱动器（NoDriveTypeAutoRun = 0xff），“设置自动运行的默认行为”设为不执行任何自动运行命令（NoAutorun = 1）',
    },
    run: regCheck(REG.policiesExplorer, (v, e) => {
      const types = regNum(v, 'NoDriveTypeAutoRun');
      const noAutorun = regNum(v, 'NoAutorun');
      Object.assign(e, { NoDriveTypeAutoRun: types !== undefined ? `0x${types.toString(16)}` : 'absent', NoAutorun: noAutorun ?? 'absent' });
      if (types !== undefined && (types & 0xff) === 0xff) return pass(e);
      return fail(e, `AutoRun is not off for all drives (NoDriveTypeAutoRun ${types !== undefined ? `0x${types.toString(16)}` : 'unset, default 0x91'})`);
    }),
  }),
  check({
    id: 'win32.system.firewall_enabled',
    title: { en: 'Windows Firewall is on for the domain, private and public profiles', zh: 'Windows 防火墙在域、专用、公用配置文件中均已启用' },
    articles: ['art9', 'art29', 'art31'],
    mlps: '8.1.4.4 c) 入侵防范: restrict network access to the host (host firewall)',
    remediation: {
      en: 'netsh advfirewall set allprofiles state on (or Group Policy > Windows Defender Firewall with Advanced Security > Firewall state = On for every profile)',
      zh: '执行 netsh advfirewall set allprofiles state on（或在组策略中将各配置文件的防火墙状态设为启用）',
    },
    async run(ctx) {
      const got = await firewall(ctx);
      if (!got.ok) return got.outcome;
      const state = Object.fromEntries(got.value.map((p) => [p.profile, p.on ? 'ON' : 'OFF']));
      const evidence = { source: got.from, ...state };
      const missing = ['domain', 'private', 'public'].filter((p) => state[p] === undefined);
      if (missing.length) return error(evidence, `no State line for the ${missing.join(', ')} profile`);
      const off = got.value.filter((p) => !p.on).map((p) => p.profile);
      return off.length ? fail(evidence, `firewall off for the ${off.join(', ')} profile`) : pass(evidence);
    },
  }),
  check({
    id: 'win32.system.uac_enabled',
    title: { en: 'User Account Control is on and prompts administrators', zh: '已启用用户帐户控制（UAC）并对管理员提示' },
    mlps: '8.1.4.2 d) 访问控制: least privilege (UAC)',
    remediation: {
      en: 'Local Security Policy > Security Options > User Account Control: Run all administrators in Admin Approval Mode = Enabled (EnableLUA = 1), and Behavior of the elevation prompt for administrators = Prompt for consent/credentials on the secure desktop (ConsentPromptBehaviorAdmin = 1 or 2)',
      zh: '本地安全策略 > 安全选项 > “用户帐户控制: 以管理员批准模式运行所有管理员”设为已启用（EnableLUA = 1），“管理员批准模式中管理员的提升提示行为”设为在安全桌面上提示（ConsentPromptBehaviorAdmin = 1 或 2）',
    },
    run: regCheck(REG.policiesSystem, (v, e) => {
      const lua = regNum(v, 'EnableLUA');
      const consent = regNum(v, 'ConsentPromptBehaviorAdmin');
      Object.assign(e, { EnableLUA: lua ?? 'absent (default 1)', ConsentPromptBehaviorAdmin: consent ?? 'absent (default 5)' });
      if (lua === 0) return fail(e, 'UAC is off (EnableLUA = 0)');
      if (consent === 0) return fail(e, 'administrators elevate without any prompt (ConsentPromptBehaviorAdmin = 0)');
      return pass(e);
    }),
  }),
  check({
    id: 'win32.system.lsa_protection',
    title: { en: 'LSA runs as a protected process', zh: 'LSA 以受保护进程方式运行' },
    mlps: '8.1.4.4 入侵防范: protect credentials in memory (LSA protection)',
    remediation: {
      en: 'reg add HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa /v RunAsPPL /t REG_DWORD /d 1 /f, then restart (or Group Policy > System > Local Security Authority > Configure LSASS to run as a protected process)',
      zh: '执行 reg add HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa /v RunAsPPL /t REG_DWORD /d 1 /f 后重启（或在组策略 > 系统 > 本地安全机构中配置 LSASS 以受保护进程运行）',
    },
    run: regCheck(REG.lsa, (v, e) => {
      const ppl = regNum(v, 'RunAsPPL');
      Object.assign(e, { RunAsPPL: ppl ?? 'absent' });
      return ppl === 1 || ppl === 2 ? pass(e) : fail(e, 'LSASS is not configured to run as a protected process (RunAsPPL not 1 or 2)');
    }),
  }),
  check({
    id: 'win32.system.ntlm_hardening',
    title: { en: 'Only NTLMv2 is accepted and LM hashes are not stored', zh: '仅接受 NTLMv2 且不存储 LM 哈希' },
    mlps: '8.1.4.1 c) 身份鉴别: prevent eavesdropping of authentication data',
    remediation: {
      en: 'Local Security Policy > Security Options > Network security: LAN Manager authentication level = Send NTLMv2 response only. Refuse LM & NTLM (LmCompatibilityLevel = 5); Network security: Do not store LAN Manager hash value on next password change = Enabled (NoLMHash = 1)',
      zh: '本地安全策略 > 安全选项 > “网络安全: LAN 管理器身份验证级别”设为“仅发送 NTLMv2 响应。拒绝 LM 和 NTLM”（LmCompatibilityLevel = 5），“网络安全: 在下一次改变密码时不存储 LAN 管理器哈希值”设为已启用（NoLMHash = 1）',
    },
    run: regCheck(REG.lsa, (v, e) => {
      const level = regNum(v, 'LmCompatibilityLevel');
      const noLm = regNum(v, 'NoLMHash');
      Object.assign(e, { LmCompatibilityLevel: level ?? 'absent (default 3)', NoLMHash: noLm ?? 'absent (default 1)' });
      if (noLm === 0) return fail(e, 'LM hashes are stored (NoLMHash = 0)');
      if ((level ?? 3) < 5) return fail(e, `LmCompatibilityLevel is ${level ?? '3 (default)'}: LM and NTLMv1 responses are still accepted`);
      return pass(e);
    }),
  }),
  check({
    id: 'win32.system.anonymous_restrictions',
    title: { en: 'Anonymous enumeration of accounts and shares is refused', zh: '禁止匿名枚举帐户和共享' },
    mlps: '8.1.4.2 a) 访问控制: no anonymous access',
    remediation: {
      en: 'Local Security Policy > Security Options > Network access: Do not allow anonymous enumeration of SAM accounts and shares = Enabled (RestrictAnonymous = 1), and ... of SAM accounts = Enabled (RestrictAnonymousSAM = 1)',
      zh: '本地安全策略 > 安全选项 > “网络访问: 不允许 SAM 帐户和共享的匿名枚举”设为已启用（RestrictAnonymous = 1），“不允许 SAM 帐户的匿名枚举”设为已启用（RestrictAnonymousSAM = 1）',
    },
    run: regCheck(REG.lsa, (v, e) => {
      const ra = regNum(v, 'RestrictAnonymous');
      const sam = regNum(v, 'RestrictAnonymousSAM');
      const everyone = regNum(v, 'EveryoneIncludesAnonymous');
      Object.assign(e, { RestrictAnonymous: ra ?? 'absent (default 0)', RestrictAnonymousSAM: sam ?? 'absent (default 1)', EveryoneIncludesAnonymous: everyone ?? 'absent (default 0)' });
      const bad = [(ra ?? 0) < 1 && 'RestrictAnonymous < 1', sam === 0 && 'RestrictAnonymousSAM = 0', everyone === 1 && 'EveryoneIncludesAnonymous = 1'].filter(Boolean);
      return bad.length ? fail(e, `anonymous access allowed: ${bad.join(', ')}`) : pass(e);
    }),
  }),
  check({
    id: 'win32.system.usb_storage',
    title: { en: 'The USB mass-storage driver is disabled', zh: '已禁用 USB 大容量存储驱动' },
    mlps: '8.1.4.5 恶意代码防范 / 8.1.4.8 数据保密性: control removable storage',
    remediation: {
      en: 'reg add HKLM\\SYSTEM\\CurrentControlSet\\Services\\USBSTOR /v Start /t REG_DWORD /d 4 /f (or let termguard\'s removable-media control allow approved devices only)',
      zh: '执行 reg add HKLM\\SYSTEM\\CurrentControlSet\\Services\\USBSTOR /v Start /t REG_DWORD /d 4 /f（或由 termguard 的移动介质管控仅放行经批准的设备）',
    },
    run: regCheck(REG.usbstor, (v, e) => {
      const start = regNum(v, 'Start');
      Object.assign(e, { Start: start ?? 'absent' });
      if (start === undefined) return notApplicable(e, 'the USBSTOR driver is not installed yet (no USB disk has been connected)');
      return start === 4 ? pass(e) : fail(e, `USBSTOR Start is ${start}: USB disks mount when plugged in`);
    }),
  }),
  check({
    id: 'win32.system.time_sync',
    title: { en: `The clock synchronises with a time source (last sync within ${MAX_SYNC_AGE_DAYS} days)`, zh: `系统时间与时间源同步（最近同步在 ${MAX_SYNC_AGE_DAYS} 天内）` },
    mlps: '8.1.4.3 b) 安全审计: accurate timestamps in audit records (time synchronisation)',
    remediation: {
      en: 'w32tm /config /manualpeerlist:"<internal NTP server>,0x8" /syncfromflags:manual /update; Set-Service W32Time -StartupType Automatic; Start-Service W32Time; w32tm /resync',
      zh: '执行 w32tm /config /manualpeerlist:"<内部 NTP 服务器>,0x8" /syncfromflags:manual /update; Set-Service W32Time -StartupType Automatic; Start-Service W32Time; w32tm /resync',
    },
    async run(ctx) {
      const got = await w32tm(ctx);
      if (!got.ok) return got.outcome;
      if (got.value.serviceStopped) return fail({ source: got.from }, 'the Windows Time service is not running (0x80070426)');
      const st = got.value.status!;
      const evidence = { source: got.from, Source: st.source, lastSuccessfulSync: st.lastSyncText ?? null, stratum: st.stratum };
      if (LOCAL_CLOCKS.test(st.source ?? '')) return fail(evidence, `no time source: the clock runs from ${st.source}`);
      if (!st.lastSync) return fail(evidence, `never synchronised (Last Successful Sync Time: ${st.lastSyncText ?? 'missing'})`);
      const age = ageDays(st.lastSync, ctx.now);
      return age <= MAX_SYNC_AGE_DAYS ? pass(evidence) : fail(evidence, `last successful sync was ${age} days ago`);
    },
  }),
  check({
    id: 'win32.system.disk_encryption',
    title: { en: 'The system drive is BitLocker-encrypted with protection on', zh: '系统盘已启用 BitLocker 加密保护' },
    mlps: '8.1.4.8 b) 数据保密性: confidentiality of stored data (disk encryption)',
    remediation: {
      en: 'Enable-BitLocker -MountPoint $env:SystemDrive -EncryptionMethod XtsAes256 -TpmProtector (escrow the recovery key to AD or the institution\'s key store first)',
      zh: '执行 Enable-BitLocker -MountPoint $env:SystemDrive -EncryptionMethod XtsAes256 -TpmProtector（事先将恢复密钥备份至 AD 或本机构密钥库）',
    },
    async run(ctx) {
      const got = await psList(ctx, BITLOCKER, 'Get-BitLockerVolume');
      if (!got.ok) {
        const reason = got.outcome.reason ?? '';
        // Home editions and servers without the BitLocker feature have no such cmdlet.
        if (/not recognized|无法将.*识别/i.test(reason)) return notApplicable({ source: 'Get-BitLockerVolume' }, 'BitLocker is not available on this edition');
        return got.outcome;
      }
      const v = got.value[0];
      if (!v) return error({ source: got.from }, 'Get-BitLockerVolume printed nothing for the system drive');
      const raw = v.ProtectionStatus;
      const protection = typeof raw === 'number' ? BITLOCKER_PROTECTION[raw] ?? String(raw) : String(raw);
      const evidence = { source: got.from, MountPoint: v.MountPoint, ProtectionStatus: protection, EncryptionPercentage: v.EncryptionPercentage };
      return protection === 'On' ? pass(evidence) : fail(evidence, `BitLocker protection is ${protection} on ${String(v.MountPoint ?? 'the system drive')}`);
    },
  }),
];
