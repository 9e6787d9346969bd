/**
 * Unneeded services, high-risk ports and SMB (MLPS 8.1.4.4 入侵防范 b) 关闭不需要的系统服务、默认
 * 共享和高危端口; 8.1.4.7 数据完整性 for SMB signing).
 */
import type { CheckDef } from '../types.js';
import { check, error, fail, pass } from './define.js';
import { psBool } from './parse.js';
import { LISTENERS, psList, services, SMB_SERVER } from './sources.js';

/** Services a trading terminal never needs that expose a network surface, by service name. */
const RISKY_SERVICES: Record<string, string> = {
  tlntsvr: 'Telnet server',
  ftpsvc: 'IIS FTP server',
  msftpsvc: 'FTP publishing (legacy IIS)',
  simptcp: 'Simple TCP/IP Services (echo, chargen, daytime)',
  snmp: 'SNMP service (v1/v2c community strings)',
  remoteregistry: 'Remote Registry',
  remoteaccess: 'Routing and Remote Access',
  sharedaccess: 'Internet Connection Sharing',
  ssdpsrv: 'SSDP Discovery',
  upnphost: 'UPnP Device Host',
  browser: 'Computer Browser',
  tftpd: 'TFTP server',
};

/** TCP ports of clear-text or remote-shell protocols. */
const RISKY_PORTS: Record<number, string> = {
  21: 'FTP', 23: 'Telnet', 69: 'TFTP', 512: 'rexec', 513: 'rlogin', 514: 'rsh', 2323: 'Telnet (alt)', 5800: 'VNC (HTTP)', 5900: 'VNC',
};

function isLoopback(addr: string): boolean {
  return addr === '::1' || addr.startsWith('127.');
}

export const serviceChecks: CheckDef[] = [
  check({
    id: 'win32.service.risky_services',
    title: { en: 'Unneeded network services (Telnet, FTP, SNMP, Remote Registry…) are not running', zh: '不需要的网络服务（Telnet、FTP、SNMP、远程注册表等）未运行' },
    mlps: '8.1.4.4 b) 入侵防范: disable unneeded system services',
    remediation: {
      en: 'For each listed service: Stop-Service <name>; Set-Service <name> -StartupType Disabled (or remove the Windows feature, e.g. Disable-WindowsOptionalFeature -Online -FeatureName TelnetServer)',
      zh: '对列出的每个服务执行 Stop-Service <服务名>; Set-Service <服务名> -StartupType Disabled（或卸载对应 Windows 功能）',
    },
    async run(ctx) {
      const got = await services(ctx);
      if (!got.ok) return got.outcome;
      const found = got.value
        .filter((s) => RISKY_SERVICES[s.name.toLowerCase()] !== undefined)
        .filter((s) => s.status === 'Running' || s.startType === 'Automatic')
        .map((s) => ({ name: s.name, what: RISKY_SERVICES[s.name.toLowerCase()], status: s.status, startType: s.startType }));
      const evidence = { source: got.from, servicesListed: got.value.length, risky: found };
      return found.length ? fail(evidence, `running or auto-start: ${found.map((s) => s.name).join(', ')}`) : pass(evidence);
    },
  }),
  check({
    id: 'win32.service.listening_ports',
    title: { en: 'No high-risk TCP port (FTP, Telnet, r-services, VNC) is listening', zh: '未监听高危 TCP 端口（FTP、Telnet、r 系列服务、VNC）' },
    mlps: '8.1.4.4 b) 入侵防范: close high-risk ports',
    remediation: {
      en: 'Find the owner (Get-Process -Id <OwningProcess>), stop and disable that service or program, and block the port: New-NetFirewallRule -Direction Inbound -Protocol TCP -LocalPort <port> -Action Block',
      zh: '用 Get-Process -Id <OwningProcess> 找到监听进程，停止并禁用对应服务或程序，并用 New-NetFirewallRule -Direction Inbound -Protocol TCP -LocalPort <端口> -Action Block 阻断',
    },
    async run(ctx) {
      const got = await psList(ctx, LISTENERS, 'Get-NetTCPConnection -State Listen');
      if (!got.ok) return got.outcome;
      const external = got.value
        .map((c) => ({ address: String(c.LocalAddress ?? ''), port: Number(c.LocalPort), pid: c.OwningProcess }))
        .filter((c) => Number.isInteger(c.port) && !isLoopback(c.address));
      const ports = [...new Set(external.map((c) => c.port))].sort((a, b) => a - b);
      const risky = external.filter((c) => RISKY_PORTS[c.port] !== undefined).map((c) => ({ ...c, protocol: RISKY_PORTS[c.port] }));
      const evidence = { source: got.from, listeningPorts: ports.slice(0, 40), risky };
      return risky.length ? fail(evidence, `high-risk ports listening: ${[...new Set(risky.map((r) => `${r.port}/${r.protocol}`))].join(', ')}`) : pass(evidence);
    },
  }),
  check({
    id: 'win32.service.smb1_disabled',
    title: { en: 'The SMBv1 server protocol is disabled', zh: '已禁用 SMBv1 服务端协议' },
    mlps: '8.1.4.4 b) 入侵防范: disable unneeded protocols (SMBv1)',
    remediation: {
      en: 'Set-SmbServerConfiguration -EnableSMB1Protocol $false -Force; Disable-WindowsOptionalFeature -Online -FeatureName SMB1Protocol',
      zh: '执行 Set-SmbServerConfiguration -EnableSMB1Protocol $false -Force 并 Disable-WindowsOptionalFeature -Online -FeatureName SMB1Protocol',
    },
    async run(ctx) {
      const got = await psList(ctx, SMB_SERVER, 'Get-SmbServerConfiguration');
      if (!got.ok) return got.outcome;
      const v = psBool(got.value[0]?.EnableSMB1Protocol);
      const evidence = { source: got.from, EnableSMB1Protocol: v };
      if (v === undefined) return error(evidence, 'Get-SmbServerConfiguration printed no EnableSMB1Protocol');
      return v ? fail(evidence, 'the SMBv1 server protocol is enabled') : pass(evidence);
    },
  }),
  check({
    id: 'win32.service.smb_signing',
    title: { en: 'The SMB server requires message signing', zh: 'SMB 服务端强制要求数据包签名' },
    mlps: '8.1.4.7 a) 数据完整性: integrity of data in transit (SMB signing)',
    remediation: {
      en: 'Local Security Policy > Security Options > Microsoft network server: Digitally sign communications (always) = Enabled (Set-SmbServerConfiguration -RequireSecuritySignature $true -Force)',
      zh: '本地安全策略 > 安全选项 > “Microsoft 网络服务器: 对通信进行数字签名(始终)”设为已启用（Set-SmbServerConfiguration -RequireSecuritySignature $true -Force）',
    },
    async run(ctx) {
      const got = await psList(ctx, SMB_SERVER, 'Get-SmbServerConfiguration');
      if (!got.ok) return got.outcome;
      const v = psBool(got.value[0]?.RequireSecuritySignature);
      const evidence = { source: got.from, RequireSecuritySignature: v, EnableSecuritySignature: psBool(got.value[0]?.EnableSecuritySignature) };
      if (v === undefined) return error(evidence, 'Get-SmbServerConfiguration printed no RequireSecuritySignature');
      return v ? pass(evidence) : fail(evidence, 'the SMB server does not require signing');
    },
  }),
];
