/**
 * A USB device as every platform's collector describes it, and what the rules and the verdict see.
 * The schema is the spec. Strings come from the device itself and are untrusted: they are kept
 * (capped) and rendered inert, never interpreted.
 */
import { z } from 'zod';

const HEX2 = /^[0-9a-f]{2}$/;
const HEX4 = /^[0-9a-f]{4}$/;

export const UsbInterfaceSchema = z.object({
  class: z.string().regex(HEX2).describe('bInterfaceClass, 2 lowercase hex digits (08 mass storage, 03 HID, 06 still image/MTP, 02 CDC, 0a CDC data, e0 wireless/RNDIS, ff vendor)'),
  subclass: z.string().regex(HEX2).describe('bInterfaceSubClass'),
  protocol: z.string().regex(HEX2).describe('bInterfaceProtocol'),
  driver: z.string().nullable().describe('Bound kernel driver / service (usb-storage, usbhid, rndis_host, cdc_ether, option, USBSTOR, HidUsb…)'),
}).describe('One interface of the active configuration');

export const UsbDeviceSchema = z.object({
  id: z.string().describe('Stable key on this host: Linux sysfs name ("1-1.2"), Windows PnP instance id, macOS locationID'),
  platform: z.enum(['linux', 'win32', 'darwin']).describe('Where it was read'),
  vendorId: z.string().regex(HEX4).describe('idVendor, 4 lowercase hex digits'),
  productId: z.string().regex(HEX4).describe('idProduct, 4 lowercase hex digits'),
  serial: z.string().nullable().describe('iSerialNumber string, as the device reports it (capped at 4 KiB)'),
  manufacturer: z.string().nullable().describe('iManufacturer string (capped)'),
  product: z.string().nullable().describe('iProduct string (capped); USBGuard "name"'),
  deviceClass: z.string().regex(HEX2).describe('bDeviceClass (00: see interfaces; 09 hub; ef misc/composite)'),
  deviceSubclass: z.string().regex(HEX2).describe('bDeviceSubClass'),
  deviceProtocol: z.string().regex(HEX2).describe('bDeviceProtocol'),
  interfaces: z.array(UsbInterfaceSchema).describe('Every interface of the active configuration'),
  port: z.string().nullable().describe('Bus/port path, USBGuard "via-port" (Linux "1-1.2"; Windows LocationInformation "Port_#0002.Hub_#0003"; macOS locationID hex)'),
  parentId: z.string().nullable().describe('id of the hub it hangs from (null for a root hub)'),
  connectType: z.enum(['hotplug', 'hardwired', 'unknown']).describe('USBGuard "with-connect-type" (Linux port/connect_type; elsewhere unknown)'),
  hash: z.string().nullable().describe('USBGuard-style identity hash (base64 SHA-256 over vendor, product, serial and descriptors), null if descriptors are unreadable'),
  parentHash: z.string().nullable().describe('hash of the parent device'),
  authorized: z.boolean().nullable().describe('Linux authorized attribute; Windows device enabled; null where not applicable'),
  speed: z.string().nullable().describe('Link speed as reported (e.g. "480" Mb/s)'),
}).describe('One USB device');

export type UsbInterface = z.infer<typeof UsbInterfaceSchema>;
export type UsbDevice = z.infer<typeof UsbDeviceSchema>;

/** Interface classes that make a device "storage" for usb.mode. */
export const STORAGE_CLASSES = new Set(['08', '06']);
/** Interface classes that make a device a network path (CDC comm/data, wireless controller incl. RNDIS, CDC-NCM via 02). */
export const NETWORK_CLASSES = new Set(['02', '0a', 'e0']);
export const HID_CLASS = '03';

/** What a device is, for people and for the verdict. */
export function deviceKinds(d: Pick<UsbDevice, 'interfaces' | 'deviceClass'>): { storage: boolean; hid: boolean; network: boolean; hub: boolean } {
  const classes = new Set(d.interfaces.map((i) => i.class));
  const hasRndis = d.interfaces.some((i) => i.class === 'ef' && i.subclass === '04' && i.protocol === '01'); // RNDIS over misc class
  return {
    storage: [...classes].some((c) => STORAGE_CLASSES.has(c)),
    hid: classes.has(HID_CLASS),
    network: [...classes].some((c) => NETWORK_CLASSES.has(c)) || hasRndis,
    hub: d.deviceClass === '09' || classes.has('09'),
  };
}
