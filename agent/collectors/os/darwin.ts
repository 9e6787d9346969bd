import type { OsData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { runText } from '../util.js';
import { parseDarwinSysctl, parseSwVers } from './parse.js';

export async function darwinOs(ctx: CollectorContext): Promise<OsData> {
  const sw = parseSwVers(await runText(ctx, 'sw_vers', []));
  const sys = parseDarwinSysctl(await runText(ctx, 'sysctl', ['-n', 'kern.osrelease', 'kern.boottime', 'hw.machine', 'kern.hostname']).catch(() => ''));
  return { platform: 'darwin', name: sw.ProductName ?? 'macOS', version: sw.ProductVersion ?? null, build: sw.BuildVersion ?? null, ...sys };
}
