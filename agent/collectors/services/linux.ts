import { join } from 'node:path';
import type { ServicesData } from '../../../shared/inventory.js';
import { CollectorUnsupported, type CollectorContext } from '../types.js';
import { firstLine, trimmed } from '../util.js';
import { mergeSystemd, parseListUnitFiles, parseListUnits } from './parse.js';

const NO_SYSTEMD = /has not been booted with systemd|Failed to connect to bus|System has not been booted/;

export async function linuxServices(ctx: CollectorContext): Promise<ServicesData> {
  const units = await ctx.run('systemctl', ['list-units', '--type=service', '--all', '--no-legend', '--no-pager', '--plain']);
  if (units.error && /not found/.test(units.error)) throw new CollectorUnsupported('systemctl not found: no systemd on this host');
  if (NO_SYSTEMD.test(units.stderr) || NO_SYSTEMD.test(units.stdout)) {
    const init = (await trimmed(join(ctx.procfs, '1/comm'))) ?? 'unknown';
    throw new CollectorUnsupported(`systemd is not PID 1 (PID 1 is ${init}): ${firstLine(units.stderr)}`);
  }
  if (units.error || units.code !== 0) throw new Error(units.error ?? `systemctl list-units exited with ${units.code}: ${firstLine(units.stderr)}`);
  const files = await ctx.run('systemctl', ['list-unit-files', '--type=service', '--no-legend', '--no-pager']);
  return { manager: 'systemd', services: mergeSystemd(parseListUnits(units.stdout), files.code === 0 ? parseListUnitFiles(files.stdout) : new Map()) };
}
