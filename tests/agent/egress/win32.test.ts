import { afterEach, describe, expect, it } from 'vitest';
import { cidrRange, parseAddress } from '../../../agent/egress/ranges.js';
import type { AllowEntry, EnforcementPlan, Family } from '../../../agent/egress/types.js';
import {
  WIN32_CONNECTIONS_SCRIPT, WIN32_CONNECTIVITY_SCRIPT, WIN32_FIREWALL_LOGGING_SCRIPT, WIN32_FIREWALL_REMOVE_SCRIPT,
  WIN32_FIREWALL_VERIFY_SCRIPT, WIN32_PROXY_SCRIPT, WIN32_RULE_ADDRESS_LIMIT, Win32ConnectionReader, parseNetshWinhttpProxy,
  parseWin32Connections, parseWin32Connectivity, parseWin32FirewallLog, parseWin32FirewallVerify, parseWin32Proxy,
  win32FirewallLogPath, win32FirewallScript,
} from '../../../agent/egress/win32.js';
import { parseDestination } from '../../../shared/policy.js';
import { fx, fxJson } from '../collectors/helpers.js';

const W = (file: string) => fx('win32', 'egress', file);
const WJ = (file: string) => fxJson('win32', 'egress', file);

describe('win32 connection table', () => {
  it('parses a snapshot line: states, families, owners from Procs', () => {
    const conns = parseWin32Connections(WJ('connections-line.txt'));
    expect(conns.map((c) => `${c.proto} ${c.family} ${c.localAddress}:${c.localPort} ${c.remoteAddress}:${c.remotePort} ${c.state} ${c.pid}`)).toEqual([
      'tcp 4 0.0.0.0:135 0.0.0.0:0 listen 988',
      'tcp 6 :::135 :::0 listen 988',
      'tcp 4 192.168.1.23:50112 203.0.113.10:8443 established 4120',
      'tcp 4 192.168.1.23:50240 45.76.12.9:443 established 6612',
      'tcp 4 192.168.1.23:50241 45.76.12.9:443 syn_sent 6612',
      'tcp 6 2001:db8:1::23:50300 2001:db8:ffff::80:443 established 7304',
      'tcp 4 192.168.1.23:50090 198.18.4.20:443 time_wait null',
      'tcp 4 0.0.0.0:50400 0.0.0.0:0 bound 6612',
      'tcp 4 192.168.1.23:50112 10.8.0.1:22 close_wait 9999',
      'udp 4 0.0.0.0:5353 0.0.0.0:0 unconnected 2310',
      'udp 6 :::5355 :::0 unconnected 2310',
      'udp 4 127.0.0.1:61000 0.0.0.0:0 unconnected 4',
    ]);
    expect(conns[3]!.process).toEqual({ pid: 6612, name: 'hexin', exe: 'C:\\同花顺软件\\同花顺\\hexin.exe', user: 'TRADE-PC07\\张伟' });
    expect(conns[11]!.process).toEqual({ pid: 4, name: 'System', exe: null, user: null });
    expect(conns[6]!.process).toBeNull(); // TIME_WAIT: no owner
    expect(conns[8]!.process).toBeNull(); // pid 9999 exited between the two queries
  });

  it('takes state names too, connected UDP, and drops rows it cannot read', () => {
    const conns = parseWin32Connections({
      Tcp: [
        { LocalAddress: '10.0.0.2', LocalPort: 1, RemoteAddress: '10.0.0.3', RemotePort: 2, State: 'Established', OwningProcess: 1 },
        { LocalAddress: '10.0.0.2', LocalPort: 3, RemoteAddress: '10.0.0.3', RemotePort: 4, State: 'DeleteTCB', OwningProcess: 1 },
        { LocalAddress: '10.0.0.2', LocalPort: 5, RemoteAddress: '10.0.0.3', RemotePort: 6, State: 'SynReceived', OwningProcess: 1 },
        { LocalAddress: 'fe80::1%12', LocalPort: 7, RemoteAddress: 'fe80::2%12', RemotePort: 8, State: 'FinWait2', OwningProcess: 1 },
        { LocalAddress: '10.0.0.2', LocalPort: 9, RemoteAddress: '10.0.0.3', RemotePort: 10, State: 42, OwningProcess: 1 },
        { LocalAddress: null, LocalPort: 11, State: 5 },
      ],
      // One object instead of a one-element array, as ConvertTo-Json prints it.
      Udp: { LocalAddress: '10.0.0.2', LocalPort: 53000, RemoteAddress: '10.0.0.53', RemotePort: 53, OwningProcess: 7 },
    });
    expect(conns.map((c) => `${c.localAddress}:${c.localPort} ${c.remoteAddress}:${c.remotePort} ${c.state} ${c.pid}`)).toEqual([
      '10.0.0.2:1 10.0.0.3:2 established 1',
      '10.0.0.2:3 10.0.0.3:4 delete_tcb 1',
      '10.0.0.2:5 10.0.0.3:6 syn_recv 1',
      'fe80::1:7 fe80::2:8 fin_wait2 1',
      '10.0.0.2:53000 10.0.0.53:53 connected 7',
    ]);
    expect(conns[4]!.process).toBeNull();
    expect(parseWin32Connections(null)).toEqual([]);
  });

  it('the script loops forever, prints one compressed ASCII line per interval and flushes', () => {
    const s = WIN32_CONNECTIONS_SCRIPT(1500);
    expect(s).toContain('while ($true) {');
    expect(s).toContain('ConvertTo-Json -Compress -Depth 3');
    expect(s).toContain('Get-Process -Id $ids -IncludeUserName');
    expect(s).toContain('[Console]::Out.Flush()');
    expect(s).toContain('Start-Sleep -Milliseconds 1500');
    expect(s).toContain("[^\\x00-\\x7F]");
    // `-Command -` runs stdin a line at a time: the loop must be one line, and the input must end with a blank line.
    expect(s.split('\n').filter((l) => l.includes('while'))).toHaveLength(1);
    expect(s.endsWith('\n\n')).toBe(true);
    expect(WIN32_CONNECTIONS_SCRIPT(5)).toContain('Start-Sleep -Milliseconds 100');
  });
});

