import { describe, expect, it } from 'vitest';
import { UsbDeviceSchema, deviceKinds, type UsbDevice } from '../../../shared/usb.js';
import { parseXmlPlist } from '../../../agent/checks/darwin/plist.js';
import { normLocation, parseDarwinUsb, spHex4, spSpeed } from '../../../agent/collectors/usb/parse-darwin.js';
import { MAX_DEVICE_STRING } from '../../../agent/collectors/usb/parse-win32.js';
import { collectUsbDarwin, IOREG_USB, SP_USB, SP_USB_HOST } from '../../../agent/collectors/usb/darwin.js';
import { darwinUsbWatcher, darwinWatchTrigger, DISKUTIL_ACTIVITY } from '../../../agent/collectors/usb/watch-darwin.js';
import { DarwinUsbEnforcer } from '../../../agent/enforcers/usb/darwin.js';
import { ctxWith, expectMatchesJson, fx } from '../collectors/helpers.js';
import { FakeChild, recordingRunner, until } from './helpers.js';

const CASES = ['storage-stick', 'keyboard', 'storage-hid-composite', 'phone-mtp', 'ncm-adapter', 'hub-with-stick'] as const;
const f = (name: string) => fx('darwin', 'usb', name);
const read = (name: string) => parseDarwinUsb(JSON.parse(f(`${name}.system_profiler.txt`)), parseXmlPlist(f(`${name}.ioreg.txt`)));
const ifaces = (d: UsbDevice) => d.interfaces.map((i) => `${i.class}/${i.subclass}/${i.protocol} ${i.driver}`);
const key = (c: { cmd: string; args: readonly string[] }) => [c.cmd, ...c.args].join(' ');
const tableFor = (name: string, legacyEmpty = false) => ({
  [key(SP_USB)]: { stdout: legacyEmpty ? f(`${name}.system_profiler-legacy.txt`) : f(`${name}.system_profiler.txt`) },
  [key(SP_USB_HOST)]: { stdout: f(`${name}.system_profiler.txt`) },
  [key(IOREG_USB)]: { stdout: f(`${name}.ioreg.txt`) },
});

