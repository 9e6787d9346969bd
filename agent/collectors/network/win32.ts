import type { NetworkData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import { parseWin32Network } from './parse.js';

export const WIN32_NETWORK_SCRIPT = [
  '[pscustomobject]@{',
  'Adapters = @(Get-NetAdapter -IncludeHidden | Select-Object Name,InterfaceDescription,InterfaceIndex,MacAddress,Status,PhysicalMediaType,Virtual);',
  'Addresses = @(Get-NetIPAddress | Select-Object InterfaceAlias,IPAddress,AddressFamily,PrefixLength);',
  "Routes = @(Get-NetRoute -DestinationPrefix '0.0.0.0/0','::/0' -ErrorAction SilentlyContinue | Select-Object InterfaceAlias,NextHop,AddressFamily);",
  'Dns = @(Get-DnsClientServerAddress | Select-Object InterfaceAlias,AddressFamily,ServerAddresses)',
  '} | ConvertTo-Json -Depth 4',
].join(' ');

export async function win32Network(ctx: CollectorContext): Promise<NetworkData> {
  return parseWin32Network(await powershell(ctx, WIN32_NETWORK_SCRIPT));
}
