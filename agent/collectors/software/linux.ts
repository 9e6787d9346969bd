import type { SoftwareData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { readText, runText, under } from '../util.js';
import { parseDpkgStatus, parseRpmQa } from './parse.js';

const RPM_FORMAT = '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\n';

export async function linuxSoftware(ctx: CollectorContext): Promise<SoftwareData> {
  // dpkg's database is one text file: reading it costs a few ms, dpkg-query a spawn.
  const status = await readText(under(ctx.root, '/var/lib/dpkg/status'), 64 * 1024 * 1024);
  if (status !== null) return { source: 'dpkg', packages: parseDpkgStatus(status) };
  const out = await runText(ctx, 'rpm', ['-qa', '--queryformat', RPM_FORMAT], { timeoutMs: 60_000 });
  return { source: 'rpm', packages: parseRpmQa(out) };
}
