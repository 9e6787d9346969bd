/**
 * macOS USB devices from two reads merged by locationID:
 * - `system_profiler SPUSBDataType -json` (macOS ≤ 15): the device tree (`_items`), names, serials,
 *   speed and the disks of storage devices (`Media[].bsd_name`, `volumes[].bsd_name`). macOS 26
 *   returns an empty SPUSBDataType and has `SPUSBHostDataType` instead (keys `USBDeviceKeyVendorID`,
 *   `USBKeyLocationID`, `USBDeviceKeyLinkSpeed`, `USBKeyHardwareType`…, no Media); both are read.
 * - `ioreg -a -l -w 0 -r -c IOUSBHostDevice` (XML plist, IOService plane): descriptor fields
 *   (bDeviceClass…), the IOUSBHostInterface children with bInterfaceClass and the driver bound to
 *   each, and the IOMedia nodes ("BSD Name") of storage devices. The IOUSB plane is not used: it
 *   holds devices only, not their interfaces.
 *
 * Not available on macOS: `authorized` (null) and the descriptor hash — `hash` is a SHA-256 over
 * vendor, product and serial only, as on Windows.
 */
import type { UsbDevice, UsbInterface } from '../../../shared/usb.js';
import { isDict, type PlistDict, type PlistValue } from '../../checks/darwin/plist.js';
import { capDeviceString, identityHash } from './parse-win32.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** "0x14100000 / 2", "0x01100000" or the integer 336592896 → "0x14100000". */
export function normLocation(v: unknown): string | null {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return '0x' + (v >>> 0).toString(16).padStart(8, '0');
  if (typeof v !== 'string') return null;
  const m = /^\s*0x([0-9a-f]{1,8})\b/i.exec(v);
  return m ? '0x' + m[1]!.toLowerCase().padStart(8, '0') : null;
}

/** "0x0781  (SanDisk Corporation)", "0x1050", "apple_vendor_id" → "0781" / "1050" / "05ac". */
export function spHex4(v: unknown): string | null {
  if (v === 'apple_vendor_id') return '05ac';
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff) return v.toString(16).padStart(4, '0');
  if (typeof v !== 'string') return null;
  const m = /^\s*0x([0-9a-f]{1,4})\b/i.exec(v);
  return m ? m[1]!.toLowerCase().padStart(4, '0') : null;
}

const hex2 = (v: unknown): string | null => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xff ? v.toString(16).padStart(2, '0') : null);

/** A device string from system_profiler: "Not Provided" means there is none. */
function spText(v: unknown): string | null {
  if (typeof v !== 'string' || v.trim() === '' || v === 'Not Provided') return null;
  return capDeviceString(v);
}

/** "high_speed", "480 Mb/s", "5 Gb/s" → Mb/s as a string. */
export function spSpeed(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const named: Record<string, string> = { low_speed: '1.5', full_speed: '12', high_speed: '480', super_speed: '5000', super_speed_plus: '10000' };
  if (named[v]) return named[v]!;
  const m = /^\s*(?:up to\s+)?([\d.]+)\s*([MG])b\/s/i.exec(v);
  if (!m) return null;
  const n = Number(m[1]) * (m[2]!.toUpperCase() === 'G' ? 1000 : 1);
  return Number.isFinite(n) ? String(n) : null;
}

/** IOKit "Device Speed": kUSBDeviceSpeedLow … SuperPlus. */
const IOKIT_SPEED = ['1.5', '12', '480', '5000', '10000'];

/** A BSD disk name we are willing to hand to diskutil as /dev/<name>. */
export const BSD_NAME = /^disk\d+(s\d+)?$/;

export interface DarwinVolume { bsdName: string; content: string | null }
export interface DarwinDisk { bsdName: string; volumes: DarwinVolume[] }

interface SpDevice { loc: string; parentLoc: string | null; node: Obj }

function spDevices(json: unknown): SpDevice[] {
  const out: SpDevice[] = [];
  const walk = (items: unknown, parentLoc: string | null, depth: number) => {
    if (!Array.isArray(items) || depth > 32) return;
    for (const it of items) {
      if (!isObj(it)) continue;
      const isDevice = ('vendor_id' in it || 'USBDeviceKeyVendorID' in it || 'product_id' in it || 'USBDeviceKeyProductID' in it);
      const loc = isDevice ? normLocation(it.location_id ?? it.USBKeyLocationID) : null;
      if (loc) out.push({ loc, parentLoc, node: it });
      walk(it._items, loc ?? (isDevice ? parentLoc : null), depth + 1);
    }
  };
  if (isObj(json)) {
    walk(json.SPUSBDataType, null, 0);
    walk(json.SPUSBHostDataType, null, 0);
  }
  return out;
}

