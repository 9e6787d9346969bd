/**
 * The .deb's prerm tells a running agent why it is about to stop (issue 8, item 5): it writes
 * `uninstall` or `upgrade` into <state>/stop-reason when systemd runs and the service is active, and
 * the agent reports that cause in agent.stopped. The script runs as shipped except for its two
 * absolute paths (the state folder and /run/systemd/system), pointed at temp folders, with fake
 * `systemctl` and `deb-systemd-invoke` on PATH (the latter stops the agent with SIGTERM, as systemd does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, until, type TestServer } from '../helpers/server.js';

const exec = promisify(execFile);
let t: TestServer;
beforeAll(async () => { t = await startTestServer(); });
afterAll(async () => { await t.stop(); });

/** prerm with its paths moved into `dir`; returns how to run it with a given `systemctl is-active` answer. */
function prermIn(dir: string, state: string) {
  const systemd = join(dir, 'run-systemd-system');
  mkdirSync(systemd);
  const script = join(dir, 'prerm');
  writeFileSync(script, readFileSync('installers/linux/debian/prerm', 'utf8')
    .replaceAll('/var/lib/termguard', state).replaceAll('/run/systemd/system', systemd), { mode: 0o755 });
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'systemctl'), '#!/bin/sh\n[ "$1" = is-active ] && exit "${FAKE_ACTIVE_RC:-0}"\nexit 0\n', { mode: 0o755 });
  writeFileSync(join(bin, 'deb-systemd-invoke'), '#!/bin/sh\n[ "$1" = stop ] && [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID"\nexit 0\n', { mode: 0o755 });
  return (args: string[], env: Record<string, string> = {}) =>
    exec('sh', [script, ...args], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...env } });
}

describe('prerm stop reason', () => {
  it('writes "upgrade" (0600) only when the service is active under systemd', async () => {
    const dir = tempDir('tg-prerm-');
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    const prerm = prermIn(dir, state);
    await prerm(['upgrade', '0.2.0'], { FAKE_ACTIVE_RC: '3' }); // inactive
    expect(existsSync(join(state, 'stop-reason'))).toBe(false);
    await prerm(['upgrade', '0.2.0']);
    expect(readFileSync(join(state, 'stop-reason'), 'utf8')).toBe('upgrade\n');
    expect(statSync(join(state, 'stop-reason')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(state, 'stop-reason.tmp'))).toBe(false);
  });

  it('an uninstall stops the running agent, which reports cause "uninstall" and removes the note', async () => {
    const dir = tempDir('tg-prerm-');
    const state = join(dir, 'state');
    await exec(process.execPath, ['dist/agent/cli.js', 'enroll', '--server', t.srv.consoleUrl, '--token', await t.token(), '--ca-hash', t.caHash, '--state', state],
      { env: { ...process.env, TERMGUARD_MACHINEID: 'prerm-stop-reason' } });
    const hostId = (JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')) as { hostId: string }).hostId;
    const agent = spawn(process.execPath, ['dist/agent/cli.js', 'run', '--state', state], {
      env: { ...process.env, TERMGUARD_LOGLEVEL: 'warn', TERMGUARD_INTERVALS_HEARTBEAT: '1' }, stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
    try {
      const store = t.srv.ctx.store;
      await until('agent.started', async () => (await store.queryEvents({ host: hostId, type: 'agent.started' }))[0], 30_000);
      await prermIn(dir, state)(['remove'], { AGENT_PID: String(agent.pid) });
      expect(await exited).toBe(0);
      const stopped = await until('agent.stopped', async () => (await store.queryEvents({ host: hostId, type: 'agent.stopped' }))[0], 15_000);
      expect(stopped.data).toMatchObject({ reason: 'stopped', cause: 'uninstall', signal: 'SIGTERM' });
      expect(existsSync(join(state, 'stop-reason'))).toBe(false);
    } finally {
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
  }, 60_000);
});

