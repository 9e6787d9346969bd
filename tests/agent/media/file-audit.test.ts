/** FileAudit on a plain folder (no root needed): initial scan by ctime, queue overflow accounting, policy switch. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAudit, inspectFile } from '../../../agent/media/file-audit.js';
import { validateEvent, type AgentEvent } from '../../../shared/events.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const dirs: string[] = [];
const audits: FileAudit[] = [];
afterEach(async () => {
  for (const a of audits.splice(0)) await a.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(opts: Partial<ConstructorParameters<typeof FileAudit>[0]> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tg-audit-'));
  dirs.push(dir);
  const events: AgentEvent[] = [];
  const errors: Error[] = [];
  const audit = new FileAudit({ emit: (e) => events.push(e), stabilityMs: 100, stabilityPollMs: 50, onError: (e) => errors.push(e), ...opts });
  audits.push(audit);
  return { dir, events, errors, audit, mount: { device: '/dev/fake0', mountPoint: dir, removable: true } };
}

describe('FileAudit', () => {
  it('initial scan: files already there are skipped, files written since the mount are reported', async () => {
    const { dir, events, audit, mount } = setup({ initialSlackMs: 0 });
    writeFileSync(join(dir, 'old.txt'), 'was there');
    await sleep(30);
    const seenAt = Date.now();
    await sleep(30);
    writeFileSync(join(dir, 'new.txt'), 'copied right after the mount');
    await audit.mounted({ ...mount, seenAt });
    await until('new.txt', () => events.find((e) => e.data.path === join(dir, 'new.txt')));
    await audit.idle();
    expect(events.map((e) => e.data.path)).toEqual([join(dir, 'new.txt')]);
    expect(events[0]!.data.sha256).toBe(createHash('sha256').update('copied right after the mount').digest('hex'));
    expect(audit.stats).toMatchObject({ preexisting: 1, caughtInScan: 1 });
  });

  it('a copy that starts while the watcher is still being set up is reported whole (reconcile pass)', async () => {
    // The race this guards (chokidar scans an empty root, its watch comes too late for the
    // directories cp makes) showed in about half of standalone runs and in the USB bench (163 of
    // 2,000 files unreported); under vitest's timing it rarely shows, so this is a regression
    // check of the whole path rather than a reliable reproduction.
    for (let round = 0; round < 3; round++) {
      const src = mkdtempSync(join(tmpdir(), 'tg-fa-src-'));
      for (let d = 0; d < 10; d++) {
        mkdirSync(join(src, `d${d}`));
        for (let f = 0; f < 20; f++) writeFileSync(join(src, `d${d}`, `f${f}.bin`), Buffer.alloc(1024 * (1 + ((f * 37) % 200)), d));
      }
      const dst = mkdtempSync(join(tmpdir(), 'tg-fa-dst-'));
      const got = new Set<string>();
      const audit = new FileAudit({ emit: (e) => { if (e.type === 'media.file_written') got.add(String(e.data.path)); }, enabled: true, stabilityMs: 100 });
      const ac = new AbortController();
      const running = audit.run(ac.signal);
      await audit.mounted({ device: '/dev/test', mountPoint: dst, removable: true });
      execFileSync('cp', ['-r', join(src, '.'), dst]); // blocks the event loop: the worst case
      const deadline = Date.now() + 10_000;
      while (got.size < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      await running;
      expect(got.size, `round ${round}`).toBe(200);
      rmSync(src, { recursive: true, force: true });
      rmSync(dst, { recursive: true, force: true });
    }
  });

  it('a full queue: files are counted in the summary unread, never dropped silently', async () => {
    const { dir, events, audit, mount } = setup({ queueMax: 5, concurrency: 1, burstThreshold: 1000, burstWindowMs: 800 });
    await audit.mounted(mount);
    for (let i = 0; i < 60; i++) writeFileSync(join(dir, `f${i}`), `x${i}`);
    const counted = () => events.filter((e) => e.type === 'media.file_written').length
      + events.filter((e) => e.type === 'media.files_burst').reduce((n, e) => n + (e.data.count as number), 0);
    await until('60 files accounted for', () => counted() >= 60);
    await audit.idle();
    expect(counted()).toBe(60);
    const [b] = events.filter((e) => e.type === 'media.files_burst');
    expect(validateEvent(b)).toBe(b);
    expect(b!.data.unread as number).toBeGreaterThan(0);
    expect(audit.stats.maxQueue).toBeLessThanOrEqual(5);
    expect((b!.data.first as { reason?: string }[]).some((f) => f.reason === 'queue full: not read')).toBe(true);
  });

  it('follows policy usb.auditFiles, and ignores non-removable mounts', async () => {
    const { dir, events, audit, mount } = setup({ enabled: false });
    await audit.mounted(mount);
    await audit.mounted({ device: '/dev/vda', mountPoint: '/', removable: false });
    expect(audit.watching()).toEqual([]);
    await audit.setEnabled(true);
    expect(audit.watching()).toEqual([dir]);
    writeFileSync(join(dir, 'a.txt'), 'a');
    await until('a.txt', () => events.find((e) => e.data.path === join(dir, 'a.txt')));
    await audit.setEnabled(false);
    expect(audit.watching()).toEqual([]);
    await audit.unmounted(mount);
  });

  it('inspectFile: never follows a symlink, refuses FIFOs and other devices, caps the hash', async () => {
    const { dir } = setup();
    const buf = Buffer.alloc(4096);
    const dev = statSync(dir).dev;
    symlinkSync('/etc/passwd', join(dir, 'link'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    writeFileSync(join(dir, 'f'), 'abc');
    expect(await inspectFile(join(dir, 'link'), dev, 1 << 20, buf)).toMatchObject({ kind: 'symlink', sha256: null, linkTarget: '/etc/passwd' });
    expect(await inspectFile(join(dir, 'f'), dev + 1, 1 << 20, buf)).toMatchObject({ sha256: null, reason: 'on another file system mounted inside the volume' });
    expect(await inspectFile(join(dir, 'f'), dev, 2, buf)).toMatchObject({ size: 3, sha256: null, reason: 'larger than 2 bytes: not hashed' });
    expect(await inspectFile(join(dir, 'f'), dev, 3, buf)).toMatchObject({ size: 3, sha256: createHash('sha256').update('abc').digest('hex') });
    expect(await inspectFile(join(dir, 'gone'), dev, 3, buf)).toMatchObject({ kind: 'missing', reason: 'gone before it could be read (ENOENT)' });
    expect(await inspectFile(join(dir, 'fifo'), dev, 3, buf)).toMatchObject({ kind: 'other', sha256: null });
    mkdirSync(join(dir, 'd'));
    expect((await inspectFile(join(dir, 'd'), dev, 3, buf)).kind).toBe('other');
  });
});

describe('makeMediaParts', () => {
  it('wires the mount watcher to the file audit on Linux, the volume poll on Windows and macOS', async () => {
    const { makeMediaParts } = await import('../../../agent/media/index.js');
    const { AgentConfigSchema } = await import('../../../agent/config.js');
    const config = AgentConfigSchema.parse({ media: { removableDevices: ['/dev/loop*'] } });
    const run = async () => ({ stdout: '', stderr: '', code: 0 });
    for (const platform of ['win32', 'darwin'] as const) {
      expect(makeMediaParts({ config, run, emit: () => undefined, auditFiles: true, platform }).parts.map((p) => p.name)).toEqual(['media.volumes', 'media.file_audit']);
    }
    expect(makeMediaParts({ config, run, emit: () => undefined, auditFiles: true, platform: 'aix' }).parts).toEqual([]);
    const m = makeMediaParts({ config, run, emit: () => undefined, auditFiles: true, platform: 'linux' });
    expect(m.parts.map((p) => p.name)).toEqual(['media.mounts', 'media.file_audit']);
  });
});