function spDisks(node: Obj): DarwinDisk[] {
  const media = Array.isArray(node.Media) ? node.Media : [];
  const disks: DarwinDisk[] = [];
  for (const m of media) {
    if (!isObj(m) || typeof m.bsd_name !== 'string' || !BSD_NAME.test(m.bsd_name)) continue;
    const volumes = (Array.isArray(m.volumes) ? m.volumes : [])
      .filter((v): v is Obj => isObj(v) && typeof v.bsd_name === 'string' && BSD_NAME.test(v.bsd_name))
      .map((v) => ({ bsdName: v.bsd_name as string, content: typeof v.iocontent === 'string' ? v.iocontent : null }));
    disks.push({ bsdName: m.bsd_name, volumes });
  }
  return disks;
}

interface IoDevice { loc: string; parentLoc: string | null; dict: PlistDict; ifaces: { n: number; iface: UsbInterface }[]; disks: DarwinDisk[] }

const USB_DEVICE_CLASSES = new Set(['IOUSBHostDevice', 'IOUSBDevice']);
const USB_INTERFACE_CLASSES = new Set(['IOUSBHostInterface', 'IOUSBInterface']);
const children = (d: PlistDict): PlistDict[] => (Array.isArray(d.IORegistryEntryChildren) ? d.IORegistryEntryChildren.filter(isDict) : []);

function ioDevices(plist: PlistValue | null): IoDevice[] {
  const found = new Map<string, IoDevice>();
  const order: string[] = [];
  /** Interfaces and media below a device, not crossing into a device behind it (a hub's children). */
  const collect = (d: PlistDict, dev: IoDevice, depth: number) => {
    for (const c of children(d)) {
      if (depth > 64) return;
      const cls = c.IOObjectClass;
      if (typeof cls === 'string' && USB_DEVICE_CLASSES.has(cls)) continue;
      if (typeof cls === 'string' && USB_INTERFACE_CLASSES.has(cls)) {
        const t = [hex2(c.bInterfaceClass), hex2(c.bInterfaceSubClass), hex2(c.bInterfaceProtocol)];
        if (t[0] && t[1] && t[2]) {
          const drv = children(c)[0]?.IOObjectClass;
          dev.ifaces.push({ n: typeof c.bInterfaceNumber === 'number' ? c.bInterfaceNumber : 0, iface: { class: t[0], subclass: t[1], protocol: t[2], driver: typeof drv === 'string' ? drv : null } });
        }
      }
      if (cls === 'IOMedia' && typeof c['BSD Name'] === 'string' && BSD_NAME.test(c['BSD Name'])) {
        const bsd = c['BSD Name'];
        if (c.Whole === true) {
          if (!dev.disks.some((x) => x.bsdName === bsd)) dev.disks.push({ bsdName: bsd, volumes: [] });
        } else {
          const whole = bsd.replace(/s\d+$/, '');
          let disk = dev.disks.find((x) => x.bsdName === whole);
          if (!disk) dev.disks.push(disk = { bsdName: whole, volumes: [] });
          if (!disk.volumes.some((v) => v.bsdName === bsd)) disk.volumes.push({ bsdName: bsd, content: typeof c.Content === 'string' ? c.Content : null });
        }
      }
      collect(c, dev, depth + 1);
    }
  };
  const walk = (v: PlistValue, parentLoc: string | null, depth: number) => {
    if (depth > 128) return;
    if (Array.isArray(v)) { for (const x of v) walk(x, parentLoc, depth + 1); return; }
    if (!isDict(v)) return;
    let here = parentLoc;
    if (typeof v.IOObjectClass === 'string' && USB_DEVICE_CLASSES.has(v.IOObjectClass)) {
      const loc = normLocation(v.locationID);
      if (loc) {
        here = loc;
        const seen = found.get(loc);
        if (seen) {
          seen.parentLoc ??= parentLoc;
        } else {
          const dev: IoDevice = { loc, parentLoc, dict: v, ifaces: [], disks: [] };
          collect(v, dev, 0);
          dev.ifaces.sort((a, b) => a.n - b.n);
          found.set(loc, dev);
          order.push(loc);
        }
      }
    }
    for (const c of children(v)) walk(c, here, depth + 1);
  };
  if (plist !== null) walk(plist, null, 0);
  return order.map((l) => found.get(l)!);
}

