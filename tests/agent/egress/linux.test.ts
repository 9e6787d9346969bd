import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AllowList, parseAllow, toBigInt } from '../../../agent/egress/allow.js';
import { planHash } from '../../../agent/egress/enforcer.js';
import { installedHash, NftEnforcer, nftRuleset, parseNftCounts } from '../../../agent/egress/linux/nft.js';
import { parseDefaultRoutes, readInterfaces, readLinuxPaths } from '../../../agent/egress/linux/paths.js';
import { parseConntrackEvent, parseSsEvent, splitEndpoint } from '../../../agent/egress/linux/socket-events.js';
import { sockstatSignature } from '../../../agent/egress/linux/index.js';
import { parsePasswd, parseProcNetAll, ProcessAttributor, readProcNet } from '../../../agent/egress/linux/table.js';
import { diffPaths, envProxies, parseEnvironmentFile, type PathSnapshot } from '../../../agent/egress/paths.js';
import type { EnforcementPlan } from '../../../agent/egress/types.js';
import type { Runner } from '../../../agent/exec.js';
import { fx } from '../collectors/helpers.js';

const dirs: string[] = [];
const temp = () => { const d = mkdtempSync(join(tmpdir(), 'tg-egress-')); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('/proc/net tables (captured in a namespace on this VM)', () => {
  it('reads every row of tcp: listen, established, time_wait (inode 0)', () => {
    const rows = parseProcNetAll(fx('linux', 'egress', 'proc-net-tcp.txt'), 'tcp', 4);
    expect(rows.map((r) => `${r.localAddress}:${r.localPort} ${r.remoteAddress}:${r.remotePort} ${r.state} ${r.inode}`)).toEqual([
      '0.0.0.0:8443 0.0.0.0:0 listen 186894',
      '127.0.0.1:47590 127.0.0.1:8443 established 186896',
      '127.0.0.1:47600 127.0.0.1:8443 time_wait 0',
      '127.0.0.1:8443 127.0.0.1:47590 established 186902',
      '127.0.0.1:58556 127.0.0.1:9443 established 186898',
    ]);
    expect(rows.every((r) => r.uid === 0 && r.proto === 'tcp' && r.family === 4 && r.pid === null)).toBe(true);
  });

  it('tcp6 with v4-mapped and documentation addresses; udp sockets connected or not', () => {
    const t6 = parseProcNetAll(fx('linux', 'egress', 'proc-net-tcp6.txt'), 'tcp', 6);
    expect(t6.map((r) => `${r.localAddress} ${r.remoteAddress}:${r.remotePort} ${r.state}`)).toEqual([
      ':: :::0 listen', '::ffff:127.0.0.1 ::ffff:127.0.0.1:58556 established', '2001:db8::5 2001:db8::5:59816 established', '2001:db8::5 2001:db8::5:9443 established',
    ]);
    expect(parseProcNetAll(fx('linux', 'egress', 'proc-net-udp.txt'), 'udp', 4).map((r) => `${r.localPort} ${r.state}`)).toEqual(['5353 unconnected']);
    expect(parseProcNetAll(fx('linux', 'egress', 'proc-net-udp6.txt'), 'udp', 6).map((r) => `${r.remoteAddress}:${r.remotePort} ${r.state} ${r.inode}`)).toEqual(['2001:db8::5:53 connected 186901']);
  });

  it('skips malformed and truncated rows instead of throwing', () => {
    const text = fx('linux', 'egress', 'proc-net-tcp.txt').split('\n');
    const bad = [text[0], 'garbage', '   9: 0100007F:ZZZZ', text[1]!.slice(0, 40), text[2], '   7: 0100007F:0050 0100007F:0050 99 00000000:00000000 00:00000000 00000000     0        0 5 1'].join('\n');
    expect(parseProcNetAll(bad, 'tcp', 4).map((r) => r.localPort)).toEqual([47590]); // only the intact established row
  });

  it('reads this host\'s tables and attributes its own socket to this process, with exe and user', async () => {
    const net = await import('node:net');
    const srv = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const rows = readProcNet('/proc');
      const mine = rows.filter((r) => r.localPort === port && r.state === 'listen');
      expect(mine).toHaveLength(1);
      const a = new ProcessAttributor('/proc');
      a.attribute(mine);
      expect(mine[0]!.pid).toBe(process.pid);
      expect(mine[0]!.process).toMatchObject({ pid: process.pid, exe: process.execPath });
      expect(a.stats.walks).toBe(1);
      a.attribute(mine); // cached: no second walk
      expect(a.stats.walks).toBe(1);
    } finally {
      srv.close();
    }
  });

  it('attribution through a fixture /proc: socket links, comm, exe, passwd; a dead pid is dropped', () => {
    const proc = temp();
    mkdirSync(join(proc, 'net'));
    writeFileSync(join(proc, 'net/tcp'), fx('linux', 'egress', 'proc-net-tcp.txt').replace('00000000     0        0 186896', '00000000  1001        0 186896'));
    mkdirSync(join(proc, '4242/fd'), { recursive: true });
    symlinkSync('socket:[186896]', join(proc, '4242/fd/7'));
    symlinkSync('/dev/null', join(proc, '4242/fd/0'));
    symlinkSync('/usr/bin/curl', join(proc, '4242/exe'));
    writeFileSync(join(proc, '4242/comm'), 'curl\n');
    const passwd = join(proc, 'passwd');
    writeFileSync(passwd, 'root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n');
    const rows = readProcNet(proc);
    const est = rows.filter((r) => r.inode === 186896);
    const a = new ProcessAttributor(proc, passwd);
    a.attribute(est);
    expect(est[0]!.process).toEqual({ pid: 4242, name: 'curl', exe: '/usr/bin/curl', user: 'alice' });
    rmSync(join(proc, '4242'), { recursive: true });
    const again = readProcNet(proc).filter((r) => r.inode === 186896);
    a.attribute(again);
    expect(again[0]!.pid).toBeNull();
    expect(again[0]!.process).toBeNull();
  });

  it('parses /etc/passwd, first entry per uid wins', () => {
    expect(parsePasswd('root:x:0:0::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\nbad line\nbob:x:1002:1002::/:/bin/sh')).toEqual(new Map([[0, 'root'], [1002, 'bob']]));
  });
});

