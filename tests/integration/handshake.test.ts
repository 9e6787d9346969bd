/**
 * Handshake matrix against a running server: a good certificate is accepted; no certificate,
 * another CA, expired and revoked ones are refused; revocation closes an open connection.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type TLSSocket } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { startTestServer, enrollTestAgent, https, type TestServer } from '../helpers/server.js';
import { createCa, issueAgentCert } from '../../server/pki/ca.js';
import { generateAgentKey, makeCsr } from '../../shared/pki.js';

let t: TestServer;
beforeAll(async () => { t = await startTestServer(); });
afterAll(async () => { await t.stop(); });

/** A fresh TLS connection with the given client identity; resolves once a request got an answer, rejects on refusal. */
function tlsGet(opts: { key?: string; cert?: string }): Promise<{ status: number; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: t.srv.agentPort, ca: t.srv.ctx.ca.certPem, servername: 'localhost', ...opts });
    let buf = '';
    socket.on('secureConnect', () => socket.write('GET /v1/policy HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    socket.on('data', (d) => {
      buf += d.toString();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
      if (m && buf.includes('\r\n\r\n')) resolve({ status: Number(m[1]), socket });
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before an answer: ${buf.slice(0, 80)}`)));
  });
}

describe('agent listener handshake', () => {
  it('accepts a certificate issued to an enrolled host', async () => {
    const a = await enrollTestAgent(t);
    const r = await tlsGet({ key: a.key, cert: a.cert });
    expect(r.status).toBe(200);
    r.socket.destroy();
  });

  it('refuses a client without a certificate', async () => {
    await expect(tlsGet({})).rejects.toThrow();
    // And over HTTPS too: never an HTTP answer.
    await expect(https(`${t.srv.agentUrl}/v1/policy`, { ca: t.srv.ctx.ca.certPem })).rejects.toThrow();
  });

  it('refuses a certificate from another CA', async () => {
    const other = createCa({ commonName: 'rogue CA' });
    const k = generateAgentKey();
    const cert = issueAgentCert(other, { csrPem: makeCsr(k.privateKeyPem, k.publicKeyPem, 'x'), hostId: 'rogue' });
    await expect(tlsGet({ key: k.privateKeyPem, cert: cert.certPem })).rejects.toThrow();
  });

  it('refuses an expired certificate from the right CA', async () => {
    const k = generateAgentKey();
    const cert = issueAgentCert(t.srv.ctx.ca, {
      csrPem: makeCsr(k.privateKeyPem, k.publicKeyPem, 'x'), hostId: 'expired-host', days: 1, now: new Date(Date.now() - 100 * 86_400_000),
    });
    await expect(tlsGet({ key: k.privateKeyPem, cert: cert.certPem })).rejects.toThrow();
  });

  it('refuses a certificate from the right CA that the server never issued to a host', async () => {
    const k = generateAgentKey();
    const cert = issueAgentCert(t.srv.ctx.ca, { csrPem: makeCsr(k.privateKeyPem, k.publicKeyPem, 'x'), hostId: 'ghost' });
    const r = await tlsGet({ key: k.privateKeyPem, cert: cert.certPem });
    expect(r.status).toBe(401);
    r.socket.destroy();
  });

  it('refuses a revoked host at handshake, and closes its open connection within seconds', async () => {
    const a = await enrollTestAgent(t);
    const open = await tlsGet({ key: a.key, cert: a.cert });
    expect(open.status).toBe(200);
    const closed = new Promise<number>((resolve) => { const t0 = Date.now(); open.socket.on('close', () => resolve(Date.now() - t0)); });
    // Revoke from another process, as an administrator would: the server learns it from the store.
    execFileSync(process.execPath, ['dist/server/cli.js', 'host', 'revoke', a.hostId, '--data', t.dir], { stdio: 'pipe' });
    const ms = await closed;
    expect(ms).toBeLessThan(60_000);
    await expect(tlsGet({ key: a.key, cert: a.cert })).rejects.toThrow();
    // Other hosts keep working.
    const b = await enrollTestAgent(t);
    const ok = await tlsGet({ key: b.key, cert: b.cert });
    expect(ok.status).toBe(200);
    ok.socket.destroy();
  });

  it('offers no TLS below 1.2', async () => {
    const a = await enrollTestAgent(t);
    await expect(new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: t.srv.agentPort, ca: t.srv.ctx.ca.certPem, servername: 'localhost', key: a.key, cert: a.cert, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
      s.on('secureConnect', () => { s.destroy(); resolve('connected'); });
      s.on('error', reject);
    })).rejects.toThrow();
  });
});
