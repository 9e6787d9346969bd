import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hardwareCollector } from '../../../agent/collectors/hardware/index.js';
import { dmiValue, parseCpuinfo, parseMeminfo, parseSystemProfilerHardware, parseWin32Hardware } from '../../../agent/collectors/hardware/parse.js';
import { hardwareSchema, sectionSchema } from '../../../shared/inventory.js';
import { expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

describe('hardware parsers', () => {
  it('linux: cpuinfo and meminfo captured here', () => {
    const cpu = parseCpuinfo(fx('linux', 'hardware', 'cpuinfo.txt'));
    expect(cpu.model).toBeTruthy();
    expect(cpu.logical).toBeGreaterThan(0);
    expect(parseMeminfo(fx('linux', 'hardware', 'meminfo.txt'))).toBeGreaterThan(1024 * 1024);
    expect(parseMeminfo('MemTotal:       2048 kB\n')).toBe(2048 * 1024);
  });

  it('linux: counts physical cores by (physical id, core id)', () => {
    const block = (p: number, core: number) => `processor\t: ${p}\nmodel name\t: Xeon\nphysical id\t: 0\ncore id\t\t: ${core}\n`;
    expect(parseCpuinfo([block(0, 0), block(1, 0), block(2, 1), block(3, 1)].join('\n'))).toEqual({ model: 'Xeon', logical: 4, cores: 2 });
  });

  it('DMI placeholders are not serials', () => {
    expect(dmiValue('To be filled by O.E.M.')).toBeNull();
    expect(dmiValue('Default string')).toBeNull();
    expect(dmiValue('PC2XK9LM')).toBe('PC2XK9LM');
  });

  it('win32: composite CIM JSON', () => {
    const hw = hardwareSchema.parse(parseWin32Hardware(fxJson('win32', 'hardware', 'win32-hardware.txt')));
    expectMatchesJson('win32', 'hardware', 'win32-hardware', hw);
    expect(hw.disks).toHaveLength(2);
    expect(hw.cpu).toEqual({ model: 'Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz', cores: 6, logical: 12 });
  });

  it('darwin: system_profiler JSON, volumes collapsed per physical drive', () => {
    const hw = hardwareSchema.parse(parseSystemProfilerHardware(fxJson('darwin', 'hardware', 'system_profiler-hardware-storage.txt')));
    expectMatchesJson('darwin', 'hardware', 'system_profiler-hardware-storage', hw);
    expect(hw.memoryBytes).toBe(16 * 1024 ** 3);
    expect(hw.disks.map((d) => d.model)).toEqual(['APPLE SSD AP0256Z', 'DataTraveler 3.0']);
  });
});

describe('hardware from a fixture sysfs tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-hw-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const w = (p: string, s: string) => { mkdirSync(join(dir, p, '..'), { recursive: true }); writeFileSync(join(dir, p), s); };
  w('sys/class/dmi/id/sys_vendor', 'LENOVO\n');
  w('sys/class/dmi/id/product_name', 'ThinkCentre M70q\n');
  w('sys/class/dmi/id/product_serial', 'To be filled by O.E.M.\n');
  w('sys/block/nvme0n1/device/model', 'SAMSUNG MZVL2512HCJQ-00BL7   \n');
  w('sys/block/nvme0n1/device/serial', 'S64KNX0T123456\n');
  w('sys/block/nvme0n1/size', '1000215216\n');
  w('sys/block/loop0/size', '0\n');
  w('proc/cpuinfo', fx('linux', 'hardware', 'cpuinfo.txt'));
  w('proc/meminfo', fx('linux', 'hardware', 'meminfo.txt'));

  it('reads DMI, skips loop devices, notes what is missing', async () => {
    const r = await hardwareCollector.collect({ platform: 'linux', root: dir, procfs: join(dir, 'proc'), sysfs: join(dir, 'sys'), run: tableRunner({}), now: new Date() });
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    expect(r.data).toMatchObject({ vendor: 'LENOVO', model: 'ThinkCentre M70q', serial: null });
    expect(r.data.disks).toEqual([{ name: 'nvme0n1', model: 'SAMSUNG MZVL2512HCJQ-00BL7', serial: 'S64KNX0T123456', sizeBytes: 1000215216 * 512 }]);
    expect(r.data.notes.join(' ')).toMatch(/product_serial/);
  });
});

describe.runIf(onLinux)('hardware on this machine', () => {
  it('collects partial data with a note when DMI is absent', async () => {
    const r = sectionSchema(hardwareSchema).parse(await hardwareCollector.collect(hostContext()));
    expect(r.status).toBe('ok');
    if (r.status === 'ok') {
      expect(r.data.memoryBytes).toBeGreaterThan(0);
      expect(r.data.cpu.logical).toBeGreaterThan(0);
      if (r.data.vendor === null) expect(r.data.notes.length).toBeGreaterThan(0);
    }
  });
});