describe('sockstat signature', () => {
  it('keeps the per-namespace counts only', () => {
    const a = 'sockets: used 535\nTCP: inuse 4 orphan 0 tw 17 alloc 9 mem 37\nUDP: inuse 2 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n' +
      'TCP6: inuse 3\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n';
    expect(sockstatSignature(a)).toBe('sockets=535 TCP=4 UDP=2 UDPLITE=0 RAW=0 TCP6=3 UDP6=1 UDPLITE6=0 RAW6=0');
    expect(sockstatSignature(a.replace('tw 17', 'tw 90').replace('mem 37', 'mem 99'))).toBe(sockstatSignature(a));
    expect(sockstatSignature(a.replace('TCP: inuse 4', 'TCP: inuse 5'))).not.toBe(sockstatSignature(a));
  });
});

describe('socket event lines', () => {
  it('ss -E -tunH lines as printed here (tcp destroyed, udp)', () => {
    expect(parseSsEvent('tcp UNCONN 4      0      198.18.1.2:59552 203.0.113.10:80')).toEqual({ source: 'ss', proto: 'tcp', localAddress: '198.18.1.2', localPort: 59552, remoteAddress: '203.0.113.10', remotePort: 80 });
    expect(parseSsEvent('udp ESTAB 0      -1     198.18.1.2:45791 203.0.113.10:53')?.proto).toBe('udp');
    expect(parseSsEvent('tcp UNCONN 0 0 [2001:db8::2]:40000 [2001:db8::99]:443')).toMatchObject({ localAddress: '2001:db8::2', remoteAddress: '2001:db8::99', remotePort: 443 });
    expect(parseSsEvent('tcp UNCONN 0 0 [fe80::1%t0]:40000 [fe80::2%t0]:22')).toMatchObject({ remoteAddress: 'fe80::2', remotePort: 22 });
    expect(parseSsEvent('tcp UNCONN 0 0 0.0.0.0:22 0.0.0.0:*')).toBeNull();
    expect(parseSsEvent('nonsense')).toBeNull();
    expect(splitEndpoint('999.1.1.1:80')).toBeNull();
  });

  it('conntrack -E NEW lines: the original direction', () => {
    expect(parseConntrackEvent('    [NEW] tcp      6 120 SYN_SENT src=198.18.1.2 dst=203.0.113.10 sport=43290 dport=80 [UNREPLIED] src=203.0.113.10 dst=198.18.1.2 sport=80 dport=43290'))
      .toEqual({ source: 'conntrack', proto: 'tcp', localAddress: '198.18.1.2', localPort: 43290, remoteAddress: '203.0.113.10', remotePort: 80 });
    expect(parseConntrackEvent('    [NEW] udp      17 30 src=198.18.1.2 dst=203.0.113.10 sport=5000 dport=53 [UNREPLIED] src=203.0.113.10 dst=198.18.1.2 sport=53 dport=5000')?.remotePort).toBe(53);
    expect(parseConntrackEvent(' [DESTROY] tcp      6 src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2')).toBeNull();
  });
});

