import { join } from 'node:path';
import type { OsData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { readRequired, readText, runText, trimmed, under } from '../util.js';
import { parseBtime, parseOsRelease } from './parse.js';

export async function linuxOs(ctx: CollectorContext): Promise<OsData> {
  const rel = parseOsRelease((await readText(under(ctx.root, '/etc/os-release'))) ?? (await readRequired(under(ctx.root, '/usr/lib/os-release'))));
  // /proc/sys/kernel/arch exists since Linux 6.1; older kernels need one `uname -m`.
  let arch = await trimmed(join(ctx.procfs, 'sys/kernel/arch'));
  if (!arch) arch = (await runText(ctx, 'uname', ['-m']).catch(() => '')).trim() || null;
  return {
    platform: 'linux',
    name: rel.NAME ?? rel.ID ?? 'Linux',
    version: rel.VERSION_ID ?? rel.VERSION ?? null,
    build: rel.BUILD_ID ?? rel.VERSION_CODENAME ?? null,
    kernel: await trimmed(join(ctx.procfs, 'sys/kernel/osrelease')),
    arch,
    hostname: await trimmed(join(ctx.procfs, 'sys/kernel/hostname')),
    bootTime: parseBtime((await readText(join(ctx.procfs, 'stat'))) ?? ''),
  };
}
