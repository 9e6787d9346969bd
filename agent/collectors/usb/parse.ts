/**
 * Pure parsers for the Linux USB collector: sysfs names, attribute values, the binary `descriptors`
 * attribute and the identity hash. linux.ts reads the bytes; everything here takes bytes or text in.
 */
import { createHash } from 'node:crypto';
import type { UsbDevice, UsbInterface } from '../../../shared/usb.js';

/** Cap on every string attribute (sysfs itself never returns more than one 4 KiB page). */
export const USB_STRING_MAX = 4096;
/** Cap on the `descriptors` attribute: device descriptor + every configuration (wTotalLength ≤ 64 KiB each, rarely > 1 KiB). */
export const USB_DESCRIPTORS_MAX = 256 * 1024;

const ROOT_HUB = /^usb(\d+)$/;
const DEVICE = /^(\d+)-(\d+(?:\.\d+)*)$/;
const INTERFACE = /^(\d+-\d+(?:\.\d+)*|\d+-0):(\d+)\.(\d+)$/;

/** A device directory name: `usb1` (root hub), `1-1`, `1-1.2` … Never `..`, never a `/`. */
export function isDeviceName(name: string): boolean {
  return name.length <= 64 && (ROOT_HUB.test(name) || DEVICE.test(name));
}

/** An interface directory name `<dev>:<config>.<n>`; a root hub's interfaces are `<bus>-0:1.0`. */
export function isInterfaceName(name: string): boolean {
  return name.length <= 80 && INTERFACE.test(name);
}

/** The hub a device hangs from, by its name: `1-1.2` → `1-1`, `1-1` → `usb1`, `usb1` → null. */
export function parentName(name: string): string | null {
  const m = DEVICE.exec(name);
  if (!m) return null;
  const dot = m[2]!.lastIndexOf('.');
  return dot < 0 ? `usb${m[1]}` : `${m[1]}-${m[2]!.slice(0, dot)}`;
}

/** Port number on the parent hub: the last number of the name (`1-1.2` → 2); null for a root hub. */
export function portNumber(name: string): number | null {
  const m = DEVICE.exec(name);
  if (!m) return null;
  return Number(m[2]!.split('.').pop());
}

/** Prefix of a device's interface directories: `1-1.2` → `1-1.2`, root hub `usb3` → `3-0`. */
export function interfacePrefix(name: string): string {
  const m = ROOT_HUB.exec(name);
  return m ? `${m[1]}-0` : name;
}

/** The kernel's port device under the parent hub's interface: `<hub>-port<N>` (drivers/usb/core/port.c). */
export function hubPortDirName(parent: string, port: number): string {
  return `${parent}-port${port}`;
}