describe('darwin USB parser (system_profiler JSON + ioreg plist, merged by locationID)', () => {
  it.each(CASES)('%s matches the expected devices', (name) => {
    const { devices } = read(name);
    for (const d of devices) UsbDeviceSchema.parse(d);
    expectMatchesJson('darwin', 'usb', name, devices);
  });

  it('value formats of system_profiler', () => {
    expect(normLocation('0x14100000 / 2')).toBe('0x14100000');
    expect(normLocation('0x01100000')).toBe('0x01100000');
    expect(normLocation(336592896)).toBe('0x14100000');
    expect(spHex4('0x0781  (SanDisk Corporation)')).toBe('0781');
    expect(spHex4('apple_vendor_id')).toBe('05ac');
    expect(spHex4('0x1050')).toBe('1050');
    expect(spSpeed('high_speed')).toBe('480');
    expect(spSpeed('5 Gb/s')).toBe('5000');
    expect(spSpeed('12 Mb/s')).toBe('12');
  });

  it('storage stick: mass-storage interface from ioreg, disk and volume from system_profiler', () => {
    const { devices, disks } = read('storage-stick');
    const [d] = devices as [UsbDevice];
    expect(d).toMatchObject({ id: '0x00100000', port: '0x00100000', vendorId: '0781', productId: '5567', serial: '4C530001230522117294', manufacturer: 'SanDisk', product: 'Cruzer Blade', speed: '480', authorized: null, parentId: null });
    expect(ifaces(d)).toEqual(['08/06/50 IOUSBMassStorageInterfaceNub']);
    expect(disks.get(d.id)).toEqual([{ bsdName: 'disk4', volumes: [{ bsdName: 'disk4s1', content: 'DOS_FAT_32' }] }]);
  });

  it('keyboard: HID interface bound to the HID driver', () => {
    const [d] = read('keyboard').devices as [UsbDevice];
    expect(ifaces(d)).toEqual(['03/01/01 AppleUserUSBHostHIDDevice']);
    expect(deviceKinds(d)).toMatchObject({ hid: true, storage: false });
    expect(read('keyboard').disks.size).toBe(0);
  });

  it('composite storage+HID: both interfaces on one device', () => {
    const { devices, disks } = read('storage-hid-composite');
    expect(devices).toHaveLength(1);
    expect(ifaces(devices[0]!)).toEqual(['08/06/50 IOUSBMassStorageInterfaceNub', '03/00/00 AppleUserUSBHostHIDDevice']);
    expect(deviceKinds(devices[0]!)).toMatchObject({ storage: true, hid: true });
    expect(disks.get('0x00100000')).toEqual([{ bsdName: 'disk5', volumes: [] }]);
  });

  it('phone (MTP): still-image interface, no kernel driver bound', () => {
    const [d] = read('phone-mtp').devices as [UsbDevice];
    expect(ifaces(d)).toEqual(['06/01/01 null', 'ff/42/01 null']);
    expect(deviceKinds(d).storage).toBe(true);
  });

  it('NCM adapter on macOS 26 (SPUSBHostDataType keys): CDC-NCM control and data interfaces, removable', () => {
    const [d] = read('ncm-adapter').devices as [UsbDevice];
    expect(d).toMatchObject({ vendorId: '0bda', productId: '8156', serial: '000300E04C68', manufacturer: 'Realtek', speed: '5000', connectType: 'hotplug' });
    expect(ifaces(d)).toEqual(['02/0d/00 AppleUSBNCMControl', '0a/00/01 AppleUSBNCMData']);
    expect(deviceKinds(d).network).toBe(true);
  });

  it('hub with a stick: the stick (printed twice by ioreg -r) appears once, hanging from the hub; its disks are not the hub\'s', () => {
    const { devices, disks } = read('hub-with-stick');
    expect(devices.map((d) => d.id)).toEqual(['0x14100000', '0x14110000']);
    const [hub, stick] = devices as [UsbDevice, UsbDevice];
    expect(hub.deviceClass).toBe('09');
    expect(stick.parentId).toBe('0x14100000');
    expect(stick.parentHash).toBe(hub.hash);
    expect(disks.has(hub.id)).toBe(false);
    expect(disks.get(stick.id)![0]!.volumes.map((v) => v.bsdName)).toEqual(['disk6s1', 'disk6s2']);
  });

  it('either source alone still yields devices', () => {
    const spOnly = parseDarwinUsb(JSON.parse(f('hub-with-stick.system_profiler.txt')), null);
    expect(spOnly.devices.map((d) => [d.id, d.parentId, d.deviceClass])).toEqual([['0x14100000', null, '00'], ['0x14110000', '0x14100000', '00']]);
    const ioOnly = parseDarwinUsb(null, parseXmlPlist(f('hub-with-stick.ioreg.txt')));
    expect(ioOnly.devices.map((d) => [d.id, d.parentId])).toEqual([['0x14100000', null], ['0x14110000', '0x14100000']]);
    expect(ioOnly.disks.get('0x14110000')![0]!.volumes.map((v) => v.content)).toEqual(['EFI', 'Microsoft Basic Data']);
  });

  it('a hostile name and serial survive intact and capped; a hostile BSD name is never taken', () => {
    const evil = '<script>alert(1)</script>\u001b]0;pwned\u0007 $(reboot) `id` \'"\n';
    const sp = JSON.parse(f('storage-stick.system_profiler.txt')) as { SPUSBDataType: { _items: Record<string, unknown>[] }[] };
    const dev = sp.SPUSBDataType[0]!._items[0]!;
    dev._name = evil + 'B'.repeat(9000);
    dev.serial_num = evil;
    (dev.Media as Record<string, unknown>[])[0]!.bsd_name = 'disk4; rm -rf /';
    const { devices, disks } = parseDarwinUsb(sp, null);
    const d = devices[0]!;
    expect(d.serial).toBe(evil);
    expect(d.product!.startsWith(evil)).toBe(true);
    expect(Buffer.byteLength(d.product!)).toBe(MAX_DEVICE_STRING);
    expect(disks.size).toBe(0);
    UsbDeviceSchema.parse(d);
  });
});

