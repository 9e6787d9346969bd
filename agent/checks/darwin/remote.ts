/** Remote Login (sshd) and host firewall (MLPS 8.1.4.1 b, c; 8.1.4.2 d; 8.1.4.4 b, c). */
import type { CheckDef } from '../types.js';
import { channelTimeoutSeconds, parseFirewallState, parseStealthMode, sshTime } from './parse.js';
import { check, error, fail, pass, remoteLogin, sshdCheck, T, toolOk } from './util.js';

export const SSH_MAX_IDLE_SECONDS = 900;
export const SSH_MAX_AUTH_TRIES = 5;

export const remoteChecks: CheckDef[] = [
  check({
    id: 'darwin.remote.remote_login_disabled',
    title: { en: 'Remote Login (SSH) is off', zh: '远程登录（SSH）已关闭' },
    mlps: '8.1.4.4 c) 入侵防范: restrict remote management access',
    remediation: { en: 'sudo systemsetup -f -setremotelogin off (needs Full Disk Access) or System Settings > General > Sharing > Remote Login off; where SSH is required keep the darwin.remote.ssh_* checks passing', zh: '执行 sudo systemsetup -f -setremotelogin off（需完全磁盘访问权限），或在“系统设置 > 通用 > 共享”中关闭远程登录；确需 SSH 时须满足 darwin.remote.ssh_* 各项检查' },
    async run(ctx) {
      const rl = await remoteLogin(ctx);
      if (!rl.ok) return rl.outcome;
      const ev = { source: 'launchctl print-disabled system; launchctl list', ...rl.evidence };
      return rl.on ? fail(ev, 'sshd accepts remote logins') : pass(ev);
    },
  }),
  check({
    id: 'darwin.remote.ssh_root_login',
    title: { en: 'SSH does not allow root login', zh: 'SSH 禁止 root 直接登录' },
    mlps: '8.1.4.2 d) 访问控制: least privilege, no direct superuser login',
    remediation: { en: 'Set PermitRootLogin no in /etc/ssh/sshd_config.d/010-termguard.conf, then sudo launchctl kickstart -k system/com.openssh.sshd', zh: '在 /etc/ssh/sshd_config.d/010-termguard.conf 中设置 PermitRootLogin no，然后执行 sudo launchctl kickstart -k system/com.openssh.sshd' },
    run: sshdCheck((s) => {
      const v = s.get('permitrootlogin') ?? 'prohibit-password';
      const ev = { PermitRootLogin: v, default: !s.has('permitrootlogin') };
      return v.toLowerCase() === 'no' ? pass(ev) : fail(ev, `PermitRootLogin ${v}`);
    }),
  }),
  check({
    id: 'darwin.remote.ssh_idle_timeout',
    title: { en: `Idle SSH sessions are closed within ${SSH_MAX_IDLE_SECONDS / 60} minutes`, zh: `SSH 空闲会话 ${SSH_MAX_IDLE_SECONDS / 60} 分钟内断开` },
    mlps: '8.1.4.1 b) 身份鉴别: log out idle remote connections',
    remediation: { en: 'In /etc/ssh/sshd_config.d/010-termguard.conf set ChannelTimeout session=15m (OpenSSH 9.2+), or ClientAliveInterval 300 with ClientAliveCountMax 3', zh: '在 /etc/ssh/sshd_config.d/010-termguard.conf 中设置 ChannelTimeout session=15m（OpenSSH 9.2 及以上），或 ClientAliveInterval 300 与 ClientAliveCountMax 3' },
    run: sshdCheck((s) => {
      // OpenSSH 9.2+: ChannelTimeout closes a session whose channel sees no traffic.
      const ct = s.get('channeltimeout');
      const ctSecs = ct ? channelTimeoutSeconds(ct) : undefined;
      const interval = sshTime(s.get('clientaliveinterval') ?? '0') ?? 0;
      const count = Number(s.get('clientalivecountmax') ?? 3);
      const ev = { ChannelTimeout: ct ?? null, ClientAliveInterval: interval, ClientAliveCountMax: count };
      if (ctSecs !== undefined && ctSecs > 0 && ctSecs <= SSH_MAX_IDLE_SECONDS) return pass(ev);
      if (!(interval > 0)) return fail(ev, 'no ChannelTimeout and ClientAliveInterval is 0: idle sessions are never closed');
      // OpenSSH 8.2+: ClientAliveCountMax 0 disables termination instead of killing at once.
      if (count <= 0) return fail(ev, 'ClientAliveCountMax 0 disables idle termination (OpenSSH 8.2+)');
      const total = interval * count;
      return total <= SSH_MAX_IDLE_SECONDS ? pass(ev) : fail(ev, `unanswered sessions last ${total} s (> ${SSH_MAX_IDLE_SECONDS})`);
    }),
  }),
  check({
    id: 'darwin.remote.ssh_max_auth_tries',
    title: { en: `SSH allows at most ${SSH_MAX_AUTH_TRIES} authentication attempts per connection`, zh: `SSH 单连接认证尝试不超过 ${SSH_MAX_AUTH_TRIES} 次` },
    mlps: '8.1.4.1 b) 身份鉴别: limit failed login attempts',
    remediation: { en: `Set MaxAuthTries ${SSH_MAX_AUTH_TRIES} in /etc/ssh/sshd_config.d/010-termguard.conf`, zh: `在 /etc/ssh/sshd_config.d/010-termguard.conf 中设置 MaxAuthTries ${SSH_MAX_AUTH_TRIES}` },
    run: sshdCheck((s) => {
      const v = Number(s.get('maxauthtries') ?? 6);
      const ev = { MaxAuthTries: v, default: !s.has('maxauthtries') };
      return v > 0 && v <= SSH_MAX_AUTH_TRIES ? pass(ev) : fail(ev, `MaxAuthTries ${v} (> ${SSH_MAX_AUTH_TRIES})`);
    }),
  }),
  check({
    id: 'darwin.remote.ssh_empty_passwords',
    title: { en: 'SSH refuses empty passwords', zh: 'SSH 禁止空口令登录' },
    mlps: '8.1.4.1 a) 身份鉴别: no empty credentials',
    remediation: { en: 'Set PermitEmptyPasswords no in /etc/ssh/sshd_config and remove any PermitEmptyPasswords yes', zh: '在 /etc/ssh/sshd_config 中设置 PermitEmptyPasswords no 并删除任何 PermitEmptyPasswords yes' },
    run: sshdCheck((s) => {
      const v = s.get('permitemptypasswords') ?? 'no';
      const ev = { PermitEmptyPasswords: v, default: !s.has('permitemptypasswords') };
      return v.toLowerCase() === 'no' ? pass(ev) : fail(ev, `PermitEmptyPasswords ${v}`);
    }),
  }),
  check({
    id: 'darwin.firewall.enabled',
    title: { en: 'The application firewall is on', zh: '应用程序防火墙已开启' },
    mlps: '8.1.4.4 c) 入侵防范: restrict inbound network access',
    remediation: { en: 'sudo /usr/libexec/ApplicationFirewall/socketfilterfw --setglobalstate on (or MDM: com.apple.security.firewall EnableFirewall = true)', zh: '执行 sudo /usr/libexec/ApplicationFirewall/socketfilterfw --setglobalstate on（或通过 MDM 下发 EnableFirewall = true）' },
    async run(ctx) {
      const t = await toolOk(ctx, T.socketfilterfw, ['--getglobalstate']);
      if (!t.ok) return t.outcome;
      const st = parseFirewallState(t.r.stdout);
      const ev = { source: t.cmd, output: t.r.stdout.trim(), state: st };
      if (st === null) return error(ev, 'unrecognised socketfilterfw output');
      return st >= 1 ? pass(ev) : fail(ev, 'the application firewall is off');
    },
  }),
  check({
    id: 'darwin.firewall.stealth_mode',
    title: { en: 'Firewall stealth mode is on', zh: '防火墙隐身模式已开启' },
    mlps: '8.1.4.4 c) 入侵防范: do not answer unsolicited probes',
    remediation: { en: 'sudo /usr/libexec/ApplicationFirewall/socketfilterfw --setstealthmode on (or MDM: com.apple.security.firewall EnableStealthMode = true)', zh: '执行 sudo /usr/libexec/ApplicationFirewall/socketfilterfw --setstealthmode on（或通过 MDM 下发 EnableStealthMode = true）' },
    async run(ctx) {
      const t = await toolOk(ctx, T.socketfilterfw, ['--getstealthmode']);
      if (!t.ok) return t.outcome;
      const on = parseStealthMode(t.r.stdout);
      const ev = { source: t.cmd, output: t.r.stdout.trim() };
      if (on === null) return error(ev, 'unrecognised socketfilterfw output');
      return on ? pass(ev) : fail(ev, 'the Mac answers ICMP and closed-port probes');
    },
  }),
];
