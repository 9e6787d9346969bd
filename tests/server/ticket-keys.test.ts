/**
 * TLS session tickets of the agent listener survive a restart and a CRL update (server/ticket-keys.ts):
 * a fleet coming back after an outage resumes its sessions instead of a full handshake each.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { connect, type TLSSocket } from 'node:tls';
import { readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { TicketKeys } from '../../server/ticket-keys.js';
import { initData } from '../../server/init.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { createEnrollToken } from '../../server/tokens.js';
import { enrollTestAgent, tempDir, type TestAgent, type TestServer } from '../helpers/server.js';
import { HttpClient } from '../../agent/transport/http.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('TicketKeys', () => {
  it('keeps one 0600 key in the data folder, shared by processes, rotated after a day', () => {
    const dir = tempDir('tg-tickets-');
    dirs.push(dir);
    const a = new TicketKeys(dir);
    const file = join(dir, 'tls-ticket.key');
    expect(a.keys.length).toBe(48);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file).equals(a.keys)).toBe(true);
    const b = new TicketKeys(dir);
    expect(b.keys.equals(a.keys)).toBe(true);
    expect(a.refresh()).toBeNull();
    // A day old: the next refresh rotates, and the other process takes the new key up.
    const old = new Date(Date.now() - 25 * 3_600_000);
    utimesSync(file, old, old);
    const rotated = a.refresh();
    expect(rotated).not.toBeNull();
    expect(rotated!.equals(b.keys)).toBe(false);
    expect(b.refresh()!.equals(rotated!)).toBe(true);
    expect(b.refresh()).toBeNull();
  });
});

/** A server on `dir` (made first with `init`); the same folder and port again for a restart. */
async function start(dir: string, agentPort = 0, init = false): Promise<RunningServer> {
  if (init) {
    dirs.push(dir);
    await initData(dir, {});
  }
  return startServer({ dataDir: dir, agentPort, consolePort: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), overrides: { revocationPollSeconds: 0.2 } });
}

/** `n` identities enrolled over the real API (their own test agents closed: the tests make their own connections). */
async function enrolled(srv: RunningServer, n: number): Promise<TestAgent[]> {
  const t = { srv, token: async () => (await createEnrollToken(srv.ctx.store, {})).token } as unknown as TestServer;
  const out: TestAgent[] = [];
  for (let i = 0; i < n; i++) {
    const a = await enrollTestAgent(t);
    a.agent.destroy();
    out.push(a);
  }
  return out;
}

/** One mutual-TLS connection: whether it resumed, the session it leaves, and the answer to GET /v1/policy. */
function handshake(port: number, id: { key: string; cert: string; ca: string }, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined; status: string }> {
  return new Promise((resolve, reject) => {
    let got: Buffer | undefined;
    const s: TLSSocket = connect({ host: '127.0.0.1', port, key: id.key, cert: id.cert, ca: id.ca, servername: 'localhost', checkServerIdentity: () => undefined, ...(session ? { session } : {}) }, () => {
      s.write('GET /v1/policy HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    });
    s.on('session', (b: Buffer) => { got = b; });
    let text = '';
    s.on('data', (c: Buffer) => { text += c.toString(); });
    s.on('end', () => resolve({ reused: s.isSessionReused(), session: got, status: text.split('\r\n')[0] ?? '' }));
    s.on('error', reject);
  });
}

describe('agent listener sessions', () => {
  it('resume across a server restart and a CRL update, not when the ticket key is gone', async () => {
    const dir = tempDir('tg-tickets-srv-');
    let srv = await start(dir, 0, true);
    const port = srv.agentPort;
    const [agent, other] = await enrolled(srv, 2);
    try {
      const first = await handshake(port, agent);
      expect(first).toMatchObject({ reused: false, status: 'HTTP/1.1 200 OK' });
      expect(first.session).toBeDefined();

      // A CRL update swaps the secure context: the session still resumes.
      let crls = 0;
      srv.ctx.revocations.onCrl(() => { crls++; });
      await srv.ctx.store.revokeHost(other.hostId, new Date().toISOString());
      await srv.ctx.revocations.refresh();
      expect(crls).toBe(1);
      const afterCrl = await handshake(port, agent, first.session);
      expect(afterCrl).toMatchObject({ reused: true, status: 'HTTP/1.1 200 OK' });
      await srv.close();
      srv = await start(dir, port);
      const afterRestart = await handshake(port, agent, first.session);
      expect(afterRestart).toMatchObject({ reused: true, status: 'HTTP/1.1 200 OK' });

      // Without the key file the restarted server cannot read the ticket: a full handshake.
      await srv.close();
      rmSync(join(dir, 'tls-ticket.key'));
      srv = await start(dir, port);
      const noKey = await handshake(port, agent, afterRestart.session ?? first.session);
      expect(noKey).toMatchObject({ reused: false, status: 'HTTP/1.1 200 OK' });
    } finally {
      await srv.close();
    }
  });
});

describe('the agent\'s HTTPS client', () => {
  it('resumes its session with a restarted server even after refused attempts in between', async () => {
    const dir = tempDir('tg-tickets-client-');
    let srv = await start(dir, 0, true);
    const port = srv.agentPort;
    const [id] = await enrolled(srv, 1);
    const client = new HttpClient(srv.agentUrl, { ca: id.ca, key: id.key, cert: id.cert });
    try {
      expect((await client.send('GET', '/v1/policy')).status).toBe(200);
      await srv.close();
      // The server is down: each attempt is refused (node:https forgets its cached session here).
      for (let i = 0; i < 3; i++) await expect(client.send('GET', '/v1/policy', { timeoutMs: 2000 })).rejects.toThrow(/ECONNREFUSED|socket hang up|ECONNRESET/);
      srv = await start(dir, port);
      expect((await client.send('GET', '/v1/policy')).status).toBe(200);
      expect(srv.ctx.metrics!.counters).toMatchObject({ agentHandshakes: 1, agentHandshakesResumed: 1 });
    } finally {
      client.close();
      await srv.close();
    }
  });
});
