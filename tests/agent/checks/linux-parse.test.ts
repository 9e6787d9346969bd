/** Pure parsers behind the Linux checks, against the recorded outputs in tests/fixtures/linux/checks. */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  encryptedMounts, findTmout, hashScheme, parseAptSimulate, parseAuditRules, parseCvdHeader, parseEqKv, parseIni, parseIptablesS,
  parseLogrotate, parseLsblk, parseNftInputChains, parseNtpSources, parsePam, parseReleaseDate, parseSigtoolInfo, parseSpaceKv, parseSs,
  parseSshdConfig, parseUnitFiles, parseUpdateinfo, periodDays, usbStorageRules, parseOsRelease, gvariantInt,
} from '../../../agent/checks/linux/parse.js';

const FIX = 'tests/fixtures/linux/checks';
const read = (p: string) => readFileSync(join(FIX, p), 'utf8');

describe('linux parsers', () => {
  it('login.defs (Debian 12 file)', () => {
    const d = parseSpaceKv(read('linux.login_defs.pass_max_days/fail/fs/etc/login.defs'));
    expect(d.PASS_MAX_DAYS).toBe('99999');
    expect(d.PASS_MIN_DAYS).toBe('0');
    expect(d.UID_MIN).toBe('1000');
    expect(d.ENCRYPT_METHOD).toBe('SHA512');
  });

  it('PAM lines: bracketed controls, optional `-` prefix, args and flags', () => {
    const deb = parsePam(read('linux.pam.minlen/fail/fs/etc/pam.d/common-password'));
    expect(deb.find((l) => l.module === 'pam_unix.so')).toMatchObject({ type: 'password', control: '[success=1 default=ignore]', args: { obscure: true, yescrypt: true } });
    const rhel = parsePam(read('linux.pam.lockout/pass/fs/etc/pam.d/system-auth'));
    expect(rhel.filter((l) => l.module === 'pam_faillock.so').map((l) => l.type)).toEqual(['auth', 'auth', 'account']);
    expect(rhel.find((l) => l.module === 'pam_systemd.so')?.type).toBe('session');
    expect(rhel.find((l) => l.module === 'pam_faildelay.so')?.args.delay).toBe('2000000');
  });

  it('key = value files (faillock.conf, pwquality.conf, auditd.conf)', () => {
    expect(parseEqKv(read('linux.pam.lockout/pass/fs/etc/security/faillock.conf'))).toMatchObject({ deny: '5', unlock_time: '900' });
    expect(parseEqKv(read('linux.pam.lockout/fail/fs/etc/security/faillock.conf'))).toEqual({});
    const a = parseEqKv(read('linux.audit.log_storage/fail/fs/etc/audit/auditd.conf'));
    expect(a).toMatchObject({ max_log_file: '8', num_logs: '5', max_log_file_action: 'ROTATE', disk_full_action: 'SUSPEND' });
  });

  it('crypt(3) hash schemes', () => {
    expect(hashScheme('')).toBe('empty');
    expect(hashScheme('!')).toBe('locked');
    expect(hashScheme('*')).toBe('locked');
    expect(hashScheme('!$6$abc$def')).toBe('locked');
    expect(hashScheme('$y$j9T$a$b')).toBe('yescrypt');
    expect(hashScheme('$6$salt$hash')).toBe('sha512');
    expect(hashScheme('$1$salt$hash')).toBe('md5');
    expect(hashScheme('abJnggxhB/yWI')).toBe('des');
  });

  it('sshd_config: Include returned in place, Match ends the global section, keys lower-cased', () => {
    const items = parseSshdConfig(read('linux.ssh.root_login/pass/fs/etc/ssh/sshd_config'));
    expect(items[0]).toEqual({ include: ['/etc/ssh/sshd_config.d/*.conf'] });
    expect(items).toContainEqual({ key: 'usepam', value: 'yes' });
    expect(items).toContainEqual({ key: 'subsystem', value: 'sftp\t/usr/lib/openssh/sftp-server' });
    expect(items.some((i) => 'key' in i && i.key === 'permitrootlogin')).toBe(false); // only inside Match
    expect(parseSshdConfig('PermitRootLogin=no\n')).toEqual([{ key: 'permitrootlogin', value: 'no' }]);
  });

  it('ss -tulnH (captured on Debian 12 and hand-extended in the same layout)', () => {
    const s = parseSs(read('linux.services.listening_ports/pass/out/ss-tulnH.txt'));
    expect(s).toHaveLength(7);
    expect(s[0]).toMatchObject({ netid: 'udp', state: 'UNCONN', address: '127.0.0.53', port: 53 });
    expect(s.find((x) => x.local === '[::]:22')).toMatchObject({ address: '::', port: 22 });
  });

  it('systemctl list-unit-files --no-legend', () => {
    const u = parseUnitFiles(read('linux.services.insecure/fail/out/systemctl-list-unit-files.txt'));
    expect(u['telnet.socket']).toBe('enabled');
    expect(u['getty@.service']).toBe('enabled');
    expect(Object.keys(u)).toHaveLength(10);
  });

  it('apt-get -s upgrade (captured on Debian 12: 106 upgrades, none from a security suite)', () => {
    const a = parseAptSimulate(read('linux.patches.security_pending/pass/out/apt-get-s-upgrade.txt'));
    expect(a.upgrades).toHaveLength(106);
    expect(a.upgrades[0]).toEqual({ pkg: 'base-files', from: '12.4+deb12u11', to: '12.4+deb12u15', origin: 'Debian:12.15/oldstable' });
    expect(a.security).toEqual([]);
    const sec = parseAptSimulate([
      'Inst libc6 [2.39-0ubuntu8.4] (2.39-0ubuntu8.5 Ubuntu:24.04/noble-security [amd64])',
      'Inst openssl [3.0.15-1~deb12u1] (3.0.16-1~deb12u1 Debian-Security:12/stable-security [amd64])',
      'Inst linux-image-6.8.0-63-generic (6.8.0-63.66 Ubuntu:24.04/noble-security [amd64])',
      'Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable-updates [all])',
      'Conf libc6 (2.39-0ubuntu8.5 Ubuntu:24.04/noble-security [amd64])',
    ].join('\n'));
    expect(sec.upgrades).toHaveLength(4);
    expect(sec.security).toEqual(['libc6', 'openssl', 'linux-image-6.8.0-63-generic']);
  });

  it('apt InRelease Date', () => {
    expect(parseReleaseDate(read('linux.patches.security_pending/pass/fs/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease'))?.toISOString()).toBe('2026-07-11T10:16:37.000Z');
  });

  it('dnf updateinfo list --security', () => {
    const u = parseUpdateinfo(read('linux.patches.security_pending/fail/out/dnf-updateinfo-security.txt'));
    expect(u.advisories).toHaveLength(7);
    expect(u.advisories[0]).toEqual({ id: 'RHSA-2026:8812', severity: 'Important', pkg: 'glibc-2.34-100.el9_4.4.x86_64' });
    expect(u.metadataLine).toMatch(/^Last metadata expiration check/);
    expect(parseUpdateinfo('Last metadata expiration check: 0:01:02 ago on Mon 23 Nov 2026.\n').advisories).toEqual([]);
  });

  it('lsblk -J: LUKS + LVM layout and a plain one (captured layout of util-linux 2.38)', () => {
    const enc = encryptedMounts(parseLsblk(read('linux.disk.encryption/pass/out/lsblk.json')));
    expect(enc).toEqual({ mounts: ['/', '[SWAP]'], cryptDevices: ['nvme0n1p3_crypt'] });
    expect(encryptedMounts(parseLsblk(read('linux.disk.encryption/fail/out/lsblk.json'))).mounts).toEqual([]);
    expect(() => parseLsblk('{}')).toThrow();
  });

  it('ClamAV CVD header and sigtool --info', () => {
    const h = parseCvdHeader(read('linux.malware.signatures_recent/pass/fs/var/lib/clamav/daily.cld'));
    expect(h).toEqual({ version: 27465, built: new Date('2026-11-22T07:29:00Z') });
    // Header without the trailing epoch field: the "dd Mon yyyy HH-MM zone" time is used.
    expect(parseCvdHeader('ClamAV-VDB:07 Mar 2017 08-02 -0500:23182:1741572:63:c15:QC2:neo')?.built.toISOString()).toBe('2017-03-07T13:02:00.000Z');
    expect(parseCvdHeader('not a cvd')).toBeNull();
    const s = parseSigtoolInfo('File: /var/lib/clamav/daily.cld\nBuild time: 22 Nov 2026 07-29 +0000\nVersion: 27465\nSignatures: 2077810\nFunctionality level: 90\nBuilder: raynman\n');
    expect(s).toEqual({ version: 27465, built: new Date('2026-11-22T07:29:00Z') });
  });

  it('audit rules', () => {
    const r = parseAuditRules(read('linux.audit.rules_privilege/pass/fs/etc/audit/rules.d/50-privilege.rules'));
    expect(r[0]).toMatchObject({ kind: 'watch', path: '/etc/sudoers', perms: 'wa' });
    expect(r.filter((x) => x.kind === 'syscall')).toHaveLength(2);
    expect(parseAuditRules(read('linux.audit.rules_privilege/pass/fs/etc/audit/rules.d/audit.rules')).map((x) => x.kind)).toEqual(['control', 'control', 'control', 'control']);
  });

  it('logrotate: global directives, multi-file blocks, scripts skipped', () => {
    const g = parseLogrotate(read('linux.log.retention/fail/fs/etc/logrotate.conf'));
    expect(g.global).toMatchObject({ weekly: '', rotate: '4', include: '/etc/logrotate.d' });
    const b = parseLogrotate(read('linux.log.retention/pass/fs/etc/logrotate.d/rsyslog')).blocks;
    expect(b).toHaveLength(1);
    expect(b[0]!.files).toContain('/var/log/auth.log');
    expect(b[0]!.directives.rotate).toBe('26');
    expect(periodDays(b[0]!.directives)).toBe(7);
    expect(b[0]!.directives).not.toHaveProperty('/usr/lib/rsyslog/rsyslog-rotate');
  });

  it('nft list ruleset and iptables -S', () => {
    expect(parseNftInputChains(read('linux.firewall.enabled/pass/out/nft-list-ruleset.txt'))).toEqual([{ table: 'inet filter', chain: 'input', policy: 'drop', rules: 6, dropRules: 1 }]);
    expect(parseNftInputChains(read('linux.firewall.enabled/fail/out/nft-list-ruleset.txt'))).toEqual([{ table: 'inet filter', chain: 'input', policy: 'accept', rules: 0, dropRules: 0 }]);
    expect(parseNftInputChains('')).toEqual([]);
    expect(parseIptablesS(read('linux.firewall.enabled/fail/out/iptables-S.txt'))).toEqual({ inputPolicy: 'ACCEPT', inputRules: 0, dropRules: 0 });
    expect(parseIptablesS('-P INPUT ACCEPT\n-N ufw-before-input\n-A INPUT -j ufw-before-input\n-A ufw-before-input -m conntrack --ctstate INVALID -j DROP\n'))
      .toEqual({ inputPolicy: 'ACCEPT', inputRules: 1, dropRules: 1 });
  });

  it('NTP sources, modprobe rules, TMOUT, os-release, ini, GVariant ints', () => {
    expect(parseNtpSources(read('linux.time.sync/pass/fs/etc/chrony/chrony.conf'))).toEqual([]); // Debian ships the pool commented out here
    expect(parseNtpSources(read('linux.time.sync/pass/fs/etc/chrony/sources.d/sin-ntp.sources'))).toEqual(['10.20.1.10', '10.20.1.11']);
    expect(usbStorageRules(read('linux.usb.storage_disabled/pass/fs/etc/modprobe.d/usb-storage.conf'))).toEqual({ install: '/bin/false', blacklist: true });
    expect(usbStorageRules(read('linux.usb.storage_disabled/fail/fs/etc/modprobe.d/blacklist.conf'))).toEqual({ install: null, blacklist: false });
    expect(findTmout(read('linux.session.tmout/pass/fs/etc/profile.d/tmout.sh'))).toBe(600);
    expect(findTmout('readonly TMOUT=300; export TMOUT\n')).toBe(300);
    expect(findTmout('# TMOUT=600\n')).toBeNull();
    expect(parseOsRelease(read('linux.patches.security_pending/fail/fs/etc/os-release'))).toMatchObject({ ID: 'rhel', ID_LIKE: 'fedora' });
    expect(parseIni(read('linux.log.journald_persistent/fail/fs/etc/systemd/journald.conf'))).toEqual({});
    expect(parseIni(read('linux.services.smb1/fail/fs/etc/samba/smb.conf'), { lowerKeys: true }).global?.['server min protocol']).toBe('NT1');
    expect(gvariantInt('uint32 600')).toBe(600);
    expect(gvariantInt('300')).toBe(300);
    expect(gvariantInt('true')).toBeNull();
  });
});
