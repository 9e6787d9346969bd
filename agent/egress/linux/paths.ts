/**
 * Linux network paths from files only (no spawn, cheap enough to read every second): interfaces
 * from `<sysfs>/class/net`, default routes from `<procfs>/net/route` and `ipv6_route`, proxies from
 * the agent's environment and `/etc/environment`.
 */
import { readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { classifyLinux } from '../../collectors/network/parse.js';
import { decodeAddress } from '../../collectors/listening/parse.js';
import { envProxies, parseEnvironmentFile, type DefaultRoute, type IfaceState, type PathSnapshot, type UsbOrigin } from '../paths.js';

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The USB device an interface sits on: the nearest ancestor of its `device` with an `idVendor`. */
export function usbOrigin(sysfs: string, ifaceDir: string): UsbOrigin | null {
  let dir: string;
  let root: string;
  try {
    root = realpathSync(sysfs);
    dir = realpathSync(join(ifaceDir, 'device'));
  } catch {
    return null;
  }
  for (let i = 0; i < 8 && dir.startsWith(root + '/') && dir !== root; i++, dir = dirname(dir)) {
    const vendor = read(join(dir, 'idVendor'));
    if (vendor === null) continue;
    return {
      busid: basename(dir), vendorId: vendor, productId: read(join(dir, 'idProduct')),
      manufacturer: read(join(dir, 'manufacturer')), product: read(join(dir, 'product')), serial: read(join(dir, 'serial')),
    };
  }
  return null;
}

export function readInterfaces(sysfs: string): IfaceState[] {
  const classNet = join(sysfs, 'class/net');
  let names: string[];
  try {
    names = readdirSync(classNet).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const dir = join(classNet, name);
    let driver: string | null = null;
    try { driver = basename(readlinkSync(join(dir, 'device/driver'))); } catch { /* virtual */ }
    const arp = Number(read(join(dir, 'type')));
    let wireless = false;
    try { wireless = statSync(join(dir, 'wireless')).isDirectory(); } catch { /* wired */ }
    const oper = read(join(dir, 'operstate'));
    // `unknown` is what tun, ppp and many modems report while carrying traffic: the IFF_UP flag decides.
    const flags = Number.parseInt(read(join(dir, 'flags')) ?? '0', 16);
    const up = oper === 'up' || (oper === 'unknown' && (flags & 1) === 1);
    const type = classifyLinux({ name, arpType: Number.isFinite(arp) && arp > 0 ? arp : null, wireless, driver });
    return { name, type, up, driver, usb: driver ? usbOrigin(sysfs, dir) : null };
  });
}

/**
 * `/proc/net/route` (IPv4: Iface Destination Gateway Flags … Mask, hex in host byte order) and
 * `/proc/net/ipv6_route` (dest destlen src srclen next_hop metric refcnt use flags dev): default routes
 * that are up (RTF_UP) and not reject routes (RTF_REJECT), loopback excluded.
 */
export function parseDefaultRoutes(route: string, ipv6Route: string): DefaultRoute[] {
  const out: DefaultRoute[] = [];
  for (const line of route.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const flags = parseInt(f[3]!, 16);
    if (f[1] !== '00000000' || f[7] !== '00000000' || !(flags & 0x1) || flags & 0x200) continue;
    out.push({ family: 4, interface: f[0]!, gateway: f[2] === '00000000' ? null : decodeAddress(f[2]!) });
  }
  for (const line of ipv6Route.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[9] === 'lo') continue;
    const flags = parseInt(f[8]!, 16);
    if (!/^0{32}$/.test(f[0]!) || f[1] !== '00' || !(flags & 0x1) || flags & 0x200) continue;
    // ipv6_route prints addresses in network order (not per 32-bit word like /proc/net/tcp6).
    const hop = f[4]!;
    const gateway = /^0{32}$/.test(hop) ? null : hop.match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
    out.push({ family: 6, interface: f[9]!, gateway });
  }
  return out;
}

export function readLinuxPaths(sysfs: string, procfs: string, root = '/', env: NodeJS.ProcessEnv = process.env): PathSnapshot {
  const routes = parseDefaultRoutes(read(join(procfs, 'net/route')) ?? '', read(join(procfs, 'net/ipv6_route')) ?? '');
  const etcEnv = read(join(root, 'etc/environment'));
  return {
    interfaces: readInterfaces(sysfs),
    defaultRoutes: routes,
    proxies: [...envProxies(env), ...(etcEnv ? envProxies(parseEnvironmentFile(etcEnv), '/etc/environment') : [])],
  };
}
