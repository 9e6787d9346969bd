import { describe, expect, it } from 'vitest';
import { UsbDeviceSchema, deviceKinds, type UsbDevice } from '../../../shared/usb.js';
import { parseInstanceId, parseWin32Usb, MAX_DEVICE_STRING } from '../../../agent/collectors/usb/parse-win32.js';
import { collectUsbWin32, WIN32_USB_COMMAND } from '../../../agent/collectors/usb/win32.js';
import { win32UsbWatcher, win32WatchTrigger, WIN32_WATCH_COMMAND } from '../../../agent/collectors/usb/watch-win32.js';
import { DENY_LIST, RESTRICTIONS, STORAGE_POLICIES, Win32UsbEnforcer, statusScript } from '../../../agent/enforcers/usb/win32.js';
import { ctxWith, expectMatchesJson, fx, fxJson } from '../collectors/helpers.js';
import { FakeChild, recordingRunner, until } from './helpers.js';

const CASES = ['storage-stick', 'keyboard', 'storage-hid-composite', 'phone-mtp', 'rndis-phone', 'hub-with-stick'] as const;
const parse = (name: string) => parseWin32Usb(fxJson('win32', 'usb', `${name}.txt`));
const ifaces = (d: UsbDevice) => d.interfaces.map((i) => `${i.class}/${i.subclass}/${i.protocol} ${i.driver}`);
const PS_KEY = [WIN32_USB_COMMAND.cmd, ...WIN32_USB_COMMAND.args].join(' ');

