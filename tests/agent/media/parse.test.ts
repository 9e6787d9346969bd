import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  blockDeviceMounts, diffMounts, globMatch, parseBlkidUdev, parseLsblkJson, parseMountinfo, unescapeOctal,
} from '../../../agent/collectors/media/parse.js';
import { listMediaMounts, mediaDetails, resolveBlockDevice } from '../../../agent/collectors/media/mounts.js';
import { MountWatcher } from '../../../agent/media/mount-watch.js';
import { makeReadOnly } from '../../../agent/enforcers/media/linux.js';
import type { AgentEvent } from '../../../shared/events.js';
import { validateEvent } from '../../../shared/events.js';
import { expectMatchesJson, fx, tableRunner } from '../collectors/helpers.js';

describe('mountinfo parser', () => {
  const rows = parseMountinfo(fx('linux', 'media', 'mountinfo.txt'));

  it('parses every line of the capture, escapes decoded', () => {
    expect(rows).toHaveLength(24);
    expectMatchesJson('linux', 'media', 'mountinfo', rows);
    const points = rows.map((r) => r.mountPoint);
    expect(points).toContain('/tmp/mtest/mnt dir');
    expect(points).toContain('/tmp/mtest/tab\there');
    expect(points).toContain('/tmp/mtest/new\nline');
    expect(points).toContain('/tmp/mtest/back\\slash');
  });

  it('reads ro/rw, device numbers and source', () => {
    const ro = rows.find((r) => r.mountPoint === '/tmp/mtest/ro')!;
    expect(ro).toMatchObject({ majorMinor: '7:1', source: '/dev/loop1', fsType: 'ext4', readOnly: true, options: ['ro', 'relatime'] });
    expect(rows.find((r) => r.mountPoint === '/tmp/mtest/mnt dir')).toMatchObject({ readOnly: false, source: '/dev/loop0', major: 7, minor: 0 });
  });

  it('block-device mounts are those with a /dev/ source', () => {
    expect(blockDeviceMounts(rows).map((r) => r.source)).toEqual(['/dev/vda', '/dev/loop0', '/dev/loop1']);
  });

  it('keeps raw UTF-8 and optional fields; skips malformed lines', () => {
    const text = '90 27 8:17 / /media/用户/U\\040盘 rw,nosuid shared:7 master:2 - vfat /dev/sdb1 rw,fmask=0022\ngarbage line\n91 27 x:y / /a rw - ext4 /dev/sdc rw\n';
    const [r, ...rest] = parseMountinfo(text);
    expect(rest).toEqual([]);
    expect(r).toMatchObject({ mountPoint: '/media/用户/U 盘', optional: ['shared:7', 'master:2'], fsType: 'vfat', source: '/dev/sdb1', superOptions: ['rw', 'fmask=0022'] });
    expect(unescapeOctal('a\\134b\\0')).toBe('a\\b\\0');
    expect(unescapeOctal('\\303\\251')).toBe('é');
  });

  it('diffs by mount point + device', () => {
    const [a, b] = parseMountinfo('1 0 7:0 / /m rw - ext4 /dev/loop0 rw\n2 0 7:1 / /n rw - ext4 /dev/loop1 rw\n');
    const [a2, c] = parseMountinfo('1 0 7:0 / /m ro - ext4 /dev/loop0 ro\n3 0 7:2 / /n rw - ext4 /dev/loop2 rw\n');
    const d = diffMounts([a!, b!], [a2!, c!]);
    expect(d.added.map((m) => m.source)).toEqual(['/dev/loop2']);
    expect(d.removed.map((m) => m.source)).toEqual(['/dev/loop1']);
    expect(d.changed.map(([x, y]) => [x.readOnly, y.readOnly])).toEqual([[false, true]]);
    expect(diffMounts([a!], [a!])).toEqual({ added: [], removed: [], changed: [] });
  });
});

