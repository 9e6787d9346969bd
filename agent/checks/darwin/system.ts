/** Disk encryption, SIP, time, core dumps, sudo, removable media, diagnostics upload. */
import type { CheckDef } from '../types.js';
import { parseLabelled, parseSudoers } from './parse.js';
import { bool, isDict, num, type PlistValue } from './plist.js';
import { check, error, fail, pass, prefs, readDefaults, show, T, tool, toolOk, requireMacos } from './util.js';

export const systemChecks: CheckDef[] = [
  check({
    id: 'darwin.system.filevault',
    title: { en: 'FileVault disk encryption is on', zh: 'FileVault 全盘加密已开启' },
    mlps: '8.1.4.8 b) 数据保密性: confidentiality of stored data',
    remediation: { en: 'sudo fdesetup enable (escrow the recovery key to MDM)', zh: '执行 sudo fdesetup enable（并将恢复密钥托管到 MDM）' },
    async run(ctx) {
      const t = await toolOk(ctx, T.fdesetup, ['status']);
      if (!t.ok) return t.outcome;
      const first = t.r.stdout.trim().split('\n')[0] ?? '';
      const ev = { source: t.cmd, output: t.r.stdout.trim() };
      if (/^FileVault is On\./.test(first)) return pass(ev);
      if (/^FileVault is Off/.test(first)) return fail(ev, first);
      return error(ev, 'unrecognised fdesetup output');
    },
  }),
  check({
    id: 'darwin.system.sip',
    title: { en: 'System Integrity Protection is enabled', zh: '系统完整性保护（SIP）已启用' },
    mlps: '8.1.4.6 可信验证: protect system programs and boot chain',
    remediation: { en: 'Boot to Recovery, then run csrutil enable and restart', zh: '进入恢复模式执行 csrutil enable 后重启' },
    async run(ctx) {
      const t = await toolOk(ctx, T.csrutil, ['status']);
      if (!t.ok) return t.outcome;
      const m = /System Integrity Protection status:\s*([^.\n]+)/.exec(t.r.stdout);
      const ev = { source: t.cmd, output: t.r.stdout.trim().split('\n')[0] };
      if (!m) return error(ev, 'unrecognised csrutil output');
      // "enabled (Custom Configuration)" or "unknown (Custom Configuration)" means parts are off.
      return m[1]!.trim() === 'enabled' ? pass(ev) : fail(ev, `SIP status: ${m[1]!.trim()}`);
    },
  }),
  check({
    id: 'darwin.system.time_sync',
    title: { en: 'Network time synchronisation is on', zh: '已开启网络时间同步' },
    mlps: '8.1.4.3 b) 安全审计: accurate time in audit records',
    remediation: { en: 'sudo systemsetup -setnetworktimeserver <internal NTP server>; sudo systemsetup -setusingnetworktime on', zh: '执行 sudo systemsetup -setnetworktimeserver <内部NTP服务器> 与 sudo systemsetup -setusingnetworktime on' },
    async run(ctx) {
      const u = await toolOk(ctx, T.systemsetup, ['-getusingnetworktime']);
      if (!u.ok) return u.outcome;
      const on = parseLabelled(u.r.stdout, 'Network Time');
      if (on === undefined) return error({ command: u.cmd, output: u.r.stdout.trim().slice(0, 200) }, 'systemsetup printed no Network Time line (administrator access needed)');
      const s = await tool(ctx, T.systemsetup, ['-getnetworktimeserver']);
      const server = s.ok ? parseLabelled(s.r.stdout, 'Network Time Server') : undefined;
      const ev = { source: u.cmd, network_time: on, server: server ?? null };
      if (on.toLowerCase() !== 'on') return fail(ev, 'network time is off');
      return server ? pass(ev) : fail(ev, 'no network time server is configured');
    },
  }),
  check({
    id: 'darwin.system.core_dumps_disabled',
    title: { en: 'Kernel core dumps are disabled', zh: '已禁用核心转储（core dump）' },
    mlps: '8.1.4.10 剩余信息保护: no credentials left in crash dumps',
    remediation: { en: 'sudo sysctl -w kern.coredump=0 and add kern.coredump=0 to /etc/sysctl.conf', zh: '执行 sudo sysctl -w kern.coredump=0，并在 /etc/sysctl.conf 中加入 kern.coredump=0' },
    async run(ctx) {
      const t = await toolOk(ctx, T.sysctl, ['kern.coredump']);
      if (!t.ok) return t.outcome;
      const v = parseLabelled(t.r.stdout, 'kern.coredump');
      const ev = { source: t.cmd, 'kern.coredump': v ?? null };
      if (v === undefined) return error(ev, 'sysctl printed no kern.coredump');
      return v === '0' ? pass(ev) : fail(ev, 'processes may write core dumps that hold memory contents');
    },
  }),
  check({
    id: 'darwin.system.sudo_timeout',
    title: { en: 'sudo asks for the password every time', zh: 'sudo 每次均要求输入口令' },
    mlps: '8.1.4.2 d) 访问控制: least privilege, re-authenticate privileged use',
    remediation: { en: 'echo "Defaults timestamp_timeout=0" | sudo tee /etc/sudoers.d/10-termguard (check with visudo -c)', zh: '执行 echo "Defaults timestamp_timeout=0" | sudo tee /etc/sudoers.d/10-termguard（并用 visudo -c 校验）' },
    async run(ctx) {
      const main = await ctx.readFile('/etc/sudoers');
      if (main === null) return error({ file: '/etc/sudoers' }, '/etc/sudoers is missing or unreadable');
      const files = ['/etc/sudoers'];
      let p = parseSudoers(main);
      let timeout = p.timestampTimeout;
      // sudo reads includes where they appear; macOS puts #includedir at the end, so later wins.
      for (const dir of p.includeDirs) {
        const d = dir.replace(/^\/private/, '');
        for (const f of (await ctx.listDir(d)).filter((n) => !n.includes('.') && !n.endsWith('~'))) {
          const text = await ctx.readFile(`${d}/${f}`);
          if (text === null) continue;
          files.push(`${d}/${f}`);
          p = parseSudoers(text);
          if (p.timestampTimeout !== undefined) timeout = p.timestampTimeout;
        }
      }
      const ev = { files, timestamp_timeout: timeout ?? null, default_minutes: 5 };
      if (timeout === undefined) return fail(ev, 'timestamp_timeout is not set: sudo caches credentials for 5 minutes');
      return timeout === 0 ? pass(ev) : fail(ev, `sudo caches credentials for ${timeout} minutes`);
    },
  }),
  check({
    id: 'darwin.system.removable_media_restricted',
    title: { en: 'External disks are blocked or read-only by profile', zh: '已通过描述文件禁止或只读挂载外接存储' },
    mlps: '8.1.4.5 恶意代码防范: control removable media',
    articles: ['art9', 'art31', 'art18'],
    remediation: { en: 'MDM profile com.apple.systemuiserver mount-controls: harddisk-external = (deny) or (read-only) — or termguard removable-media enforcement', zh: '通过 MDM 下发 com.apple.systemuiserver mount-controls：harddisk-external = (deny) 或 (read-only)，或启用 termguard 移动存储管控' },
    async run(ctx) {
      const g = await requireMacos(ctx);
      if (g) return g;
      const p = await prefs(ctx, 'com.apple.systemuiserver', ['mount-controls'], { local: false });
      if (p.error) return error({}, p.error);
      const mc = p.values['mount-controls'];
      const ext: PlistValue | undefined = isDict(mc) ? mc['harddisk-external'] : undefined;
      const rules = Array.isArray(ext) ? ext.map(String) : [];
      const ev = { source: p.source ?? null, 'harddisk-external': show(ext) };
      return rules.includes('deny') || rules.includes('read-only') ? pass(ev) : fail(ev, 'no profile restricts external disks');
    },
  }),
  check({
    id: 'darwin.system.diagnostics_autosubmit_disabled',
    title: { en: 'Diagnostics are not sent to Apple automatically', zh: '不自动向 Apple 发送诊断数据' },
    mlps: '8.1.4.8 a) 数据保密性: no automatic upload of system data',
    articles: ['art9', 'art31', 'art29'],
    remediation: { en: 'sudo defaults write "/Library/Application Support/CrashReporter/DiagnosticMessagesHistory" AutoSubmit -bool false (or MDM: com.apple.SubmitDiagInfo AutoSubmit = false)', zh: '执行 sudo defaults write "/Library/Application Support/CrashReporter/DiagnosticMessagesHistory" AutoSubmit -bool false（或通过 MDM 下发 com.apple.SubmitDiagInfo AutoSubmit = false）' },
    async run(ctx) {
      const m = await prefs(ctx, 'com.apple.SubmitDiagInfo', ['AutoSubmit'], { local: false });
      if (m.error) return error({}, m.error);
      if (bool(m.values.AutoSubmit) === false) return pass({ source: m.source, AutoSubmit: false });
      const path = '/Library/Application Support/CrashReporter/DiagnosticMessagesHistory';
      const r = await readDefaults(ctx, path);
      if (r.kind === 'error') return error({ domain: path }, r.reason);
      const v = r.kind === 'value' && isDict(r.value) ? r.value.AutoSubmit : undefined;
      const ev = { source: `defaults read ${path}`, AutoSubmit: show(v) };
      // Unset means the user was never asked or declined at setup: nothing is sent.
      return bool(v) === true || num(v) === 1 ? fail(ev, 'crash and diagnostic reports are uploaded to Apple') : pass(ev);
    },
  }),
];