describe('win32 USB parser (Windows PowerShell 5.1 ConvertTo-Json)', () => {
  it.each(CASES)('%s matches the expected devices', (name) => {
    const { devices } = parse(name);
    for (const d of devices) UsbDeviceSchema.parse(d);
    expectMatchesJson('win32', 'usb', name, devices);
  });

  it('instance ids: the last part is a serial only without "&"', () => {
    expect(parseInstanceId('USB\\VID_0781&PID_5567\\4C530001230522117294')).toEqual({ vendorId: '0781', productId: '5567', mi: null, serial: '4C530001230522117294' });
    expect(parseInstanceId('USB\\VID_413C&PID_2107\\5&1f2a3b4c&0&3')!.serial).toBeNull();
    expect(parseInstanceId('USB\\VID_0483&PID_572A&MI_01\\6&2c9f1e7&0&0001')).toMatchObject({ mi: '01', serial: null });
    expect(parseInstanceId('USB\\ROOT_HUB30\\4&2a3c1f6e&0&0')).toBeNull();
    expect(parseInstanceId('USBSTOR\\DISK&VEN_SANDISK\\1&0')).toBeNull();
  });

  it('storage stick: one mass-storage interface, its serial, its disk node; the WPD volume is not a USB device', () => {
    const { devices, storageNodes } = parse('storage-stick');
    expect(devices).toHaveLength(1);
    const [d] = devices as [UsbDevice];
    expect(d).toMatchObject({ vendorId: '0781', productId: '5567', serial: '4C530001230522117294', product: 'Cruzer Blade', port: 'Port_#0002.Hub_#0001', parentId: 'USB\\ROOT_HUB30\\4&2a3c1f6e&0&0', authorized: true, connectType: 'unknown', manufacturer: null });
    expect(ifaces(d)).toEqual(['08/06/50 USBSTOR']);
    expect(deviceKinds(d)).toMatchObject({ storage: true, hid: false });
    expect(storageNodes.get(d.id)).toEqual(['USBSTOR\\DISK&VEN_SANDISK&PROD_CRUZER_BLADE&REV_1.00\\4C530001230522117294&0']);
  });

  it('keyboard: a single object (not an array) with CRLF lines; no serial in a generated instance id', () => {
    expect(fx('win32', 'usb', 'keyboard.txt')).toContain('\r\n');
    const [d] = parse('keyboard').devices as [UsbDevice];
    expect(d.serial).toBeNull();
    expect(ifaces(d)).toEqual(['03/01/01 HidUsb']);
    expect(deviceKinds(d)).toMatchObject({ hid: true, storage: false });
  });

  it('composite storage+HID: MI_ children folded into the parent as interfaces, in interface order', () => {
    const { devices, storageNodes } = parse('storage-hid-composite');
    expect(devices.map((d) => d.id)).toEqual(['USB\\VID_0483&PID_572A\\8D7A3B5C4E51']);
    const [d] = devices as [UsbDevice];
    expect(d.deviceClass).toBe('00');
    expect(ifaces(d)).toEqual(['08/06/50 USBSTOR', '03/00/00 HidUsb']);
    expect(deviceKinds(d)).toMatchObject({ storage: true, hid: true });
    // The disk hangs below MI_00, and is traced up to the device.
    expect(storageNodes.get(d.id)).toHaveLength(1);
  });

  it('phone (MTP via WPD): still-image interface with the WPD MTP driver, ADB beside it', () => {
    const [d] = parse('phone-mtp').devices as [UsbDevice];
    expect(d.serial).toBe('R58M1234ABC');
    expect(ifaces(d)).toEqual(['06/01/01 WUDFWpdMtp', 'ff/42/01 WinUSB']);
    expect(deviceKinds(d).storage).toBe(true);
  });

  it('RNDIS phone: IAD device class ef/02/01, the RNDIS function e0/01/03 on usbrndis6', () => {
    const [d] = parse('rndis-phone').devices as [UsbDevice];
    expect([d.deviceClass, d.deviceSubclass, d.deviceProtocol]).toEqual(['ef', '02', '01']);
    expect(ifaces(d)).toEqual(['e0/01/03 usbrndis6', 'ff/42/01 WinUSB']);
    expect(deviceKinds(d).network).toBe(true);
  });

  it('hub with a disabled stick: hub class 09, the stick hangs from it and is not authorized (error 22)', () => {
    const { devices } = parse('hub-with-stick');
    const hub = devices.find((d) => d.vendorId === '05e3')!;
    const stick = devices.find((d) => d.vendorId === '0951')!;
    expect(hub.deviceClass).toBe('09');
    expect(deviceKinds(hub).hub).toBe(true);
    expect(stick.parentId).toBe(hub.id);
    expect(stick.parentHash).toBe(hub.hash);
    expect(stick.authorized).toBe(false);
    expect(hub.authorized).toBe(true);
  });

  it('hash covers vendor, product and serial only (Windows cannot read descriptors)', () => {
    const a = parse('storage-stick').devices[0]!;
    const json = fxJson('win32', 'usb', 'storage-stick.txt') as Record<string, unknown>[];
    json[0]!.BusReportedDeviceDesc = 'Another Name';
    json[0]!.LocationInfo = 'Port_#0001.Hub_#0002';
    const b = parseWin32Usb(json).devices[0]!;
    expect(b.hash).toBe(a.hash);
    expect(a.hash).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('a hostile name and serial survive intact, capped at 4 KiB', () => {
    const evil = '<img src=x onerror=alert(1)>\u001b[2J\r\n; rm -rf / $(id) `id` \'" 漢字';
    const row = fxJson('win32', 'usb', 'keyboard.txt') as Record<string, unknown>;
    row.InstanceId = `USB\\VID_413C&PID_2107\\${'<x>$(id)\'"'}`;
    row.BusReportedDeviceDesc = evil + 'A'.repeat(10_000);
    const [d] = parseWin32Usb(row).devices as [UsbDevice];
    expect(d.serial).toBe('<x>$(id)\'"');
    expect(d.product!.startsWith(evil)).toBe(true);
    expect(Buffer.byteLength(d.product!)).toBe(MAX_DEVICE_STRING);
    UsbDeviceSchema.parse(d);
    // Multi-byte characters are never split by the cap.
    const wide = parseWin32Usb({ ...row, BusReportedDeviceDesc: '漢'.repeat(3000) }).devices[0]!;
    expect(wide.product).toBe('漢'.repeat(Math.floor(MAX_DEVICE_STRING / 3)));
  });

  it('empty output (no USB devices) and junk rows give no devices', () => {
    expect(parseWin32Usb(null).devices).toEqual([]);
    expect(parseWin32Usb([{ Name: 'no id' }, 3, 'x']).devices).toEqual([]);
  });
});

describe('win32 USB collector', () => {
  it('runs one PowerShell read through the runner', async () => {
    const run = recordingRunner({ [PS_KEY]: { stdout: fx('win32', 'usb', 'storage-hid-composite.txt') } });
    const devices = await collectUsbWin32(ctxWith('win32', run));
    expect(run.argv).toEqual([['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', WIN32_USB_COMMAND.args[3]]]);
    expect(devices).toHaveLength(1);
    expect(WIN32_USB_COMMAND.args[3]).toContain('DEVPKEY_Device_BusReportedDeviceDesc');
    expect(WIN32_USB_COMMAND.args[3]).toContain("'USB\\VID_*'");
  });

  it('a failing PowerShell becomes an error with its reason', async () => {
    const run = recordingRunner({ [PS_KEY]: { code: 1, stderr: 'Get-CimInstance : Access denied' } });
    await expect(collectUsbWin32(ctxWith('win32', run))).rejects.toThrow(/exited with 1: Get-CimInstance : Access denied/);
  });
});

describe('win32 USB watcher', () => {
  it('event lines only trigger reads', () => {
    expect(win32WatchTrigger('{"kind":"device","eventType":2}')).toBe('device:2');
    expect(win32WatchTrigger('{"kind":"volume","eventType":3,"driveName":"E:"}')).toBe('volume:3');
    expect(win32WatchTrigger('{"kind":"ready"}')).toBe('watcher-ready');
    expect(win32WatchTrigger('WARNING: something')).toBeNull();
    expect(win32WatchTrigger('{"kind":"other"}')).toBeNull();
  });

  it('a line on the child triggers a fresh read through the collector; the child is restarted when it dies', async () => {
    const children: FakeChild[] = [];
    const spawned: string[][] = [];
    let stdout = fx('win32', 'usb', 'keyboard.txt');
    const run = recordingRunner({ [PS_KEY]: { stdout: 'x' } }, () => stdout);
    const seen: { ids: string[]; added: string[]; removed: string[]; reason: string }[] = [];
    const w = win32UsbWatcher(ctxWith('win32', run), {
      spawn: (cmd, args) => { spawned.push([cmd, ...args]); const c = new FakeChild(); children.push(c); return c; },
      debounceMs: 5,
      restartDelay: () => 1,
      onDevices: (devices, diff, reason) => { seen.push({ ids: devices.map((d) => d.vendorId), added: diff.added.map((d) => d.vendorId), removed: diff.removed.map((d) => d.vendorId), reason }); },
    });
    const ac = new AbortController();
    const running = w.run(ac.signal);
    await until(() => seen.length === 1 && children.length === 1);
    expect(spawned[0]).toEqual([WIN32_WATCH_COMMAND.cmd, ...WIN32_WATCH_COMMAND.args]);
    expect(seen[0]).toEqual({ ids: ['413c'], added: ['413c'], removed: [], reason: 'start' });

    // Plug: several events in a burst → one read, which sees the new device.
    stdout = fx('win32', 'usb', 'storage-stick.txt');
    children[0]!.line('{"kind":"device","eventType":2}');
    children[0]!.line('{"kind":"volume","eventType":2,"driveName":"E:"}');
    await until(() => seen.length === 2);
    await w.settled();
    expect(seen[1]).toEqual({ ids: ['0781'], added: ['0781'], removed: ['413c'], reason: 'device:2' });
    expect(run.argv.filter((a) => a[0] === 'powershell.exe')).toHaveLength(2);

    // The child dies: a new one is started, and a read covers what was missed.
    children[0]!.exit(1);
    await until(() => children.length === 2 && seen.length === 3);
    expect(seen[2]!.reason).toBe('restart');

    ac.abort();
    await running;
    expect(children[1]!.killed).toBe(true);
  });
});

describe('win32 USB enforcer', () => {
  const stick = parse('storage-stick').devices[0]!;
  const ID = stick.id;
  const PNP_DISABLE = `pnputil.exe /disable-device ${ID}`;
  const PNP_ENABLE = `pnputil.exe /enable-device ${ID}`;
  const STATUS = `powershell.exe -NoProfile -NonInteractive -Command ${statusScript(ID)}`;
  const DENY_QUERY = `reg.exe query ${DENY_LIST}`;
  const regAdd = (key: string, name: string, type: string, data: string) => ['reg.exe', 'add', key, '/v', name, '/t', type, '/d', data, '/f'];
  const status = (code: number) => ({ stdout: `{\r\n    "PNPDeviceID":  "USB\\\\VID_0781\\u0026PID_5567\\\\4C530001230522117294",\r\n    "Status":  "${code ? 'Error' : 'OK'}",\r\n    "ConfigManagerErrorCode":  ${code}\r\n}\r\n` });
  const ok = { stdout: '\r\nThe operation completed successfully.\r\n\r\n' };
  const policyOk = {
    [`reg.exe add ${RESTRICTIONS} /v DenyDeviceIDs /t REG_DWORD /d 1 /f`]: ok,
    [`reg.exe add ${RESTRICTIONS} /v DenyDeviceIDsRetroactive /t REG_DWORD /d 1 /f`]: ok,
  };
  const existingDeny = { stdout: `\r\n${DENY_LIST}\r\n    1    REG_SZ    USB\\VID_1234&PID_0001\r\n\r\n` };

  it('the status read escapes the id for WQL inside a PowerShell literal', () => {
    expect(statusScript("USB\\VID_1234&PID_5678\\a'b\"c")).toContain(`-Filter 'PNPDeviceID="USB\\\\VID_1234&PID_5678\\\\a''b\\"c"'`);
  });

  it('block: deny policy (next free value), pnputil disable, then a status read showing error 22', async () => {
    const run = recordingRunner({
      [DENY_QUERY]: existingDeny,
      ...policyOk,
      [`reg.exe add ${DENY_LIST} /v 2 /t REG_SZ /d USB\\VID_0781&PID_5567 /f`]: ok,
      [PNP_DISABLE]: { stdout: `Microsoft PnP Utility\r\n\r\nDisabling device:       ${ID}\r\nDevice disabled successfully.\r\n` },
      [STATUS]: status(22),
    });
    const r = await new Win32UsbEnforcer(run, { build: 19045 }).block(stick);
    expect(run.argv).toEqual([
      ['reg.exe', 'query', 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DeviceInstall\\Restrictions\\DenyDeviceIDs'],
      regAdd('HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DeviceInstall\\Restrictions', 'DenyDeviceIDs', 'REG_DWORD', '1'),
      regAdd('HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DeviceInstall\\Restrictions', 'DenyDeviceIDsRetroactive', 'REG_DWORD', '1'),
      regAdd('HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DeviceInstall\\Restrictions\\DenyDeviceIDs', '2', 'REG_SZ', 'USB\\VID_0781&PID_5567'),
      ['pnputil.exe', '/disable-device', 'USB\\VID_0781&PID_5567\\4C530001230522117294'],
      ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', statusScript(ID)],
    ]);
    expect(r).toEqual({ held: true, commands: run.argv.map((a) => a.join(' ')) });
  });

  it('block: pnputil failing is not held, with pnputil\'s reason', async () => {
    const run = recordingRunner({
      [DENY_QUERY]: { code: 1, stderr: 'ERROR: The system was unable to find the specified registry key or value.\r\n' },
      ...policyOk,
      [`reg.exe add ${DENY_LIST} /v 1 /t REG_SZ /d USB\\VID_0781&PID_5567 /f`]: ok,
      [PNP_DISABLE]: { code: 5, stdout: `Microsoft PnP Utility\r\n\r\nDisabling device:       ${ID}\r\nFailed to disable device:       ${ID}\r\nAccess is denied.\r\n` },
      [STATUS]: status(0),
    });
    const r = await new Win32UsbEnforcer(run, { build: 19045 }).block(stick);
    expect(r.held).toBe(false);
    expect(r.error).toBe('disable device: pnputil.exe exited with 5: Access is denied.');
    expect(run.argv.at(-1)![0]).toBe('powershell.exe');
    expect(run.argv.map((a) => a[1])).toContain('/disable-device');
  });

  it('block before Windows 10 2004: the build is read, and Disable-PnpDevice is used', async () => {
    const run = recordingRunner({
      [DENY_QUERY]: existingDeny,
      ...policyOk,
      [`reg.exe add ${DENY_LIST} /v 2 /t REG_SZ /d USB\\VID_0781&PID_5567 /f`]: ok,
      ['reg.exe query HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion /v CurrentBuildNumber']: { stdout: '\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\r\n    CurrentBuildNumber    REG_SZ    17763\r\n\r\n' },
      [`powershell.exe -NoProfile -NonInteractive -Command $ErrorActionPreference='Stop';Disable-PnpDevice -InstanceId '${ID}' -Confirm:$false`]: { stdout: '' },
      [STATUS]: status(22),
    });
    const r = await new Win32UsbEnforcer(run).block(stick);
    expect(run.argv.slice(4)).toEqual([
      ['reg.exe', 'query', 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion', '/v', 'CurrentBuildNumber'],
      ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', `$ErrorActionPreference='Stop';Disable-PnpDevice -InstanceId 'USB\\VID_0781&PID_5567\\4C530001230522117294' -Confirm:$false`],
      ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', statusScript(ID)],
    ]);
    expect(r.held).toBe(true);
  });

  it('block: a device that stays enabled is not held even when every command succeeded', async () => {
    const run = recordingRunner({ [DENY_QUERY]: existingDeny, ...policyOk, [`reg.exe add ${DENY_LIST} /v 2 /t REG_SZ /d USB\\VID_0781&PID_5567 /f`]: ok, [PNP_DISABLE]: ok, [STATUS]: status(0) });
    expect((await new Win32UsbEnforcer(run, { build: 22631 }).block(stick)).held).toBe(false);
  });

  it('readonly: WriteProtect=1, the device cycled to re-mount, the value and the device read back', async () => {
    const run = recordingRunner({
      [`reg.exe add ${STORAGE_POLICIES} /v WriteProtect /t REG_DWORD /d 1 /f`]: ok,
      [PNP_DISABLE]: ok,
      [PNP_ENABLE]: ok,
      [`reg.exe query ${STORAGE_POLICIES} /v WriteProtect`]: { stdout: `\r\n${STORAGE_POLICIES.replace('HKLM', 'HKEY_LOCAL_MACHINE')}\r\n    WriteProtect    REG_DWORD    0x1\r\n\r\n` },
      [STATUS]: status(0),
    });
    const r = await new Win32UsbEnforcer(run, { build: 19045 }).readonly(stick);
    expect(run.argv).toEqual([
      ['reg.exe', 'add', 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\StorageDevicePolicies', '/v', 'WriteProtect', '/t', 'REG_DWORD', '/d', '1', '/f'],
      ['pnputil.exe', '/disable-device', ID],
      ['pnputil.exe', '/enable-device', ID],
      ['reg.exe', 'query', 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\StorageDevicePolicies', '/v', 'WriteProtect'],
      ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', statusScript(ID)],
    ]);
    expect(r).toEqual({ held: true, commands: run.argv.map((a) => a.join(' ')) });
  });

  it('unblock: removes only our deny value (and the switches when the list empties), enables, verifies', async () => {
    const run = recordingRunner({
      [DENY_QUERY]: { stdout: `\r\n${DENY_LIST}\r\n    1    REG_SZ    USB\\VID_0781&PID_5567\r\n\r\n` },
      [`reg.exe delete ${DENY_LIST} /v 1 /f`]: ok,
      [`reg.exe delete ${RESTRICTIONS} /v DenyDeviceIDs /f`]: ok,
      [`reg.exe delete ${RESTRICTIONS} /v DenyDeviceIDsRetroactive /f`]: ok,
      [PNP_ENABLE]: ok,
      [STATUS]: status(0),
    });
    const r = await new Win32UsbEnforcer(run, { build: 19045 }).unblock(stick);
    expect(run.argv).toEqual([
      ['reg.exe', 'query', DENY_LIST],
      ['reg.exe', 'delete', DENY_LIST, '/v', '1', '/f'],
      ['reg.exe', 'delete', RESTRICTIONS, '/v', 'DenyDeviceIDs', '/f'],
      ['reg.exe', 'delete', RESTRICTIONS, '/v', 'DenyDeviceIDsRetroactive', '/f'],
      ['pnputil.exe', '/enable-device', ID],
      ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', statusScript(ID)],
    ]);
    expect(r.held).toBe(true);
    expect(r.error).toBeUndefined();
  });
});
