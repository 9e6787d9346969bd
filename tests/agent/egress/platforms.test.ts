/** Windows and macOS enforcers and platforms against scripted runners: the exact commands, and what is made of the outputs. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllow } from '../../../agent/egress/allow.js';
import { darwinPfRules } from '../../../agent/egress/darwin.js';
import { darwinEgress, PfEnforcer, pathsFromNetwork, Win32FirewallEnforcer } from '../../../agent/egress/platforms.js';
import type { EnforcementPlan } from '../../../agent/egress/types.js';
import { win32FirewallScript, WIN32_FIREWALL_REMOVE_SCRIPT, WIN32_FIREWALL_VERIFY_SCRIPT } from '../../../agent/egress/win32.js';
import type { RunOptions, Runner } from '../../../agent/exec.js';
import { fx } from '../collectors/helpers.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const plan: EnforcementPlan = {
  server: [{ address: '203.0.113.10', family: 4, port: 8443 }],
  dns: [{ address: '10.0.0.53', family: 4 }],
  allow: parseAllow(['10.0.0.0/8', '198.18.0.0/15:443']),
};

type Call = { cmd: string; args: string[]; input?: string };
function scripted(answer: (c: Call) => { stdout?: string; stderr?: string; code?: number }): { run: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const run: Runner = async (cmd, args, opts?: RunOptions) => {
    const c = { cmd, args, ...(opts?.input !== undefined ? { input: opts.input } : {}) };
    calls.push(c);
    const a = answer(c);
    return { stdout: a.stdout ?? '', stderr: a.stderr ?? '', code: a.code ?? 0 };
  };
  return { run, calls };
}

describe('pf enforcer (macOS)', () => {
  it('loads the anchor from stdin, takes an enable reference, reads back the label, flushes and releases', async () => {
    let loaded = '';
    const { run, calls } = scripted((c) => {
      if (c.args.includes('-f')) { loaded = c.input ?? ''; return {}; }
      if (c.args[0] === '-E') return { stderr: 'No ALTQ support in kernel\nALTQ related functions disabled\npf enabled\nToken : 9263724113928312417\n' };
      if (c.args.includes('-vsr')) return { stdout: loaded ? fx('darwin', 'egress', 'pfctl-vsr.txt').replace(/termguard:[0-9a-f]+/, 'termguard:h42') : '' };
      return {};
    });
    const pf = new PfEnforcer(run);
    expect(await pf.installed()).toBeNull();
    await pf.apply(plan, 'h42');
    expect(calls.slice(1, 3)).toEqual([
      { cmd: '/sbin/pfctl', args: ['-a', 'com.apple/termguard', '-f', '-'], input: darwinPfRules(plan, 'h42') },
      { cmd: '/sbin/pfctl', args: ['-E'] },
    ]);
    expect(await pf.installed()).toBe('h42');
    expect((await pf.counts())!.packets).toBeGreaterThan(0);
    await pf.remove();
    expect(calls.slice(-2)).toEqual([
      { cmd: '/sbin/pfctl', args: ['-a', 'com.apple/termguard', '-F', 'all'] },
      { cmd: '/sbin/pfctl', args: ['-X', '9263724113928312417'] },
    ]);
  });

  it('a pfctl failure is an error with its message', async () => {
    const { run } = scripted(() => ({ code: 1, stderr: 'pfctl: Syntax error in config file: pf rules not loaded' }));
    await expect(new PfEnforcer(run).apply(plan, 'x')).rejects.toThrow(/Syntax error/);
  });
});

describe('Windows Firewall enforcer', () => {
  it('runs the logging, rules, verify and remove scripts through powershell stdin', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tg-winfw-')); dirs.push(d);
    const log = join(d, 'pfirewall.log');
    const { run, calls } = scripted((c) => (c.input?.startsWith(WIN32_FIREWALL_VERIFY_SCRIPT) ? { stdout: fx('win32', 'egress', 'firewall-verify.txt') } : {}));
    const w = new Win32FirewallEnforcer(run, log);
    await w.apply(plan, '3f2a9c');
    expect(calls.every((c) => c.cmd === 'powershell.exe' && c.args.join(' ') === '-NoProfile -NonInteractive -Command -')).toBe(true);
    expect(calls[0]!.input).toMatch(/Set-NetFirewallProfile .*-LogBlocked True/);
    expect(calls[1]!.input).toBe(`${win32FirewallScript(plan, '3f2a9c')}\n\n`);
    expect(await w.installed()).toBe('3f2a9c');
    await w.remove();
    expect(calls.at(-1)!.input).toBe(`${WIN32_FIREWALL_REMOVE_SCRIPT}\n\n`);
    // Drops logged after the rules went in are counted per destination.
    const later = new Date(Date.now() + 60_000);
    const stamp = (dt: Date) => `${dt.getFullYear()}-${String(dt.getMonth() + 1).padStart(2, '0')}-${String(dt.getDate()).padStart(2, '0')} ${dt.toTimeString().slice(0, 8)}`;
    writeFileSync(log, [
      '#Version: 1.5', '#Software: Microsoft Windows Firewall', '#Time Format: Local',
      '#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path',
      `${stamp(later)} DROP TCP 10.0.0.5 203.0.113.99 50000 443 52 S 0 0 64240 - - - SEND`,
      `${stamp(later)} DROP TCP 10.0.0.5 203.0.113.99 50001 443 52 S 0 0 64240 - - - SEND`,
      `${stamp(later)} DROP UDP 10.0.0.5 198.51.100.1 50002 53 60 - - - - - - - SEND`,
      `${stamp(later)} DROP TCP 203.0.113.5 10.0.0.5 50003 3389 52 S 0 0 64240 - - - RECEIVE`,
      '',
    ].join('\r\n'));
    const counts = (await w.counts())!;
    expect(counts.packets).toBe(3);
    expect(counts.destinations.map((x) => [x.address, x.packets])).toEqual([['203.0.113.99', 2], ['198.51.100.1', 1]]);
  });

  it('rules that are partly disabled or of two plans are not "installed"', async () => {
    const { run } = scripted(() => ({ stdout: JSON.stringify({ Count: 9, Enabled: 8, Descriptions: 'termguard egress plan 3f2a9c', Profiles: [] }) }));
    expect(await new Win32FirewallEnforcer(run, '/nonexistent').installed()).toBeNull();
    const two = scripted(() => ({ stdout: JSON.stringify({ Count: 2, Enabled: 2, Descriptions: ['termguard egress plan a', 'termguard egress plan b'], Profiles: [] }) }));
    expect(await new Win32FirewallEnforcer(two.run, '/nonexistent').installed()).toBeNull();
  });
});

describe('macOS platform', () => {
  it('reads lsof, resolves executables with ps only for unknown pids', async () => {
    const { run, calls } = scripted((c) => (c.cmd === 'lsof' ? { stdout: fx('darwin', 'egress', 'lsof-connections.txt') } : c.cmd === 'ps' ? { stdout: fx('darwin', 'egress', 'ps-comm.txt') } : {}));
    const p = darwinEgress(run, { platform: 'darwin', root: '/', procfs: '/proc', sysfs: '/sys', run, now: new Date() });
    const conns = await p.readConnections();
    const est = conns.find((c) => c.remoteAddress === '45.76.12.9' && c.state === 'established')!;
    expect(est.pid).toBe(2210);
    expect(est.process?.exe).toMatch(/^\//);
    await p.readConnections();
    expect(calls.map((c) => c.cmd)).toEqual(['lsof', 'ps', 'lsof']);
    expect(calls[0]!.args).toEqual(['-nP', '-i', '-F', 'pcuLftPTn']);
  });

  it('network data becomes the paths snapshot the control diffs', () => {
    expect(pathsFromNetwork({
      interfaces: [{ name: 'en0', mac: null, up: true, type: 'wifi', driver: 'Wi-Fi', addresses: [] }],
      gateways: [{ family: 'ipv4', address: '192.168.1.1', interface: 'en0' }, { family: 'ipv6', address: 'fe80::1', interface: null }],
      dns: ['192.168.1.1'],
    }, [{ source: 'scutil:http', proxy: 'proxy.example:3128' }])).toEqual({
      interfaces: [{ name: 'en0', type: 'wifi', up: true, driver: 'Wi-Fi', usb: null }],
      defaultRoutes: [{ family: 4, interface: 'en0', gateway: '192.168.1.1' }, { family: 6, interface: '?', gateway: 'fe80::1' }],
      proxies: [{ source: 'scutil:http', proxy: 'proxy.example:3128' }],
    });
  });
});
