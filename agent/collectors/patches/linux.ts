import { join } from 'node:path';
import type { PatchesData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { isDir, listDir, mtime, runText, under } from '../util.js';
import { newest, parseAptSimulate, parseDnfUpdateinfo } from './parse.js';

/** Newest mtime of the files directly in a folder: when the local package lists were last refreshed. */
async function newestIn(dir: string): Promise<string | null> {
  const names = (await listDir(dir)).filter((n) => n !== 'lock' && n !== 'partial' && n !== 'auxfiles');
  return newest(await Promise.all(names.map((n) => mtime(join(dir, n)))));
}

export async function linuxPatches(ctx: CollectorContext): Promise<PatchesData> {
  if (await isDir(under(ctx.root, '/var/lib/dpkg'))) {
    // A simulation over the local lists: no lock, no download (never `apt-get update` — art29).
    const out = await runText(ctx, 'apt-get', ['-s', '-o', 'Debug::NoLocking=1', 'upgrade'], { timeoutMs: 120_000, maxBytes: 32 * 1024 * 1024 });
    const pending = parseAptSimulate(out);
    return {
      source: 'apt',
      installed: [],
      pending,
      pendingSecurity: pending.filter((p) => p.security).length,
      metadataUpdatedAt: await newestIn(under(ctx.root, '/var/lib/apt/lists')),
      lastChangeAt: newest([await mtime(under(ctx.root, '/var/lib/dpkg/status'))]),
    };
  }
  // --cacheonly: answer from the local metadata cache or fail, never fetch.
  const out = await runText(ctx, 'dnf', ['--cacheonly', '-q', 'updateinfo', 'list', '--security'], { timeoutMs: 120_000 });
  const pending = parseDnfUpdateinfo(out);
  return {
    source: 'dnf',
    installed: [],
    pending,
    pendingSecurity: pending.filter((p) => p.security).length,
    metadataUpdatedAt: await newestIn(under(ctx.root, '/var/cache/dnf')),
    lastChangeAt: newest([await mtime(under(ctx.root, '/var/lib/rpm'))]),
  };
}
