/**
 * Windows USB devices from one PowerShell read of the PnP tree (Win32_PnPEntity + three DEVPKEYs),
 * as the JSON Windows PowerShell 5.1 prints: one object instead of a one-element array, null for none.
 *
 * What Windows can and cannot give us, compared with USBGuard on Linux:
 * - vendor/product: from the instance id `USB\VID_0781&PID_5567\…`.
 * - serial: the last part of the instance id, but only when it has no `&` (otherwise Windows made the
 *   id up because the device has no usable iSerialNumber).
 * - product ("name"): DEVPKEY_Device_BusReportedDeviceDesc, the iProduct string.
 * - manufacturer: not available. Win32_PnPEntity.Manufacturer is the driver INF's manufacturer
 *   ("Compatible USB storage device"), not iManufacturer, so it is left null.
 * - classes: Windows exposes one class triple per *function*, through compatible ids:
 *   `USB\DevClass_xx…` + `USB\COMPOSITE` on a composite parent (the device descriptor), and
 *   `USB\Class_xx&SubClass_yy&Prot_zz` on each `…&MI_nn` child (the interface, or the interface
 *   collection's function for IAD devices such as RNDIS or UVC — so a collection's data interface is
 *   not listed separately). A single-function device carries `USB\Class_…` itself: that is its
 *   interface class when bDeviceClass is 0, so it is reported as deviceClass 00 with one interface,
 *   except hubs (09), whose class is the device's.
 * - hash: descriptors are not readable without opening the device, so `hash` is a SHA-256 over
 *   vendor, product and serial only (not USBGuard's descriptor hash; it does not match Linux's).
 * - connect type, speed: not exposed here; `unknown` and null.
 * - authorized: false when ConfigManagerErrorCode is 22 (CM_PROB_DISABLED), true otherwise.
 */
import { createHash } from 'node:crypto';
import type { UsbDevice, UsbInterface } from '../../../shared/usb.js';
import { asArray, int, type Json } from '../util.js';

/** Strings from the device are kept as they are, only capped (4 KiB of UTF-8). */
export const MAX_DEVICE_STRING = 4096;

