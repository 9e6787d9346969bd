/** The win32 parsers against the recorded tool outputs in tests/fixtures/win32/checks/_outputs/. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeProductState, infNumber, infString, parseAuditpolCsv, parseInf, parseLocalDateTime, parseNetshFirewall,
  parsePsDate, parsePsJsonList, parseRegQuery, parseServices, parseW32tmStatus,
} from '../../../agent/checks/win32/parse.js';

const OUT = join(import.meta.dirname, '..', '..', 'fixtures', 'win32', 'checks', '_outputs');
const read = (f: string) => readFileSync(join(OUT, f), 'utf8');

describe('parseInf (secedit /export)', () => {
  const inf = parseInf(read('secedit/hardened.inf'));

  it('reads [System Access] numbers and quoted names', () => {
    expect(infNumber(inf, 'System Access', 'MinimumPasswordLength')).toBe(12);
    expect(infNumber(inf, 'system access', 'lockoutduration')).toBe(15);
    expect(infString(inf, 'System Access', 'NewAdministratorName')).toBe('tgadmin');
    expect(infNumber(inf, 'System Access', 'NoSuchKey')).toBeUndefined();
  });

  it('keeps [Registry Values] lines keyed by their registry path', () => {
    expect(infString(inf, 'Registry Values', 'MACHINE\\System\\CurrentControlSet\\Control\\Lsa\\RestrictAnonymous')).toBe('4,1');
    expect(infString(inf, 'Version', 'signature')).toBe('$CHICAGO$');
  });

  it('reads -1 ("never") and tolerates a BOM and LF endings', () => {
    const weak = parseInf('\uFEFF' + read('secedit/weak.inf').replace(/\r\n/g, '\n'));
    expect(infNumber(weak, 'System Access', 'MaximumPasswordAge')).toBe(-1);
  });

  it('omits lockout duration while lockout is off, as secedit does', () => {
    const d = parseInf(read('secedit/default.inf'));
    expect(infNumber(d, 'System Access', 'LockoutBadCount')).toBe(0);
    expect(infNumber(d, 'System Access', 'LockoutDuration')).toBeUndefined();
  });
});

describe('parseAuditpolCsv (auditpol /get /category:* /r)', () => {
  it('reads every subcategory of a Windows 10 default policy, skipping the blank lines', () => {
    const rows = parseAuditpolCsv(read('auditpol/win10-default.csv'));
    expect(rows).toHaveLength(59);
    const logon = rows.find((r) => r.guid === '{0CCE9215-69AE-11D9-BED3-505054503030}');
    expect(logon).toEqual({ subcategory: 'Logon', guid: '{0CCE9215-69AE-11D9-BED3-505054503030}', inclusion: 'Success and Failure', success: true, failure: true });
    expect(rows.find((r) => r.subcategory === 'Credential Validation')).toMatchObject({ success: false, failure: false });
  });

  it('reads Simplified Chinese inclusion settings', () => {
    const rows = parseAuditpolCsv(read('auditpol/zh-cn-partial.csv'));
    expect(rows.find((r) => r.guid === '{0CCE9215-69AE-11D9-BED3-505054503030}')).toMatchObject({ subcategory: '登录', success: true, failure: true });
    expect(rows.find((r) => r.guid === '{0CCE9211-69AE-11D9-BED3-505054503030}')).toMatchObject({ success: false, failure: false });
  });

  it('prefers the numeric Setting Value of an /backup file', () => {
    const csv = 'Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting,Setting Value\r\n'
      + 'TG,System,Audit Logon,{0cce9215-69ae-11d9-bed3-505054503030},Success and Failure,,3\r\n';
    expect(parseAuditpolCsv(csv)[0]).toMatchObject({ guid: '{0CCE9215-69AE-11D9-BED3-505054503030}', success: true, failure: true });
  });

  it('throws on text without the header or with an unknown setting', () => {
    expect(() => parseAuditpolCsv('Error 0x00000522 occurred:\r\nA required privilege is not held by the client.\r\n')).toThrow(/header/);
    expect(() => parseAuditpolCsv('Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting\r\nX,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Erfolg,\r\n')).toThrow(/Erfolg/);
  });
});

describe('parseRegQuery (reg query <key>)', () => {
  it('reads the key\'s own values, not its subkeys, with DWORDs as numbers', () => {
    const v = parseRegQuery(read('reg/lsa/hardened.txt'));
    expect(v.get('runasppl')).toEqual({ name: 'RunAsPPL', type: 'REG_DWORD', data: '0x1', num: 1 });
    expect(v.get('notification packages')).toMatchObject({ type: 'REG_MULTI_SZ', data: 'scecli' });
    expect(v.get('bounds')?.type).toBe('REG_BINARY');
    expect(v.has('kerberos')).toBe(false);
  });

  it('reads empty REG_SZ data and large hex', () => {
    const s = parseRegQuery(read('reg/policies-system/default.txt'));
    expect(s.get('legalnoticecaption')).toEqual({ name: 'legalnoticecaption', type: 'REG_SZ', data: '' });
    const rdp = parseRegQuery(read('reg/ts-policy/hardened.txt'));
    expect(rdp.get('maxidletime')?.num).toBe(900_000);
    expect(parseRegQuery(read('reg/security-log/default.txt')).get('maxsize')?.num).toBe(20 * 1024 * 1024);
  });

  it('reads a decimal REG_SZ as a number', () => {
    expect(parseRegQuery(read('reg/security-log-policy/hardened.txt')).get('retention')?.num).toBe(0);
  });

  it('returns nothing for empty output', () => {
    expect(parseRegQuery('').size).toBe(0);
  });
});

describe('PowerShell ConvertTo-Json', () => {
  it('wraps a single object in a list and reads nothing as none', () => {
    expect(parsePsJsonList(read('ps/smb/hardened.json'))).toHaveLength(1);
    expect(parsePsJsonList(read('ps/services/hardened.json')).length).toBeGreaterThan(10);
    expect(parsePsJsonList('\r\n')).toEqual([]);
  });

  it('reads 5.1 /Date()/ strings, their { value, DateTime } wrapper and ISO 8601', () => {
    const mp = parsePsJsonList(read('ps/defender/active.json'))[0]!;
    expect(parsePsDate(mp.AntivirusSignatureLastUpdated)?.toISOString()).toBe('2026-11-24T01:12:40.000Z');
    const hf = parsePsJsonList(read('ps/hotfix/recent.json'))[2]!;
    expect(parsePsDate(hf.InstalledOn)?.toISOString()).toBe('2026-11-12T00:00:00.000Z');
    expect(parsePsDate('2026-11-24T09:12:40+08:00')?.toISOString()).toBe('2026-11-24T01:12:40.000Z');
    expect(parsePsDate('/Date(1795482760000+0800)/')?.getTime()).toBe(1795482760000);
    expect(parsePsDate(null)).toBeNull();
    expect(parsePsDate('yesterday')).toBeNull();
  });

  it('maps Get-Service enum numbers to names', () => {
    const s = parseServices(read('ps/services/weak.json'));
    expect(s.find((x) => x.name === 'EventLog')).toEqual({ name: 'EventLog', status: 'Stopped', startType: 'Disabled' });
    expect(s.find((x) => x.name === 'TlntSvr')).toEqual({ name: 'TlntSvr', status: 'Running', startType: 'Automatic' });
    expect(parseServices('[{"Name":"X","Status":"Running","StartType":"Manual"}]')[0]).toEqual({ name: 'X', status: 'Running', startType: 'Manual' });
  });
});

describe('parseNetshFirewall', () => {
  it('reads the three profiles, English and Chinese', () => {
    expect(parseNetshFirewall(read('netsh/public-off.txt'))).toEqual([
      { profile: 'domain', on: true }, { profile: 'private', on: true }, { profile: 'public', on: false },
    ]);
    expect(parseNetshFirewall(read('netsh/zh-cn-all-on.txt')).map((p) => p.on)).toEqual([true, true, true]);
    expect(parseNetshFirewall('The Windows Firewall service is not running.')).toEqual([]);
  });
});

describe('parseW32tmStatus', () => {
  it('reads source and last sync time in en-US and zh-CN layouts', () => {
    const en = parseW32tmStatus(read('w32tm/synced.txt'));
    expect(en).toMatchObject({ source: 'ntp1.sin.example.cn,0x8', stratum: 4, leapIndicator: 0 });
    expect(en.lastSync?.toISOString()).toBe('2026-11-24T21:03:12.000Z');
    const zh = parseW32tmStatus(read('w32tm/zh-cn.txt'));
    expect(zh.source).toBe('ntp1.sin.example.cn,0x8');
    expect(zh.lastSync?.toISOString()).toBe('2026-11-24T21:03:12.000Z');
  });

  it('reads "unspecified" as never synchronised', () => {
    const st = parseW32tmStatus(read('w32tm/local-cmos.txt'));
    expect(st).toMatchObject({ source: 'Local CMOS Clock', lastSync: null, lastSyncText: 'unspecified', leapIndicator: 3 });
  });

  it('reads European dotted dates and 12 AM/PM edges', () => {
    expect(parseLocalDateTime('14.08.2026 20:55:55')?.toISOString()).toBe('2026-08-14T20:55:55.000Z');
    expect(parseLocalDateTime('1/8/2026 12:05:00 AM')?.toISOString()).toBe('2026-01-08T00:05:00.000Z');
    expect(parseLocalDateTime('1/8/2026 12:05:00 PM')?.toISOString()).toBe('2026-01-08T12:05:00.000Z');
    expect(parseLocalDateTime('unspecified')).toBeNull();
  });
});

describe('decodeProductState (SecurityCenter2)', () => {
  it('decodes Defender on/off and a third-party product', () => {
    expect(decodeProductState(397568)).toEqual({ enabled: true, upToDate: true, windows: true });
    expect(decodeProductState(393472)).toEqual({ enabled: false, upToDate: true, windows: true });
    expect(decodeProductState(266240)).toEqual({ enabled: true, upToDate: true, windows: false });
    expect(decodeProductState(266256)).toMatchObject({ enabled: true, upToDate: false });
  });
});