describe('darwin USB collector', () => {
  it('reads system_profiler then ioreg through the runner', async () => {
    const run = recordingRunner(tableFor('storage-stick'));
    const devices = await collectUsbDarwin(ctxWith('darwin', run));
    expect(run.argv).toEqual([
      ['system_profiler', 'SPUSBDataType', '-json'],
      ['ioreg', '-a', '-l', '-w', '0', '-r', '-c', 'IOUSBHostDevice'],
    ]);
    expect(devices.map((d) => d.vendorId)).toEqual(['0781']);
  });

  it('macOS 26: an empty SPUSBDataType falls back to SPUSBHostDataType', async () => {
    const run = recordingRunner(tableFor('ncm-adapter', true));
    const devices = await collectUsbDarwin(ctxWith('darwin', run));
    expect(run.argv.map((a) => a.slice(0, 2))).toEqual([['system_profiler', 'SPUSBDataType'], ['system_profiler', 'SPUSBHostDataType'], ['ioreg', '-a']]);
    expect(devices.map((d) => d.vendorId)).toEqual(['0bda']);
  });

  it('both tools failing is an error with both reasons', async () => {
    await expect(collectUsbDarwin(ctxWith('darwin', recordingRunner({})))).rejects.toThrow(/system_profiler not found; ioreg not found/);
  });
});

describe('darwin USB watcher', () => {
  it('diskutil activity lines that change disks trigger reads; approvals, idle and the banner do not', () => {
    const lines = f('diskutil-activity.txt').trim().split('\n');
    expect(lines.map(darwinWatchTrigger)).toEqual([
      null, 'DiskAppeared:disk0', 'DiskAppeared:disk3s1s1', null,
      'DiskAppeared:disk4', 'DiskAppeared:disk4s1', null, 'DiskDescriptionChanged:disk4s1', null, 'DiskDisappeared:disk4s1',
    ]);
  });

  it('lines from the diskutil child and the slow poll both trigger reads through the collector', async () => {
    const children: FakeChild[] = [];
    const run = recordingRunner(tableFor('storage-stick'));
    const reasons: string[] = [];
    const w = darwinUsbWatcher(ctxWith('darwin', run), {
      spawn: (cmd, args) => { expect([cmd, ...args]).toEqual([DISKUTIL_ACTIVITY.cmd, ...DISKUTIL_ACTIVITY.args]); const c = new FakeChild(); children.push(c); return c; },
      debounceMs: 5,
      pollMs: 60,
      restartDelay: () => 1,
      onDevices: (_d, _diff, reason) => { reasons.push(reason); },
    });
    const ac = new AbortController();
    const running = w.run(ac.signal);
    await until(() => reasons.length === 1 && children.length === 1);
    children[0]!.line("***DiskMountApproval ('disk4s1', DAVolumePath = '<null>', DAVolumeKind = 'msdos', DAVolumeName = 'CRUZER') Comment=Approving Time=20261125-09:15:40.6102");
    children[0]!.line("***DiskAppeared ('disk4', DAVolumePath = '<null>', DAVolumeKind = '<null>', DAVolumeName = '<null>') Time=20261125-09:15:40.6021");
    await until(() => reasons.includes('DiskAppeared:disk4'));
    await until(() => reasons.includes('poll'));
    ac.abort();
    await running;
    expect(reasons[0]).toBe('start');
    expect(reasons).not.toContain('DiskMountApproval:disk4s1');
    // Every read went through system_profiler and ioreg, nothing parsed from the event itself.
    expect(run.argv.filter((a) => a[0] === 'ioreg').length).toBe(reasons.length);
  });
});

