/**
 * The request-path check behind the handshake: a connection that was fine when it opened is
 * refused per request once its certificate is revoked or expired, and an empty peer certificate
 * (a request buffered on a socket being torn down) is never taken for an identity.
 */
import { describe, it, expect } from 'vitest';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import { identify } from '../../server/routes/agent/identity.js';
import type { ServerContext } from '../../server/context.js';
import type { FastifyRequest } from 'fastify';

/**
 * A TLS socket as identify() sees it: getPeerX509Certificate() answers undefined when there is no
 * peer certificate, else an X509Certificate whose subject is one attribute per line.
 */
function fakeSocket(peer: { serialNumber: string; subject: string | { CN: string } } | null, authorized = true) {
  const x509 = peer && { serialNumber: peer.serialNumber, subject: typeof peer.subject === 'string' ? peer.subject : `O=termguard\nCN=${peer.subject.CN}` };
  return Object.assign(new EventEmitter(), { authorized, getPeerX509Certificate: () => x509 ?? undefined, destroy() { this.destroyed = true; }, destroyed: false });
}

function ctx(opts: { revoked?: Set<string>; certs?: Record<string, { hostId: string; notAfter: string }> }): ServerContext {
  return {
    log: pino({ level: 'silent' }),
    revocations: { isRevoked: (s: string) => opts.revoked?.has(s) ?? false },
    store: { getCert: async (serial: string) => (opts.certs?.[serial] ? { serial, spki: 'k', notBefore: '', revokedAt: null, ...opts.certs[serial] } : null) },
  } as unknown as ServerContext;
}

const req = (socket: unknown) => ({ raw: { socket } }) as unknown as FastifyRequest;
const future = new Date(Date.now() + 86_400_000).toISOString();

describe('agent identity in the request path', () => {
  it('takes the host id from the certificate', async () => {
    const s = fakeSocket({ serialNumber: '0A1B', subject: { CN: 'host-1' } });
    await expect(identify(ctx({ certs: { a1b: { hostId: 'host-1', notAfter: future } } }), req(s))).resolves.toMatchObject({ hostId: 'host-1', serial: 'a1b' });
  });

  it('refuses an empty or unauthorised peer certificate', async () => {
    await expect(identify(ctx({}), req(fakeSocket(null)))).rejects.toMatchObject({ code: 'TG_E_CERT_REQUIRED' });
    await expect(identify(ctx({}), req(fakeSocket({ serialNumber: '01', subject: { CN: 'h' } }, false)))).rejects.toMatchObject({ code: 'TG_E_CERT_REQUIRED' });
  });

  it('refuses a certificate whose CN does not match the host it was issued to, or that the server never issued', async () => {
    const s = fakeSocket({ serialNumber: '01', subject: { CN: 'someone-else' } });
    await expect(identify(ctx({ certs: { '1': { hostId: 'host-1', notAfter: future } } }), req(s))).rejects.toMatchObject({ code: 'TG_E_CERT_UNKNOWN' });
    await expect(identify(ctx({}), req(fakeSocket({ serialNumber: '02', subject: { CN: 'x' } })))).rejects.toMatchObject({ code: 'TG_E_CERT_UNKNOWN' });
    // The common name must be the host id itself: not a longer name, not another attribute's value.
    const certs = { '5': { hostId: 'host-5', notAfter: future } };
    for (const subject of ['CN=host-5x', 'OU=CN=host-5', 'CN=host-5 ', 'O=host-5']) {
      await expect(identify(ctx({ certs }), req(fakeSocket({ serialNumber: '05', subject })))).rejects.toMatchObject({ code: 'TG_E_CERT_UNKNOWN' });
    }
    await expect(identify(ctx({ certs }), req(fakeSocket({ serialNumber: '05', subject: 'C=CN\nCN=host-5' })))).resolves.toMatchObject({ hostId: 'host-5' });
  });

  it('refuses per request once revoked, on an already identified connection, and closes it', async () => {
    const revoked = new Set<string>();
    const c = ctx({ revoked, certs: { '3': { hostId: 'host-3', notAfter: future } } });
    const s = fakeSocket({ serialNumber: '03', subject: { CN: 'host-3' } });
    await expect(identify(c, req(s))).resolves.toMatchObject({ hostId: 'host-3' });
    revoked.add('3');
    await expect(identify(c, req(s))).rejects.toMatchObject({ code: 'TG_E_CERT_REVOKED' });
    s.emit('finish');
    expect(s.destroyed).toBe(true);
  });

  it('refuses per request once the certificate expired on an open connection', async () => {
    const soon = new Date(Date.now() + 50).toISOString();
    const c = ctx({ certs: { '4': { hostId: 'host-4', notAfter: soon } } });
    const s = fakeSocket({ serialNumber: '04', subject: { CN: 'host-4' } });
    await expect(identify(c, req(s))).resolves.toMatchObject({ hostId: 'host-4' });
    await new Promise((r) => setTimeout(r, 80));
    await expect(identify(c, req(s))).rejects.toMatchObject({ code: 'TG_E_CERT_EXPIRED' });
  });
});
