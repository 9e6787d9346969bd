/** Host firewall, time, disk encryption, USB storage and kernel hardening. */
import type { CheckContext, CheckDef } from '../types.js';
import { allMounts, encryptedMounts, parseIni, parseIptablesS, parseLsblk, parseNftInputChains, parseNtpSources, usbStorageRules, activeLines } from './parse.js';
import { enabledUnits, err, fail, findUnits, globDir, linux, pass, procPath, readFirst, readWithDropins } from './util.js';

const ART = ['art9', 'art31'];

const firewall = linux({
  id: 'linux.firewall.enabled',
  title: { en: 'A host firewall filters inbound traffic', zh: '已启用主机防火墙过滤入站流量' },
  articles: ['art9', 'art29', 'art31'], mlps: '8.1.4.4 c) 入侵防范: 限制管理终端的接入方式与网络地址范围',
  remediation: {
    en: 'Enable a firewall with a default-deny inbound policy: RHEL `systemctl enable --now firewalld`; Debian/Ubuntu `ufw default deny incoming && ufw enable`, or an nftables input chain with `policy drop` in /etc/nftables.conf and `systemctl enable --now nftables`.',
    zh: '启用默认拒绝入站的防火墙：RHEL 执行 `systemctl enable --now firewalld`；Debian/Ubuntu 执行 `ufw default deny incoming && ufw enable`，或在 /etc/nftables.conf 中配置 `policy drop` 的 input 链并执行 `systemctl enable --now nftables`。',
  },
  async run(ctx) {
    const probed: Record<string, unknown> = {};
    let ran = 0;
    const fw = await ctx.run('firewall-cmd', ['--state']);
    if (!fw.error) {
      ran++;
      probed['firewall-cmd --state'] = (fw.stdout || fw.stderr).trim();
      if (fw.code === 0 && fw.stdout.trim() === 'running') return pass({ firewall: 'firewalld', ...probed });
    }
    const ufw = await ctx.run('ufw', ['status']);
    if (!ufw.error) {
      ran++;
      const st = /^Status:\s*(\w+)/m.exec(ufw.stdout)?.[1] ?? null;
      probed['ufw status'] = st;
      if (st === 'active') return pass({ firewall: 'ufw', ...probed });
    }
    const nft = await ctx.run('nft', ['list', 'ruleset']);
    if (!nft.error && nft.code === 0) {
      ran++;
      const chains = parseNftInputChains(nft.stdout);
      probed['nft list ruleset'] = chains.map((c) => `${c.table} ${c.chain}: policy ${c.policy}, ${c.rules} rules, ${c.dropRules} drop/reject`);
      if (chains.some((c) => c.policy === 'drop' || c.dropRules > 0)) return pass({ firewall: 'nftables', ...probed });
    }
    const ipt = await ctx.run('iptables', ['-S']);
    if (!ipt.error && ipt.code === 0) {
      ran++;
      const p = parseIptablesS(ipt.stdout);
      probed['iptables -S'] = p;
      if (p.inputPolicy === 'DROP' || (p.inputRules > 0 && p.dropRules > 0)) return pass({ firewall: 'iptables', ...probed });
    }
    if (ran === 0) return err('no firewall tool could be run (firewall-cmd, ufw, nft, iptables)', probed);
    return fail('no active firewall: no running firewalld/ufw and no input chain that drops traffic', probed);
  },
});

/** Configured NTP sources per daemon, with the daemon's enabled unit. */
async function timeSources(ctx: CheckContext, units: Record<string, string>) {
  const out: { daemon: string; unit: string[]; sources: string[]; files: string[] }[] = [];
  const chronyUnit = findUnits(units, ['chrony', 'chronyd']);
  if (chronyUnit.length) {
    const files = [
      ...(await readWithDropins(ctx, '/etc/chrony/chrony.conf', '/etc/chrony/conf.d')),
      ...(await readWithDropins(ctx, '/etc/chrony.conf', '/etc/chrony/sources.d', '*.sources')),
    ];
    out.push({ daemon: 'chrony', unit: chronyUnit, sources: files.flatMap((f) => parseNtpSources(f.text)), files: files.map((f) => f.path) });
  }
  const ntpUnit = findUnits(units, ['ntp', 'ntpd', 'ntpsec']);
  if (ntpUnit.length) {
    const main = await readFirst(ctx, ['/etc/ntpsec/ntp.conf', '/etc/ntp.conf']);
    const files = main ? [main] : [];
    out.push({ daemon: 'ntpd', unit: ntpUnit, sources: files.flatMap((f) => parseNtpSources(f.text)), files: files.map((f) => f.path) });
  }
  const tsUnit = findUnits(units, ['systemd-timesyncd']);
  if (tsUnit.length) {
    const files = await readWithDropins(ctx, '/etc/systemd/timesyncd.conf', '/etc/systemd/timesyncd.conf.d');
    let ntp = '';
    for (const f of files) ntp = parseIni(f.text).Time?.NTP ?? ntp;
    out.push({ daemon: 'systemd-timesyncd', unit: tsUnit, sources: ntp.split(/\s+/).filter(Boolean), files: files.map((f) => f.path) });
  }
  return out;
}

