/**
 * Address assignment (art26): a terminal must use addresses from the ranges the institution
 * assigned (policy `network.assigned`). Loopback and link-local addresses are the host's own
 * business and never count. An empty list means the policy does not constrain addresses.
 */
import { BlockList, isIP } from 'node:net';
import { parseDestination } from '../../shared/policy.js';
import type { NetworkData } from '../../shared/inventory.js';

export interface Unassigned {
  interface: string;
  address: string;
  family: 'ipv4' | 'ipv6';
}

function ranges(assigned: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of assigned) {
    const d = parseDestination(cidr);
    if (d) list.addSubnet(d.address, d.prefix, d.family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

const ignored = new BlockList();
ignored.addSubnet('127.0.0.0', 8, 'ipv4');
ignored.addSubnet('169.254.0.0', 16, 'ipv4');
ignored.addAddress('::1', 'ipv6');
ignored.addSubnet('fe80::', 10, 'ipv6');

export function unassignedAddresses(network: NetworkData, assigned: string[]): Unassigned[] {
  if (!assigned.length) return [];
  const allowed = ranges(assigned);
  const out: Unassigned[] = [];
  for (const iface of network.interfaces) {
    if (iface.type === 'loopback') continue;
    for (const a of iface.addresses) {
      const family = isIP(a.address) === 6 ? 'ipv6' : 'ipv4';
      if (ignored.check(a.address, family) || allowed.check(a.address, family)) continue;
      out.push({ interface: iface.name, address: a.address, family });
    }
  }
  return out.sort((x, y) => `${x.interface} ${x.address}`.localeCompare(`${y.interface} ${y.address}`));
}
