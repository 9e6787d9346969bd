import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { usbCollector } from '../../../agent/collectors/usb/index.js';
import { readUsbSysfs } from '../../../agent/collectors/usb/linux.js';
import { buildUsbDevices, decodeUsbString, diffUsbDevices, hex2, hex4, isDeviceName, isInterfaceName, parentName, parseConnectType, parseDescriptors, portNumber, USB_STRING_MAX } from '../../../agent/collectors/usb/parse.js';
import { LinuxUsbWatcher, UDEV_MONITOR_ARGS, type MonitorProcess, type UsbChange } from '../../../agent/collectors/usb/watch-linux.js';
import { setAuthorized, setInterfaceAuthorized } from '../../../agent/enforcers/usb/linux.js';
import { deviceKinds, UsbDeviceSchema, type UsbDevice } from '../../../shared/usb.js';
import { ctxWith } from '../collectors/helpers.js';

const FIX = join(import.meta.dirname, '../../fixtures/linux/usb');
const CASES = ['sandisk-stick', 'keyboard', 'mouse', 'hub-with-stick', 'badusb-composite', 'phone-mtp', 'rndis-tether', 'cdc-ether', '4g-dongle-storage', 'hostile'] as const;
const tmpRoots: string[] = [];
afterAll(() => tmpRoots.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tg-usb-'));
  tmpRoots.push(d);
  return d;
}

/** A writable copy of a fixture case; its `sys` folder. Relative `driver`/`port` links are copied as links. */
function copyCase(name: string): string {
  const dst = tmp();
  cpSync(join(FIX, name), dst, { recursive: true, verbatimSymlinks: true });
  return join(dst, 'sys');
}

async function read(sys: string): Promise<UsbDevice[]> {
  return UsbDeviceSchema.array().parse(buildUsbDevices(await readUsbSysfs(sys)));
}

const byId = (ds: UsbDevice[], id: string) => {
  const d = ds.find((x) => x.id === id);
  if (!d) throw new Error(`no device ${id}`);
  return d;
};