export interface DarwinUsbRead {
  devices: UsbDevice[];
  /** Whole disks (and their volumes) of each storage device, by device id: what the enforcer ejects. */
  disks: Map<string, DarwinDisk[]>;
}

const ioText = (d: PlistDict | undefined, ...keys: string[]): string | null => {
  for (const k of keys) {
    const v = d?.[k];
    if (typeof v === 'string' && v !== '') return capDeviceString(v);
  }
  return null;
};

/** Merge system_profiler JSON and the ioreg plist (either may be null) by locationID. */
export function parseDarwinUsb(sp: unknown, io: PlistValue | null): DarwinUsbRead {
  const spList = spDevices(sp);
  const ioList = ioDevices(io);
  const spBy = new Map(spList.map((d) => [d.loc, d]));
  const ioBy = new Map(ioList.map((d) => [d.loc, d]));
  const locs = [...new Set([...spList.map((d) => d.loc), ...ioList.map((d) => d.loc)])];
  const devices: UsbDevice[] = [];
  const disks = new Map<string, DarwinDisk[]>();
  for (const loc of locs) {
    const s = spBy.get(loc)?.node;
    const i = ioBy.get(loc);
    const d = i?.dict;
    const vendorId = spHex4(d?.idVendor) ?? spHex4(s?.vendor_id ?? s?.USBDeviceKeyVendorID);
    const productId = spHex4(d?.idProduct) ?? spHex4(s?.product_id ?? s?.USBDeviceKeyProductID);
    if (!vendorId || !productId) continue;
    const serial = ioText(d, 'USB Serial Number', 'kUSBSerialNumberString') ?? spText(s?.serial_num) ?? spText(s?.USBDeviceKeySerialNumber);
    const spName = s && s._name !== 'hub_device' ? spText(s._name) : null;
    const devClass = [hex2(d?.bDeviceClass), hex2(d?.bDeviceSubClass), hex2(d?.bDeviceProtocol)];
    const hubByName = s?._name === 'hub_device';
    const ioSpeed = typeof d?.['Device Speed'] === 'number' ? IOKIT_SPEED[d['Device Speed']] ?? null : null;
    const builtIn = s?.['Built-in_Device'] === 'Yes' || s?.USBKeyHardwareType === 'Built-in';
    const removable = s?.USBKeyHardwareType === 'Removable';
    const parentLoc = spBy.get(loc)?.parentLoc ?? i?.parentLoc ?? null;
    devices.push({
      id: loc,
      platform: 'darwin',
      vendorId,
      productId,
      serial,
      manufacturer: ioText(d, 'USB Vendor Name', 'kUSBVendorString') ?? spText(s?.manufacturer) ?? spText(s?.USBDeviceKeyVendorName),
      product: ioText(d, 'USB Product Name', 'kUSBProductString') ?? spName,
      deviceClass: devClass[0] ?? (hubByName ? '09' : '00'),
      deviceSubclass: devClass[1] ?? '00',
      deviceProtocol: devClass[2] ?? '00',
      interfaces: i?.ifaces.map((x) => x.iface) ?? [],
      port: loc,
      parentId: parentLoc,
      connectType: builtIn ? 'hardwired' : removable ? 'hotplug' : 'unknown',
      hash: identityHash(vendorId, productId, serial),
      parentHash: null,
      authorized: null,
      speed: spSpeed(s?.device_speed ?? s?.USBDeviceKeyLinkSpeed) ?? ioSpeed,
    });
    const fromSp = s ? spDisks(s) : [];
    const merged = fromSp.length ? fromSp : i?.disks ?? [];
    if (merged.length) disks.set(loc, merged);
  }
  const hashById = new Map(devices.map((x) => [x.id, x.hash]));
  for (const x of devices) {
    if (x.parentId && !hashById.has(x.parentId)) x.parentId = null;
    x.parentHash = x.parentId ? hashById.get(x.parentId) ?? null : null;
  }
  return { devices, disks };
}
