/**
 * USB devices on Linux from sysfs (art31): every `<sysfs>/bus/usb/devices/<dev>` directory, its
 * interface directories `<dev>:<config>.<n>` and its port's `connect_type`. Real entries are symlinks
 * into /sys/devices; each is resolved and used only if it stays inside the sysfs root.
 */
import { join } from 'node:path';
import type { UsbDevice } from '../../../shared/usb.js';
import { CollectorUnsupported, type CollectorContext } from '../types.js';
import { isPlainDir, linkBasename, listNames, readCapped, realRoot, resolveInside, usbDevicesDir } from './linux-fs.js';
import {
  buildUsbDevices, hubPortDirName, interfacePrefix, isDeviceName, isInterfaceName, parentName, portNumber,
  USB_DESCRIPTORS_MAX, USB_STRING_MAX, type RawUsbDevice, type RawUsbInterface,
} from './parse.js';

const DEVICE_ATTRS = ['idVendor', 'idProduct', 'serial', 'manufacturer', 'product', 'bDeviceClass', 'bDeviceSubClass', 'bDeviceProtocol', 'bConfigurationValue', 'speed', 'authorized'] as const;

/** Read every device under `<sysfs>/bus/usb/devices`; throws CollectorUnsupported when the host has no USB subsystem. */
export async function readUsbSysfs(sysfs: string): Promise<RawUsbDevice[]> {
  const root = await realRoot(sysfs);
  const dir = usbDevicesDir(sysfs);
  if (!root || !(await resolveInside(root, dir))) throw new CollectorUnsupported(`no USB subsystem (${dir} is absent)`);
  const resolved = new Map<string, string>();
  for (const name of (await listNames(dir)).filter(isDeviceName)) {
    const real = await resolveInside(root, join(dir, name));
    if (real && (await isPlainDir(real))) resolved.set(name, real);
  }
  return Promise.all([...resolved].map(([name, real]) => readDevice(root, name, real, resolved)));
}

async function readDevice(root: string, name: string, dir: string, resolved: Map<string, string>): Promise<RawUsbDevice> {
  const attrs = await Promise.all(DEVICE_ATTRS.map((a) => readCapped(join(dir, a), USB_STRING_MAX)));
  const get = (a: (typeof DEVICE_ATTRS)[number]) => attrs[DEVICE_ATTRS.indexOf(a)] ?? null;
  return {
    name,
    idVendor: get('idVendor'),
    idProduct: get('idProduct'),
    serial: get('serial'),
    manufacturer: get('manufacturer'),
    product: get('product'),
    bDeviceClass: get('bDeviceClass'),
    bDeviceSubClass: get('bDeviceSubClass'),
    bDeviceProtocol: get('bDeviceProtocol'),
    bConfigurationValue: get('bConfigurationValue'),
    speed: get('speed'),
    authorized: get('authorized'),
    descriptors: await readCapped(join(dir, 'descriptors'), USB_DESCRIPTORS_MAX),
    connectType: await readConnectType(root, name, dir, resolved),
    interfaces: await readInterfaces(name, dir),
  };
}

async function readInterfaces(name: string, dir: string): Promise<RawUsbInterface[]> {
  const prefix = `${interfacePrefix(name)}:`;
  const out: RawUsbInterface[] = [];
  for (const n of (await listNames(dir)).filter((x) => x.startsWith(prefix) && isInterfaceName(x))) {
    const i = join(dir, n);
    if (!(await isPlainDir(i))) continue;
    out.push({
      name: n,
      bInterfaceClass: await readCapped(join(i, 'bInterfaceClass'), 64),
      bInterfaceSubClass: await readCapped(join(i, 'bInterfaceSubClass'), 64),
      bInterfaceProtocol: await readCapped(join(i, 'bInterfaceProtocol'), 64),
      driver: await linkBasename(join(i, 'driver')),
    });
  }
  return out;
}

/**
 * The kernel links `<dev>/port` to its port device `<hub>-port<N>`, which lives under the parent hub's
 * interface (`usb1/1-0:1.0/usb1-port1`, `1-1/1-1:1.0/1-1-port2`; drivers/usb/core/port.c) and holds
 * `connect_type`. Follow the link when it stays inside sysfs; otherwise look in the parent hub.
 */
async function readConnectType(root: string, name: string, dir: string, resolved: Map<string, string>): Promise<string | null> {
  const port = await resolveInside(root, join(dir, 'port'));
  if (port) {
    const t = await readCapped(join(port, 'connect_type'), 64);
    if (t) return t.toString('latin1');
  }
  const parent = parentName(name);
  const n = portNumber(name);
  const parentDir = parent ? resolved.get(parent) : undefined;
  if (!parent || n === null || !parentDir) return null;
  const prefix = `${interfacePrefix(parent)}:`;
  for (const i of (await listNames(parentDir)).filter((x) => x.startsWith(prefix) && isInterfaceName(x))) {
    const p = join(parentDir, i, hubPortDirName(parent, n));
    if (!(await isPlainDir(join(parentDir, i))) || !(await isPlainDir(p))) continue;
    const t = await readCapped(join(p, 'connect_type'), 64);
    if (t) return t.toString('latin1');
  }
  return null;
}

export async function linuxUsb(ctx: CollectorContext): Promise<UsbDevice[]> {
  return buildUsbDevices(await readUsbSysfs(ctx.sysfs));
}