/** A node child standing in for powershell.exe: `-e` source built from fixture lines. */
function childArgs(source: string): { command: string; args: string[] } {
  return { command: process.execPath, args: ['-e', source] };
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Win32ConnectionReader (node child in place of powershell.exe)', () => {
  const readers: Win32ConnectionReader[] = [];
  afterEach(() => { for (const r of readers.splice(0)) r.stop(); });
  const line1 = W('connections-line.txt').trim();
  const line2 = W('connections-line-2.txt').trim();

  it('splits lines across writes, skips malformed ones, keeps the latest snapshot; stop() kills the child', async () => {
    const snapshots: number[] = [];
    const errors: string[] = [];
    const source = `
      const w = (s) => process.stdout.write(s);
      w(${JSON.stringify(line1)} + '\\r\\n');
      w('{"Tcp": [ {"LocalAddress"\\n');
      w('42\\n\\n');
      const l2 = ${JSON.stringify(line2)};
      w(l2.slice(0, 37));
      setTimeout(() => w(l2.slice(37) + '\\n'), 80);
      setInterval(() => {}, 1000);`;
    const r = new Win32ConnectionReader({ ...childArgs(source), onSnapshot: (c) => snapshots.push(c.length), onError: (m) => errors.push(m) });
    readers.push(r);
    expect(r.latest()).toBeNull();
    r.start();
    await waitFor(() => r.stats.snapshots === 2);
    expect(snapshots).toEqual([12, 1]);
    expect(r.stats.malformed).toBe(2);
    expect(errors.filter((e) => e.includes('malformed'))).toHaveLength(2);
    expect(r.latest()!.map((c) => `${c.localPort} ${c.state} ${c.process?.name}`)).toEqual(['135 listen svchost']);
    const pid = r.pid!;
    expect(alive(pid)).toBe(true);
    r.stop();
    await waitFor(() => !alive(pid));
    expect(r.stats.restarts).toBe(0);
  });

  it('joins a line written in many small pieces', async () => {
    const source = `const l = ${JSON.stringify(line1)} + '\\n'; let i = 0; const step = () => { if (i < l.length) { process.stdout.write(l.slice(i, i += 97)); setTimeout(step, 1); } }; step(); setInterval(() => {}, 1000);`;
    const got: number[] = [];
    const r = new Win32ConnectionReader({ ...childArgs(source), onSnapshot: (c) => got.push(c.length) });
    readers.push(r);
    r.start();
    await waitFor(() => r.stats.snapshots === 1);
    expect(got).toEqual([12]);
    expect(r.stats.malformed).toBe(0);
  });

  it('restarts a child that exits, with backoff, and reports why', async () => {
    const errors: string[] = [];
    const source = `process.stdout.write(${JSON.stringify(line2)} + '\\n', () => { process.stderr.write('Get-NetTCPConnection : access denied\\n'); process.exit(3); });`;
    const r = new Win32ConnectionReader({ ...childArgs(source), onSnapshot: () => {}, onError: (m) => errors.push(m), restartMinMs: 20, restartMaxMs: 50 });
    readers.push(r);
    r.start();
    await waitFor(() => r.stats.restarts >= 2 && r.stats.snapshots >= 3);
    expect(errors.some((e) => e.includes('exited with 3') && e.includes('access denied'))).toBe(true);
    r.stop();
    const restarts = r.stats.restarts;
    await new Promise((res) => setTimeout(res, 150));
    expect(r.stats.restarts).toBe(restarts);
  });

  it('a missing command is an error and a retry, never a throw', async () => {
    const errors: string[] = [];
    const r = new Win32ConnectionReader({ command: '/nonexistent/powershell.exe', args: [], onSnapshot: () => {}, onError: (m) => errors.push(m), restartMinMs: 10, restartMaxMs: 20 });
    readers.push(r);
    expect(() => r.start()).not.toThrow();
    await waitFor(() => r.stats.restarts >= 1);
    expect(errors[0]).toContain('not found');
  });

  it('drops a runaway line and carries on; an aborted signal stops it', async () => {
    const source = `process.stdout.write('x'.repeat(5000)); setTimeout(() => process.stdout.write('yyy\\n' + ${JSON.stringify(line2)} + '\\n'), 50); setInterval(() => {}, 1000);`;
    const ac = new AbortController();
    const r = new Win32ConnectionReader({ ...childArgs(source), onSnapshot: () => {}, maxLineChars: 1000 });
    readers.push(r);
    r.start(ac.signal);
    await waitFor(() => r.stats.snapshots === 1);
    expect(r.stats.malformed).toBe(1);
    const pid = r.pid!;
    ac.abort();
    await waitFor(() => !alive(pid));
    const done = new Win32ConnectionReader({ ...childArgs(source), onSnapshot: () => {} });
    done.start(ac.signal); // already aborted: never starts
    expect(done.pid).toBeUndefined();
  });
});

