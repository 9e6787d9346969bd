import type { SoftwareData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { parseJson, runText } from '../util.js';
import { parseSpApplications } from './parse.js';

export async function darwinSoftware(ctx: CollectorContext): Promise<SoftwareData> {
  // SPApplicationsDataType walks every bundle on disk: slow (10-60 s), so a long timeout.
  const out = await runText(ctx, 'system_profiler', ['SPApplicationsDataType', '-json'], { timeoutMs: 120_000, maxBytes: 64 * 1024 * 1024 });
  return { source: 'system_profiler', packages: parseSpApplications(parseJson(out, 'system_profiler')) };
}
