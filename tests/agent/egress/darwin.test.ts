import { describe, expect, it } from 'vitest';
import {
  DARWIN_LSOF_ARGS, PF_ANCHOR, PFCTL, attachDarwinExe, darwinPfCommands, darwinPfRules, parseLsofConnections, parseNetstatAnv,
  parsePfctlToken, parsePfctlVerboseRules, parsePsComm, parseScutilProxy, pfBlockedPackets, pfPlanHash,
} from '../../../agent/egress/darwin.js';
import type { AllowEntry, Conn, EnforcementPlan } from '../../../agent/egress/types.js';
import { parseDestination } from '../../../shared/policy.js';
import { fx } from '../collectors/helpers.js';

const D = (file: string) => fx('darwin', 'egress', file);
const row = (c: Conn) => `${c.proto} ${c.family} ${c.localAddress}:${c.localPort} ${c.remoteAddress}:${c.remotePort} ${c.state} ${c.pid}`;

describe('darwin connection table', () => {
  it('lsof field output: states, families, IPv6 brackets, wildcards, process and user', () => {
    expect(DARWIN_LSOF_ARGS).toEqual(['-nP', '-i', '-F', 'pcuLftPTn']);
    const conns = parseLsofConnections(D('lsof-connections.txt'));
    expect(conns.map(row)).toEqual([
      'tcp 6 :::22 :::0 listen 1',
      'tcp 4 0.0.0.0:22 0.0.0.0:0 listen 1',
      'udp 4 0.0.0.0:5353 0.0.0.0:0 unconnected 531',
      'udp 6 :::5353 :::0 unconnected 531',
      'udp 4 0.0.0.0:0 0.0.0.0:0 unconnected 531',
      'tcp 4 192.168.1.23:50240 45.76.12.9:443 established 2210',
      'tcp 4 192.168.1.23:50241 45.76.12.9:443 syn_sent 2210',
      'tcp 6 2001:db8:1::23:50300 2001:db8:ffff::80:443 established 2210',
      'udp 4 192.168.1.23:61544 8.8.8.8:53 connected 2210',
      'tcp 6 fe80::1:50400 fe80::1:7000 close_wait 2210',
      // fd 36 repeats fd 31's socket in the same process: listed once
      'tcp 4 192.168.1.23:50112 203.0.113.10:8443 established 4120',
      'tcp 4 192.168.1.23:50322 10.8.0.1:22 fin_wait2 8807',
    ]);
    expect(conns[5]!.process).toEqual({ pid: 2210, name: 'Google Chrome Helper', exe: null, user: 'trader' });
    expect(conns[2]!.process!.user).toBe('_mdnsresponder');
    expect(conns[11]!.process).toEqual({ pid: 8807, name: 'ssh', exe: null, user: '501' }); // no L: the uid
  });

  it('lsof without T lines and without f lines still reads', () => {
    const text = 'p77\ncfoo\nu0\ntIPv4\nPTCP\nn10.0.0.2:5000->10.0.0.3:80\ntIPv4\nPTCP\nn*:8080\ntIPv6\nPUDP\nn[::1]:53->[::1]:5353\nPSCTP\nn*:9\n';
    expect(parseLsofConnections(text).map(row)).toEqual([
      'tcp 4 10.0.0.2:5000 10.0.0.3:80 established 77',
      'tcp 4 0.0.0.0:8080 0.0.0.0:0 listen 77',
      'udp 6 ::1:53 ::1:5353 connected 77',
    ]);
    expect(parseLsofConnections('')).toEqual([]);
  });

  it('ps comm: executables, absolute paths only', () => {
    const exe = parsePsComm(D('ps-comm.txt'));
    expect(exe.get(1)).toBe('/sbin/launchd');
    expect(exe.get(2210)).toBe('/Applications/Google Chrome.app/Contents/Frameworks/Google Chrome Framework.framework/Versions/131.0.6778.86/Helpers/Google Chrome Helper.app/Contents/MacOS/Google Chrome Helper');
    expect(exe.get(9001)).toBe('-zsh');
    const conns = attachDarwinExe(parseLsofConnections(D('lsof-connections.txt')), exe);
    expect(conns.find((c) => c.pid === 4120)!.process).toEqual({ pid: 4120, name: 'node', exe: '/Library/Application Support/termguard/node', user: 'root' });
    expect(conns.find((c) => c.pid === 8807)!.process!.exe).toBeNull(); // `ssh` is not a path
    const bare: Conn = { proto: 'tcp', family: 4, localAddress: '1.1.1.1', localPort: 1, remoteAddress: '2.2.2.2', remotePort: 2, state: 'established', pid: 531 };
    expect(attachDarwinExe([bare], exe)[0]!.process).toEqual({ pid: 531, name: 'mDNSResponder', exe: '/usr/sbin/mDNSResponder', user: null });
  });

  it('netstat -anv, macOS 11–15 layout (pid column)', () => {
    expect(parseNetstatAnv(D('netstat-anv-15.txt')).map(row)).toEqual([
      'tcp 4 192.168.1.23:50112 203.0.113.10:8443 established 4120',
      'tcp 4 192.168.1.23:50240 45.76.12.9:443 established 2210',
      'tcp 6 2001:db8:1::23:50300 2001:db8:ffff::80:443 established 2210',
      'tcp 4 192.168.1.23:50090 198.18.4.20:443 time_wait 2210',
      'tcp 6 :::22 :::0 listen 1',
      'tcp 4 127.0.0.1:8790 0.0.0.0:0 listen 4120',
    ]);
  });

  it('netstat -anv, macOS 26 layout (process:pid, names with spaces)', () => {
    const conns = parseNetstatAnv(D('netstat-anv-26.txt'));
    expect(conns.map(row)).toEqual([
      'tcp 4 192.168.1.23:50112 203.0.113.10:8443 established 4120',
      'tcp 4 192.168.1.23:50240 45.76.12.9:443 established 2210',
      'tcp 6 2001:db8:1::23:50300 2001:db8:ffff::80:443 syn_sent 2210',
      'tcp 6 :::3283 :::0 listen 1039',
      'tcp 4 127.0.0.1:8790 0.0.0.0:0 listen 4120',
    ]);
    expect(conns[1]!.process).toEqual({ pid: 2210, name: 'Google Chrome He', exe: null, user: null });
    expect(conns[0]!.process!.name).toBe('node');
  });

  it('netstat -anv, macOS 10 layout (no rxbytes)', () => {
    expect(parseNetstatAnv(D('netstat-anv-10.txt')).map(row)).toEqual([
      'tcp 4 192.168.1.23:50112 203.0.113.10:8443 established 4120',
      'tcp 6 :::2222 :::0 listen 43379',
      'tcp 6 ::1:58090 ::1:2222 time_wait 43387',
    ]);
  });
});

