/** Sharing services, legacy daemons and SMB client settings (MLPS 8.1.4.4 a, b: minimal services, no risky ports). */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import { isDict, bool, num } from './plist.js';
import { parseIni, parseKeyEquals } from './parse.js';
import { check, error, fail, pass, prefs, readPlistFile, services, serviceOn, show, T, toolOk, requireMacos } from './util.js';

function launchdOff(labels: string[], what: string): (ctx: CheckContext) => Promise<CheckOutcome> {
  return async (ctx) => {
    const s = await services(ctx);
    if (!s.ok) return s.outcome;
    const states = labels.map((l) => serviceOn(s.s, l));
    const on = states.filter((x) => x.on);
    const ev = { source: 'launchctl print-disabled system; launchctl list', services: states.map(({ label, override, loaded }) => ({ label, override, loaded })) };
    return on.length ? fail(ev, `${what} is on: ${on.map((x) => x.label).join(', ')}`) : pass(ev);
  };
}

const MLPS_SERVICES = '8.1.4.4 b) 入侵防范: close unneeded services, default shares and high-risk ports';

export const serviceChecks: CheckDef[] = [
  check({
    id: 'darwin.services.screen_sharing_disabled',
    title: { en: 'Screen Sharing (VNC, port 5900) is off', zh: '屏幕共享（VNC，5900 端口）已关闭' },
    mlps: MLPS_SERVICES,
    remediation: { en: 'sudo launchctl disable system/com.apple.screensharing; sudo launchctl bootout system/com.apple.screensharing', zh: '执行 sudo launchctl disable system/com.apple.screensharing 并 sudo launchctl bootout system/com.apple.screensharing' },
    run: launchdOff(['com.apple.screensharing'], 'Screen Sharing'),
  }),
  check({
    id: 'darwin.services.file_sharing_disabled',
    title: { en: 'File Sharing (SMB/AFP/NFS) is off', zh: '文件共享（SMB/AFP/NFS）已关闭' },
    mlps: MLPS_SERVICES,
    remediation: { en: 'sudo launchctl disable system/com.apple.smbd; sudo launchctl bootout system/com.apple.smbd (and com.apple.AppleFileServer, com.apple.nfsd)', zh: '执行 sudo launchctl disable system/com.apple.smbd 与 sudo launchctl bootout system/com.apple.smbd（AFP、NFS 同理）' },
    run: launchdOff(['com.apple.smbd', 'com.apple.AppleFileServer', 'com.apple.nfsd'], 'File Sharing'),
  }),
  check({
    id: 'darwin.services.remote_apple_events_disabled',
    title: { en: 'Remote Apple Events are off', zh: '远程 Apple 事件已关闭' },
    mlps: MLPS_SERVICES,
    remediation: { en: 'sudo systemsetup -setremoteappleevents off (or sudo launchctl disable system/com.apple.AEServer)', zh: '执行 sudo systemsetup -setremoteappleevents off（或 sudo launchctl disable system/com.apple.AEServer）' },
    run: launchdOff(['com.apple.AEServer'], 'Remote Apple Events'),
  }),
  check({
    id: 'darwin.services.legacy_insecure_disabled',
    title: { en: 'Cleartext legacy services (telnet, ftp, tftp, rsh, rlogin, rexec, finger) are off', zh: '明文传输的遗留服务（telnet、ftp、tftp、rsh、rlogin、rexec、finger）已关闭' },
    mlps: MLPS_SERVICES,
    remediation: { en: 'For each label listed: sudo launchctl disable system/<label>; sudo launchctl bootout system/<label>', zh: '对每个列出的服务执行 sudo launchctl disable system/<服务名> 和 sudo launchctl bootout system/<服务名>' },
    run: launchdOff(['com.apple.telnetd', 'com.apple.ftpd', 'com.apple.tftpd', 'com.apple.rshd', 'com.apple.rlogind', 'com.apple.rexecd', 'com.apple.fingerd'], 'a cleartext legacy service'),
  }),
  check({
    id: 'darwin.services.printer_sharing_disabled',
    title: { en: 'Printer Sharing is off', zh: '打印机共享已关闭' },
    mlps: MLPS_SERVICES,
    remediation: { en: 'sudo cupsctl --no-share-printers', zh: '执行 sudo cupsctl --no-share-printers' },
    async run(ctx) {
      const t = await toolOk(ctx, T.cupsctl, []);
      if (!t.ok) return t.outcome;
      const v = parseKeyEquals(t.r.stdout).get('_share_printers');
      if (v === undefined) return error({ command: t.cmd }, 'cupsctl printed no _share_printers');
      const ev = { source: t.cmd, _share_printers: v };
      return v === '0' ? pass(ev) : fail(ev, 'CUPS shares local printers on the network (port 631)');
    },
  }),
  check({
    id: 'darwin.services.internet_sharing_disabled',
    title: { en: 'Internet Sharing (NAT) is off', zh: '互联网共享（NAT）已关闭' },
    mlps: '8.1.4.4 b) 入侵防范: no unauthorised network paths',
    articles: ['art9', 'art31', 'art29'],
    remediation: { en: 'sudo defaults write /Library/Preferences/SystemConfiguration/com.apple.nat NAT -dict Enabled -int 0, then turn off Internet Sharing in System Settings > General > Sharing', zh: '执行 sudo defaults write /Library/Preferences/SystemConfiguration/com.apple.nat NAT -dict Enabled -int 0，并在“系统设置 > 通用 > 共享”中关闭互联网共享' },
    async run(ctx) {
      const g = await requireMacos(ctx);
      if (g) return g;
      const path = '/Library/Preferences/SystemConfiguration/com.apple.nat.plist';
      const r = await readPlistFile(ctx, path);
      if (r.kind === 'error') return error({ file: path }, r.reason);
      if (r.kind === 'missing') return pass({ file: path, present: false });
      const nat = isDict(r.value) ? r.value.NAT : undefined;
      const enabled = isDict(nat) ? bool(nat.Enabled) : undefined;
      const ev = { file: path, NAT_Enabled: show(isDict(nat) ? nat.Enabled : undefined) };
      return enabled ? fail(ev, 'this Mac shares its network connection with other devices') : pass(ev);
    },
  }),
  check({
    id: 'darwin.services.airdrop_disabled',
    title: { en: 'AirDrop is disabled by profile', zh: '已通过描述文件禁用隔空投送（AirDrop）' },
    mlps: '8.1.4.4 b) 入侵防范: close unneeded services',
    remediation: { en: 'Install an MDM restrictions profile: com.apple.NetworkBrowser DisableAirDrop = true (or com.apple.applicationaccess allowAirDrop = false)', zh: '通过 MDM 下发 com.apple.NetworkBrowser DisableAirDrop = true（或 com.apple.applicationaccess allowAirDrop = false）' },
    async run(ctx) {
      const g = await requireMacos(ctx);
      if (g) return g;
      const nb = await prefs(ctx, 'com.apple.NetworkBrowser', ['DisableAirDrop'], { local: false });
      const aa = await prefs(ctx, 'com.apple.applicationaccess', ['allowAirDrop'], { local: false });
      const err = nb.error ?? aa.error;
      if (err) return error({}, err);
      const ev = { sources: [...nb.sources, ...aa.sources], DisableAirDrop: show(nb.values.DisableAirDrop), allowAirDrop: show(aa.values.allowAirDrop) };
      return bool(nb.values.DisableAirDrop) === true || bool(aa.values.allowAirDrop) === false ? pass(ev) : fail(ev, 'no profile disables AirDrop');
    },
  }),
  check({
    id: 'darwin.services.smb1_client_disabled',
    title: { en: 'The SMB client does not speak SMBv1', zh: 'SMB 客户端已禁用 SMBv1 协议' },
    mlps: '8.1.4.4 b) 入侵防范: no high-risk protocols',
    remediation: { en: 'Add protocol_vers_map=6 under [default] in /etc/nsmb.conf', zh: '在 /etc/nsmb.conf 的 [default] 段加入 protocol_vers_map=6' },
    async run(ctx) {
      const g = await requireMacos(ctx);
      if (g) return g;
      const text = await ctx.readFile('/etc/nsmb.conf');
      // Without nsmb.conf the client negotiates SMB 1, 2 and 3 (protocol_vers_map=7).
      const v = text === null ? undefined : parseIni(text).get('default')?.get('protocol_vers_map');
      const map = v === undefined ? 7 : num(v);
      const ev = { file: '/etc/nsmb.conf', present: text !== null, protocol_vers_map: v ?? null };
      if (map === undefined) return error(ev, `unparseable protocol_vers_map=${v}`);
      return (map & 1) === 0 ? pass(ev) : fail(ev, 'SMBv1 is allowed (protocol_vers_map has bit 1 set or is unset)');
    },
  }),
  check({
    id: 'darwin.services.smb_signing_required',
    title: { en: 'The SMB client requires packet signing', zh: 'SMB 客户端强制数据包签名' },
    mlps: '8.1.4.1 c) 身份鉴别: protect authentication data in transit',
    remediation: { en: 'Add signing_required=yes under [default] in /etc/nsmb.conf', zh: '在 /etc/nsmb.conf 的 [default] 段加入 signing_required=yes' },
    async run(ctx) {
      const g = await requireMacos(ctx);
      if (g) return g;
      const text = await ctx.readFile('/etc/nsmb.conf');
      const v = text === null ? undefined : parseIni(text).get('default')?.get('signing_required');
      const ev = { file: '/etc/nsmb.conf', present: text !== null, signing_required: v ?? null };
      return v !== undefined && bool(v) === true ? pass(ev) : fail(ev, 'SMB signing is not required');
    },
  }),
];
