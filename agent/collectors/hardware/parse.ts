/** Pure parsers for the hardware collector. */
import type { DiskData, HardwareData } from '../../../shared/inventory.js';
import { asArray, int, str, type Json } from '../util.js';

/** DMI placeholders vendors leave in unset fields. */
const DMI_JUNK = /^(to be filled by o\.e\.m\.|default string|system serial number|not specified|none|0+|n\/a|123456789|chassis serial number|base board serial number|system product name|system manufacturer)$/i;

export function dmiValue(v: string | null | undefined): string | null {
  const t = v?.trim();
  return t && !DMI_JUNK.test(t) ? t : null;
}

/** /proc/cpuinfo: first model name; logical = processor entries; physical = distinct (physical id, core id) pairs. */
export function parseCpuinfo(text: string): HardwareData['cpu'] {
  let model: string | null = null;
  let logical = 0;
  const cores = new Set<string>();
  for (const block of text.split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) f[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    if (f.processor === undefined) continue;
    logical++;
    model ??= f['model name'] ?? f['Model'] ?? f['Hardware'] ?? f['cpu model'] ?? null;
    if (f['physical id'] !== undefined && f['core id'] !== undefined) cores.add(`${f['physical id']}/${f['core id']}`);
  }
  return { model, logical: logical || null, cores: cores.size || logical || null };
}

/** MemTotal from /proc/meminfo, in bytes. */
export function parseMeminfo(text: string): number | null {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/** Block devices that are not disks. */
export function isVirtualBlock(name: string): boolean {
  return /^(loop|ram|zram|dm-|md|sr|fd|nbd)\d*/.test(name);
}

/** One PowerShell call returning { ComputerSystem, BIOS, BaseBoard, Processor[], DiskDrive[] }. */
export function parseWin32Hardware(json: unknown): HardwareData {
  const o: Json = asArray(json)[0] ?? {};
  const cs: Json = asArray(o.ComputerSystem)[0] ?? {};
  const bios: Json = asArray(o.BIOS)[0] ?? {};
  const board: Json = asArray(o.BaseBoard)[0] ?? {};
  const cpus = asArray(o.Processor);
  const sum = (k: string) => cpus.reduce((n, c) => n + (int(c[k]) ?? 0), 0) || null;
  const disks: DiskData[] = asArray(o.DiskDrive).map((d) => ({
    name: str(d.DeviceID) ?? str(d.Model) ?? 'disk',
    model: str(d.Model),
    serial: str(d.SerialNumber),
    sizeBytes: int(d.Size),
  }));
  return {
    vendor: dmiValue(str(cs.Manufacturer)),
    model: dmiValue(str(cs.Model)),
    serial: dmiValue(str(bios.SerialNumber)),
    boardSerial: dmiValue(str(board.SerialNumber)),
    cpu: { model: str(cpus[0]?.Name), cores: sum('NumberOfCores'), logical: sum('NumberOfLogicalProcessors') },
    memoryBytes: int(cs.TotalPhysicalMemory),
    disks,
    notes: [],
  };
}

/** "16 GB" → bytes. */
export function parseSize(v: unknown): number | null {
  const m = /^([\d.]+)\s*(B|KB|MB|GB|TB)$/i.exec(String(v ?? '').trim());
  if (!m) return null;
  const mult = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2]!.toUpperCase() as 'B'];
  return Math.round(Number(m[1]) * mult);
}

/** "proc 8:4:4" (Apple silicon: total:performance:efficiency) or a plain number. */
function processors(v: unknown): number | null {
  if (typeof v === 'number') return v;
  const m = /(\d+)/.exec(String(v ?? ''));
  return m ? Number(m[1]) : null;
}

/** `system_profiler SPHardwareDataType SPStorageDataType -json`. */
export function parseSystemProfilerHardware(json: unknown): HardwareData {
  const o: Json = asArray(json)[0] ?? {};
  const hw: Json = asArray(o.SPHardwareDataType)[0] ?? {};
  const byDevice = new Map<string, DiskData>();
  for (const v of asArray(o.SPStorageDataType)) {
    const pd: Json = asArray(v.physical_drive)[0] ?? {};
    const model = str(pd.device_name);
    const key = model ?? str(v.bsd_name) ?? 'disk';
    if (byDevice.has(key)) continue;
    // Volumes only: the container's size is the best capacity figure system_profiler gives here.
    byDevice.set(key, { name: (str(v.bsd_name) ?? key).replace(/s\d+$/, ''), model, serial: null, sizeBytes: int(v.size_in_bytes) });
  }
  const cores = processors(hw.number_processors);
  return {
    vendor: 'Apple Inc.',
    model: [str(hw.machine_name), str(hw.machine_model)].filter(Boolean).join(' ') || null,
    serial: str(hw.serial_number),
    boardSerial: null,
    cpu: { model: str(hw.chip_type) ?? str(hw.cpu_type), cores, logical: cores },
    memoryBytes: parseSize(hw.physical_memory),
    disks: [...byDevice.values()],
    notes: [],
  };
}