describe('win32 connectivity and proxies', () => {
  it('Get-NetConnectionProfile: best of IPv4/IPv6 connectivity', () => {
    expect(parseWin32Connectivity(WJ('connectivity.txt'))).toEqual([
      { interface: 'Ethernet', name: 'corp.example', internet: true, level: 'internet' },
      { interface: 'WLAN', name: '办公网 2', internet: false, level: 'local_network' },
      { interface: 'vEthernet (Default Switch)', name: 'Network 3', internet: false, level: 'no_traffic' },
    ]);
    expect(parseWin32Connectivity(WJ('connectivity-one.txt'))).toEqual([{ interface: 'Ethernet 2', name: 'Unidentified network', internet: false, level: 'subnet' }]);
    expect(parseWin32Connectivity([{ InterfaceAlias: 'x', IPv4Connectivity: 'Internet', IPv6Connectivity: 'LocalNetwork' }])[0]).toMatchObject({ internet: true, level: 'internet' });
    expect(parseWin32Connectivity(null)).toEqual([]);
    expect(WIN32_CONNECTIVITY_SCRIPT).toContain('Get-NetConnectionProfile');
  });

  it('netsh winhttp show proxy: direct, configured, localised', () => {
    expect(parseNetshWinhttpProxy(W('netsh-winhttp-direct.txt'))).toEqual({ proxy: null, bypass: null });
    expect(parseNetshWinhttpProxy(W('netsh-winhttp-proxy.txt'))).toEqual({ proxy: 'http=10.20.0.8:3128;https=10.20.0.8:3128', bypass: '<local>;*.corp.example' });
    expect(parseNetshWinhttpProxy(W('netsh-winhttp-proxy-ru.txt'))).toEqual({ proxy: '10.20.0.9:8080', bypass: '<local>' });
  });

  it('WinHTTP and per-user WinINET: only what is configured', () => {
    expect(parseWin32Proxy(WJ('proxy.txt'))).toEqual([
      { source: 'winhttp', user: null, proxy: 'http=10.20.0.8:3128;https=10.20.0.8:3128', pac: null },
      { source: 'wininet', user: 'TRADE-PC07\\张伟', proxy: '127.0.0.1:7890', pac: null },
      { source: 'wininet', user: 'S-1-5-21-3623811015-3361044348-30300820-1002', proxy: null, pac: 'http://wpad.corp.example/proxy.pac' },
    ]);
    expect(parseWin32Proxy(WJ('proxy-direct.txt'))).toEqual([]);
    expect(WIN32_PROXY_SCRIPT).toContain('netsh.exe winhttp show proxy');
    expect(WIN32_PROXY_SCRIPT).toContain('Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings');
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

describe('win32 firewall rules', () => {
  it('a small plan, exactly', () => {
    const common = "-Description 'termguard egress plan 3f2a9c' -Direction Outbound -Action Block";
    const tail = '-Profile Any -Enabled True | Out-Null';
    expect(win32FirewallScript(SMALL, '3f2a9c')).toBe([
      "$ErrorActionPreference = 'Stop'",
      "Remove-NetFirewallRule -Group 'termguard' -ErrorAction SilentlyContinue",
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-all-1' -DisplayName 'termguard block IPv4' ${common} -RemoteAddress @('0.0.0.0-9.255.255.255','11.0.0.0-126.255.255.255','128.0.0.0-192.168.1.0','192.168.1.2-198.17.255.255','198.20.0.0-203.0.113.9','203.0.113.11-255.255.255.254') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p1-1-tcp' -DisplayName 'termguard block IPv4 tcp except 53' ${common} -Protocol TCP -RemoteAddress @('192.168.1.1') -RemotePort @('1-52','54-65535') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p1-1-udp' -DisplayName 'termguard block IPv4 udp except 53' ${common} -Protocol UDP -RemoteAddress @('192.168.1.1') -RemotePort @('1-52','54-65535') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p1-1-icmp' -DisplayName 'termguard block IPv4 icmp (ports 53 only)' ${common} -Protocol ICMPv4 -RemoteAddress @('192.168.1.1') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p2-1-tcp' -DisplayName 'termguard block IPv4 tcp except 67' ${common} -Protocol TCP -RemoteAddress @('255.255.255.255') -RemotePort @('1-66','68-65535') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p2-1-udp' -DisplayName 'termguard block IPv4 udp except 67' ${common} -Protocol UDP -RemoteAddress @('255.255.255.255') -RemotePort @('1-66','68-65535') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p2-1-icmp' -DisplayName 'termguard block IPv4 icmp (ports 67 only)' ${common} -Protocol ICMPv4 -RemoteAddress @('255.255.255.255') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p3-1-tcp' -DisplayName 'termguard block IPv4 tcp except 443' ${common} -Protocol TCP -RemoteAddress @('198.18.0.0-198.19.255.255') -RemotePort @('1-442','444-65535') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p3-1-udp' -DisplayName 'termguard block IPv4 udp except 443' ${common} -Protocol UDP -RemoteAddress @('198.18.0.0-198.19.255.255') -RemotePort @('1-442','444-65535') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v4-p3-1-icmp' -DisplayName 'termguard block IPv4 icmp (ports 443 only)' ${common} -Protocol ICMPv4 -RemoteAddress @('198.18.0.0-198.19.255.255') ${tail}`,
      `New-NetFirewallRule -Group 'termguard' -Name 'termguard-v6-all-1' -DisplayName 'termguard block IPv6' ${common} -RemoteAddress @('::','::2-fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff','fec0::-ff01:ffff:ffff:ffff:ffff:ffff:ffff:ffff','ff03::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff') ${tail}`,
      '',
    ].join('\n'));
  });

  it('without a hash there is no Description; allowing everything leaves no catch-all rule', () => {
    const s = win32FirewallScript({ server: [], dns: [], allow: [entry('0.0.0.0/0'), entry('::/0')] });
    expect(s).not.toContain('-Description');
    expect(s).not.toContain('termguard-v4-all');
    expect(s).not.toContain('termguard-v6-all');
    // DHCP's broadcast rules remain: a port-limited range under an all-ports allowance is fully allowed.
    expect(s).not.toContain('255.255.255.255');
    expect(() => win32FirewallScript({ server: [{ address: 'bad', family: 4, port: 1 }], dns: [], allow: [] })).toThrow(/server bad/);
  });

  /** Every New-NetFirewallRule line, read back. */
  function rules(script: string) {
    return script.split('\n').filter((l) => l.startsWith('New-NetFirewallRule')).map((l) => {
      const list = (flag: string) => {
        const m = new RegExp(`-${flag} @\\(([^)]*)\\)`).exec(l);
        return m ? m[1]!.split(',').map((s) => s.replace(/^'|'$/g, '')) : null;
      };
      return { name: /-Name '([^']+)'/.exec(l)![1]!, protocol: /-Protocol (\S+)/.exec(l)?.[1] ?? 'Any', addresses: list('RemoteAddress')!, ports: list('RemotePort') };
    });
  }

  const toRange = (family: Family, text: string) => {
    const [a, b] = text.split('-');
    return { start: parseAddress(family, a!)!, end: parseAddress(family, b ?? a!)! };
  };

  it('a bigger plan: chunked lists, and every address is blocked exactly when the plan does not allow it', () => {
    // 1500 scattered /32s with gaps between them: the catch-all complement has >1000 ranges.
    const allow: AllowEntry[] = [];
    for (let i = 0; i < 1500; i++) allow.push(entry(`${20 + Math.floor(i / 250)}.${i % 250}.7.${(i * 37) % 250}`));
    allow.push(entry('172.16.0.0/12:443'), entry('172.16.5.0/24:8443'), entry('172.16.9.0/24'), entry('[2001:db8::]/32:443'), entry('2001:db8:5::/48'), entry('fd00::/8'));
    const plan: EnforcementPlan = {
      server: [{ address: '198.51.100.7', family: 4, port: 443 }, { address: '2001:db8:ffff::7', family: 6, port: 443 }],
      dns: [{ address: '172.16.0.53', family: 4 }, { address: '2001:4860:4860::8888', family: 6 }],
      allow,
    };
    const script = win32FirewallScript(plan, 'abc');
    const rs = rules(script);
    expect(new Set(rs.map((r) => r.name)).size).toBe(rs.length);
    for (const r of rs) expect(r.addresses.length).toBeLessThanOrEqual(WIN32_RULE_ADDRESS_LIMIT);
    const v4all = rs.filter((r) => r.name.startsWith('termguard-v4-all-'));
    expect(v4all.length).toBe(2);
    expect(v4all.reduce((n, r) => n + r.addresses.length, 0)).toBeGreaterThan(WIN32_RULE_ADDRESS_LIMIT);
    expect(script).toContain("-DisplayName 'termguard block IPv4 (1/2)'");

    // Oracle: what the plan allows for an address, straight from the plan.
    const always: [Family, string, number, number | null][] = [[4, '127.0.0.0', 8, null], [4, '255.255.255.255', 32, 67], [6, '::1', 128, null], [6, 'fe80::', 10, null], [6, 'ff02::', 16, null]];
    const spans = [
      ...always.map(([f, a, p, port]) => ({ f, r: cidrRange(f, a, p), port })),
      ...plan.server.map((s) => ({ f: s.family, r: cidrRange(s.family, s.address, s.family === 4 ? 32 : 128), port: null })),
      ...plan.dns.map((d) => ({ f: d.family, r: cidrRange(d.family, d.address, d.family === 4 ? 32 : 128), port: 53 })),
      ...plan.allow.map((a) => ({ f: a.family, r: cidrRange(a.family, a.address, a.prefix), port: a.port })),
    ];
    const oracle = (f: Family, x: bigint): 'all' | string => {
      const hits = spans.filter((s) => s.f === f && s.r.start <= x && x <= s.r.end);
      if (hits.length === 0) return 'none';
      if (hits.some((h) => h.port === null)) return 'all';
      return [...new Set(hits.map((h) => h.port!))].sort((a, b) => a - b).join(',');
    };
    // What the rules do to an address: blocked by the catch-all, or TCP blocked except some ports.
    const verdict = (f: Family, x: bigint): string => {
      const inRule = (r: (typeof rs)[number]) => r.addresses.some((t) => { const g = toRange(f, t); return g.start <= x && x <= g.end; });
      const mine = rs.filter((r) => r.name.startsWith(`termguard-v${f}-`) && inRule(r));
      if (mine.some((r) => r.protocol === 'Any')) return 'none';
      const tcp = mine.find((r) => r.protocol === 'TCP');
      if (!tcp) return 'all';
      expect(mine.map((r) => r.protocol).sort()).toEqual([f === 4 ? 'ICMPv4' : 'ICMPv6', 'TCP', 'UDP']);
      const blocked = new Set<number>();
      for (const p of tcp.ports!) { const [a, b] = p.split('-').map(Number); for (let q = a!; q <= (b ?? a!); q++) blocked.add(q); }
      const open: number[] = [];
      for (let q = 1; q <= 65535; q++) if (!blocked.has(q)) open.push(q);
      return open.join(',');
    };
    const probes: [Family, string][] = [
      [4, '0.0.0.0'], [4, '8.8.8.8'], [4, '127.0.0.1'], [4, '255.255.255.255'], [4, '255.255.255.254'], [4, '198.51.100.7'], [4, '198.51.100.8'],
      [4, '172.16.0.53'], [4, '172.16.0.54'], [4, '172.16.5.9'], [4, '172.16.9.200'], [4, '172.31.255.255'], [4, '172.32.0.0'],
      [4, '20.0.7.0'], [4, '20.0.7.1'], [4, '25.249.7.129'], [6, '::'], [6, '::1'], [6, 'fe80::1'], [6, 'ff02::1:ff00:1'], [6, 'ff05::2'],
      [6, '2001:db8::1'], [6, '2001:db8:5::9'], [6, '2001:db8:ffff::7'], [6, '2001:4860:4860::8888'], [6, 'fd12::1'], [6, '2606:4700::1'],
    ];
    for (let i = 0; i < 300; i++) probes.push([4, `${(i * 97) % 256}.${(i * 31) % 256}.${(i * 7) % 256}.${(i * 13) % 256}`], [4, `2${i % 10}.${i % 250}.7.${(i * 37) % 250}`]);
    for (const [f, a] of probes) {
      const x = parseAddress(f, a)!;
      expect(`${a} ${verdict(f, x)}`).toBe(`${a} ${oracle(f, x)}`);
    }
  });
});

describe('win32 firewall verify, logging and the drop log', () => {
  it('verify: rule counts, plan hashes, profiles', () => {
    expect(parseWin32FirewallVerify(WJ('firewall-verify.txt'))).toEqual({
      rules: 9, enabled: 9, hashes: ['3f2a9c'],
      profiles: [{ name: 'Domain', enabled: true }, { name: 'Private', enabled: true }, { name: 'Public', enabled: false }],
    });
    expect(parseWin32FirewallVerify({ Count: 0, Enabled: 0, Descriptions: [], Profiles: [] })).toEqual({ rules: 0, enabled: 0, hashes: [], profiles: [] });
    expect(WIN32_FIREWALL_VERIFY_SCRIPT).toContain("Get-NetFirewallRule -Group 'termguard'");
    expect(WIN32_FIREWALL_REMOVE_SCRIPT).toBe("Remove-NetFirewallRule -Group 'termguard' -ErrorAction SilentlyContinue");
  });

  it('logging script and log path', () => {
    expect(WIN32_FIREWALL_LOGGING_SCRIPT).toContain("Set-NetFirewallProfile -Profile Domain,Private,Public -LogBlocked True -LogFileName '%systemroot%\\system32\\LogFiles\\Firewall\\pfirewall.log'");
    expect(win32FirewallLogPath({ SystemRoot: 'D:\\WIN' })).toBe('D:\\WIN\\System32\\LogFiles\\Firewall\\pfirewall.log');
  });

  it('pfirewall.log: outbound drops per destination, port, protocol', () => {
    const log = W('pfirewall.log');
    expect(parseWin32FirewallLog(log)).toEqual([
      { destination: '45.76.12.9', port: 443, protocol: 'tcp', count: 4, bytes: 156 },
      { destination: '198.18.4.20', port: null, protocol: 'icmp', count: 1, bytes: 60 },
      { destination: '2001:db8:ffff::80', port: 443, protocol: 'tcp', count: 1, bytes: 72 },
      { destination: '8.8.8.8', port: 53, protocol: 'udp', count: 1, bytes: 60 },
    ]);
    // Local time, as the log writes it.
    const since = new Date(2026, 10, 25, 10, 0, 5);
    expect(parseWin32FirewallLog(log, since).map((d) => `${d.destination} ${d.count}`)).toEqual(['198.18.4.20 1', '2001:db8:ffff::80 1', '45.76.12.9 1', '8.8.8.8 1']);
  });

  it('pfirewall.log with the Windows 11 pid column', () => {
    expect(parseWin32FirewallLog(W('pfirewall-pid.log'))).toEqual([{ destination: '192.229.221.95', port: 80, protocol: 'tcp', count: 2, bytes: 0 }]);
  });
});