describe('allow list', () => {
  const plan: EnforcementPlan = {
    server: [{ address: '198.18.2.2', family: 4, port: 8443 }],
    dns: [{ address: '198.18.2.53', family: 4 }],
    allow: parseAllow(['10.0.0.0/8', '198.18.0.0/15:443', '[2001:db8::]/32:443', '192.0.2.7']),
  };
  const a = new AllowList(plan);

  it('parses IPv4, IPv6, mapped and embedded forms', () => {
    expect(toBigInt('1.2.3.4')).toEqual({ family: 4, value: 0x01020304n });
    expect(toBigInt('::ffff:1.2.3.4')).toEqual({ family: 4, value: 0x01020304n });
    expect(toBigInt('::1')).toEqual({ family: 6, value: 1n });
    expect(toBigInt('2001:db8::1')!.value).toBe((0x20010db8n << 96n) | 1n);
    expect(toBigInt('64:ff9b::192.0.2.1')!.value).toBe((0x64n << 112n) | (0xff9bn << 96n) | 0xc0000201n);
    expect(toBigInt('fe80::1%eth0')!.value).toBe((0xfe80n << 112n) | 1n);
    expect(toBigInt('not an address')).toBeNull();
  });

  it('classifies destinations: ranges, ports, always-allowed', () => {
    expect(a.verdict('tcp', '10.9.8.7', 22)).toBe('allowed');
    expect(a.verdict('tcp', '198.19.255.1', 443)).toBe('allowed');
    expect(a.verdict('tcp', '198.19.255.1', 80)).toBe('violation');
    expect(a.verdict('udp', '198.18.0.1', 443)).toBe('allowed');
    expect(a.verdict('tcp', '2001:db8:ffff::1', 443)).toBe('allowed');
    expect(a.verdict('tcp', '2001:db9::1', 443)).toBe('violation');
    expect(a.verdict('tcp', '192.0.2.7', 1)).toBe('allowed');
    expect(a.verdict('tcp', '192.0.2.8', 1)).toBe('violation');
    expect(a.verdict('tcp', '127.0.0.1', 80)).toBe('loopback');
    expect(a.verdict('tcp', '::ffff:127.0.0.1', 80)).toBe('loopback');
    expect(a.verdict('tcp', '198.18.2.2', 22)).toBe('server');
    expect(a.verdict('udp', '198.18.2.53', 53)).toBe('dns');
    expect(a.verdict('udp', '198.18.2.53', 54)).toBe('violation'); // inside 198.18.0.0/15, but that range allows 443 only
    expect(a.verdict('udp', '255.255.255.255', 67)).toBe('dhcp');
    expect(a.verdict('tcp', '203.0.113.10', 443)).toBe('violation');
    expect(a.verdict('tcp', '::ffff:203.0.113.10', 443)).toBe('violation');
  });

  it('inbound peers: any port of an allowed range', () => {
    expect(a.peerAllowed('198.19.0.1')).toBe(true);
    expect(a.peerAllowed('203.0.113.1')).toBe(false);
  });
});