/** Order devices as people read a tree: bus, then port path numerically, root hub first. */
export function compareDeviceNames(a: string, b: string): number {
  const key = (n: string): number[] => {
    const r = ROOT_HUB.exec(n);
    if (r) return [Number(r[1]), -1];
    const m = DEVICE.exec(n);
    return m ? [Number(m[1]), ...m[2]!.split('.').map(Number)] : [Number.MAX_SAFE_INTEGER];
  };
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
    const x = ka[i] ?? -2;
    const y = kb[i] ?? -2;
    if (x !== y) return x - y;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Bytes of a string attribute without the one newline sysfs appends, capped. */
export function attrBytes(raw: Buffer | null): Buffer | null {
  if (!raw) return null;
  let b = raw.subarray(0, USB_STRING_MAX);
  if (b.length < USB_STRING_MAX && b[b.length - 1] === 0x0a) b = b.subarray(0, b.length - 1);
  return b;
}

/** A device string (serial, manufacturer, product): kept as reported, capped at 4 KiB, invalid UTF-8 replaced; empty → null. */
export function decodeUsbString(raw: Buffer | null): string | null {
  const b = attrBytes(raw);
  if (!b || b.length === 0) return null;
  // A cut in the middle of a multi-byte sequence decodes to U+FFFD; the result stays ≤ 4 KiB of input.
  return new TextDecoder('utf-8', { fatal: false }).decode(b);
}

function text(raw: Buffer | null): string | null {
  if (!raw) return null;
  const t = raw.subarray(0, 256).toString('latin1').trim();
  return t ? t : null;
}

/** `idVendor` / `idProduct` as 4 lowercase hex digits, or null. */
export function hex4(raw: Buffer | null): string | null {
  const t = text(raw)?.toLowerCase().replace(/^0x/, '');
  return t && /^[0-9a-f]{1,4}$/.test(t) ? t.padStart(4, '0') : null;
}

/** `bDeviceClass` & co. as 2 lowercase hex digits, or null. */
export function hex2(raw: Buffer | null): string | null {
  const t = text(raw)?.toLowerCase().replace(/^0x/, '');
  return t && /^[0-9a-f]{1,2}$/.test(t) ? t.padStart(2, '0') : null;
}

/** `port/connect_type`: hotplug, hardwired; "not used", "unknown" and anything else → unknown. */
export function parseConnectType(raw: string | null): UsbDevice['connectType'] {
  const t = raw?.trim();
  return t === 'hotplug' || t === 'hardwired' ? t : 'unknown';
}

export function parseAuthorized(raw: Buffer | null): boolean | null {
  const t = text(raw);
  return t === '1' ? true : t === '0' ? false : null;
}

const h2 = (n: number) => n.toString(16).padStart(2, '0');
const h4 = (n: number) => n.toString(16).padStart(4, '0');

export interface ParsedDescriptors {
  device: { bcdUSB: string; deviceClass: string; deviceSubclass: string; deviceProtocol: string; vendorId: string; productId: string; bcdDevice: string; numConfigurations: number } | null;
  configurations: { value: number; interfaces: { number: number; alternate: number; class: string; subclass: string; protocol: string }[] }[];
}

/**
 * The `descriptors` attribute: the 18-byte device descriptor followed by every configuration's full
 * descriptor set (Documentation/ABI/stable/sysfs-bus-usb), multi-byte fields little-endian. Walks
 * bLength/bDescriptorType records with bounds checks; a malformed tail ends the walk.
 */
export function parseDescriptors(buf: Buffer | null): ParsedDescriptors {
  const out: ParsedDescriptors = { device: null, configurations: [] };
  if (!buf || buf.length < 18 || buf[0]! < 18 || buf[1] !== 0x01) return out;
  out.device = {
    bcdUSB: h4(buf.readUInt16LE(2)),
    deviceClass: h2(buf[4]!),
    deviceSubclass: h2(buf[5]!),
    deviceProtocol: h2(buf[6]!),
    vendorId: h4(buf.readUInt16LE(8)),
    productId: h4(buf.readUInt16LE(10)),
    bcdDevice: h4(buf.readUInt16LE(12)),
    numConfigurations: buf[17]!,
  };
  let off = buf[0]!;
  let cur: ParsedDescriptors['configurations'][number] | undefined;
  while (off + 2 <= buf.length) {
    const len = buf[off]!;
    const type = buf[off + 1]!;
    if (len < 2 || off + len > buf.length) break;
    if (type === 0x02 && len >= 9) {
      cur = { value: buf[off + 5]!, interfaces: [] };
      out.configurations.push(cur);
    } else if (type === 0x04 && len >= 9 && cur) {
      cur.interfaces.push({ number: buf[off + 2]!, alternate: buf[off + 3]!, class: h2(buf[off + 5]!), subclass: h2(buf[off + 6]!), protocol: h2(buf[off + 7]!) });
    }
    off += len;
  }
  return out;
}

/**
 * termguard's device identity hash, base64 of
 *   SHA-256( idVendor ‖ 0x00 ‖ idProduct ‖ 0x00 ‖ serial ‖ 0x00 ‖ descriptors )
 * where idVendor/idProduct are the 4 lowercase hex digits, serial the bytes of the sysfs `serial`
 * attribute without its newline (empty when the device has none, capped at 4 KiB) and descriptors
 * the raw bytes of the `descriptors` attribute. Null when descriptors are unreadable.
 * Not USBGuard's hash: USBGuard hashes the product *name* too and concatenates its fields without
 * separators (DevicePrivate::initializeHash), so the two never match; do not compare them.
 */
export function usbHash(vendorId: string, productId: string, serial: Buffer | null, descriptors: Buffer | null): string | null {
  if (!descriptors || descriptors.length === 0) return null;
  const sep = Buffer.from([0]);
  return createHash('sha256')
    .update(vendorId).update(sep)
    .update(productId).update(sep)
    .update(serial ?? Buffer.alloc(0)).update(sep)
    .update(descriptors)
    .digest('base64');
}

/** What linux.ts read for one interface directory. */
export interface RawUsbInterface {
  name: string;
  bInterfaceClass: Buffer | null;
  bInterfaceSubClass: Buffer | null;
  bInterfaceProtocol: Buffer | null;
  /** Basename of the `driver` link; null when unbound. */
  driver: string | null;
}

/** What linux.ts read for one device directory (each attribute's bytes, capped; null when absent). */
export interface RawUsbDevice {
  name: string;
  idVendor: Buffer | null;
  idProduct: Buffer | null;
  serial: Buffer | null;
  manufacturer: Buffer | null;
  product: Buffer | null;
  bDeviceClass: Buffer | null;
  bDeviceSubClass: Buffer | null;
  bDeviceProtocol: Buffer | null;
  bConfigurationValue: Buffer | null;
  speed: Buffer | null;
  authorized: Buffer | null;
  descriptors: Buffer | null;
  /** Text of the port's connect_type; null when there is no port (root hub) or it is unreadable. */
  connectType: string | null;
  interfaces: RawUsbInterface[];
}

function ifaceNumber(name: string): number {
  const m = INTERFACE.exec(name);
  return m ? Number(m[3]) : Number.MAX_SAFE_INTEGER;
}

/**
 * Interfaces from the interface directories; when there are none — the kernel removes them when a
 * device is deauthorised or unconfigured — from the descriptors of the active (else the first)
 * configuration, alternate setting 0, without a driver. So a blocked stick still reads as storage.
 */
export function interfacesOf(raw: RawUsbDevice): UsbInterface[] {
  const fromDirs = [...raw.interfaces]
    .sort((a, b) => ifaceNumber(a.name) - ifaceNumber(b.name) || (a.name < b.name ? -1 : 1))
    .flatMap((i) => {
      const cls = hex2(i.bInterfaceClass);
      const sub = hex2(i.bInterfaceSubClass);
      const proto = hex2(i.bInterfaceProtocol);
      return cls && sub && proto ? [{ class: cls, subclass: sub, protocol: proto, driver: i.driver }] : [];
    });
  if (fromDirs.length) return fromDirs;
  const d = parseDescriptors(raw.descriptors);
  const active = Number(text(raw.bConfigurationValue));
  const config = d.configurations.find((c) => c.value === active) ?? d.configurations[0];
  return (config?.interfaces ?? []).filter((i) => i.alternate === 0).map((i) => ({ class: i.class, subclass: i.subclass, protocol: i.protocol, driver: null }));
}

/** One device, or null while it is still enumerating (no vendor/product id yet). */
export function toUsbDevice(raw: RawUsbDevice): Omit<UsbDevice, 'parentHash'> | null {
  const desc = parseDescriptors(raw.descriptors).device;
  const vendorId = hex4(raw.idVendor) ?? desc?.vendorId ?? null;
  const productId = hex4(raw.idProduct) ?? desc?.productId ?? null;
  const deviceClass = hex2(raw.bDeviceClass) ?? desc?.deviceClass ?? null;
  const deviceSubclass = hex2(raw.bDeviceSubClass) ?? desc?.deviceSubclass ?? null;
  const deviceProtocol = hex2(raw.bDeviceProtocol) ?? desc?.deviceProtocol ?? null;
  if (!vendorId || !productId || !deviceClass || !deviceSubclass || !deviceProtocol) return null;
  const serialBytes = attrBytes(raw.serial);
  return {
    id: raw.name,
    platform: 'linux',
    vendorId,
    productId,
    serial: decodeUsbString(raw.serial),
    manufacturer: decodeUsbString(raw.manufacturer),
    product: decodeUsbString(raw.product),
    deviceClass,
    deviceSubclass,
    deviceProtocol,
    interfaces: interfacesOf(raw),
    port: raw.name,
    parentId: parentName(raw.name),
    connectType: parseConnectType(raw.connectType),
    hash: usbHash(vendorId, productId, serialBytes, raw.descriptors),
    authorized: parseAuthorized(raw.authorized),
    speed: text(raw.speed),
  };
}

/** Every device of one read, in tree order, each with its parent's hash. */
export function buildUsbDevices(raws: RawUsbDevice[]): UsbDevice[] {
  const devices = raws.flatMap((r) => {
    const d = toUsbDevice(r);
    return d ? [d] : [];
  }).sort((a, b) => compareDeviceNames(a.id, b.id));
  const hashes = new Map(devices.map((d) => [d.id, d.hash]));
  return devices.map((d) => ({ ...d, parentHash: d.parentId ? hashes.get(d.parentId) ?? null : null }));
}

/** Devices that appeared and disappeared between two reads, keyed by `id`; a changed hash at the same id counts as both. */
export function diffUsbDevices(prev: UsbDevice[], next: UsbDevice[]): { attached: UsbDevice[]; detached: UsbDevice[] } {
  const before = new Map(prev.map((d) => [d.id, d]));
  const after = new Map(next.map((d) => [d.id, d]));
  const same = (a: UsbDevice, b: UsbDevice) => a.hash === b.hash && a.vendorId === b.vendorId && a.productId === b.productId && a.serial === b.serial;
  const attached = next.filter((d) => {
    const old = before.get(d.id);
    return !old || !same(old, d);
  });
  const detached = prev.filter((d) => {
    const now = after.get(d.id);
    return !now || !same(now, d);
  });
  return { attached, detached };
}
