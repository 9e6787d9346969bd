/** Pure parsers for the network collector. */
import type { AddressData, InterfaceData, InterfaceType, NetworkData } from '../../../shared/inventory.js';
import { asArray, int, normMac, str, type Json } from '../util.js';

// ---------- Linux ----------

/** Drivers of USB network functions: phone tethering and USB NICs (usb), cellular modems (cellular). */
const USB_DRIVERS = new Set(['rndis_host', 'cdc_ether', 'cdc_ncm', 'cdc_eem', 'cdc_subset', 'ipheth', 'r8152', 'asix', 'ax88179_178a', 'aqc111', 'smsc95xx', 'lan78xx']);
const CELLULAR_DRIVERS = new Set(['qmi_wwan', 'cdc_mbim', 'option', 'sierra_net', 'huawei_cdc_ncm', 'mhi_net']);

export interface LinuxLinkFacts {
  name: string;
  /** ARPHRD_* from /sys/class/net/<if>/type: 1 ether, 772 loopback, 65534 none (tun), 512 ppp. */
  arpType: number | null;
  wireless: boolean;
  /** Basename of the device/driver link; null for interfaces without a device (veth, bridge, ifb, tun). */
  driver: string | null;
}

export function classifyLinux(f: LinuxLinkFacts): InterfaceType {
  if (f.arpType === 772 || f.name === 'lo') return 'loopback';
  if (f.driver && CELLULAR_DRIVERS.has(f.driver)) return 'cellular';
  if (/^(wwan|wwp)/.test(f.name)) return 'cellular';
  if (f.driver && USB_DRIVERS.has(f.driver)) return 'usb';
  if (f.wireless) return 'wifi';
  if (f.arpType === 512) return 'cellular';
  if (!f.driver) return 'virtual';
  return f.arpType === 1 ? 'ethernet' : 'other';
}

/** `ip -j addr`: addresses per interface name. */
export function parseIpAddr(json: unknown): Map<string, { addresses: AddressData[]; up: boolean }> {
  const out = new Map<string, { addresses: AddressData[]; up: boolean }>();
  for (const l of asArray(json)) {
    const name = str(l.ifname);
    if (!name) continue;
    const flags = Array.isArray(l.flags) ? (l.flags as unknown[]).map(String) : [];
    const addresses: AddressData[] = asArray(l.addr_info).flatMap((a) => {
      const fam = a.family === 'inet' ? 'ipv4' : a.family === 'inet6' ? 'ipv6' : null;
      const address = str(a.local);
      return fam && address ? [{ family: fam, address, prefix: int(a.prefixlen) }] : [];
    });
    out.set(name, { addresses, up: flags.includes('UP') && flags.includes('LOWER_UP') });
  }
  return out;
}

/** `ip -j route show default` / `ip -j -6 route show default`. */
export function parseIpRoute(json: unknown, family: 'ipv4' | 'ipv6'): NetworkData['gateways'] {
  return asArray(json).flatMap((r) => {
    const address = str(r.gateway);
    return address ? [{ family, address, interface: str(r.dev) }] : [];
  });
}

/** resolv.conf `nameserver` lines, in order. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && !out.includes(m[1]!)) out.push(m[1]!);
  }
  return out;
}

// ---------- Windows ----------

/** One PowerShell call returning { Adapters, Addresses, Routes, Dns } (Get-NetAdapter, Get-NetIPAddress, Get-NetRoute, Get-DnsClientServerAddress). */
export function parseWin32Network(json: unknown): NetworkData {
  const o: Json = asArray(json)[0] ?? {};
  const family = (v: unknown): 'ipv4' | 'ipv6' | null => {
    const s = String(v);
    return s === '2' || s === 'IPv4' ? 'ipv4' : s === '23' || s === 'IPv6' ? 'ipv6' : null;
  };
  const addrs = new Map<string, AddressData[]>();
  for (const a of asArray(o.Addresses)) {
    const alias = str(a.InterfaceAlias);
    const fam = family(a.AddressFamily);
    const address = str(a.IPAddress)?.replace(/%\d+$/, '');
    if (!alias || !fam || !address) continue;
    (addrs.get(alias) ?? addrs.set(alias, []).get(alias)!).push({ family: fam, address, prefix: int(a.PrefixLength) });
  }
  const interfaces: InterfaceData[] = asArray(o.Adapters).map((a) => {
    const name = str(a.Name) ?? str(a.InterfaceAlias) ?? 'adapter';
    const desc = str(a.InterfaceDescription);
    return {
      name,
      mac: normMac(str(a.MacAddress)),
      up: String(a.Status) === 'Up' || a.Status === 1,
      type: classifyWin32(str(a.PhysicalMediaType), desc, a.Virtual === true),
      driver: desc,
      addresses: addrs.get(name) ?? [],
    };
  });
  // Loopback has no adapter object but owns addresses.
  for (const [alias, list] of addrs) {
    if (!interfaces.some((i) => i.name === alias)) interfaces.push({ name: alias, mac: null, up: true, type: /loopback/i.test(alias) ? 'loopback' : 'other', driver: null, addresses: list });
  }
  const gateways = asArray(o.Routes).flatMap((r) => {
    const fam = family(r.AddressFamily);
    const address = str(r.NextHop);
    return fam && address && address !== '0.0.0.0' && address !== '::' ? [{ family: fam, address, interface: str(r.InterfaceAlias) }] : [];
  });
  const dns: string[] = [];
  for (const d of asArray(o.Dns)) {
    for (const s of Array.isArray(d.ServerAddresses) ? d.ServerAddresses : [d.ServerAddresses]) {
      const v = str(s);
      if (v && !dns.includes(v)) dns.push(v);
    }
  }
  return { interfaces, gateways, dns };
}

