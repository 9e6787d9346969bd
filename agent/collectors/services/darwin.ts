import type { ServicesData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { runText } from '../util.js';
import { parseLaunchctlList } from './parse.js';

export async function darwinServices(ctx: CollectorContext): Promise<ServicesData> {
  return { manager: 'launchd', services: parseLaunchctlList(await runText(ctx, 'launchctl', ['list'])) };
}