const timeSync = linux({
  id: 'linux.time.sync',
  title: { en: 'Time is synchronised from a configured NTP source', zh: '已配置 NTP 时间同步' },
  articles: ART, mlps: '8.1.4.3 b) 安全审计: 审计记录的日期和时间准确（时钟同步）',
  remediation: {
    en: 'Enable chrony (`systemctl enable --now chronyd`) and point it at the institution\'s internal NTP servers with `server <ntp-host> iburst` in /etc/chrony.conf (RHEL) or /etc/chrony/chrony.conf (Debian).',
    zh: '启用 chrony（`systemctl enable --now chronyd`），并在 /etc/chrony.conf（RHEL）或 /etc/chrony/chrony.conf（Debian）中用 `server <内部NTP服务器> iburst` 指向机构内部时间源。',
  },
  async run(ctx) {
    const u = await enabledUnits(ctx);
    if ('error' in u) return err(u.error);
    const daemons = await timeSources(ctx, u.units);
    const evidence = { unitsFrom: u.source, daemons };
    if (daemons.length === 0) return fail('no time synchronisation service is enabled (chrony, ntpd, systemd-timesyncd)', evidence);
    const ok = daemons.filter((d) => d.sources.length > 0);
    if (ok.length === 0) return fail(`${daemons.map((d) => d.daemon).join(', ')} enabled but no NTP server is configured (compiled-in fallbacks point at public internet pools, unreachable from SIN)`, evidence);
    return pass(evidence);
  },
});

const diskEncryption = linux({
  id: 'linux.disk.encryption',
  title: { en: 'The root file system is on an encrypted (LUKS) volume', zh: '系统根分区位于加密（LUKS）卷上' },
  articles: ART, mlps: '8.1.4.8 b) 数据保密性: 重要数据存储保密性',
  remediation: { en: 'Reinstall with "Encrypt the new installation" (LUKS) selected, or migrate data to a LUKS volume (`cryptsetup luksFormat`, `/etc/crypttab`); at least /home and data partitions must be encrypted.', zh: '重装系统时选择"加密新系统"（LUKS），或将数据迁移到 LUKS 加密卷（`cryptsetup luksFormat`、`/etc/crypttab`）；至少应加密 /home 与数据分区。' },
  async run(ctx) {
    const r = await ctx.run('lsblk', ['-J', '-o', 'NAME,TYPE,FSTYPE,MOUNTPOINT']);
    if (r.error || r.code !== 0) {
      const ct = await ctx.readFile('/etc/crypttab');
      const entries = ct ? activeLines(ct).map((l) => l.split(/\s+/)[0]!) : [];
      if (entries.length) return pass({ source: '/etc/crypttab', mappings: entries, note: `lsblk failed: ${r.error ?? `exit ${r.code}`}` });
      return err(`lsblk failed: ${r.error ?? `exit ${r.code}: ${r.stderr.trim()}`}`, { crypttab: ct === null ? 'absent' : 'empty' });
    }
    let devs;
    try { devs = parseLsblk(r.stdout); } catch (e) { return err(`lsblk output not understood: ${(e as Error).message}`); }
    const enc = encryptedMounts(devs);
    const mounts = allMounts(devs).filter((m) => m !== '[SWAP]');
    const evidence = { command: 'lsblk -J -o NAME,TYPE,FSTYPE,MOUNTPOINT', cryptDevices: enc.cryptDevices, encryptedMounts: enc.mounts, mounts };
    if (!mounts.includes('/')) return err('lsblk shows no device mounted on / (container or unusual layout)', evidence);
    return enc.mounts.includes('/') ? pass(evidence) : fail('/ is not on an encrypted volume', evidence);
  },
});