describe('usb fixtures → UsbDevice', () => {
  it.each(CASES)('%s parses to the reviewed expected.json', async (name) => {
    const devices = await read(join(FIX, name, 'sys'));
    const p = join(FIX, name, 'expected.json');
    if (process.env.UPDATE_FIXTURES === '1' || !existsSync(p)) writeFileSync(p, JSON.stringify(devices, null, 2) + '\n');
    expect(JSON.parse(JSON.stringify(devices))).toEqual(JSON.parse(readFileSync(p, 'utf8')));
    // Every case carries the controller's two root hubs.
    expect(byId(devices, 'usb1')).toMatchObject({ vendorId: '1d6b', productId: '0002', deviceClass: '09', parentId: null, parentHash: null, connectType: 'unknown', speed: '480' });
    expect(byId(devices, 'usb2')).toMatchObject({ vendorId: '1d6b', productId: '0003', speed: '5000', interfaces: [{ class: '09', subclass: '00', protocol: '00', driver: 'hub' }] });
  });

  const kinds: Record<string, [string, { storage: boolean; hid: boolean; network: boolean; hub: boolean }]> = {
    'sandisk-stick': ['1-1', { storage: true, hid: false, network: false, hub: false }],
    keyboard: ['1-2', { storage: false, hid: true, network: false, hub: false }],
    mouse: ['1-3', { storage: false, hid: true, network: false, hub: false }],
    'hub-with-stick': ['1-1', { storage: false, hid: false, network: false, hub: true }],
    'badusb-composite': ['1-1', { storage: true, hid: true, network: false, hub: false }],
    'phone-mtp': ['1-1', { storage: true, hid: false, network: false, hub: false }],
    'rndis-tether': ['1-1', { storage: false, hid: false, network: true, hub: false }],
    'cdc-ether': ['1-1', { storage: false, hid: false, network: true, hub: false }],
    '4g-dongle-storage': ['1-2', { storage: true, hid: false, network: false, hub: false }],
    hostile: ['1-1', { storage: true, hid: true, network: false, hub: false }],
  };
  it.each(Object.entries(kinds))('deviceKinds of %s', async (name, [id, want]) => {
    const d = byId(await read(join(FIX, name, 'sys')), id);
    expect(deviceKinds(d)).toEqual(want);
    expect(deviceKinds(byId(await read(join(FIX, name, 'sys')), 'usb1')).hub).toBe(true);
  });

  it('drivers, identity strings and the data interface in its current alternate setting', async () => {
    expect(byId(await read(join(FIX, 'sandisk-stick', 'sys')), '1-1')).toMatchObject({
      vendorId: '0781', productId: '5567', manufacturer: 'SanDisk', product: 'Cruzer Blade', serial: '4C530001230412116220',
      interfaces: [{ class: '08', subclass: '06', protocol: '50', driver: 'usb-storage' }], authorized: true, speed: '480', port: '1-1',
    });
    expect(byId(await read(join(FIX, 'rndis-tether', 'sys')), '1-1').interfaces.map((i) => `${i.class}:${i.subclass}:${i.protocol}/${i.driver}`)).toEqual(['e0:01:03/rndis_host', '0a:00:00/rndis_host']);
    expect(byId(await read(join(FIX, 'cdc-ether', 'sys')), '1-1').interfaces.map((i) => `${i.class}:${i.subclass}:${i.protocol}/${i.driver}`)).toEqual(['02:06:00/cdc_ether', '0a:00:00/cdc_ether']);
    expect(byId(await read(join(FIX, 'phone-mtp', 'sys')), '1-1').interfaces).toEqual([{ class: '06', subclass: '01', protocol: '01', driver: null }]);
    expect(byId(await read(join(FIX, 'keyboard', 'sys')), '1-2')).toMatchObject({ serial: null, speed: '1.5' });
  });

  it('parent/child relations, parent hashes and connect types', async () => {
    const ds = await read(join(FIX, 'hub-with-stick', 'sys'));
    expect(ds.map((d) => d.id)).toEqual(['usb1', '1-1', '1-1.2', 'usb2']);
    const [root, hub, stick] = [byId(ds, 'usb1'), byId(ds, '1-1'), byId(ds, '1-1.2')];
    expect(hub).toMatchObject({ parentId: 'usb1', parentHash: root.hash, connectType: 'hotplug' }); // through the `port` link
    expect(stick).toMatchObject({ parentId: '1-1', parentHash: hub.hash, connectType: 'unknown', port: '1-1.2' }); // through 1-1:1.0/1-1-port2
    const alone = byId(await read(join(FIX, 'sandisk-stick', 'sys')), '1-1');
    expect(alone.connectType).toBe('hotplug'); // via usb1/1-0:1.0/usb1-port1 (no `port` link in this case)
    // Root port 4 is an internal (hardwired) one; a device there reads so via usb1/1-0:1.0/usb1-port4.
    const sys = copyCase('sandisk-stick');
    renameSync(join(sys, 'bus/usb/devices/1-1'), join(sys, 'bus/usb/devices/1-4'));
    expect(byId(await read(sys), '1-4').connectType).toBe('hardwired');
    // The hash does not depend on the port or the parent: same stick, same hash.
    expect(alone.hash).toBe(stick.hash);
    expect(alone.parentHash).not.toBe(stick.parentHash);
  });

  it('hash = base64 SHA-256(vendor 0 product 0 serial 0 descriptors)', async () => {
    const dir = join(FIX, 'sandisk-stick', 'sys/bus/usb/devices/1-1');
    const want = createHash('sha256').update(Buffer.concat([
      Buffer.from('0781\u00005567\u0000'), Buffer.from('4C530001230412116220'), Buffer.from([0]), readFileSync(join(dir, 'descriptors')),
    ])).digest('base64');
    expect(byId(await read(join(FIX, 'sandisk-stick', 'sys')), '1-1').hash).toBe(want);
    // No serial: the field is empty, the hash still exists; no descriptors: null.
    const kb = byId(await read(join(FIX, 'keyboard', 'sys')), '1-2');
    expect(kb.hash).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const sys = copyCase('keyboard');
    rmSync(join(sys, 'bus/usb/devices/1-2/descriptors'));
    expect(byId(await read(sys), '1-2')).toMatchObject({ hash: null, interfaces: kb.interfaces });
  });

  it('hostile device: strings capped at 4 KiB, kept verbatim (rendered inert elsewhere), forged entry skipped', async () => {
    const ds = await read(join(FIX, 'hostile', 'sys'));
    const d = byId(ds, '1-1');
    expect(Buffer.byteLength(d.serial!, 'utf8')).toBeLessThanOrEqual(USB_STRING_MAX);
    expect(d.serial!.startsWith('EVIL\u001b[2J\u001b[31m\r\n\u0008\u0000AAA')).toBe(true);
    expect(d.product).toBe('<script>alert(1)</script>\u001b]0;pwned\u0007');
    expect(d.manufacturer).toBe('Evil\u202eCorp\u0000\u0007');
    expect(d.hash).not.toBeNull();
    expect(ds.find((x) => x.id === '1-2')).toBeUndefined(); // idVendor "zzzz": not a device
    expect(JSON.stringify(ds).length).toBeLessThan(64 * 1024);
  });

  it('never follows a symlink out of the sysfs root', async () => {
    const sys = copyCase('sandisk-stick');
    const outside = tmp();
    cpSync(join(sys, 'bus/usb/devices/1-1'), join(outside, '1-9'), { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(outside, 'secret'), 'root:$6$hash\n');
    symlinkSync(join(outside, '1-9'), join(sys, 'bus/usb/devices/1-9')); // device entry pointing outside
    rmSync(join(sys, 'bus/usb/devices/1-1/serial'));
    symlinkSync(join(outside, 'secret'), join(sys, 'bus/usb/devices/1-1/serial')); // attribute pointing outside
    rmSync(join(sys, 'bus/usb/devices/1-1/1-1:1.0/bInterfaceClass'));
    symlinkSync(join(outside, 'secret'), join(sys, 'bus/usb/devices/1-1/1-1:1.0/bInterfaceClass'));
    const ds = await read(sys);
    expect(ds.map((d) => d.id)).toEqual(['usb1', '1-1', 'usb2']);
    expect(byId(ds, '1-1').serial).toBeNull();
    expect(JSON.stringify(ds)).not.toContain('root:');
    // The interface lost its class, so interfaces come from the descriptors (still storage).
    expect(byId(ds, '1-1').interfaces).toEqual([{ class: '08', subclass: '06', protocol: '50', driver: null }]);
  });

  it('through the collector: ok on a fixture tree, unsupported without a USB subsystem or a variant', async () => {
    const ok = await usbCollector.collect({ ...ctxWith('linux', async () => ({ stdout: '', stderr: '', code: 0 })), sysfs: join(FIX, 'phone-mtp', 'sys') });
    expect(ok.status).toBe('ok');
    expect(ok.status === 'ok' && ok.data.map((d) => d.id)).toEqual(['usb1', '1-1', 'usb2']);
    const none = await usbCollector.collect(ctxWith('linux', async () => ({ stdout: '', stderr: '', code: 0 }), tmp()));
    expect(none).toMatchObject({ status: 'unsupported' });
    expect(none.status === 'unsupported' && none.reason).toMatch(/no USB subsystem/);
    expect((await usbCollector.collect(ctxWith('aix', async () => ({ stdout: '', stderr: '', code: 0 })))).status).toBe('unsupported');
  });
});

describe('usb parsers', () => {
  it('names, parents and ports', () => {
    expect(parentName('1-1.2')).toBe('1-1');
    expect(parentName('1-1.2.4')).toBe('1-1.2');
    expect(parentName('1-1')).toBe('usb1');
    expect(parentName('3-10')).toBe('usb3');
    expect(parentName('usb1')).toBeNull();
    expect(portNumber('1-1.12')).toBe(12);
    expect(portNumber('usb2')).toBeNull();
    for (const ok of ['usb1', '1-1', '1-1.2.3', '12-4']) expect(isDeviceName(ok)).toBe(true);
    for (const bad of ['..', '.', '', '1-1/..', '../1-1', 'usb1/', '1-1:1.0', '1-', '1-1.', 'usb', '1-1\n', `1-${'1.'.repeat(40)}1`]) expect(isDeviceName(bad)).toBe(false);
    for (const ok of ['1-1:1.0', '1-0:1.0', '1-1.2:2.3']) expect(isInterfaceName(ok)).toBe(true);
    for (const bad of ['1-1', '1-1:1', '../1-1:1.0', '1-1:1.0/..', 'usb1:1.0']) expect(isInterfaceName(bad)).toBe(false);
  });

  it('attribute values', () => {
    expect(hex4(Buffer.from('0781\n'))).toBe('0781');
    expect(hex4(Buffer.from('ABCD\n'))).toBe('abcd');
    expect(hex4(Buffer.from('zzzz\n'))).toBeNull();
    expect(hex4(Buffer.from('12345\n'))).toBeNull();
    expect(hex2(Buffer.from('e0\n'))).toBe('e0');
    expect(hex2(null)).toBeNull();
    expect(parseConnectType('hotplug\n')).toBe('hotplug');
    expect(parseConnectType('hardwired\n')).toBe('hardwired');
    expect(parseConnectType('not used\n')).toBe('unknown');
    expect(parseConnectType(null)).toBe('unknown');
    expect(decodeUsbString(Buffer.from('\n'))).toBeNull();
    expect(decodeUsbString(Buffer.from('a\nb\n'))).toBe('a\nb');
    // Cut inside a multi-byte character: replaced, never more than the cap of input bytes.
    const long = Buffer.from('é'.repeat(3000));
    const s = decodeUsbString(long)!;
    expect(s.endsWith('é') || s.endsWith('\uFFFD')).toBe(true);
    expect(s.length).toBeLessThanOrEqual(USB_STRING_MAX);
  });

  it('descriptors: configurations and interfaces, malformed tails end the walk', () => {
    const buf = readFileSync(join(FIX, 'cdc-ether/sys/bus/usb/devices/1-1/descriptors'));
    const d = parseDescriptors(buf);
    expect(d.device).toMatchObject({ vendorId: '12d1', productId: '14dc', deviceClass: '02', bcdUSB: '0200' });
    expect(d.configurations).toEqual([{ value: 1, interfaces: [
      { number: 0, alternate: 0, class: '02', subclass: '06', protocol: '00' },
      { number: 1, alternate: 0, class: '0a', subclass: '00', protocol: '00' },
      { number: 1, alternate: 1, class: '0a', subclass: '00', protocol: '00' },
    ] }]);
    expect(parseDescriptors(buf.subarray(0, 30)).configurations[0]!.interfaces).toEqual([]);
    const zeroLen = Buffer.concat([buf.subarray(0, 18), Buffer.from([0, 0, 9, 4])]);
    expect(parseDescriptors(zeroLen).configurations).toEqual([]);
    expect(parseDescriptors(Buffer.from([1, 2, 3]))).toEqual({ device: null, configurations: [] });
  });

  it('diff by id; a different device at the same id is detached and attached', () => {
    const a = { id: '1-1', hash: 'x', vendorId: '0781', productId: '5567', serial: 's' } as UsbDevice;
    const b = { id: '1-2', hash: 'y', vendorId: '046d', productId: 'c31c', serial: null } as UsbDevice;
    expect(diffUsbDevices([], [a, b])).toEqual({ attached: [a, b], detached: [] });
    expect(diffUsbDevices([a, b], [b])).toEqual({ attached: [], detached: [a] });
    expect(diffUsbDevices([a], [{ ...a, authorized: false }])).toEqual({ attached: [], detached: [] });
    const other = { ...a, hash: 'z' };
    expect(diffUsbDevices([a], [other])).toEqual({ attached: [other], detached: [a] });
  });
});

describe('usb enforcer (authorized)', () => {
  it('writes 0 and reads it back on a copy of a fixture tree; devices and interfaces', async () => {
    const sys = copyCase('badusb-composite');
    const r = await setAuthorized(sys, '1-1', 0);
    expect(r).toEqual({ held: true, before: 1, after: 0, file: join(sys, 'bus/usb/devices/1-1/authorized') });
    expect(readFileSync(join(sys, 'bus/usb/devices/1-1/authorized'), 'utf8')).toBe('0\n');
    // The kernel then removes the interfaces; the reader falls back to the descriptors, so it still reads as storage+HID.
    rmSync(join(sys, 'bus/usb/devices/1-1/1-1:1.0'), { recursive: true });
    rmSync(join(sys, 'bus/usb/devices/1-1/1-1:1.1'), { recursive: true });
    const d = byId(await read(sys), '1-1');
    expect(d.authorized).toBe(false);
    expect(deviceKinds(d)).toMatchObject({ storage: true, hid: true });
    expect(await setAuthorized(sys, '1-1', 1)).toMatchObject({ held: true, before: 0, after: 1 });

    const sys2 = copyCase('badusb-composite');
    const i = await setInterfaceAuthorized(sys2, '1-1:1.1', 0);
    expect(i).toMatchObject({ held: true, before: 1, after: 0 });
    expect(readFileSync(join(sys2, 'bus/usb/devices/1-1/1-1:1.1/authorized'), 'utf8')).toBe('0\n');
    expect(readFileSync(join(sys2, 'bus/usb/devices/1-1/authorized'), 'utf8')).toBe('1\n');
  });

  it('held:false, never a throw: authorized is a directory, a symlink out, the device is outside or missing', async () => {
    const sys = copyCase('sandisk-stick');
    const dev = join(sys, 'bus/usb/devices/1-1');
    rmSync(join(dev, 'authorized'));
    mkdirSync(join(dev, 'authorized')); // root writes through chmod 0444, so make the write fail this way
    const dirCase = await setAuthorized(sys, '1-1', 0);
    expect(dirCase).toMatchObject({ held: false, before: null });
    expect(dirCase.error).toMatch(/EISDIR/);

    const outside = tmp();
    writeFileSync(join(outside, 'authorized'), '1\n');
    rmSync(join(sys, 'bus/usb/devices/usb1/authorized'));
    symlinkSync(join(outside, 'authorized'), join(sys, 'bus/usb/devices/usb1/authorized'));
    const linkCase = await setAuthorized(sys, 'usb1', 0);
    expect(linkCase).toMatchObject({ held: false });
    expect(linkCase.error).toMatch(/ELOOP/);
    expect(readFileSync(join(outside, 'authorized'), 'utf8')).toBe('1\n');

    mkdirSync(join(outside, '1-7'));
    writeFileSync(join(outside, '1-7', 'authorized'), '1\n');
    symlinkSync(join(outside, '1-7'), join(sys, 'bus/usb/devices/1-7'));
    const escaped = await setAuthorized(sys, '1-7', 0);
    expect(escaped).toMatchObject({ held: false });
    expect(escaped.error).toMatch(/outside/);
    expect(readFileSync(join(outside, '1-7', 'authorized'), 'utf8')).toBe('1\n');

    expect((await setAuthorized(sys, '1-5', 0)).error).toMatch(/ENOENT/);
    expect((await setAuthorized(join(sys, 'nope'), '1-1', 0)).held).toBe(false);
  });

  it('refuses ids that are not plain sysfs names', async () => {
    const sys = copyCase('sandisk-stick');
    for (const id of ['..', '../1-1', '1-1/..', '1-1/../../..', 'usb1/', '', '/etc', '1-1:1.0']) {
      const r = await setAuthorized(sys, id, 0);
      expect(r.held).toBe(false);
      expect(r.error).toMatch(/not a USB device name/);
    }
    for (const id of ['1-1', '../1-1:1.0', '1-1:1.0/../..']) expect((await setInterfaceAuthorized(sys, id, 0)).error).toMatch(/not a USB interface name/);
    expect(readFileSync(join(sys, 'bus/usb/devices/1-1/authorized'), 'utf8')).toBe('1\n');
  });
});

/** Wait until `pred` holds, polling every 20 ms, for at most `ms`. */
async function until<T>(get: () => T | undefined, ms = 1000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('usb watcher (linux)', () => {
  it('present devices come out attached first; a copied-in device attaches within 1 s, removal detaches', async () => {
    const sys = copyCase('sandisk-stick');
    const devices = join(sys, 'bus/usb/devices');
    const parked = join(sys, '..', 'parked-1-1');
    renameSync(join(devices, '1-1'), parked);
    const changes: UsbChange[] = [];
    const w = new LinuxUsbWatcher({ sysfs: sys, udev: false });
    w.onChange((c) => changes.push(c));
    const ac = new AbortController();
    const running = w.run(ac.signal);
    try {
      const first = await until(() => changes[0]);
      expect(first.attached.map((d) => d.id)).toEqual(['usb1', 'usb2']);
      expect(first.detached).toEqual([]);

      // Copy next to the listing, then move in at once, as the kernel adds a device with its attributes.
      const staged = join(sys, 'bus/usb/.staged-1-1');
      cpSync(parked, staged, { recursive: true, verbatimSymlinks: true });
      const t0 = Date.now();
      renameSync(staged, join(devices, '1-1'));
      const att = await until(() => changes.find((c) => c.attached.some((d) => d.id === '1-1')));
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(att.attached).toHaveLength(1);
      expect(att.attached[0]).toMatchObject({ vendorId: '0781', productId: '5567', parentId: 'usb1' });
      expect(w.devices().map((d) => d.id)).toEqual(['usb1', '1-1', 'usb2']);

      const t1 = Date.now();
      rmSync(join(devices, '1-1'), { recursive: true });
      const det = await until(() => changes.find((c) => c.detached.some((d) => d.id === '1-1')));
      expect(Date.now() - t1).toBeLessThan(1000);
      expect(det.attached).toEqual([]);
    } finally {
      ac.abort();
      await running;
    }
  });

  it('a device caught half-copied is read again until complete', async () => {
    const sys = copyCase('sandisk-stick');
    const devices = join(sys, 'bus/usb/devices');
    const full = join(sys, '..', 'full-1-1');
    renameSync(join(devices, '1-1'), full);
    const changes: UsbChange[] = [];
    const w = new LinuxUsbWatcher({ sysfs: sys, udev: false, intervalMs: 50 });
    w.onChange((c) => changes.push(c));
    const ac = new AbortController();
    const running = w.run(ac.signal);
    try {
      await until(() => changes[0]);
      mkdirSync(join(devices, '1-1')); // listed, no attributes yet
      await new Promise((r) => setTimeout(r, 150));
      expect(changes).toHaveLength(1);
      for (const f of ['idVendor', 'idProduct', 'bDeviceClass', 'bDeviceSubClass', 'bDeviceProtocol', 'descriptors', 'serial']) cpSync(join(full, f), join(devices, '1-1', f));
      const att = await until(() => changes.find((c) => c.attached.some((d) => d.id === '1-1')));
      expect(att.attached[0]!.hash).not.toBeNull();
    } finally {
      ac.abort();
      await running;
    }
  });

  it('udevadm monitor (through stdbuf -oL) only triggers a read', async () => {
    const sys = copyCase('keyboard');
    const devices = join(sys, 'bus/usb/devices');
    const parked = join(sys, '..', 'parked');
    renameSync(join(devices, '1-2'), parked);
    const stdout = new EventEmitter();
    let killed = false;
    const child = Object.assign(new EventEmitter(), { stdout, kill: () => { killed = true; } });
    const spawned: [string, string[]][] = [];
    const w = new LinuxUsbWatcher({
      sysfs: sys,
      intervalMs: 60_000, // the listing poll will not come round during this test: only the push can wake it
      which: async (b) => `/usr/bin/${b}`,
      spawn: (cmd, args) => { spawned.push([cmd, args]); return child as unknown as MonitorProcess; },
    });
    const changes: UsbChange[] = [];
    w.onChange((c) => changes.push(c));
    const ac = new AbortController();
    const running = w.run(ac.signal);
    try {
      await until(() => changes[0]);
      expect(spawned).toEqual([['/usr/bin/stdbuf', ['-oL', '/usr/bin/udevadm', ...UDEV_MONITOR_ARGS]]]);
      expect(w.pushActive).toBe(true);
      renameSync(parked, join(devices, '1-2'));
      stdout.emit('data', Buffer.from('monitor will print the received events for:\nUDEV - the event which udev sends out after rule processing\n\n'));
      await new Promise((r) => setTimeout(r, 100));
      expect(changes).toHaveLength(1); // header lines are not events
      stdout.emit('data', Buffer.from('UDEV  [4242.123456] add      /devices/pci0000:00/0000:00:14.0/usb1/1-2 (usb)\n'));
      const att = await until(() => changes.find((c) => c.attached.some((d) => d.id === '1-2')), 1000);
      expect(att.attached[0]).toMatchObject({ vendorId: '046d', productId: 'c31c' });
      child.emit('exit');
      expect(w.pushActive).toBe(false);
    } finally {
      ac.abort();
      await running;
    }
    expect(killed).toBe(false); // it had exited already; nothing left to kill
  });

  it('without a USB subsystem it idles (no events, no throw) and stops on abort; kills its monitor', async () => {
    const root = tmp();
    let killed = false;
    const child = Object.assign(new EventEmitter(), { stdout: new EventEmitter(), kill: () => { killed = true; } });
    const w = new LinuxUsbWatcher({ sysfs: join(root, 'sys'), intervalMs: 20, which: async (b) => (b === 'udevadm' ? '/sbin/udevadm' : null), spawn: () => child as unknown as MonitorProcess });
    const changes: UsbChange[] = [];
    w.onChange((c) => changes.push(c));
    const ac = new AbortController();
    const running = w.run(ac.signal);
    await new Promise((r) => setTimeout(r, 120));
    ac.abort();
    await running;
    expect(changes).toEqual([]);
    expect(killed).toBe(true);
  });
});