export function classifyWin32(media: string | null, desc: string | null, virtual: boolean): InterfaceType {
  const d = desc ?? '';
  if (/Remote NDIS|RNDIS|USB.*(Ethernet|Tether)|Apple Mobile Device Ethernet|UsbNcm/i.test(d)) return 'usb';
  if (/Wireless WAN|WWAN|Mobile Broadband/i.test(`${media} ${d}`)) return 'cellular';
  if (/802\.11|Wi-?Fi|Wireless/i.test(`${media} ${d}`)) return 'wifi';
  if (virtual || /Hyper-V|Virtual|VPN|TAP-|WAN Miniport|Loopback/i.test(d)) return /Loopback/i.test(d) ? 'loopback' : 'virtual';
  if (media === '802.3') return 'ethernet';
  return 'other';
}

// ---------- macOS ----------

/** `ifconfig -a`. */
export function parseIfconfig(text: string): { name: string; mac: string | null; up: boolean; flags: string[]; addresses: AddressData[]; active: boolean | null }[] {
  const out: ReturnType<typeof parseIfconfig> = [];
  let cur: (typeof out)[number] | undefined;
  for (const line of text.split('\n')) {
    const head = /^([a-zA-Z0-9]+): flags=\w+<([^>]*)>/.exec(line);
    if (head) {
      cur = { name: head[1]!, mac: null, up: false, flags: head[2] ? head[2].split(',') : [], addresses: [], active: null };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const t = line.trim();
    let m: RegExpExecArray | null;
    if ((m = /^ether\s+(\S+)/.exec(t))) cur.mac = normMac(m[1]);
    else if ((m = /^inet\s+(\S+)\s+netmask\s+(0x[0-9a-f]+|[\d.]+)/i.exec(t))) cur.addresses.push({ family: 'ipv4', address: m[1]!, prefix: maskToPrefix(m[2]!) });
    else if ((m = /^inet6\s+(\S+)\s+prefixlen\s+(\d+)/.exec(t))) cur.addresses.push({ family: 'ipv6', address: m[1]!.replace(/%.*$/, ''), prefix: Number(m[2]) });
    else if ((m = /^status:\s+(\w+)/.exec(t))) cur.active = m[1] === 'active';
  }
  for (const i of out) i.up = i.flags.includes('UP') && i.flags.includes('RUNNING') && i.active !== false;
  return out;
}

export function maskToPrefix(mask: string): number | null {
  let n: number;
  if (mask.startsWith('0x')) n = parseInt(mask, 16);
  else {
    const p = mask.split('.').map(Number);
    if (p.length !== 4 || p.some((x) => !(x >= 0 && x <= 255))) return null;
    n = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
  }
  let bits = 0;
  while (n & 0x80000000) { bits++; n = (n << 1) >>> 0; }
  return n === 0 ? bits : null;
}

/** `networksetup -listallhardwareports`: device → hardware port name ("Wi-Fi", "iPhone USB", "Thunderbolt Ethernet"). */
export function parseHardwarePorts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let port: string | null = null;
  for (const line of text.split('\n')) {
    const p = /^Hardware Port:\s*(.+)$/.exec(line.trim());
    if (p) port = p[1]!;
    const d = /^Device:\s*(\S+)/.exec(line.trim());
    if (d && port) out.set(d[1]!, port);
  }
  return out;
}

export function classifyDarwin(name: string, port: string | null, flags: string[]): InterfaceType {
  if (flags.includes('LOOPBACK') || /^lo\d/.test(name)) return 'loopback';
  if (port) {
    if (/Wi-?Fi|AirPort/i.test(port)) return 'wifi';
    if (/iPhone|iPad|Android|RNDIS|USB/i.test(port)) return 'usb';
    if (/WWAN|Cellular|Modem/i.test(port)) return 'cellular';
    if (/Ethernet|LAN|Thunderbolt/i.test(port)) return /Bridge/i.test(port) ? 'virtual' : 'ethernet';
  }
  if (/^(utun|gif|stf|bridge|awdl|llw|ap|p2p|vmnet|anpi|XHC|VHC|ipsec|ppp)\d*/.test(name)) return 'virtual';
  if (/^en\d/.test(name)) return 'ethernet';
  return 'other';
}

/** `netstat -rn -f inet`: rows whose destination is `default`. */
export function parseNetstatDefault(text: string, family: 'ipv4' | 'ipv6' = 'ipv4'): NetworkData['gateways'] {
  const out: NetworkData['gateways'] = [];
  const lines = text.split('\n');
  const header = lines.find((l) => /^Destination\s+Gateway/.test(l));
  const cols = header ? header.trim().split(/\s+/) : [];
  const netifAt = cols.indexOf('Netif');
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'default' || !f[1] || f[1].startsWith('link#')) continue;
    out.push({ family, address: f[1].replace(/%.*$/, ''), interface: (netifAt >= 0 ? f[netifAt] : undefined) ?? null });
  }
  return out;
}

/** `scutil --dns`: nameserver[n] lines of every resolver, in order, de-duplicated. */
export function parseScutilDns(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\[\d+\]\s*:\s*(\S+)/.exec(line);
    if (m && !out.includes(m[1]!)) out.push(m[1]!);
  }
  return out;
}
