/**
 * `termguard-agent run` against a running server: started, heartbeats, the policy fetched at start
 * and again when it changes (and the applied version reported), status --json, a clean stop.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, until, type TestServer } from '../helpers/server.js';

const exec = promisify(execFile);
let t: TestServer;
beforeAll(async () => { t = await startTestServer(); });
afterAll(async () => { await t.stop(); });


async function status(state: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await exec(process.execPath, ['dist/agent/cli.js', 'status', '--state', state, '--json']);
  return JSON.parse(r.stdout);
}

describe('termguard-agent run', () => {
  it('reports, follows policy changes, shows its status and stops cleanly', async () => {
    const state = tempDir('tg-agent-');
    expect((await status(state)).enrolled).toBe(false);
    await exec(process.execPath, ['dist/agent/cli.js', 'enroll', '--server', t.srv.consoleUrl, '--token', await t.token(), '--ca-hash', t.caHash, '--state', state],
      { env: { ...process.env, TERMGUARD_MACHINEID: 'agent-run-test' } });
    const hostId = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId as string;
    const store = t.srv.ctx.store;
    await store.setPolicy('default', { usb: { mode: 'readonly' } });

    const env = { ...process.env, TERMGUARD_INTERVALS_HEARTBEAT: '1', TERMGUARD_INTERVALS_STATUS: '1', TERMGUARD_LOGLEVEL: 'warn' };
    const child: ChildProcess = spawn(process.execPath, ['dist/agent/cli.js', 'run', '--state', state], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      await until('agent.started', async () => (await store.countEvents({ host: hostId, type: 'agent.started' })) === 1);
      await until('two heartbeats', async () => (await store.countEvents({ host: hostId, type: 'agent.heartbeat' })) >= 2);
      // Fetched at start: version 1 applied and reported.
      await until('policy 1 applied', async () => (await store.getHost(hostId))?.policyVersion === 1);
      expect(JSON.parse(readFileSync(join(state, 'policy.json'), 'utf8')).policy.usb.mode).toBe('readonly');
      // A change reaches the agent through the command long-poll, well before any poll interval.
      const t0 = Date.now();
      await exec(process.execPath, ['dist/server/cli.js', 'policy', 'set', writePolicy(state, { usb: { mode: 'block' } }), '--data', t.dir]);
      await until('policy 2 applied', async () => (await store.queryEvents({ host: hostId, type: 'agent.policy_applied' })).find((e) => e.data.policyVersion === 2));
      expect(Date.now() - t0).toBeLessThan(15_000);
      await until('host reports policy 2', async () => (await store.getHost(hostId))?.policyVersion === 2);
      const st = await until('status with policy 2', async () => { const s = await status(state); return s.policyVersion === 2 && s.agent && s; });
      expect(st).toMatchObject({ enrolled: true, hostId, server: { reachable: true }, policyVersion: 2 });
      expect(st.spool).toEqual(expect.objectContaining({ events: expect.any(Number), bytes: expect.any(Number) }));
      expect(st.certificate.expired).toBe(false);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
    await until('agent.stopped', async () => (await store.countEvents({ host: hostId, type: 'agent.stopped' })) === 1, 10_000);
    expect(stderr).toBe('');
    // Server gone: status says so instead of hanging.
    await t.stop();
    const down = await status(state);
    expect(down.server.reachable).toBe(false);
    expect(down.server.error).toBeTruthy();
    t = await startTestServerAgain();
  });
});

function writePolicy(dir: string, p: unknown): string {
  const f = join(dir, `policy-${Date.now()}.json`);
  writeFileSync(f, JSON.stringify(p));
  return f;
}

async function startTestServerAgain(): Promise<TestServer> {
  // afterAll stops whatever `t` is; give it a fresh server to stop.
  return startTestServer();
}