const usbStorage = linux({
  id: 'linux.usb.storage_disabled',
  title: { en: 'The USB mass-storage driver is disabled', zh: '已禁用 USB 存储驱动' },
  articles: ['art9', 'art18', 'art31'], mlps: '8.1.4.5 恶意代码防范: 限制移动存储介质（USB 存储驱动）',
  remediation: { en: 'Create /etc/modprobe.d/usb-storage.conf with `install usb-storage /bin/false` and `blacklist usb-storage`, then `rmmod usb-storage` and rebuild the initramfs. (termguard\'s device control can instead allow approved media.)', zh: '创建 /etc/modprobe.d/usb-storage.conf，写入 `install usb-storage /bin/false` 和 `blacklist usb-storage`，然后执行 `rmmod usb-storage` 并重建 initramfs。（也可由 termguard 的外设管控仅放行经批准的介质。）' },
  async run(ctx) {
    const files = [...(await globDir(ctx, '/etc/modprobe.d', '*.conf')), ...(await globDir(ctx, '/usr/lib/modprobe.d', '*.conf')), ...(await globDir(ctx, '/lib/modprobe.d', '*.conf'))];
    if (files.length === 0) return err('no modprobe configuration found (/etc/modprobe.d, /lib/modprobe.d)');
    let install: { file: string; cmd: string } | null = null;
    const blacklist: string[] = [];
    for (const f of files) {
      const t = await ctx.readFile(f);
      if (t === null) continue;
      const r = usbStorageRules(t);
      if (r.install && !install) install = { file: f, cmd: r.install };
      if (r.blacklist) blacklist.push(f);
    }
    const evidence = { files: files.length, install, blacklist };
    if (install && /^\/(usr\/)?bin\/(true|false)$/.test(install.cmd)) return pass(evidence);
    if (blacklist.length) return pass({ ...evidence, note: 'blacklist only stops automatic loading; add `install usb-storage /bin/false` to stop manual loading too' });
    return fail('usb-storage is neither blacklisted nor replaced by an install rule', evidence);
  },
});

function sysctlCheck(o: { id: string; path: string; want: (v: number) => boolean; wantText: string; articles: string[]; mlps: string; title: CheckDef['title']; remediation: CheckDef['remediation'] }): CheckDef {
  return linux({
    id: o.id, title: o.title, articles: o.articles, mlps: o.mlps, remediation: o.remediation,
    async run(ctx) {
      const p = procPath(ctx, o.path);
      const t = await ctx.readFile(p);
      const key = o.path.replace(/^\/sys\//, '').split('/').join('.');
      if (t === null) return err(`${p} not readable`);
      const v = Number(t.trim());
      const evidence = { file: '/proc' + o.path, [key]: t.trim() };
      if (!Number.isFinite(v)) return err(`${p}: unexpected content`, evidence);
      return o.want(v) ? pass(evidence) : fail(`${key} = ${v} (want ${o.wantText})`, evidence);
    },
  });
}

const aslr = sysctlCheck({
  id: 'linux.kernel.aslr', path: '/sys/kernel/randomize_va_space', want: (v) => v === 2, wantText: '2', articles: ART,
  mlps: '8.1.4.4 入侵防范: 内核加固（地址空间布局随机化）',
  title: { en: 'Full address-space layout randomisation (ASLR) is on', zh: '已启用完整的地址空间布局随机化（ASLR）' },
  remediation: { en: 'Set `kernel.randomize_va_space = 2` in /etc/sysctl.d/60-hardening.conf and run `sysctl --system`.', zh: '在 /etc/sysctl.d/60-hardening.conf 中设置 `kernel.randomize_va_space = 2`，然后执行 `sysctl --system`。' },
});

const ipForward = sysctlCheck({
  id: 'linux.kernel.ip_forward', path: '/sys/net/ipv4/ip_forward', want: (v) => v === 0, wantText: '0', articles: ['art9', 'art29', 'art31'],
  mlps: '8.1.4.4 入侵防范: 终端不得转发流量（防止证联网与互联网之间形成通路）',
  title: { en: 'The terminal does not route packets (IPv4 forwarding off)', zh: '终端不转发数据包（已关闭 IPv4 转发）' },
  remediation: { en: 'Set `net.ipv4.ip_forward = 0` in /etc/sysctl.d/60-hardening.conf and run `sysctl --system`; remove container/VPN software that turns it back on.', zh: '在 /etc/sysctl.d/60-hardening.conf 中设置 `net.ipv4.ip_forward = 0` 并执行 `sysctl --system`；卸载会重新开启转发的容器或 VPN 软件。' },
});

const suidDumpable = sysctlCheck({
  id: 'linux.kernel.suid_dumpable', path: '/sys/fs/suid_dumpable', want: (v) => v === 0, wantText: '0', articles: ART,
  mlps: '8.1.4.10 剩余信息保护: 特权进程内存（含鉴别信息）不落盘',
  title: { en: 'Privileged programs do not dump core', zh: '特权程序不生成内存转储（core dump）' },
  remediation: { en: 'Set `fs.suid_dumpable = 0` in /etc/sysctl.d/60-hardening.conf, add `* hard core 0` to /etc/security/limits.conf, and run `sysctl --system`.', zh: '在 /etc/sysctl.d/60-hardening.conf 中设置 `fs.suid_dumpable = 0`，在 /etc/security/limits.conf 中加入 `* hard core 0`，然后执行 `sysctl --system`。' },
});

export const systemChecks: CheckDef[] = [firewall, timeSync, diskEncryption, usbStorage, aslr, ipForward, suidDumpable];
