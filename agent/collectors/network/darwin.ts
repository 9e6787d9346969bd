import type { NetworkData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { runText } from '../util.js';
import { classifyDarwin, parseHardwarePorts, parseIfconfig, parseNetstatDefault, parseScutilDns } from './parse.js';

export async function darwinNetwork(ctx: CollectorContext): Promise<NetworkData> {
  const ifs = parseIfconfig(await runText(ctx, 'ifconfig', ['-a']));
  // Hardware port names are what tell Wi-Fi and iPhone tethering apart from Ethernet; optional.
  const ports = parseHardwarePorts(await runText(ctx, 'networksetup', ['-listallhardwareports']).catch(() => ''));
  const gateways = parseNetstatDefault(await runText(ctx, 'netstat', ['-rn', '-f', 'inet']).catch(() => ''));
  const dns = parseScutilDns(await runText(ctx, 'scutil', ['--dns']).catch(() => ''));
  return {
    interfaces: ifs.map((i) => ({ name: i.name, mac: i.mac, up: i.up, type: classifyDarwin(i.name, ports.get(i.name) ?? null, i.flags), driver: ports.get(i.name) ?? null, addresses: i.addresses })),
    gateways,
    dns,
  };
}
