/**
 * Removable media end to end on a real loop-mounted ext4 volume (root): the watchers start first,
 * then the image is made, attached and mounted, so the test proves mounts are watched. Files are
 * copied in (hostile names, a file above the hash cap, symlinks out of the volume, a 2,000-file
 * burst), the volume is made read-only and back, then unmounted. Every mount and loop device is
 * removed in afterAll even on failure, and the end state is checked.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../agent/exec.js';
import { FileAudit, inspectFile } from '../../../agent/media/file-audit.js';
import { MountWatcher, type MountedMedia } from '../../../agent/media/mount-watch.js';
import { makeReadOnly, undoReadOnly } from '../../../agent/enforcers/media/linux.js';
import { validateEvent, type AgentEvent } from '../../../shared/events.js';

const CI = process.env.CI === 'true';
const why = process.platform !== 'linux' ? 'not Linux' : process.getuid?.() !== 0 ? 'not root (loop devices and mount need root)' : null;
if (why && !CI) console.log(`skipping loop-device media tests: ${why}`);

const MiB = 1024 * 1024;
const HASH_CAP = 1 * MiB; // the agent's default is 64 MiB; a parameter, so the image stays small
const WINDOW_MS = 3000;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sha256sum(path: string): string {
  // sha256sum prefixes a line with `\` when the name needs escaping (newline, backslash).
  return sh('sha256sum', ['--', path]).replace(/^\\/, '').slice(0, 64);
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(why !== null && !CI)('removable media on a loop-mounted ext4 volume', () => {
  const events: AgentEvent[] = [];
  const errors: Error[] = [];
  const changes: [MountedMedia, MountedMedia][] = [];
  const ac = new AbortController();
  let tmp = '';
  let mnt = '';
  let loop = '';
  let stage = '';
  let audit: FileAudit;
  let watcher: MountWatcher;
  let running: Promise<unknown> = Promise.resolve();
  let mountLatencyMs = 0;

  const ours = (type: string) => events.filter((e) => e.type === type && e.data.mountPoint === mnt);
  const written = () => ours('media.file_written');
  const byPath = (p: string) => written().find((e) => e.data.path === p);

  function cleanup(): void {
    const mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => mnt && l.split(' ')[4] === mnt.replace(/ /g, '\\040'));
    for (let i = 0; i < 5 && mnt && mounted(); i++) {
      try { sh('umount', ['-l', mnt]); } catch { /* try again, then report below */ }
    }
    if (loop) {
      try { sh('losetup', ['-d', loop]); } catch { /* already gone */ }
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }

  beforeAll(async () => {
    expect(why, 'these tests need root on Linux (CI=true forbids skipping)').toBeNull();
    audit = new FileAudit({
      emit: (e) => events.push(e), hashMaxBytes: HASH_CAP, burstThreshold: 200, burstWindowMs: WINDOW_MS,
      stabilityMs: 200, onError: (e) => errors.push(e),
    });
    watcher = new MountWatcher({
      procfs: '/proc', sysfs: '/sys', removableDevices: ['/dev/loop*'], run: runCommand, pollMs: 1000,
      emit: (e) => events.push(e),
      onMounted: (m) => audit.mounted(m),
      onUnmounted: (m) => audit.unmounted(m),
      onChanged: (a, b) => { changes.push([a, b]); },
      onError: (e) => errors.push(e),
    });
    running = Promise.all([audit.run(ac.signal), watcher.run(ac.signal)]);
    await until('first mount table read and findmnt push', () => watcher.stats.reads >= 1 && watcher.pushing);

    // Only now does the volume exist.
    tmp = mkdtempSync('/tmp/tg-media-it-');
    mnt = join(tmp, 'usb stick');
    stage = join(tmp, 'stage');
    mkdirSync(mnt);
    mkdirSync(stage);
    const img = join(tmp, 'volume.img');
    sh('truncate', ['-s', '64M', img]);
    sh('mkfs.ext4', ['-q', '-F', '-L', 'TG MEDIA', img]);
    loop = sh('losetup', ['--find', '--show', img]).trim();
    const t0 = performance.now();
    sh('mount', [loop, mnt]);
    await until('media.mounted', () => ours('media.mounted')[0]);
    mountLatencyMs = performance.now() - t0;
    await until('file watcher on the new mount', () => audit.watching().includes(mnt));
  }, 60_000);

  afterAll(async () => {
    ac.abort();
    await running;
    cleanup();
    // Nothing of ours is left: no loop device on our image, no mount under our folder.
    expect(sh('losetup', ['-a'])).not.toContain(tmp || '/nonexistent');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(tmp || '/nonexistent');
    expect(watcher.pushing).toBe(false);
    expect(audit.watching()).toEqual([]);
  }, 60_000);

  it('reports the mount made after the watcher started (findmnt push)', () => {
    const [e] = ours('media.mounted');
    expect(validateEvent(e)).toBe(e);
    expect(e!.articles).toEqual(['art31']);
    expect(e!.data).toMatchObject({
      device: loop, mountPoint: mnt, fsType: 'ext4', sizeBytes: 64 * MiB, label: 'TG MEDIA', readOnly: false, removableReason: 'config:/dev/loop*',
    });
    expect(e!.data.initial).toBeUndefined();
    console.log(`media.mounted ${mountLatencyMs.toFixed(0)} ms after mount(8) returned (push: ${watcher.stats.pushes} triggers, ${watcher.stats.reads} reads)`);
  });

  it('copied files become media.file_written with sha256 equal to sha256sum; hostile names intact; symlinks not followed', async () => {
    const files: Record<string, Buffer> = {
      'plain.txt': Buffer.from('hello removable world\n'),
      'data.bin': randomBytes(200 * 1024),
      '<script>alert(1)</script>.txt': Buffer.from('<b>not markup</b>'),
      'new\nline.txt': Buffer.from('two\nlines\n'),
      'quote"back\\slash.txt': Buffer.from('q'),
      '.report.docx.swp': Buffer.from('editor swap file'),
      'notes~': Buffer.from('backup'),
      'big.bin': randomBytes(3 * MiB),
      'sub/dir/nested.txt': Buffer.from('deep'),
    };
    // `/` cannot be in a name: the script "name" is a directory `<script>alert(1)<` holding `script>.txt`.
    mkdirSync(join(stage, 'files', 'sub', 'dir'), { recursive: true });
    mkdirSync(join(stage, 'files', '<script>alert(1)<'));
    for (const [n, b] of Object.entries(files)) writeFileSync(join(stage, 'files', n), b);
    symlinkSync('/etc/passwd', join(stage, 'files', 'passwd-link'));
    symlinkSync('/etc', join(stage, 'files', 'etc-link'));
    sh('cp', ['-a', join(stage, 'files') + '/.', mnt]);

    for (const n of Object.keys(files)) await until(`event for ${JSON.stringify(n)}`, () => byPath(join(mnt, n)));
    await until('symlink event', () => byPath(join(mnt, 'passwd-link')));
    await audit.idle();

    for (const [n, b] of Object.entries(files)) {
      const p = join(mnt, n);
      const e = byPath(p)!;
      expect(validateEvent(e)).toBe(e);
      expect(e.data).toMatchObject({ path: p, kind: 'file', size: b.length, mountPoint: mnt, device: loop });
      expect(typeof e.data.mtime).toBe('string');
      if (b.length > HASH_CAP) {
        expect(e.data.sha256).toBeNull();
        expect(e.data.sha256Reason).toBe(`larger than ${HASH_CAP} bytes: not hashed`);
      } else {
        expect(e.data.sha256).toBe(sha256sum(p));
      }
    }
    // Hostile names survive a JSON round trip byte for byte (what the spool and the server store).
    const script = JSON.parse(JSON.stringify(byPath(join(mnt, '<script>alert(1)</script>.txt')))) as AgentEvent;
    expect(script.data.path).toBe(join(mnt, '<script>alert(1)</script>.txt'));
    expect(JSON.parse(JSON.stringify(byPath(join(mnt, 'new\nline.txt')))).data.path).toBe(join(mnt, 'new\nline.txt'));

    expect(byPath(join(mnt, 'passwd-link'))!.data).toMatchObject({ kind: 'symlink', sha256: null, sha256Reason: 'symlink: not followed', linkTarget: '/etc/passwd' });
    // Nothing under the link to /etc was read or reported.
    expect(written().filter((e) => String(e.data.path).startsWith(join(mnt, 'etc-link') + '/'))).toEqual([]);
    expect(written().some((e) => e.data.sha256 === sha256sum('/etc/passwd'))).toBe(false);
    expect(errors).toEqual([]);
  });

  it('a burst of 2,000 files becomes summaries, and the counts add up', async () => {
    const dir = join(stage, 'burst');
    mkdirSync(dir);
    for (let i = 0; i < 2000; i++) writeFileSync(join(dir, `f${String(i).padStart(4, '0')}.txt`), `file ${i} ${'x'.repeat(i % 500)}\n`);
    const target = join(mnt, 'burst');
    const before = ours('media.files_burst').length;
    const t0 = performance.now();
    sh('cp', ['-r', dir, target]);
    const copyMs = performance.now() - t0;

    const individual = () => written().filter((e) => String(e.data.path).startsWith(target + '/'));
    const summaries = () => ours('media.files_burst').slice(before);
    // A file may be reported twice (add, then change when a write lands after awaitWriteFinish
    // declared it stable): count new files, and check every event is in one place or the other.
    const total = () => individual().filter((e) => e.data.event === 'add').length + summaries().reduce((n, e) => n + (e.data.added as number), 0);
    await until('2,000 files accounted for', () => total() >= 2000, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${individual().length} individual, summaries ${JSON.stringify(summaries().map((x) => x.data.count))}, stats ${JSON.stringify(audit.stats)}`);
    });
    const took = performance.now() - t0;

    await audit.idle();
    expect(total()).toBe(2000);
    const s = summaries();
    expect(s.length).toBeGreaterThanOrEqual(1);
    expect(individual().length).toBeLessThanOrEqual(200 * s.length + 200);
    for (const e of s) {
      expect(validateEvent(e)).toBe(e);
      const d = e.data as { count: number; added: number; changed: number; totalBytes: number; hashed: number; notHashed: number; unread: number; individualEvents: number; first: { path: string; size: number; sha256: string }[]; last: { path: string }[] };
      expect(d.first.length).toBe(Math.min(20, d.count));
      expect(d.last.length).toBe(Math.min(20, Math.max(0, d.count - 20)));
      expect(d.hashed + d.notHashed).toBe(d.count);
      expect(d.added + d.changed).toBe(d.count);
      expect(d.unread).toBe(0);
      expect(d.individualEvents).toBeLessThanOrEqual(200);
      for (const f of d.first.slice(0, 3)) expect(f.sha256).toBe(sha256sum(f.path));
    }
    // Sizes add up too: bytes in summaries + bytes in individual events = bytes copied (+ rewrites).
    const rewrites = individual().filter((e) => e.data.event === 'change').length + s.reduce((n, e) => n + (e.data.changed as number), 0);
    const bytes = s.reduce((n, e) => n + (e.data.totalBytes as number), 0) + individual().reduce((n, e) => n + (e.data.size as number), 0);
    const expected = Array.from({ length: 2000 }, (_, i) => `file ${i} ${'x'.repeat(i % 500)}\n`.length).reduce((a, b) => a + b, 0);
    if (rewrites === 0) expect(bytes).toBe(expected);
    else expect(bytes).toBeGreaterThan(expected);
    const adds = individual().filter((e) => e.data.event === 'add').map((e) => e.data.path);
    expect(new Set(adds).size).toBe(adds.length);
    console.log(`burst: cp of 2,000 files ${copyMs.toFixed(0)} ms; all accounted for after ${took.toFixed(0)} ms: ${individual().length} individual events + ${s.length} summaries (${s.map((e) => e.data.count).join(' + ')}), ${rewrites} rewrites; queue peak ${audit.stats.maxQueue}`);
    expect(errors).toEqual([]);
  }, 45_000);

  it('hashing throughput on the volume vs sha256sum (printed)', async () => {
    const big = join(mnt, 'tp');
    mkdirSync(big);
    const bigFiles = Array.from({ length: 16 }, (_, i) => join(big, `m${i}.bin`));
    for (const f of bigFiles) writeFileSync(f, randomBytes(MiB));
    const small = Array.from({ length: 2000 }, (_, i) => join(mnt, 'burst', `f${String(i).padStart(4, '0')}.txt`));
    const dev = statSync(mnt).dev;
    const buf = Buffer.allocUnsafe(MiB);
    const rows: string[] = [];
    for (const [name, list] of [['2,000 small files', small], ['16 × 1 MiB', bigFiles]] as const) {
      const bytes = list.reduce((n, f) => n + statSync(f).size, 0);
      let t = performance.now();
      for (const f of list) {
        const r = await inspectFile(f, dev, 64 * MiB, buf);
        expect(r.sha256).not.toBeNull();
      }
      const one = performance.now() - t;
      // Two readers, as FileAudit runs by default.
      t = performance.now();
      let next = 0;
      await Promise.all([0, 1].map(async () => {
        const b = Buffer.allocUnsafe(MiB);
        while (next < list.length) await inspectFile(list[next++]!, dev, 64 * MiB, b);
      }));
      const two = performance.now() - t;
      t = performance.now();
      execFileSync('sha256sum', ['--', ...list], { maxBuffer: 64 * MiB });
      const theirs = performance.now() - t;
      const fmt = (ms: number) => `${(list.length / (ms / 1000)).toFixed(0)} files/s ${(bytes / MiB / (ms / 1000)).toFixed(1)} MiB/s`;
      rows.push(`${name.padEnd(18)} | 1 reader ${fmt(one).padEnd(28)} | 2 readers ${fmt(two).padEnd(28)} | sha256sum ${fmt(theirs)}`);
    }
    console.log('hashing throughput (page cache warm for both):\n  ' + rows.join('\n  '));
  }, 30_000);

  it('makeReadOnly holds (EROFS) and undo makes the volume writable again', async () => {
    const deps = { run: runCommand, procfs: '/proc' };
    const r = await makeReadOnly(deps, loop, [mnt]);
    expect(r.error).toBeUndefined();
    expect(r.held).toBe(true);
    expect(r.verified).toEqual({ deviceReadOnly: true, mounts: [{ mountPoint: mnt, readOnly: true }] });
    expect(r.commands.map((c) => [c.cmd, ...c.args].join(' '))).toEqual([`blockdev --setro ${loop}`, `mount -o remount,ro ${mnt}`, `blockdev --getro ${loop}`]);
    expect(() => writeFileSync(join(mnt, 'blocked.txt'), 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }) as Error);
    await until('remount seen by the mount watcher', () => changes.find(([a, b]) => b.mountPoint === mnt && !a.readOnly && b.readOnly));

    const u = await undoReadOnly(deps, loop, [mnt]);
    expect(u).toMatchObject({ held: true, verified: { deviceReadOnly: false, mounts: [{ mountPoint: mnt, readOnly: false }] } });
    writeFileSync(join(mnt, 'after-undo.txt'), 'writable again');
    await until('event for the write after undo', () => byPath(join(mnt, 'after-undo.txt')));
    expect(byPath(join(mnt, 'after-undo.txt'))!.data.sha256).toBe(sha256sum(join(mnt, 'after-undo.txt')));
  });

  it('unmount stops the file watcher', async () => {
    await audit.idle();
    sh('umount', [mnt]);
    await until('media.unmounted', () => ours('media.unmounted')[0]);
    await until('watcher closed', () => !audit.watching().includes(mnt));
    const n = written().length;
    // The empty mount-point directory on /tmp is not the volume: writes there are not audited.
    writeFileSync(join(mnt, 'on-tmp.txt'), 'not on the volume');
    await new Promise((r) => setTimeout(r, 600));
    expect(written().length).toBe(n);
    expect(errors).toEqual([]);
  });
});
