/** The server's own native addons (server/native/<name>, built by `npm ci` with node-gyp). */
import { createRequire } from 'node:module';

const loaded = new Map<string, unknown>();

/**
 * server/native/<name>/build/Release/termguard_<name>.node, from sources (tests) or from dist/;
 * null off Linux or where it was not built (npm --ignore-scripts, no compiler). Loaded once.
 */
export function nativeAddon<T>(name: 'malloc' | 'listen'): T | null {
  if (loaded.has(name)) return loaded.get(name) as T | null;
  let addon: T | null = null;
  if (process.platform === 'linux') {
    const require = createRequire(import.meta.url);
    for (const p of [
      `./native/${name}/build/Release/termguard_${name}.node`, // from server/ (sources, tests)
      `../../server/native/${name}/build/Release/termguard_${name}.node`, // from dist/server/
    ]) {
      try {
        addon = require(p) as T;
        break;
      } catch { /* try the next layout */ }
    }
  }
  loaded.set(name, addon);
  return addon;
}
