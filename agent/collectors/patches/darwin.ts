import type { PatchesData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { mtime, parseJson, runText, under } from '../util.js';
import { newest as newestOf, parseInstallHistory, parseRecommendedUpdates } from './parse.js';

const PREFS = '/Library/Preferences/com.apple.SoftwareUpdate';

export async function darwinPatches(ctx: CollectorContext): Promise<PatchesData> {
  const installed = parseInstallHistory(parseJson(await runText(ctx, 'system_profiler', ['SPInstallHistoryDataType', '-json'], { timeoutMs: 60_000 }), 'system_profiler'));
  // What the last scheduled check recorded; `softwareupdate -l` would go online (art29).
  const r = await ctx.run('defaults', ['read', PREFS, 'RecommendedUpdates']);
  const known = !r.error && r.code === 0;
  const pending = known ? parseRecommendedUpdates(r.stdout) : [];
  const prefs = await mtime(under(ctx.root, `${PREFS}.plist`));
  return {
    source: 'softwareupdate',
    installed,
    pending,
    pendingSecurity: known || /does not exist/.test(r.stderr) ? pending.filter((p) => p.security).length : null,
    metadataUpdatedAt: newestOf([prefs]),
    lastChangeAt: installed[0]?.installedAt ?? null,
  };
}
