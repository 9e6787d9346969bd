/**
 * Removable volumes end to end with the real agent and a real server: a loop-mounted ext4 image
 * (named in media.removableDevices) stands in for a stick's volume. Under `usb.mode: readonly`
 * it is made read-only as it mounts and writes fail; when the policy relaxes, it is given back and
 * files copied onto it arrive as media.file_written with the right hashes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { startTestServer, tempDir, until, type TestServer } from '../helpers/server.js';

const exec = promisify(execFile);
const CI = process.env.CI === 'true';
const why = process.platform !== 'linux' ? 'not Linux' : process.getuid?.() !== 0 ? 'not root (loop devices and mounts need root)' : null;
if (why && !CI) console.log(`skipping media control integration test: ${why}`);

describe.skipIf(why !== null && !CI)('media control with a loop-mounted volume', () => {
  let t: TestServer;
  let agent: ChildProcess | null = null;
  let loop = '';
  let mnt = '';
  const dir = tempDir('tg-media-');
  beforeAll(async () => { t = await startTestServer(); });
  afterAll(async () => {
    if (agent) { agent.kill('SIGTERM'); await new Promise((r) => agent!.once('exit', r)); }
    if (mnt) try { execFileSync('umount', ['-l', mnt]); } catch { /* not mounted */ }
    if (loop) try { execFileSync('losetup', ['-d', loop]); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
    await t.stop();
  });

  it('locks the volume read-only under readonly, gives it back, and audits files written', async () => {
    expect(why, 'needs root on Linux; CI=true forbids skipping').toBeNull();
    const state = join(dir, 'state');
    await exec(process.execPath, ['dist/agent/cli.js', 'enroll', '--server', t.srv.consoleUrl, '--token', await t.token(), '--ca-hash', t.caHash, '--state', state],
      { env: { ...process.env, TERMGUARD_MACHINEID: 'media-control' } });
    const hostId = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId as string;
    const store = t.srv.ctx.store;
    await store.setPolicy('default', { usb: { mode: 'readonly', auditFiles: true } });
    agent = spawn(process.execPath, ['dist/agent/cli.js', 'run', '--state', state], {
      stdio: 'ignore', env: { ...process.env, TERMGUARD_MEDIA_REMOVABLEDEVICES: '/dev/loop*', TERMGUARD_LOGLEVEL: 'warn', TERMGUARD_INTERVALS_INVENTORYCHANGES: '3600' },
    });
    await until('policy applied', async () => (await store.getHost(hostId))?.policyVersion === 1, 20_000);

    // Plug in "the stick": after the agent started, as a real one would arrive.
    const img = join(dir, 'stick.img');
    execFileSync('truncate', ['-s', '64M', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'STICK', img]);
    loop = execFileSync('losetup', ['--find', '--show', img], { encoding: 'utf8' }).trim();
    mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', [loop, mnt]);

    const mounted = await until('media.mounted', async () => (await store.queryEvents({ host: hostId, type: 'media.mounted' })).find((e) => e.data.mountPoint === mnt), 20_000);
    expect(mounted.data.device).toBe(loop);
    const locked = await until('usb.blocked readonly', async () => (await store.queryEvents({ host: hostId, type: 'usb.blocked' })).find((e) => (e.data.volume as { mountPoint?: string })?.mountPoint === mnt), 20_000);
    expect(locked.data).toMatchObject({ action: 'readonly', held: true });
    expect(() => writeFileSync(join(mnt, 'exfil.txt'), 'secret')).toThrow(/EROFS|read-only/);

    // The policy relaxes: the volume is given back, and what is written is audited.
    await store.setPolicy('default', { usb: { mode: 'audit', auditFiles: true } });
    await until('volume writable again', async () => {
      try { writeFileSync(join(mnt, 'probe.txt'), 'x'); return true; } catch { return false; }
    }, 20_000);
    const content = Buffer.from('quarterly report 季度报告\n'.repeat(1000));
    const name = '<script>alert(1)<\\script>.txt'.replace(/\\/g, '_');
    writeFileSync(join(mnt, name), content);
    const written = await until('media.file_written', async () => (await store.queryEvents({ host: hostId, type: 'media.file_written' })).find((e) => String(e.data.path).endsWith(name)), 20_000);
    expect(written.data.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    expect(written.data.size).toBe(content.length);
    expect(await store.countEvents({ host: hostId, type: 'usb.unblocked' })).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