export function capDeviceString(v: unknown): string | null {
  if (typeof v !== 'string' || v === '') return null;
  const buf = Buffer.from(v, 'utf8');
  if (buf.length <= MAX_DEVICE_STRING) return v;
  // Cut on a code point boundary: drop a trailing partial sequence rather than emit U+FFFD.
  let end = MAX_DEVICE_STRING;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** Identity hash where descriptors cannot be read (Windows, macOS): vendor, product and serial only. */
export function identityHash(vendorId: string, productId: string, serial: string | null): string {
  return createHash('sha256').update(`${vendorId}\0${productId}\0${serial ?? ''}`).digest('base64');
}

export interface InstanceId {
  vendorId: string;
  productId: string;
  /** Interface number of a composite device's child (`&MI_01`), null for the device itself. */
  mi: string | null;
  /** iSerialNumber when Windows used it as the instance part (no `&` in it). */
  serial: string | null;
}

/** `USB\VID_0781&PID_5567\4C530001230522117294` → ids and serial; null for anything else (root hubs, USBSTOR…). */
export function parseInstanceId(id: string): InstanceId | null {
  const m = /^USB\\VID_([0-9A-Fa-f]{4})&PID_([0-9A-Fa-f]{4})(?:&MI_([0-9A-Fa-f]{2}))?\\(.*)$/s.exec(id);
  if (!m) return null;
  const mi = m[3] ? m[3].toLowerCase() : null;
  const tail = m[4]!;
  return {
    vendorId: m[1]!.toLowerCase(),
    productId: m[2]!.toLowerCase(),
    mi,
    serial: mi === null && tail !== '' && !tail.includes('&') ? capDeviceString(tail) : null,
  };
}

interface Triple { class: string; subclass: string; protocol: string }

/** The most specific `USB\Class_…` (or `USB\DevClass_…`) triple among compatible ids. */
export function classTriple(ids: string[], kind: 'Class' | 'DevClass'): Triple | null {
  let best: Triple | null = null;
  let bestParts = 0;
  const re = new RegExp(`^USB\\\\${kind}_([0-9A-Fa-f]{2})(?:&SubClass_([0-9A-Fa-f]{2}))?(?:&Prot_([0-9A-Fa-f]{2}))?$`, 'i');
  for (const id of ids) {
    const m = re.exec(id.trim());
    if (!m) continue;
    const parts = 1 + (m[2] ? 1 : 0) + (m[3] ? 1 : 0);
    if (parts > bestParts) {
      best = { class: m[1]!.toLowerCase(), subclass: (m[2] ?? '00').toLowerCase(), protocol: (m[3] ?? '00').toLowerCase() };
      bestParts = parts;
    }
  }
  return best;
}

/** One row of WIN32_USB_SCRIPT's output. */
interface PnpNode {
  id: string;
  service: string | null;
  errorCode: number | null;
  compatible: string[];
  busDesc: string | null;
  location: string | null;
  parent: string | null;
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v : null;
}

function node(o: Json): PnpNode | null {
  const id = text(o.InstanceId) ?? text(o.PNPDeviceID);
  if (!id) return null;
  return {
    id,
    service: text(o.Service),
    errorCode: int(o.ConfigManagerErrorCode),
    compatible: strings(o.CompatibleID),
    busDesc: capDeviceString(text(o.BusReportedDeviceDesc)),
    location: capDeviceString(text(o.LocationInfo)),
    parent: text(o.Parent),
  };
}

export interface Win32UsbRead {
  devices: UsbDevice[];
  /** USBSTOR / WPD nodes below each USB device (by device id): the disks and portable-device functions it exposes. */
  storageNodes: Map<string, string[]>;
}

/** Parse WIN32_USB_SCRIPT's JSON into devices, composites folded into one device with their children as interfaces. */
export function parseWin32Usb(json: unknown): Win32UsbRead {
  const nodes = asArray(json).map(node).filter((n): n is PnpNode => n !== null);
  const byId = new Map(nodes.map((n) => [n.id.toUpperCase(), n]));
  const parents: PnpNode[] = [];
  const children = new Map<string, PnpNode[]>();
  for (const n of nodes) {
    const parsed = parseInstanceId(n.id);
    if (!parsed) continue;
    if (parsed.mi === null) {
      parents.push(n);
      continue;
    }
    // A child names its composite parent; if the property is missing, the one parent with the same VID/PID.
    let parentKey = n.parent?.toUpperCase() ?? null;
    if (!parentKey || !byId.has(parentKey)) {
      const same = nodes.filter((p) => { const q = parseInstanceId(p.id); return q && q.mi === null && q.vendorId === parsed.vendorId && q.productId === parsed.productId; });
      parentKey = same.length === 1 ? same[0]!.id.toUpperCase() : null;
    }
    if (!parentKey) continue;
    const list = children.get(parentKey) ?? [];
    list.push(n);
    children.set(parentKey, list);
  }

  const devices: UsbDevice[] = [];
  for (const p of parents) {
    const ids = parseInstanceId(p.id)!;
    const kids = (children.get(p.id.toUpperCase()) ?? []).sort((a, b) => (parseInstanceId(a.id)!.mi! < parseInstanceId(b.id)!.mi! ? -1 : 1));
    const composite = kids.length > 0 || p.compatible.some((c) => /^USB\\COMPOSITE$/i.test(c.trim())) || classTriple(p.compatible, 'DevClass') !== null;
    let dev: Triple = { class: '00', subclass: '00', protocol: '00' };
    const interfaces: UsbInterface[] = [];
    if (composite) {
      dev = classTriple(p.compatible, 'DevClass') ?? dev;
      for (const k of kids) {
        const t = classTriple(k.compatible, 'Class');
        if (t) interfaces.push({ ...t, driver: k.service });
      }
    } else {
      const t = classTriple(p.compatible, 'Class');
      if (t) {
        if (t.class === '09') dev = t;
        interfaces.push({ ...t, driver: p.service });
      }
    }
    devices.push({
      id: p.id,
      platform: 'win32',
      vendorId: ids.vendorId,
      productId: ids.productId,
      serial: ids.serial,
      manufacturer: null,
      product: p.busDesc,
      deviceClass: dev.class,
      deviceSubclass: dev.subclass,
      deviceProtocol: dev.protocol,
      interfaces,
      port: p.location,
      parentId: p.parent && /^USB\\/i.test(p.parent) ? p.parent : null,
      connectType: 'unknown',
      hash: identityHash(ids.vendorId, ids.productId, ids.serial),
      parentHash: null,
      authorized: p.errorCode === null ? null : p.errorCode !== 22,
      speed: null,
    });
  }
  const hashById = new Map(devices.map((d) => [d.id.toUpperCase(), d.hash]));
  for (const d of devices) d.parentHash = d.parentId ? hashById.get(d.parentId.toUpperCase()) ?? null : null;

  // Disks (USBSTOR\…) and portable-device nodes (…WPDBUSENUM\…) hang below a USB device or one of its MI_ children.
  const storageNodes = new Map<string, string[]>();
  const deviceIds = new Map(devices.map((d) => [d.id.toUpperCase(), d.id]));
  for (const n of nodes) {
    if (!/^USBSTOR\\|WPDBUSENUM\\/i.test(n.id)) continue;
    let up = n.parent;
    for (let hops = 0; up && hops < 4; hops++) {
      const owner = deviceIds.get(up.toUpperCase());
      if (owner) {
        storageNodes.set(owner, [...(storageNodes.get(owner) ?? []), n.id]);
        break;
      }
      up = byId.get(up.toUpperCase())?.parent ?? null;
    }
  }
  return { devices, storageNodes };
}
