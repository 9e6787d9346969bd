import { join } from 'node:path';
import type { DiskData, HardwareData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { isDir, listDir, readText, trimmed } from '../util.js';
import { dmiValue, isVirtualBlock, parseCpuinfo, parseMeminfo } from './parse.js';

export async function linuxHardware(ctx: CollectorContext): Promise<HardwareData> {
  const notes: string[] = [];
  const dmi = join(ctx.sysfs, 'class/dmi/id');
  const hasDmi = await isDir(dmi);
  if (!hasDmi) notes.push(`DMI not available (${dmi} missing): vendor, model and serials unknown`);
  const d = async (f: string) => (hasDmi ? dmiValue(await trimmed(join(dmi, f))) : null);
  const serial = await d('product_serial');
  if (hasDmi && serial === null) notes.push('product_serial unreadable or empty (needs root, or the firmware leaves it unset)');

  const cpuinfo = await readText(join(ctx.procfs, 'cpuinfo'));
  if (cpuinfo === null) notes.push('cpuinfo unreadable');
  const meminfo = await readText(join(ctx.procfs, 'meminfo'));

  const disks: DiskData[] = [];
  for (const name of await listDir(join(ctx.sysfs, 'block'))) {
    const dev = join(ctx.sysfs, 'block', name);
    if (isVirtualBlock(name) || !(await isDir(join(dev, 'device')))) continue;
    const sectors = Number(await trimmed(join(dev, 'size')));
    disks.push({
      name,
      model: await trimmed(join(dev, 'device/model')),
      // virtio-blk keeps its serial beside the device, SCSI/NVMe under device/.
      serial: (await trimmed(join(dev, 'device/serial'))) ?? (await trimmed(join(dev, 'serial'))),
      sizeBytes: Number.isFinite(sectors) ? sectors * 512 : null,
    });
  }
  return {
    vendor: await d('sys_vendor'),
    model: await d('product_name'),
    serial,
    boardSerial: await d('board_serial'),
    cpu: cpuinfo ? parseCpuinfo(cpuinfo) : { model: null, cores: null, logical: null },
    memoryBytes: meminfo ? parseMeminfo(meminfo) : null,
    disks,
    notes,
  };
}