describe('lsblk and blkid parsers', () => {
  it('lsblk -J on loop devices here (no udev: label null)', () => {
    const rows = parseLsblkJson(fx('linux', 'media', 'lsblk-loop.txt'));
    expectMatchesJson('linux', 'media', 'lsblk-loop', rows);
    expect(rows[0]).toEqual({ name: 'loop0', path: '/dev/loop0', sizeBytes: 67108864, label: null, fsType: null, readOnly: false, removable: false, transport: null, parent: null });
  });

  it('lsblk -J of a USB stick: partitions flattened with their parent', () => {
    const rows = parseLsblkJson(fx('linux', 'media', 'lsblk-usb.txt'));
    expectMatchesJson('linux', 'media', 'lsblk-usb', rows);
    expect(rows.map((r) => [r.name, r.parent, r.label, r.transport, r.removable])).toEqual([['sdb', null, null, 'usb', true], ['sdb1', 'sdb', 'KINGSTON', null, true]]);
  });

  it('old lsblk prints strings', () => {
    const rows = parseLsblkJson(fx('linux', 'media', 'lsblk-old.txt'));
    expect(rows[1]).toMatchObject({ name: 'sdc1', sizeBytes: 8003256320, label: 'BACKUP 2', readOnly: false, removable: true });
    expect(() => parseLsblkJson('{oops')).toThrow(/invalid JSON/);
  });

  it('blkid -p -o udev: UTF-8 label with \\x escapes', () => {
    expect(parseBlkidUdev(fx('linux', 'media', 'blkid-udev-loop1.txt'))).toEqual({ label: 'Ünïcode label', fsType: 'ext4', uuid: '1bf490e5-446a-48d8-8956-bbee627cd7c7' });
    expect(parseBlkidUdev('')).toEqual({ label: null, fsType: null, uuid: null });
  });
});