describe('nftables ruleset', () => {
  const plan: EnforcementPlan = {
    server: [{ address: '198.18.2.2', family: 4, port: 8443 }, { address: '2001:db8::2', family: 6, port: 8443 }],
    dns: [{ address: '198.18.2.53', family: 4 }],
    allow: parseAllow(['10.0.0.0/8', '198.18.0.0/15:443', '[2001:db8::]/32:443', '192.0.2.7']),
  };

  it('is exactly this (one transaction: create, delete, define)', () => {
    expect(nftRuleset(plan, 'abc')).toBe(`table inet termguard
delete table inet termguard
table inet termguard {
  comment "termguard egress plan abc"
  counter blocked { }
  set blocked4 { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 1d; counter; }
  set blocked6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 1d; counter; }
  chain output {
    type filter hook output priority filter; policy accept;
    oifname "lo" accept
    icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, mld-listener-report, mld2-listener-report } accept
    udp sport 68 udp dport 67 accept
    meta nfproto ipv6 udp sport 546 udp dport 547 accept
    ip daddr 198.18.2.2 accept
    ip6 daddr 2001:db8::2 accept
    ip daddr 198.18.2.53 meta l4proto { tcp, udp } th dport 53 accept
    ip daddr 10.0.0.0/8 accept
    ip daddr 198.18.0.0/15 meta l4proto { tcp, udp } th dport 443 accept
    ip6 daddr 2001:db8::/32 meta l4proto { tcp, udp } th dport 443 accept
    ip daddr 192.0.2.7 accept
    meta nfproto ipv4 update @blocked4 { ip daddr } counter name "blocked" drop
    meta nfproto ipv6 update @blocked6 { ip6 daddr } counter name "blocked" drop
  }
}
`);
  });

  it('plan hash ignores order and changes with content', () => {
    const shuffled = { ...plan, allow: [...plan.allow].reverse(), server: [...plan.server].reverse() };
    expect(planHash(shuffled)).toBe(planHash(plan));
    expect(planHash({ ...plan, allow: plan.allow.slice(1) })).not.toBe(planHash(plan));
  });

  it('reads back the installed hash only from a complete table of ours', () => {
    const listing = 'table inet termguard {\n\tcomment "termguard egress plan 0123abcd"\n\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n\t\tmeta nfproto ipv4 update @blocked4 { ip daddr } counter name "blocked" drop\n\t}\n}\n';
    expect(installedHash(listing)).toBe('0123abcd');
    expect(installedHash(listing.replace(/.*drop\n/, ''))).toBeNull();
    expect(installedHash('table inet termguard {\n}\n')).toBeNull();
  });

  it('counts from nft -j (format printed by nftables 1.0.6 here)', () => {
    const json = JSON.stringify({ nftables: [
      { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
      { table: { family: 'inet', name: 'termguard', handle: 4 } },
      { counter: { family: 'inet', name: 'blocked', table: 'termguard', handle: 2, packets: 7, bytes: 420 } },
      { set: { family: 'inet', name: 'blocked4', table: 'termguard', type: 'ipv4_addr', handle: 3, size: 65535, flags: ['timeout'], timeout: 86400,
        elem: [{ elem: { val: '203.0.113.10', expires: 3599, counter: { packets: 5, bytes: 300 } } }, { elem: { val: '203.0.113.20', expires: 3500, counter: { packets: 2, bytes: 120 } } }] } },
      { set: { family: 'inet', name: 'blocked6', table: 'termguard', type: 'ipv6_addr', handle: 4 } },
    ] });
    expect(parseNftCounts(json)).toEqual({ packets: 7, bytes: 420, destinations: [{ address: '203.0.113.10', packets: 5, bytes: 300 }, { address: '203.0.113.20', packets: 2, bytes: 120 }] });
    expect(parseNftCounts('not json')).toBeNull();
  });

  it('NftEnforcer passes the ruleset on stdin and reports nft errors', async () => {
    const calls: { args: string[]; input?: string }[] = [];
    const run: Runner = async (_cmd, args, opts) => {
      calls.push({ args, input: opts?.input });
      if (args[0] === 'list') return { stdout: '', stderr: 'Error: No such file or directory', code: 1 };
      if (opts?.input?.includes('fail')) return { stdout: '', stderr: 'Error: syntax error', code: 1 };
      return { stdout: '', stderr: '', code: 0 };
    };
    const e = new NftEnforcer(run, '/usr/sbin/nft');
    expect(await e.installed()).toBeNull();
    await e.apply(plan, 'h1');
    expect(calls[1]).toEqual({ args: ['-f', '-'], input: nftRuleset(plan, 'h1') });
    await expect(e.apply(plan, 'fail')).rejects.toThrow(/syntax error/);
    await e.remove();
    expect(calls.at(-1)!.input).toBe('table inet termguard\ndelete table inet termguard\n');
  });
});

describe('network paths', () => {
  it('default routes from /proc/net/route and ipv6_route', () => {
    const route = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      't0\t00000000\t010112C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
      't0\t001212C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
      't1\t00000000\t016433C6\t0003\t0\t0\t50\t00000000\t0\t0\t0\n' +
      'x0\t00000000\t00000000\t0201\t0\t0\t0\t00000000\t0\t0\t0\n';
    const v6 = '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 wlan0\n' +
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n' +
      '20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n';
    expect(parseDefaultRoutes(route, v6)).toEqual([
      { family: 4, interface: 't0', gateway: '198.18.1.1' },
      { family: 4, interface: 't1', gateway: '198.51.100.1' },
      { family: 6, interface: 'wlan0', gateway: 'fe80::1' },
    ]);
  });

  it('a USB tethering interface in a fixture sysfs names its USB device', () => {
    const sys = temp();
    const dev = join(sys, 'devices/pci0000:00/0000:00:14.0/usb1/1-2');
    mkdirSync(join(dev, '1-2:1.0/net/usb0'), { recursive: true });
    mkdirSync(join(sys, 'bus/usb/drivers/rndis_host'), { recursive: true });
    for (const [k, v] of Object.entries({ idVendor: '18d1', idProduct: '4ee3', manufacturer: 'Google', product: 'Pixel 7 <img src=x onerror=alert(1)>', serial: '2A111FDH' })) writeFileSync(join(dev, k), `${v}\n`);
    symlinkSync(join(sys, 'bus/usb/drivers/rndis_host'), join(dev, '1-2:1.0/driver'));
    const ifd = join(dev, '1-2:1.0/net/usb0');
    writeFileSync(join(ifd, 'type'), '1\n');
    writeFileSync(join(ifd, 'operstate'), 'up\n');
    writeFileSync(join(ifd, 'flags'), '0x1003\n');
    symlinkSync(join(dev, '1-2:1.0'), join(ifd, 'device'));
    mkdirSync(join(sys, 'class/net'), { recursive: true });
    symlinkSync(ifd, join(sys, 'class/net/usb0'));
    const [i] = readInterfaces(sys);
    expect(i).toEqual({
      name: 'usb0', type: 'usb', up: true, driver: 'rndis_host',
      usb: { busid: '1-2', vendorId: '18d1', productId: '4ee3', manufacturer: 'Google', product: 'Pixel 7 <img src=x onerror=alert(1)>', serial: '2A111FDH' },
    });
    const snap = readLinuxPaths(sys, join(sys, 'no-proc'), join(sys, 'no-root'), {});
    expect(diffPaths(null, snap)).toEqual([{ change: 'up', interface: i }]);
  });

  it('diffs: added, up, down, removed, second default route, proxies', () => {
    const eth = { name: 'eth0', type: 'ethernet' as const, up: true, driver: 'e1000e', usb: null };
    const wifi = { name: 'wlan0', type: 'wifi' as const, up: false, driver: 'iwlwifi', usb: null };
    const a: PathSnapshot = { interfaces: [eth, wifi], defaultRoutes: [{ family: 4, interface: 'eth0', gateway: '10.0.0.1' }], proxies: [] };
    const b: PathSnapshot = {
      interfaces: [{ ...eth, up: false }, { ...wifi, up: true }, { name: 'wwan0', type: 'cellular', up: true, driver: 'qmi_wwan', usb: null }],
      defaultRoutes: [{ family: 4, interface: 'eth0', gateway: '10.0.0.1' }, { family: 4, interface: 'wlan0', gateway: '192.168.1.1' }],
      proxies: [{ source: 'environment:https_proxy', proxy: 'http://p:3128' }],
    };
    expect(diffPaths(a, b).map((c) => `${c.change} ${'interface' in c ? c.interface.name : 'route' in c ? `${c.route.interface} ${c.defaultRoutes}` : c.proxy.proxy}`)).toEqual([
      'down eth0', 'up wlan0', 'added wwan0', 'default_route_added wlan0 2', 'proxy_set http://p:3128',
    ]);
    expect(diffPaths(b, a).map((c) => c.change)).toEqual(['up', 'down', 'removed', 'default_route_removed', 'proxy_cleared']);
    expect(diffPaths(a, a)).toEqual([]);
  });

  it('proxies from the environment and /etc/environment', () => {
    expect(envProxies({ https_proxy: ' http://10.1.1.1:8080 ', PATH: '/bin', HTTP_PROXY: '' })).toEqual([{ source: 'environment:https_proxy', proxy: 'http://10.1.1.1:8080' }]);
    expect(parseEnvironmentFile('PATH="/usr/bin"\nexport http_proxy=\'http://p:3128\'\n# c\n')).toEqual({ PATH: '/usr/bin', http_proxy: 'http://p:3128' });
  });
});
