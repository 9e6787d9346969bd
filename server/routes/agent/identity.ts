/**
 * Who is calling: the host id comes from the client certificate, never from a payload.
 * The handshake already refused unknown CAs, expired and CRL-listed certificates; this check in
 * the request path catches what a handshake cannot (a request buffered on a socket being closed,
 * a revocation newer than the connection, a certificate that expired while the connection stayed open).
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { TgError } from '../../../shared/errors.js';
import { normaliseSerial } from '../../../shared/pki.js';
import type { ServerContext } from '../../context.js';

export interface AgentIdentity {
  hostId: string;
  serial: string;
  notAfter: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    agent: AgentIdentity;
  }
}

const bySocket = new WeakMap<TLSSocket, AgentIdentity>();

export async function identify(ctx: ServerContext, req: FastifyRequest): Promise<AgentIdentity> {
  const socket = req.raw.socket as TLSSocket;
  let id = bySocket.get(socket);
  if (!id) {
    // The X509Certificate, not getPeerCertificate(): that one builds an object with three
    // fingerprints and the public key for every new connection, a fleet's reconnect storm long.
    const peer = socket.authorized ? socket.getPeerX509Certificate() : undefined;
    if (!peer || !peer.serialNumber) throw new TgError('TG_E_CERT_REQUIRED');
    const serial = normaliseSerial(peer.serialNumber);
    const row = await ctx.store.getCert(serial);
    // The subject, one attribute per line: the host's id must be its common name.
    if (!row || !peer.subject.split('\n').includes(`CN=${row.hostId}`)) throw new TgError('TG_E_CERT_UNKNOWN');
    id = { hostId: row.hostId, serial, notAfter: Date.parse(row.notAfter) };
    bySocket.set(socket, id);
  }
  if (ctx.revocations.isRevoked(id.serial)) {
    socket.once('finish', () => socket.destroy());
    throw new TgError('TG_E_CERT_REVOKED');
  }
  if (Date.now() > id.notAfter) throw new TgError('TG_E_CERT_EXPIRED');
  return id;
}