describe('device glob', () => {
  it('matches *, ?, classes, escapes; * never crosses /', () => {
    expect(globMatch('/dev/loop*', '/dev/loop0')).toBe(true);
    expect(globMatch('/dev/loop*', '/dev/loop12')).toBe(true);
    expect(globMatch('/dev/loop*', '/dev/sda')).toBe(false);
    expect(globMatch('/dev/*', '/dev/mapper/x')).toBe(false);
    expect(globMatch('/dev/sd[b-z]?', '/dev/sdb1')).toBe(true);
    expect(globMatch('/dev/sd[!a]*', '/dev/sda1')).toBe(false);
    expect(globMatch('/dev/sd[!a]*', '/dev/sdc')).toBe(true);
    expect(globMatch('/dev/a\\*', '/dev/a*')).toBe(true);
    expect(globMatch('/dev/a\\*', '/dev/ab')).toBe(false);
    expect(globMatch('', '')).toBe(true);
  });

  it('regex metacharacters are literal (no injection)', () => {
    expect(globMatch('/dev/loop(.*)', '/dev/loop0')).toBe(false);
    expect(globMatch('/dev/loop(.*)', '/dev/loop(.x)')).toBe(true);
    expect(globMatch('/dev/sd.+', '/dev/sdab')).toBe(false);
    expect(globMatch('/dev/[', '/dev/[')).toBe(true);
    expect(globMatch('^/dev/x$', '/dev/x')).toBe(false);
  });

  it('does not backtrack catastrophically', () => {
    const t0 = performance.now();
    expect(globMatch('*a*a*a*a*a*a*a*a*b', 'a'.repeat(5000))).toBe(false);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

/** A sysfs tree as the kernel lays it out for a USB stick, a SATA card reader, a virtio disk and a loop device. */
function sysfsTree(root: string): void {
  const dev = (rel: string, files: Record<string, string>) => {
    mkdirSync(join(root, 'sys', rel), { recursive: true });
    for (const [k, v] of Object.entries(files)) writeFileSync(join(root, 'sys', rel, k), v);
  };
  const link = (from: string, to: string) => {
    mkdirSync(dirname(join(root, 'sys', from)), { recursive: true });
    symlinkSync(to, join(root, 'sys', from));
  };
  const usb = 'devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb';
  dev(usb, { removable: '0\n', size: '30297216\n' });
  dev(`${usb}/sdb1`, { partition: '1\n', size: '30293120\n' });
  link('block/sdb', `../${usb}`);
  link('dev/block/8:17', `../../${usb}/sdb1`);
  const reader = 'devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sdc';
  dev(reader, { removable: '1\n', size: '15633408\n' });
  link('block/sdc', `../${reader}`);
  link('dev/block/8:32', `../../${reader}`);
  const vda = 'devices/pci0000:00/0000:00:05.0/virtio2/block/vda';
  dev(vda, { removable: '0\n', size: '104857600\n' });
  link('block/vda', `../${vda}`);
  link('dev/block/254:0', `../../${vda}`);
  dev('devices/virtual/block/loop0', { removable: '0\n', size: '131072\n' });
  link('block/loop0', '../devices/virtual/block/loop0');
  link('dev/block/7:0', '../../devices/virtual/block/loop0');
}

const MOUNTS = [
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  '60 27 8:17 / /media/alice/KINGSTON rw,nosuid,nodev - vfat /dev/sdb1 rw',
  '61 27 8:32 / /media/alice/CARD ro - ext4 /dev/sdc ro',
  '62 27 7:0 / /mnt/img rw - ext4 /dev/loop0 rw',
];

describe('removable decision over a sysfs fixture tree', () => {
  const root = mkdtempSync(join(tmpdir(), 'tg-media-sysfs-'));
  sysfsTree(root);
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const sysfs = join(root, 'sys');

  it('resolves partitions to their disk through /sys/dev/block', async () => {
    expect(await resolveBlockDevice(sysfs, '8:17')).toMatchObject({ name: 'sdb1', disk: 'sdb', partition: true });
    expect(await resolveBlockDevice(sysfs, '8:32')).toMatchObject({ name: 'sdc', disk: 'sdc', partition: false });
    expect(await resolveBlockDevice(sysfs, '9:9')).toEqual({ name: null, disk: null, partition: false, sysPath: null });
  });

  it('usb path, kernel flag, configured glob; the system disk is not removable', async () => {
    const mounts = await listMediaMounts({ procfs: '/nonexistent', sysfs, removableDevices: ['/dev/loop*'] }, parseMountinfo(MOUNTS.join('\n')));
    expect(mounts.map((m) => [m.device, m.removable, m.removableReason])).toEqual([
      ['/dev/vda', false, null],
      ['/dev/sdb1', true, 'usb'],
      ['/dev/sdc', true, 'kernel-removable'],
      ['/dev/loop0', true, 'config:/dev/loop*'],
    ]);
    const none = await listMediaMounts({ procfs: '/nonexistent', sysfs, removableDevices: [] }, parseMountinfo(MOUNTS[3]!));
    expect(none[0]!.removable).toBe(false);
  });

  it('size from sysfs, label from lsblk, else from blkid', async () => {
    const [, sdb1] = await listMediaMounts({ procfs: '/x', sysfs, removableDevices: [] }, parseMountinfo(MOUNTS.join('\n')));
    const run = tableRunner({
      'lsblk -J -b -o NAME,SIZE,LABEL,FSTYPE,RO,RM,TRAN /dev/sdb1': { stdout: fx('linux', 'media', 'lsblk-usb.txt') },
    });
    expect(await mediaDetails({ sysfs, run }, sdb1!)).toEqual({ sizeBytes: 30293120 * 512, label: 'KINGSTON', transport: null, errors: [] });
    const run2 = tableRunner({
      'lsblk -J -b -o NAME,SIZE,LABEL,FSTYPE,RO,RM,TRAN /dev/sdb1': { stdout: fx('linux', 'media', 'lsblk-loop.txt') },
      'blkid -p -o udev /dev/sdb1': { stdout: fx('linux', 'media', 'blkid-udev-loop1.txt') },
    });
    expect((await mediaDetails({ sysfs, run: run2 }, sdb1!)).label).toBe('Ünïcode label');
    const none = await mediaDetails({ sysfs, run: tableRunner({}) }, sdb1!);
    expect(none).toMatchObject({ sizeBytes: 30293120 * 512, label: null, errors: ['lsblk: lsblk not found', 'blkid: blkid not found'] });
  });

  it('MountWatcher polling a fixture mountinfo: mounted/unmounted diffs and events', async () => {
    mkdirSync(join(root, 'proc', 'self'), { recursive: true });
    const mi = join(root, 'proc', 'self', 'mountinfo');
    writeFileSync(mi, MOUNTS[0] + '\n');
    const events: AgentEvent[] = [];
    const seen: string[] = [];
    const w = new MountWatcher({
      procfs: join(root, 'proc'), sysfs, removableDevices: [], run: tableRunner({}), push: false, pollMs: 20,
      emit: (e) => events.push(e),
      onMounted: (m) => { seen.push(`+${m.mountPoint}:${m.removable}`); },
      onUnmounted: (m) => { seen.push(`-${m.mountPoint}`); },
      onChanged: (a, b) => { seen.push(`~${b.mountPoint}:${a.readOnly}->${b.readOnly}`); },
    });
    const ac = new AbortController();
    const running = w.run(ac.signal);
    const until = async (f: () => boolean) => { for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10)); };
    await until(() => seen.length >= 1);
    writeFileSync(mi, MOUNTS.slice(0, 2).join('\n') + '\n');
    await until(() => events.length >= 1);
    writeFileSync(mi, [MOUNTS[0], MOUNTS[1]!.replace('rw,nosuid', 'ro,nosuid')].join('\n') + '\n');
    await until(() => seen.length >= 3);
    writeFileSync(mi, MOUNTS[0] + '\n');
    await until(() => events.length >= 2);
    ac.abort();
    await running;
    expect(seen).toEqual(['+/:false', '+/media/alice/KINGSTON:true', '~/media/alice/KINGSTON:false->true', '-/media/alice/KINGSTON']);
    expect(events.map((e) => e.type)).toEqual(['media.mounted', 'media.unmounted']);
    expect(events[0]!.data).toEqual({
      device: '/dev/sdb1', mountPoint: '/media/alice/KINGSTON', fsType: 'vfat', sizeBytes: 30293120 * 512, label: null, readOnly: false,
      removableReason: 'usb', transport: null, detailErrors: ['lsblk: lsblk not found', 'blkid: blkid not found'],
    });
    for (const e of events) expect(validateEvent(e)).toBe(e);
  });
});

describe('read-only enforcer, recorded commands', () => {
  it('refuses a non-device or relative path before running anything', async () => {
    const run = tableRunner({});
    expect(await makeReadOnly({ run, procfs: '/proc' }, 'sdb1', ['/m'])).toMatchObject({ held: false, error: 'not a device path: "sdb1"' });
    expect(await makeReadOnly({ run, procfs: '/proc' }, '/dev/sdb1', ['-o'])).toMatchObject({ held: false, error: 'not an absolute mount point: "-o"' });
    expect(run.calls).toEqual([]);
  });

  it('a failing remount is reported, and verification decides', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tg-media-enf-'));
    try {
      mkdirSync(join(root, 'self'));
      writeFileSync(join(root, 'self', 'mountinfo'), MOUNTS[1] + '\n');
      const run = tableRunner({
        'blockdev --setro /dev/sdb1': { stdout: '' },
        'mount -o remount,ro /media/alice/KINGSTON': { code: 32, stderr: 'mount: /media/alice/KINGSTON: mount point is busy.\n' },
        'blockdev --getro /dev/sdb1': { stdout: '1\n' },
      });
      const r = await makeReadOnly({ run, procfs: root }, '/dev/sdb1', ['/media/alice/KINGSTON']);
      expect(r.held).toBe(false);
      expect(r.error).toBe('remount ro "/media/alice/KINGSTON": mount: /media/alice/KINGSTON: mount point is busy.');
      expect(r.verified).toEqual({ deviceReadOnly: true, mounts: [{ mountPoint: '/media/alice/KINGSTON', readOnly: false }] });
      expect(r.commands.map((c) => [c.cmd, ...c.args].join(' '))).toEqual(['blockdev --setro /dev/sdb1', 'mount -o remount,ro /media/alice/KINGSTON', 'blockdev --getro /dev/sdb1']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
