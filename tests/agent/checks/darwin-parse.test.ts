/** darwin parsers against the recorded tool outputs in tests/fixtures/darwin/common. */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDict, parseBinaryPlist, parseOpenStep, parseXmlPlist, date } from '../../../agent/checks/darwin/plist.js';
import {
  channelTimeoutSeconds, parseAccountPolicies, parseAslInstallLog, parseAuditControl, parseDsclList, parseDsclRead, parseExpireAfter,
  parseFirewallState, parseIni, parseInstallHistory, parseKeyEquals, parseLabelled, parseLaunchctlList, parseLaunchdOverrides,
  parseShadowHashData, parseSshdConfig, parseStealthMode, parseSudoers, sshTime, summarisePasswordPolicy,
} from '../../../agent/checks/darwin/parse.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/darwin');
const common = (n: string) => readFileSync(join(FIX, 'common', n), 'utf8');
const checkFile = (id: string, kase: string, rel: string) => readFileSync(join(FIX, 'checks', id, kase, 'fs', rel), 'utf8');

describe('plist parsers', () => {
  it('parses XML plists with every scalar type and skips a header line', () => {
    const v = parseXmlPlist('noise\n<?xml version="1.0"?>\n<plist version="1.0"><dict><key>a</key><integer>-3</integer><key>b</key><true/>'
      + '<key>c</key><string>x &amp; y</string><key>d</key><date>2026-01-02T03:04:05Z</date><key>e</key><data>AAEC</data>'
      + '<key>f</key><array/><key>g</key><real>1.5</real></dict></plist>');
    expect(isDict(v)).toBe(true);
    const d = v as Record<string, unknown>;
    expect(d.a).toBe(-3);
    expect(d.b).toBe(true);
    expect(d.c).toBe('x & y');
    expect((d.d as Date).toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(Array.from(d.e as Uint8Array)).toEqual([0, 1, 2]);
    expect(d.f).toEqual([]);
    expect(d.g).toBe(1.5);
    expect(parseXmlPlist('not a plist')).toBeNull();
    expect(parseXmlPlist('<plist><dict><key>a</key></dict></plist>')).toBeNull();
  });

  it('parses `defaults read` output, nested arrays and dicts included', () => {
    const v = parseOpenStep(common('softwareupdate-bad.txt')) as Record<string, unknown>;
    expect(v.AutomaticCheckEnabled).toBe('0');
    expect(v.LastSuccessfulDate).toBe('2026-09-02 08:41:10 +0000');
    const recs = v.RecommendedUpdates as Array<Record<string, unknown>>;
    expect(recs).toHaveLength(1);
    expect(recs[0]!['Display Name']).toBe('macOS Tahoe 26.1');
    expect((parseOpenStep(common('softwareupdate-good.txt')) as Record<string, unknown>).RecommendedUpdates).toEqual([]);
    expect(parseOpenStep('{ blob = {length = 4, bytes = 0x62706c69}; }')).toEqual({ blob: { length: '4', bytes: '0x62706c69' } });
    expect(parseOpenStep('{ a = 1;')).toBeNull();
    expect(date('2026-09-02 08:41:10 +0000')?.toISOString()).toBe('2026-09-02T08:41:10.000Z');
  });

  it('parses a binary plist (as dscl hex-dumps ShadowHashData)', () => {
    const hex = common('dscl-trader-shadow-set.txt').split('\n')[1]!.replace(/\s/g, '');
    const v = parseBinaryPlist(Buffer.from(hex, 'hex')) as Record<string, Record<string, unknown>>;
    expect(Object.keys(v).sort()).toEqual(['SALTED-SHA512-PBKDF2', 'SRP-RFC5054-4096-SHA512-PBKDF2']);
    expect(v['SALTED-SHA512-PBKDF2']!.iterations).toBe(44165);
    expect((v['SALTED-SHA512-PBKDF2']!.entropy as Uint8Array).length).toBe(128);
    expect(parseBinaryPlist(Buffer.from('bplist00 truncated'))).toBeNull();
  });
});

describe('tool parsers', () => {
  it('summarises pwpolicy account policies', () => {
    const strict = summarisePasswordPolicy(parseAccountPolicies(common('pwpolicy-strict.txt'))!);
    expect(strict).toEqual({ minLength: 12, requiresAlpha: true, requiresUpper: false, requiresLower: false, requiresDigit: true, requiresSymbol: true,
      maxAgeDays: 90, minAgeHours: 24, historyDepth: 5, maxFailedLogins: 5, lockoutSeconds: 900 });
    const weak = summarisePasswordPolicy(parseAccountPolicies(common('pwpolicy-weak.txt'))!);
    expect(weak).toMatchObject({ minLength: 4, requiresDigit: false, requiresSymbol: false, maxAgeDays: 365, historyDepth: 1, maxFailedLogins: 10, lockoutSeconds: 60 });
    expect(weak.minAgeHours).toBeUndefined();
    expect(parseAccountPolicies('Getting global account policies\n')).toBeNull();
  });

  it('reads launchd overrides in both the new and the old spelling, and launchctl list', () => {
    const o = parseLaunchdOverrides(common('launchctl-print-disabled-dirty.txt'));
    expect(o.get('com.openssh.sshd')).toBe('enabled');
    expect(o.get('com.apple.auditd')).toBe('disabled');
    expect(parseLaunchdOverrides('\t"com.openssh.sshd" => false\n\t"com.apple.smbd" => true\n')).toEqual(new Map([['com.openssh.sshd', 'enabled'], ['com.apple.smbd', 'disabled']]));
    const l = parseLaunchctlList(common('launchctl-list-dirty.txt'));
    expect(l.find((j) => j.label === 'com.apple.mdmclient.daemon')).toEqual({ label: 'com.apple.mdmclient.daemon', pid: 412, status: 0 });
    expect(l.find((j) => j.label === 'com.apple.smbd')).toEqual({ label: 'com.apple.smbd', pid: null, status: 0 });
  });

  it('reads dscl records and lists', () => {
    expect(parseDsclRead('No such key: AuthenticationAuthority\n').missing).toEqual(['AuthenticationAuthority']);
    expect(parseDsclRead('GroupMembership: root trader\n').attrs.get('GroupMembership')).toEqual(['root', 'trader']);
    expect(parseDsclRead('RealName:\n Trading Desk 3\nUniqueID: 501\n').attrs.get('RealName')).toEqual(['Trading Desk 3']);
    expect(parseDsclList(common('dscl-users-bad.txt')).filter((u) => u.value === '0').map((u) => u.name)).toEqual(['root', 'toor']);
    const h = parseShadowHashData(common('dscl-trader-shadow-empty.txt'))!;
    expect(h.iterations).toBe(44165);
    expect(h.salt.toString('hex')).toBe('c0ffee0011223344556677889900aabbccddeeff00112233445566778899aabb');
    expect(parseShadowHashData('No such key: dsAttrTypeNative:ShadowHashData\n')).toBeNull();
  });

  it('reads audit_control, expire-after and the install.log ASL rule', () => {
    const c = parseAuditControl(checkFile('darwin.audit.retention', 'pass', 'etc/security/audit_control'));
    expect(c.get('flags')).toBe('lo,aa,ad,fd,fm,-all');
    expect(c.get('expire-after')).toBe('180d AND 5G');
    expect(parseExpireAfter('180d AND 5G')).toEqual({ days: 180, bytes: 5 * 1024 ** 3, joiner: 'AND' });
    expect(parseExpireAfter('10M')).toEqual({ bytes: 10 * 1024 ** 2 });
    expect(parseExpireAfter('1y')).toEqual({ days: 365 });
    expect(parseExpireAfter('soon')).toBeNull();
    expect(parseAslInstallLog(checkFile('darwin.audit.install_log_retention', 'pass', 'etc/asl/com.apple.install'))).toMatchObject({ ttl: 365 });
    expect(parseAslInstallLog(checkFile('darwin.audit.install_log_retention', 'fail', 'etc/asl/com.apple.install'))).toMatchObject({ allMax: '150M' });
  });

  it('reads sshd_config up to the first Match block, and sshd time values', () => {
    const s = parseSshdConfig('Include /etc/ssh/sshd_config.d/*\n#PermitRootLogin yes\nPermitRootLogin no\nMaxAuthTries=3\nMatch User x\nPermitRootLogin yes\n');
    expect(s).toEqual([['include', '/etc/ssh/sshd_config.d/*'], ['permitrootlogin', 'no'], ['maxauthtries', '3']]);
    expect(sshTime('900')).toBe(900);
    expect(sshTime('1h30m')).toBe(5400);
    expect(sshTime('10x')).toBeUndefined();
    expect(channelTimeoutSeconds('agent-connection=5m session=15m')).toBe(900);
    expect(channelTimeoutSeconds('*=10m')).toBe(600);
  });

  it('reads sudoers Defaults and includes', () => {
    const p = parseSudoers(checkFile('darwin.system.sudo_timeout', 'fail', 'etc/sudoers'));
    expect(p.timestampTimeout).toBeUndefined();
    expect(p.includeDirs).toEqual(['/private/etc/sudoers.d']);
    expect(parseSudoers('Defaults\ttimestamp_timeout=0\nDefaults:alice timestamp_timeout=30\n').timestampTimeout).toBe(0);
  });

  it('reads nsmb.conf, cupsctl, labelled lines and socketfilterfw', () => {
    expect(parseIni(checkFile('darwin.services.smb1_client_disabled', 'pass', 'etc/nsmb.conf')).get('default')?.get('protocol_vers_map')).toBe('6');
    expect(parseKeyEquals('_share_printers=1\nWebInterface=No\n').get('_share_printers')).toBe('1');
    expect(parseLabelled('Network Time: On\n', 'Network Time')).toBe('On');
    expect(parseLabelled('kern.coredump: 0\n', 'kern.coredump')).toBe('0');
    expect(parseFirewallState('Firewall is enabled. (State = 1)\n')).toBe(1);
    expect(parseFirewallState('Firewall is blocking all non-essential incoming connections. (State = 2)\n')).toBe(2);
    expect(parseFirewallState('Firewall is disabled. (State = 0)\n')).toBe(0);
    expect(parseFirewallState('garbage')).toBeNull();
    expect(parseStealthMode('Stealth mode enabled\n')).toBe(true);
    expect(parseStealthMode('Firewall stealth mode is off\n')).toBe(false);
    expect(parseStealthMode('Firewall stealth mode is on\n')).toBe(true);
  });

  it('reads system_profiler install history JSON', () => {
    const items = parseInstallHistory(common('install-history-good.json'))!;
    expect(items).toHaveLength(6);
    expect(items.find((i) => i.name === 'XProtectPlistConfigData')).toMatchObject({ version: '5330', source: 'package_source_apple' });
    expect(items[0]!.date.toISOString()).toBe('2026-07-15T02:10:44.000Z');
    expect(parseInstallHistory('{}')).toBeNull();
    expect(parseInstallHistory('not json')).toBeNull();
  });
});
