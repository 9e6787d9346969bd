import type { HardwareData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { parseJson, runText } from '../util.js';
import { parseSystemProfilerHardware } from './parse.js';

export async function darwinHardware(ctx: CollectorContext): Promise<HardwareData> {
  const out = await runText(ctx, 'system_profiler', ['SPHardwareDataType', 'SPStorageDataType', '-json'], { timeoutMs: 60_000 });
  return parseSystemProfilerHardware(parseJson(out, 'system_profiler'));
}