describe('darwin USB enforcer', () => {
  const stick = read('storage-stick').devices[0]!;
  const keyboard = read('keyboard').devices[0]!;
  const READ = [['system_profiler', 'SPUSBDataType', '-json'], ['ioreg', '-a', '-l', '-w', '0', '-r', '-c', 'IOUSBHostDevice']];

  it('block: force-unmount and eject the disk, then diskutil info shows it gone', async () => {
    const run = recordingRunner({
      ...tableFor('storage-stick'),
      'diskutil unmountDisk force /dev/disk4': { stdout: 'Forced unmount of all volumes on disk4 was successful\n' },
      'diskutil eject /dev/disk4': { stdout: 'Disk /dev/disk4 ejected\n' },
      'diskutil info -plist /dev/disk4': { code: 1, stdout: 'Could not find disk: /dev/disk4\n' },
    });
    const r = await new DarwinUsbEnforcer(run).block(stick);
    expect(run.argv).toEqual([
      ...READ,
      ['diskutil', 'unmountDisk', 'force', '/dev/disk4'],
      ['diskutil', 'eject', '/dev/disk4'],
      ['diskutil', 'info', '-plist', '/dev/disk4'],
    ]);
    expect(r).toEqual({ held: true, commands: run.argv.map((a) => a.join(' ')) });
  });

  it('block: eject failing with the volume still mounted is not held, with the reason', async () => {
    const run = recordingRunner({
      ...tableFor('storage-stick'),
      'diskutil unmountDisk force /dev/disk4': { code: 1, stderr: 'Forced unmount of disk4 failed: at least one volume could not be unmounted\n' },
      'diskutil eject /dev/disk4': { code: 1, stderr: 'Disk /dev/disk4 failed to eject\n' },
      'diskutil info -plist /dev/disk4': { stdout: f('diskutil-info-disk4-whole.txt') },
      'diskutil info -plist /dev/disk4s1': { stdout: f('diskutil-info-disk4s1-writable.txt') },
    });
    const r = await new DarwinUsbEnforcer(run).block(stick);
    expect(run.argv.slice(2)).toEqual([
      ['diskutil', 'unmountDisk', 'force', '/dev/disk4'],
      ['diskutil', 'eject', '/dev/disk4'],
      ['diskutil', 'info', '-plist', '/dev/disk4'],
      ['diskutil', 'info', '-plist', '/dev/disk4s1'],
    ]);
    expect(r.held).toBe(false);
    expect(r.error).toBe('unmount: diskutil exited with 1: Forced unmount of disk4 failed: at least one volume could not be unmounted; eject: diskutil exited with 1: Disk /dev/disk4 failed to eject; disk4s1 is still mounted');
  });

  it('block: a device without a disk cannot be held on macOS, and nothing is run against it', async () => {
    const run = recordingRunner(tableFor('keyboard'));
    const r = await new DarwinUsbEnforcer(run).block(keyboard);
    expect(run.argv).toEqual(READ);
    expect(r.held).toBe(false);
    expect(r.error).toMatch(/storage only/);
  });

  it('readonly: unmount, mount each volume read-only, verify WritableVolume false', async () => {
    const run = recordingRunner({
      ...tableFor('storage-stick'),
      'diskutil unmountDisk /dev/disk4': { stdout: 'Unmount of all volumes on disk4 was successful\n' },
      'diskutil mount readOnly /dev/disk4s1': { stdout: 'Volume CRUZER on /dev/disk4s1 mounted\n' },
      'diskutil info -plist /dev/disk4s1': { stdout: f('diskutil-info-disk4s1-readonly.txt') },
    });
    const r = await new DarwinUsbEnforcer(run).readonly(stick);
    expect(run.argv).toEqual([
      ...READ,
      ['diskutil', 'unmountDisk', '/dev/disk4'],
      ['diskutil', 'mount', 'readOnly', '/dev/disk4s1'],
      ['diskutil', 'info', '-plist', '/dev/disk4s1'],
    ]);
    expect(r).toEqual({ held: true, commands: run.argv.map((a) => a.join(' ')) });
  });

  it('readonly: a volume that came back writable is not held', async () => {
    const run = recordingRunner({
      ...tableFor('storage-stick'),
      'diskutil unmountDisk /dev/disk4': { stdout: '' },
      'diskutil mount readOnly /dev/disk4s1': { stdout: '' },
      'diskutil info -plist /dev/disk4s1': { stdout: f('diskutil-info-disk4s1-writable.txt') },
    });
    const r = await new DarwinUsbEnforcer(run).readonly(stick);
    expect(r).toMatchObject({ held: false, error: 'disk4s1: WritableVolume is true' });
  });

  it('readonly skips the EFI partition of a GPT stick behind a hub', async () => {
    const hubStick = read('hub-with-stick').devices[1]!;
    const run = recordingRunner({
      ...tableFor('hub-with-stick'),
      'diskutil unmountDisk /dev/disk6': { stdout: '' },
      'diskutil mount readOnly /dev/disk6s2': { stdout: '' },
      'diskutil info -plist /dev/disk6s2': { stdout: f('diskutil-info-disk4s1-readonly.txt') },
    });
    const r = await new DarwinUsbEnforcer(run).readonly(hubStick);
    expect(run.argv.slice(2).map((a) => a.join(' '))).toEqual(['diskutil unmountDisk /dev/disk6', 'diskutil mount readOnly /dev/disk6s2', 'diskutil info -plist /dev/disk6s2']);
    expect(r.held).toBe(true);
  });
});
