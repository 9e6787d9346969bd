/**
 * Two server processes (two `startServer` with their own store pools) on one PostgreSQL database and
 * one data directory: an agent enrolled through one is served by the other, an event sent to both is
 * stored once and raises one violation, the console of either sees it, and a revocation made through
 * one is enforced by the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import pino from 'pino';
import { initData } from '../../server/init.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { createEnrollToken } from '../../server/tokens.js';
import { hashPassword } from '../../server/auth/secrets.js';
import { newEvent } from '../../shared/events.js';
import { generateAgentKey, makeCsr } from '../../shared/pki.js';
import { Agent } from 'node:https';
import { postgresSkipReason, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { https, tempDir, until } from '../helpers/server.js';

const skip = postgresSkipReason();

describe.skipIf(skip !== null)('two servers on one PostgreSQL database', () => {
  let cluster: PgCluster;
  let a: RunningServer;
  let b: RunningServer;
  const dir = tempDir('tg-pg2-');

  beforeAll(async () => {
    cluster = await startPostgres();
    const url = await cluster.createDatabase();
    await initData(dir, { storeUrl: url });
    const start = () => startServer({ dataDir: dir, storeUrl: url, agentPort: 0, consolePort: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), overrides: { revocationPollSeconds: 0.5 } });
    [a, b] = await Promise.all([start(), start()]);
    await a.ctx.store.createUser({ name: 'sec', passwordHash: hashPassword('a long enough passphrase'), role: 'secadmin', mustChange: false, disabled: false });
  }, 120_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves one fleet from both: stored once, one violation, revocation seen by both', async () => {
    expect(a.ctx.store.kind).toBe('postgres');
    const ca = a.ctx.ca.certPem;
    const key = generateAgentKey();
    const { token } = await createEnrollToken(b.ctx.store);
    const enrolled = await https(`${a.consoleUrl}/v1/enroll`, {
      method: 'POST', ca, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, csr: makeCsr(key.privateKeyPem, key.publicKeyPem, 'pg'), hostname: 'pg-host', machineId: 'pg-machine' }),
    });
    expect(enrolled.status).toBe(200);
    const agent = new Agent({ keepAlive: false, key: key.privateKeyPem, cert: enrolled.json.certificate, ca });
    const post = (srv: RunningServer, events: unknown[]) => https(`${srv.agentUrl}/v1/events`, { method: 'POST', agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
    const e = newEvent('egress.violation', 'high', ['art29'], { direction: 'outbound', proto: 'tcp', remoteAddress: '203.0.113.10', remotePort: 443, process: { name: 'curl' } });
    const [ra, rb] = await Promise.all([post(a, [e]), post(b, [e])]);
    expect(ra.json.acked).toEqual([e.id]);
    expect(rb.json.acked).toEqual([e.id]);
    expect(await b.ctx.store.countEvents({ type: 'egress.violation' })).toBe(1);

    const login = await https(`${b.consoleUrl}/api/login`, { method: 'POST', ca, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'sec', password: 'a long enough passphrase' }) });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const list = await https(`${b.consoleUrl}/api/violations?type=egress.violation`, { ca, headers: { cookie } });
    expect(list.json.total).toBe(1);
    expect(list.json.items[0].eventId).toBe(e.id);

    const rev = await https(`${b.consoleUrl}/api/hosts/${enrolled.json.hostId}/revoke`, { method: 'POST', ca, headers: { cookie, 'x-csrf-token': login.json.csrfToken, 'content-type': 'application/json' }, body: '{}' });
    expect(rev.json.revoked).toBe(true);
    await until('server A refuses the revoked host', async () => {
      try {
        const r = await post(a, [newEvent('agent.heartbeat', 'low', [], {})]);
        return r.status === 401 || r.status === 403;
      } catch {
        return true; // refused at the handshake by the new CRL
      }
    }, 20_000);
  }, 120_000);
});
