import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { networkCollector } from '../../../agent/collectors/network/index.js';
import { classifyLinux, maskToPrefix, parseIfconfig, parseIpAddr, parseIpRoute, parseNetstatDefault, parseResolvConf, parseScutilDns, parseWin32Network } from '../../../agent/collectors/network/parse.js';
import { networkSchema, sectionSchema } from '../../../shared/inventory.js';
import { ctxWith, expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

describe('network parsers', () => {
  it('linux: ip -j addr / route and resolv.conf captured here', () => {
    const addrs = parseIpAddr(fxJson('linux', 'network', 'ip-j-addr.txt'));
    expect(addrs.get('lo')!.addresses).toContainEqual({ family: 'ipv4', address: '127.0.0.1', prefix: 8 });
    expect(addrs.get('eth0')!.addresses).toContainEqual({ family: 'ipv4', address: '192.0.2.2', prefix: 24 });
    expect(addrs.get('eth0')!.up).toBe(true);
    expect(addrs.get('ifb0')!.up).toBe(false);
    expect(parseIpRoute(fxJson('linux', 'network', 'ip-j-route-default.txt'), 'ipv4')).toEqual([{ family: 'ipv4', address: '192.0.2.1', interface: 'eth0' }]);
    expect(parseIpRoute(fxJson('linux', 'network', 'ip-j-6-route-default.txt'), 'ipv6')).toEqual([{ family: 'ipv6', address: 'fd00::1', interface: 'eth0' }]);
    expect(parseResolvConf(fx('linux', 'network', 'resolv.conf.txt'))).toEqual(['10.255.255.53']);
  });

  it('linux: interface kinds from type, wireless and driver', () => {
    expect(classifyLinux({ name: 'lo', arpType: 772, wireless: false, driver: null })).toBe('loopback');
    expect(classifyLinux({ name: 'eth0', arpType: 1, wireless: false, driver: 'e1000e' })).toBe('ethernet');
    expect(classifyLinux({ name: 'wlp2s0', arpType: 1, wireless: true, driver: 'iwlwifi' })).toBe('wifi');
    expect(classifyLinux({ name: 'usb0', arpType: 1, wireless: false, driver: 'rndis_host' })).toBe('usb');
    expect(classifyLinux({ name: 'enx0a1b2c3d4e5f', arpType: 1, wireless: false, driver: 'cdc_ncm' })).toBe('usb');
    expect(classifyLinux({ name: 'wwan0', arpType: 65534, wireless: false, driver: 'qmi_wwan' })).toBe('cellular');
    expect(classifyLinux({ name: 'veth1', arpType: 1, wireless: false, driver: null })).toBe('virtual');
  });

  it('win32: composite Get-NetAdapter/Get-NetIPAddress/Get-NetRoute/DNS JSON', () => {
    const n = networkSchema.parse(parseWin32Network(fxJson('win32', 'network', 'win32-network.txt')));
    expectMatchesJson('win32', 'network', 'win32-network', n);
    expect(n.interfaces.find((i) => i.name === 'Ethernet 3')!.type).toBe('usb');
    expect(n.interfaces.find((i) => i.name === 'Cellular')!.type).toBe('cellular');
    expect(n.interfaces.find((i) => i.name === 'Wi-Fi')).toMatchObject({ type: 'wifi', up: false });
    expect(n.dns).toEqual(['10.20.0.53', '10.20.0.54', '192.168.42.129']);
  });

  it('darwin: ifconfig -a, netstat -rn, scutil --dns', () => {
    const ifs = parseIfconfig(fx('darwin', 'network', 'ifconfig-a.txt'));
    const en0 = ifs.find((i) => i.name === 'en0')!;
    expect(en0).toMatchObject({ mac: 'a4:83:e7:2d:63:8e', up: true });
    expect(en0.addresses).toContainEqual({ family: 'ipv4', address: '192.168.1.221', prefix: 24 });
    expect(ifs.find((i) => i.name === 'en1')!.up).toBe(false); // status: inactive
    expect(maskToPrefix('0xffffff00')).toBe(24);
    expect(maskToPrefix('255.255.0.0')).toBe(16);
    expect(parseNetstatDefault(fx('darwin', 'network', 'netstat-rn-f-inet.txt'))).toEqual([{ family: 'ipv4', address: '192.168.1.254', interface: 'en0' }]);
    expect(parseScutilDns(fx('darwin', 'network', 'scutil-dns.txt'))).toEqual(['2600:1700:bab0:d40::1', '192.168.1.254']);
  });

  it('darwin through the collector: hardware ports tell Wi-Fi and iPhone USB apart', async () => {
    const run = tableRunner({
      'ifconfig -a': { stdout: fx('darwin', 'network', 'ifconfig-a.txt') },
      'networksetup -listallhardwareports': { stdout: fx('darwin', 'network', 'networksetup-listallhardwareports.txt') },
      'netstat -rn -f inet': { stdout: fx('darwin', 'network', 'netstat-rn-f-inet.txt') },
      'scutil --dns': { stdout: fx('darwin', 'network', 'scutil-dns.txt') },
    });
    const r = await networkCollector.collect(ctxWith('darwin', run));
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    expectMatchesJson('darwin', 'network', 'ifconfig-a', networkSchema.parse(r.data));
    const type = (n: string) => r.data.interfaces.find((i) => i.name === n)!.type;
    expect([type('en0'), type('en5'), type('lo0'), type('utun0'), type('bridge0'), type('en1')]).toEqual(['wifi', 'usb', 'loopback', 'virtual', 'virtual', 'ethernet']);
  });
});

describe('linux network from a fixture sysfs tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-net-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const iface = (name: string, mac: string, type: number, oper: string, driver?: string, wireless = false) => {
    const d = join(dir, 'sys/class/net', name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'address'), `${mac}\n`);
    writeFileSync(join(d, 'type'), `${type}\n`);
    writeFileSync(join(d, 'operstate'), `${oper}\n`);
    if (wireless) mkdirSync(join(d, 'wireless'));
    if (driver) { mkdirSync(join(d, 'device'), { recursive: true }); symlinkSync(`../../../../bus/usb/drivers/${driver}`, join(d, 'device/driver')); }
  };
  iface('lo', '00:00:00:00:00:00', 772, 'unknown');
  iface('eth0', '02:fc:00:00:00:01', 1, 'up', 'virtio_net');
  iface('usb0', '0a:1b:2c:3d:4e:5f', 1, 'up', 'rndis_host');
  iface('wlan0', '70:cf:49:aa:bb:cc', 1, 'down', 'iwlwifi', true);
  iface('wwan0', '00:00:00:00:00:00', 65534, 'unknown', 'qmi_wwan');
  mkdirSync(join(dir, 'fs/etc'), { recursive: true });
  writeFileSync(join(dir, 'fs/etc/resolv.conf'), 'nameserver 10.0.0.53\nnameserver 10.0.0.54\n');

  it('tethering and modems are usb/cellular; addresses from ip -j addr', async () => {
    const run = tableRunner({
      'ip -j addr': { stdout: fx('linux', 'network', 'ip-j-addr.txt') },
      'ip -j route show default': { stdout: fx('linux', 'network', 'ip-j-route-default.txt') },
      'ip -j -6 route show default': { stdout: fx('linux', 'network', 'ip-j-6-route-default.txt') },
    });
    const r = await networkCollector.collect({ platform: 'linux', root: join(dir, 'fs'), procfs: join(dir, 'proc'), sysfs: join(dir, 'sys'), run, now: new Date() });
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    const by = Object.fromEntries(r.data.interfaces.map((i) => [i.name, i]));
    expect(by.usb0).toMatchObject({ type: 'usb', driver: 'rndis_host', up: true });
    expect(by.wwan0!.type).toBe('cellular');
    expect(by.wlan0).toMatchObject({ type: 'wifi', up: false });
    expect(by.lo).toMatchObject({ type: 'loopback', up: true });
    expect(by.eth0!.addresses[0]).toEqual({ family: 'ipv4', address: '192.0.2.2', prefix: 24 });
    expect(r.data.dns).toEqual(['10.0.0.53', '10.0.0.54']);
    expect(r.data.gateways).toHaveLength(2);
  });

  it('ip missing → error with the reason', async () => {
    const r = await networkCollector.collect({ platform: 'linux', root: join(dir, 'fs'), procfs: join(dir, 'proc'), sysfs: join(dir, 'sys'), run: tableRunner({}), now: new Date() });
    expect(r).toEqual({ status: 'error', reason: 'network: ip not found' });
  });
});

describe.runIf(onLinux)('network on this machine', () => {
  it('collects and validates', async () => {
    const r = sectionSchema(networkSchema).parse(await networkCollector.collect(hostContext()));
    expect(r.status).toBe('ok');
    if (r.status === 'ok') expect(r.data.interfaces.some((i) => i.type === 'loopback')).toBe(true);
  });
});
