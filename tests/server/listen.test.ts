/**
 * The agent port's accepting sockets (server/listen.ts, server/native/listen): several sockets share
 * the port so a returning fleet is accepted several connections per event-loop turn; each serves
 * the same API with the same mutual TLS; a taken port is refused; one socket where configured.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initData } from '../../server/init.js';
import { startServer } from '../../server/server.js';
import { enrollTestAgent, https, startTestServer, tempDir, type TestAgent, type TestServer } from '../helpers/server.js';

let t: TestServer;
let agent: TestAgent;
beforeAll(async () => { t = await startTestServer({ agentAcceptSockets: 8 }); agent = await enrollTestAgent(t); }, 60_000);
afterAll(async () => { await t?.stop(); });

const listening = (port: number) => execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim().split('\n');

describe('agent listener sockets', () => {
  it('agentAcceptSockets: 8 gives the agent port 8 accepting sockets, each queueing up to 4,096 connections (a fleet returning at once is not dropped)', () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    // For a listening socket, ss shows the accept backlog in Send-Q.
    const lines = listening(t.srv.agentPort);
    expect(lines).toHaveLength(8); // server/native/listen is built by npm ci
    for (const line of lines) expect(Number(line.trim().split(/\s+/)[2])).toBe(Math.min(4096, somaxconn));
  });

  it('every accepting socket serves the agent API with the client certificate checked', async () => {
    // 48 new connections: the kernel spreads them over the 8 sockets (by address and port).
    const answers = await Promise.all(Array.from({ length: 48 }, () => https(`${t.srv.agentUrl}/v1/policy`, {
      key: agent.key, cert: agent.cert, ca: t.srv.ctx.ca.certPem, agent: false,
    })));
    expect(answers.map((r) => r.status)).toEqual(Array(48).fill(200));
    // Without a client certificate, on any of them: refused in the handshake.
    const refused = await Promise.all(Array.from({ length: 16 }, () => https(`${t.srv.agentUrl}/v1/policy`, { ca: t.srv.ctx.ca.certPem, agent: false })
      .then(() => 'answered', (e: NodeJS.ErrnoException) => e.code ?? e.message)));
    expect(refused.filter((r) => r === 'answered')).toEqual([]);
  });

  it('a taken agent port is refused as Node refuses it, shared sockets or not', async () => {
    const dir = tempDir('tg-srv-taken-');
    try {
      await initData(dir, {});
      for (const agentAcceptSockets of [8, 1]) {
        const second = startServer({ dataDir: dir, agentPort: t.srv.agentPort, consolePort: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), overrides: { agentAcceptSockets } });
        await expect(second).rejects.toThrow(agentAcceptSockets > 1 ? /bind: Address already in use/ : /EADDRINUSE/);
      }
      // The first server still has its 8 sockets and serves.
      expect(listening(t.srv.agentPort)).toHaveLength(8);
      expect((await agent.get('/v1/policy')).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('by default (agentAcceptSockets: 1) the server listens the ordinary way, on one socket', async () => {
    const one = await startTestServer();
    try {
      const lines = listening(one.srv.agentPort);
      expect(lines).toHaveLength(1);
      expect(Number(lines[0]!.trim().split(/\s+/)[2])).toBe(Math.min(4096, Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))));
      const a = await enrollTestAgent(one);
      expect((await a.get('/v1/policy')).status).toBe(200);
    } finally {
      await one.stop();
    }
  });
});
