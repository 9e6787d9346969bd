import { basename, join } from 'node:path';
import type { InterfaceData, NetworkData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { isDir, linkTarget, listDir, normMac, parseJson, readText, runText, trimmed, under } from '../util.js';
import { classifyLinux, parseIpAddr, parseIpRoute, parseResolvConf } from './parse.js';

export async function linuxNetwork(ctx: CollectorContext): Promise<NetworkData> {
  const ipAddr = parseIpAddr(parseJson(await runText(ctx, 'ip', ['-j', 'addr']), 'ip -j addr'));
  const classNet = join(ctx.sysfs, 'class/net');
  const names = new Set([...(await listDir(classNet)), ...ipAddr.keys()]);
  const interfaces: InterfaceData[] = [];
  for (const name of [...names].sort()) {
    const dir = join(classNet, name);
    const driverLink = await linkTarget(join(dir, 'device/driver'));
    const driver = driverLink ? basename(driverLink) : null;
    const arp = Number(await trimmed(join(dir, 'type')));
    const oper = await trimmed(join(dir, 'operstate'));
    const ip = ipAddr.get(name);
    interfaces.push({
      name,
      mac: normMac(await trimmed(join(dir, 'address'))),
      up: oper === 'up' || (oper === 'unknown' && (ip?.up ?? false)) || (oper === null && (ip?.up ?? false)),
      type: classifyLinux({ name, arpType: Number.isFinite(arp) && arp > 0 ? arp : null, wireless: await isDir(join(dir, 'wireless')), driver }),
      driver,
      addresses: ip?.addresses ?? [],
    });
  }
  const route = async (args: string[], family: 'ipv4' | 'ipv6') => {
    try {
      return parseIpRoute(parseJson(await runText(ctx, 'ip', args), 'ip route'), family);
    } catch {
      return []; // no IPv6 on the host is not an error
    }
  };
  const gateways = [...(await route(['-j', 'route', 'show', 'default'], 'ipv4')), ...(await route(['-j', '-6', 'route', 'show', 'default'], 'ipv6'))];
  return { interfaces, gateways, dns: parseResolvConf((await readText(under(ctx.root, '/etc/resolv.conf'))) ?? '') };
}
