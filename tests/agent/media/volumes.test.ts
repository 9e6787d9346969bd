/** Removable volumes on Windows and macOS: parsers on recorded formats, and the poll's diff feeding the audit. */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VolumeWatcher, WIN32_VOLUMES, darwinRemovable, parseDarwinMounts, parseWin32Volumes, type Volume } from '../../../agent/media/volumes.js';
import { tableRunner } from '../../helpers/fixture-context.js';
import type { AgentEvent } from '../../../shared/events.js';

const FX = join(process.cwd(), 'tests/fixtures');
const fx = (p: string) => readFileSync(join(FX, p), 'utf8');

describe('volume parsers', () => {
  it('keeps removable Windows drives only, with label and access', () => {
    expect(parseWin32Volumes(fx('win32/media/logicaldisk.json'))).toEqual([
      { device: 'E:', mountPoint: 'E:\\', fsType: 'FAT32', sizeBytes: 15997075456, label: 'KINGSTON', readOnly: null },
      { device: 'F:', mountPoint: 'F:\\', fsType: 'exFAT', sizeBytes: 62746787840, label: '资料盘', readOnly: true },
    ]);
    expect(parseWin32Volumes('')).toEqual([]);
  });

  it('reads /Volumes mounts from macOS mount output, names with spaces included', () => {
    expect(parseDarwinMounts(fx('darwin/media/mount.txt')).map((v) => [v.device, v.mountPoint, v.fsType])).toEqual([
      ['/dev/disk4s1', '/Volumes/UNTITLED', 'msdos'],
      ['/dev/disk5s2', '/Volumes/Time Machine', 'hfs'],
    ]);
    expect(darwinRemovable(fx('darwin/media/diskutil-info-disk4.plist'))).toBe(true);
    expect(darwinRemovable(fx('darwin/media/diskutil-info-disk5.plist'))).toBe(false);
  });
});

describe('VolumeWatcher', () => {
  it('macOS: reports a USB stick mounted and unmounted, asks diskutil once per disk, ignores internal disks', async () => {
    const table: Record<string, { stdout: string }> = {
      mount: { stdout: fx('darwin/media/mount.txt') },
      'diskutil info -plist /dev/disk4': { stdout: fx('darwin/media/diskutil-info-disk4.plist') },
      'diskutil info -plist /dev/disk5': { stdout: fx('darwin/media/diskutil-info-disk5.plist') },
    };
    const run = tableRunner(table);
    const events: AgentEvent[] = [];
    const mounted: Volume[] = [];
    const unmounted: Volume[] = [];
    const w = new VolumeWatcher({ platform: 'darwin', run, emit: (e) => events.push(e), onMounted: (v) => { mounted.push(v); }, onUnmounted: (v) => { unmounted.push(v); } });
    await w.tick();
    await w.tick();
    expect(mounted.map((v) => v.mountPoint)).toEqual(['/Volumes/UNTITLED']);
    expect(events.map((e) => e.type)).toEqual(['media.mounted']);
    expect(run.calls.filter((c) => c.startsWith('diskutil')).sort()).toEqual(['diskutil info -plist /dev/disk4', 'diskutil info -plist /dev/disk5']);
    table.mount = { stdout: fx('darwin/media/mount.txt').split('\n').filter((l) => !l.includes('UNTITLED')).join('\n') };
    await w.tick();
    expect(unmounted.map((v) => v.mountPoint)).toEqual(['/Volumes/UNTITLED']);
    expect(events.map((e) => e.type)).toEqual(['media.mounted', 'media.unmounted']);
  });

  it('Windows: runs the exact query and reports new removable drives; a failing query is an error, not a crash', async () => {
    const key = [WIN32_VOLUMES.cmd, ...WIN32_VOLUMES.args].join(' ');
    const run = tableRunner({ [key]: { stdout: fx('win32/media/logicaldisk.json') } });
    const mounted: string[] = [];
    const errors: string[] = [];
    const w = new VolumeWatcher({ platform: 'win32', run, emit: () => undefined, onMounted: (v) => { mounted.push(v.mountPoint); }, onUnmounted: () => undefined, onError: (e) => errors.push(e.message) });
    await w.tick();
    expect(mounted).toEqual(['E:\\', 'F:\\']);
    const broken = new VolumeWatcher({ platform: 'win32', run: tableRunner({}), emit: () => undefined, onMounted: () => undefined, onUnmounted: () => undefined, onError: (e) => errors.push(e.message) });
    const ac = new AbortController();
    const p = broken.run(ac.signal);
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await p;
    expect(errors[0]).toMatch(/Win32_LogicalDisk: powershell.exe not found/);
  });
});
