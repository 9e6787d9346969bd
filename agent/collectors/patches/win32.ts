import type { PatchesData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import { parseHotfixes } from './parse.js';

export const WIN32_HOTFIX_SCRIPT = 'Get-HotFix | Select-Object HotFixID,Description,InstalledOn | ConvertTo-Json';

export async function win32Patches(ctx: CollectorContext): Promise<PatchesData> {
  const installed = parseHotfixes(await powershell(ctx, WIN32_HOTFIX_SCRIPT));
  // Pending updates would need a Windows Update search, which may contact WSUS or Microsoft: not done (art29).
  return { source: 'hotfix', installed, pending: [], pendingSecurity: null, metadataUpdatedAt: null, lastChangeAt: installed[0]?.installedAt ?? null };
}