describe('darwin proxies', () => {
  it('scutil --proxy: enabled entries of the top-level dictionary only', () => {
    expect(parseScutilProxy(D('scutil-proxy.txt'))).toEqual([
      { kind: 'http', proxy: '10.20.0.8:3128' },
      { kind: 'https', proxy: '10.20.0.8:3128' },
    ]);
    expect(parseScutilProxy(D('scutil-proxy-pac.txt'))).toEqual([
      { kind: 'socks', proxy: '127.0.0.1:7890' },
      { kind: 'pac', proxy: 'http://wpad.corp.example/proxy.pac' },
      { kind: 'pac', proxy: null },
    ]);
    expect(parseScutilProxy(D('scutil-proxy-none.txt'))).toEqual([]);
  });
});

const entry = (text: string): AllowEntry => {
  const d = parseDestination(text);
  if (!d) throw new Error(`bad test destination ${text}`);
  return { text, ...d };
};

const SMALL: EnforcementPlan = {
  server: [{ address: '203.0.113.10', family: 4, port: 8443 }],
  dns: [{ address: '192.168.1.1', family: 4 }],
  allow: [entry('10.0.0.0/8'), entry('198.18.0.0/15:443')],
};

describe('pf anchor', () => {
  it('PF_ANCHOR sits under com.apple/*, which /etc/pf.conf evaluates', () => {
    expect(PF_ANCHOR).toBe('com.apple/termguard');
  });

  it('a small plan, exactly', () => {
    expect(darwinPfRules(SMALL)).toBe([
      '# termguard egress allow-list (generated; anchor com.apple/termguard)',
      'pass out quick on lo0 all',
      'pass out quick inet from any to 203.0.113.10',
      'pass out quick inet proto udp from any port 68 to any port 67',
      'pass out quick inet6 proto udp from any port 546 to ff02::1:2 port 547',
      'pass out quick inet proto { tcp udp } from any to 192.168.1.1 port 53',
      'pass out quick inet6 proto ipv6-icmp all icmp6-type { routersol neighbrsol neighbradv }',
      'pass out quick inet from any to 10.0.0.0/8',
      'pass out quick inet proto { tcp udp } from any to 198.18.0.0/15 port 443',
      'block drop out quick all',
      '',
    ].join('\n'));
  });

  it('IPv6 entries, host bits, and the plan hash label', () => {
    const text = darwinPfRules({
      server: [{ address: '2001:DB8:FFFF:0:0:0:0:7', family: 6, port: 443 }],
      dns: [{ address: 'fe80::1%en0', family: 6 }],
      allow: [entry('[2001:db8:5::9]/48'), entry('[2001:db8::]/32:443'), entry('10.1.2.3/8:22')],
    }, '3f2a9c');
    expect(text.split('\n').filter((l) => l.startsWith('pass') || l.startsWith('block')).slice(1)).toEqual([
      'pass out quick inet6 from any to 2001:db8:ffff::7',
      'pass out quick inet proto udp from any port 68 to any port 67',
      'pass out quick inet6 proto udp from any port 546 to ff02::1:2 port 547',
      'pass out quick inet6 proto { tcp udp } from any to fe80::1 port 53',
      'pass out quick inet6 proto ipv6-icmp all icmp6-type { routersol neighbrsol neighbradv }',
      'pass out quick inet6 from any to 2001:db8:5::/48',
      'pass out quick inet6 proto { tcp udp } from any to 2001:db8::/32 port 443',
      'pass out quick inet proto { tcp udp } from any to 10.0.0.0/8 port 22',
      'block drop out quick all label "termguard:3f2a9c"',
    ]);
    expect(() => darwinPfRules(SMALL, 'no spaces allowed')).toThrow(/hash/);
    expect(() => darwinPfRules({ ...SMALL, dns: [{ address: '1.2.3', family: 4 }] })).toThrow(/dns 1\.2\.3/);
  });

  it('pfctl argv: apply on stdin, reference-counted enable and release, flush, counters', () => {
    const c = darwinPfCommands();
    expect(c.apply).toEqual([PFCTL, '-a', 'com.apple/termguard', '-f', '-']);
    expect(c.enable).toEqual([PFCTL, '-E']);
    expect(c.remove).toEqual([PFCTL, '-a', 'com.apple/termguard', '-F', 'all']);
    expect(c.release('11483297619420931117')).toEqual([PFCTL, '-X', '11483297619420931117']);
    expect(() => c.release('1; rm -rf /')).toThrow(/token/);
    expect(c.counts).toEqual([PFCTL, '-a', 'com.apple/termguard', '-vsr']);
  });

  it('pfctl -E token: kept as text, it does not fit a double', () => {
    expect(parsePfctlToken(D('pfctl-E.stderr.txt'))).toBe('11483297619420931117');
    expect(parsePfctlToken('pfctl: pf already enabled\n')).toBeNull();
  });

  it('pfctl -vsr: counters per rule, blocked packets, plan hash', () => {
    const rows = parsePfctlVerboseRules(D('pfctl-vsr.txt'));
    expect(rows).toHaveLength(13);
    expect(rows[0]).toEqual({ rule: 'pass out quick on lo0 all flags S/SA keep state', evaluations: 5210, packets: 3904, bytes: 412233 });
    expect(rows[12]).toEqual({ rule: 'block drop out quick all label "termguard:3f2a9c"', evaluations: 2480, packets: 412, bytes: 38104 });
    expect(pfBlockedPackets(rows)).toBe(412);
    expect(pfPlanHash(rows)).toBe('3f2a9c');
    const vv = 'No ALTQ support in kernel\nALTQ related functions disabled\n@0 pass out quick on lo0 all flags S/SA keep state\n  [ Evaluations: 3  Packets: 2  Bytes: 1  States: 0 ]\n@1 block drop out quick all\n  [ Evaluations: 9         Packets: 7         Bytes: 700         States: 0     ]\n@2 block drop out quick inet6 all\n  [ Evaluations: 1 Packets: 5 Bytes: 80 States: 0 ]\n';
    const r2 = parsePfctlVerboseRules(vv);
    expect(r2.map((r) => r.rule)).toEqual(['pass out quick on lo0 all flags S/SA keep state', 'block drop out quick all', 'block drop out quick inet6 all']);
    expect(pfBlockedPackets(r2)).toBe(12);
    expect(pfPlanHash(r2)).toBeNull();
    expect(parsePfctlVerboseRules('')).toEqual([]);
  });
});
