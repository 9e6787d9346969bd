/**
 * An idle agent holds one connection: its heartbeats ride the command long-poll's kept-alive
 * connection between two polls (agent/transport/heartbeat.ts), so a server of thousands of idle
 * agents makes no TLS handshake per beat. Real agent process, real server, real mutual TLS; the
 * handshakes are counted by the server (termguard_agent_tls_handshakes_total).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, until, type TestServer } from '../helpers/server.js';

const exec = promisify(execFile);
let t: TestServer;
beforeAll(async () => { t = await startTestServer(); });
afterAll(async () => { await t.stop(); });

describe('an idle agent', () => {
  it('sends its heartbeats on the long-poll connection: beats stored, no new handshake', async () => {
    const state = tempDir('tg-idle-');
    await exec(process.execPath, ['dist/agent/cli.js', 'enroll', '--server', t.srv.consoleUrl, '--token', await t.token(), '--ca-hash', t.caHash, '--state', state],
      { env: { ...process.env, TERMGUARD_MACHINEID: 'idle-connection-test' } });
    const hostId = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId as string;
    const store = t.srv.ctx.store;
    const counters = t.srv.ctx.metrics!.counters;
    const beats = () => store.countEvents({ host: hostId, type: 'agent.heartbeat' });
    const env = { ...process.env, TERMGUARD_INTERVALS_HEARTBEAT: '12', TERMGUARD_INTERVALS_STATUS: '1', TERMGUARD_LOGLEVEL: 'warn' };
    const child: ChildProcess = spawn(process.execPath, ['dist/agent/cli.js', 'run', '--state', state], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      await until('agent.started and the first beat', async () => (await beats()) >= 1, 20_000);
      // The start-up burst (first inventory within a minute, then checks and attestation) uses the
      // events connection, which closes after 10 s unused; the next watch is 5 minutes later.
      await until('start-up inventory, checks and attestation', async () => (await store.countEvents({ host: hostId, type: 'host.attestation' })) >= 1, 90_000);
      // Beats 12 s apart outlast the events connection's 10 s: each would need a handshake of its own.
      await new Promise((r) => setTimeout(r, 11_000));
      const handshakes = counters.agentHandshakes;
      const before = await beats();
      await new Promise((r) => setTimeout(r, 40_000));
      const during = (await beats()) - before;
      // 40 s at a beat every 12 s (±10%): at least 3 beats stored, every one without a new connection.
      expect(during).toBeGreaterThanOrEqual(3);
      expect(counters.agentHandshakes - handshakes).toBe(0);
      // The beats' ids are acked: the spool holds nothing old.
      const st = JSON.parse(readFileSync(join(state, 'status.json'), 'utf8')) as { spool: { events: number } };
      expect(st.spool.events).toBeLessThanOrEqual(1);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await new Promise<number | null>((r) => child.once('exit', r))).toBe(0);
    expect(stderr).toBe('');
  }, 180_000);
});
