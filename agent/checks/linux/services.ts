/** Intrusion prevention (MLPS 8.1.4.4 a/b): unneeded services, high-risk listening ports, SMB1. */
import type { CheckDef } from '../types.js';
import { isLoopback, parseIni, parseSs } from './parse.js';
import { enabledUnits, err, fail, findUnits, head, linux, na, pass } from './util.js';

const ART = ['art9', 'art31'];

/** Cleartext or legacy remote services, and discovery daemons a trading terminal has no use for. */
const INSECURE_UNITS = [
  'telnet', 'telnetd', 'telnet.socket', 'inetutils-telnetd', 'rsh.socket', 'rlogin.socket', 'rexec.socket', 'rsh', 'rlogin', 'rexec',
  'vsftpd', 'proftpd', 'pure-ftpd', 'tftp', 'tftp.socket', 'tftpd-hpa', 'atftpd', 'xinetd', 'inetd', 'openbsd-inetd',
  'ypserv', 'ypbind', 'talk', 'ntalk', 'rpcbind', 'rpcbind.socket', 'nfs-server', 'avahi-daemon', 'avahi-daemon.socket', 'snmpd', 'vncserver@', 'x11vnc',
];

const insecureServices = linux({
  id: 'linux.services.insecure',
  title: { en: 'No cleartext or unneeded network services are enabled (telnet, rsh, ftp, tftp, NIS, …)', zh: '未启用明文或不必要的网络服务（telnet、rsh、ftp、tftp、NIS 等）' },
  articles: ART, mlps: '8.1.4.4 b) 入侵防范: 关闭不需要的系统服务',
  remediation: { en: 'Disable and remove each listed unit: `systemctl disable --now <unit>` and `apt-get purge <pkg>` / `dnf remove <pkg>`.', zh: '对列出的每个服务执行 `systemctl disable --now <服务>`，并用 `apt-get purge <软件包>` 或 `dnf remove <软件包>` 卸载。' },
  async run(ctx) {
    const u = await enabledUnits(ctx);
    if ('error' in u) return err(u.error);
    const found = findUnits(u.units, INSECURE_UNITS);
    const evidence = { unitsFrom: u.source, enabled: Object.keys(u.units).length, insecure: found };
    return found.length === 0 ? pass(evidence) : fail(`unneeded or cleartext services enabled: ${found.join(', ')}`, evidence);
  },
});

const RISKY_PORTS: Record<number, string> = {
  21: 'ftp', 23: 'telnet', 69: 'tftp', 111: 'rpcbind', 135: 'msrpc', 137: 'netbios-ns', 138: 'netbios-dgm', 139: 'netbios-ssn', 445: 'smb',
  512: 'rexec', 513: 'rlogin', 514: 'rsh/syslog', 873: 'rsync', 2049: 'nfs', 3389: 'rdp', 5900: 'vnc', 5901: 'vnc', 6000: 'x11', 5353: 'mdns', 161: 'snmp',
};

const listeningPorts = linux({
  id: 'linux.services.listening_ports',
  title: { en: 'No high-risk port listens on a network interface', zh: '高危端口未在网络接口上监听' },
  articles: ART, mlps: '8.1.4.4 b) 入侵防范: 关闭高危端口',
  remediation: { en: 'Stop or uninstall the listed services (`ss -tulnp` shows the owning process), or bind them to 127.0.0.1.', zh: '停止或卸载列出的服务（`ss -tulnp` 可查看对应进程），或将其仅绑定到 127.0.0.1。' },
  async run(ctx) {
    const r = await ctx.run('ss', ['-tulnH']);
    if (r.error || r.code !== 0) return err(`ss failed: ${r.error ?? `exit ${r.code}: ${r.stderr.trim()}`}`);
    const socks = parseSs(r.stdout);
    const exposed = socks.filter((s) => !isLoopback(s.address));
    const risky = exposed.filter((s) => RISKY_PORTS[s.port] !== undefined).map((s) => `${s.netid} ${s.local} (${RISKY_PORTS[s.port]})`);
    const evidence = { command: 'ss -tulnH', listening: socks.length, exposed: head(exposed.map((s) => `${s.netid} ${s.local}`), 15), risky };
    return risky.length === 0 ? pass(evidence) : fail(`high-risk ports listening: ${risky.join(', ')}`, evidence);
  },
});

const SMB1 = ['CORE', 'COREPLUS', 'LANMAN1', 'LANMAN2', 'NT1'];

const smb1 = linux({
  id: 'linux.services.smb1',
  title: { en: 'Samba refuses SMB1 (server min protocol ≥ SMB2)', zh: 'Samba 禁用 SMB1 协议（最低协议不低于 SMB2）' },
  articles: ART, mlps: '8.1.4.4 b) 入侵防范: 关闭高危协议（SMB1）',
  remediation: { en: 'In the [global] section of /etc/samba/smb.conf set `server min protocol = SMB2_10` (and `client min protocol = SMB2_10`), then `systemctl restart smbd`.', zh: '在 /etc/samba/smb.conf 的 [global] 段设置 `server min protocol = SMB2_10`（及 `client min protocol = SMB2_10`），然后执行 `systemctl restart smbd`。' },
  async run(ctx) {
    const t = await ctx.readFile('/etc/samba/smb.conf');
    if (t === null) return na('Samba is not installed');
    const g = parseIni(t, { lowerKeys: true }).global ?? {};
    const raw = g['server min protocol'] ?? g['min protocol'] ?? null;
    const evidence = { file: '/etc/samba/smb.conf', 'server min protocol': raw };
    // Samba before 4.11 (still shipped by older Kylin/UOS) defaults to NT1, so an unset value is not trusted.
    if (raw === null) return fail('server min protocol is not set; Samba before 4.11 accepts SMB1 by default', evidence);
    return SMB1.includes(raw.toUpperCase()) ? fail(`server min protocol = ${raw} allows SMB1`, evidence) : pass(evidence);
  },
});

export const serviceChecks: CheckDef[] = [insecureServices, listeningPorts, smb1];
