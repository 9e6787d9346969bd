/**
 * Enrollment: one command (the Outline `deviceEnroller` way). The agent made its key; we get a CSR,
 * whose signature proves possession. Host identity rules:
 *  - a machine id seen before keeps its host id only with proof of its current key (the same key in
 *    the CSR, or a signature by the current key over the new CSR);
 *  - another key with the same machine id is a clone: a new host, flagged, never merged.
 * The token is consumed only once everything else checked out, so a bad CSR wastes no use.
 */
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { TgError } from '../shared/errors.js';
import { newEvent } from '../shared/events.js';
import { PROTOCOL_VERSION, CAPABILITIES } from '../shared/protocol.js';
import { certInfo, verifyData } from '../shared/pki.js';
import { issueAgentCert, verifyCsr, type IssuedCert } from './pki/ca.js';
import { hashSecret, newSecret, secretMatches } from './auth/secrets.js';
import type { ServerContext } from './context.js';
import type { HostRow } from './store/types.js';
import { storeServerEvent } from './violations.js';

export const EnrollRequest = z.strictObject({
  token: z.string().min(1).max(256),
  csr: z.string().min(1).max(16_384),
  hostname: z.string().min(1).max(253),
  machineId: z.string().min(1).max(256),
  /** Re-enrollment with a new key: the current certificate and a signature by the current key over sha256(csr). */
  proof: z.strictObject({ certificate: z.string().max(16_384), signature: z.string().max(2048) }).optional(),
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const RecoverRequest = z.strictObject({
  hostId: z.string().min(1).max(128),
  csr: z.string().min(1).max(16_384),
  secret: z.string().min(1).max(256),
});

export interface EnrollResponse {
  certificate: string;
  ca: string;
  hostId: string;
  agentUrl: string;
  renewalSecret: string;
  notAfter: string;
  protocolVersion: number;
  capabilities: readonly string[];
  cloneOf?: string;
}

/** Issue a certificate for a known host from a CSR and make it the host's current one. */
export async function issueForHost(ctx: ServerContext, hostId: string, csrPem: string, renewalHash?: string): Promise<IssuedCert> {
  const csr = verifyCsr(csrPem);
  const issued = issueAgentCert(ctx.ca, { csrPem, hostId, days: ctx.config.agentCertDays });
  await ctx.store.setHostCert(hostId, {
    serial: issued.serial, hostId, spki: csr.spkiSha256, notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString(),
  }, renewalHash);
  return issued;
}

function proofHolds(ctx: ServerContext, host: HostRow, csrPem: string, proof: NonNullable<EnrollRequest['proof']>): boolean {
  try {
    const cert = new X509Certificate(proof.certificate);
    if (!cert.verify(new X509Certificate(ctx.ca.certPem).publicKey)) return false;
    const info = certInfo(proof.certificate);
    if (info.commonName !== host.id || info.spkiSha256 !== host.spki) return false;
    return verifyData(proof.certificate, createHash('sha256').update(csrPem).digest(), proof.signature);
  } catch {
    return false;
  }
}

export async function enroll(ctx: ServerContext, req: EnrollRequest, agentUrl: string): Promise<EnrollResponse> {
  const csr = verifyCsr(req.csr);
  const known = (await ctx.store.hostsByMachineId(req.machineId)).filter((h) => h.status === 'active' && h.cloneOf === null);
  const original = known[0];
  let keepId: string | undefined;
  let cloneOf: string | undefined;
  if (original) {
    if (original.spki === csr.spkiSha256) keepId = original.id;
    else if (req.proof) {
      if (!proofHolds(ctx, original, req.csr, req.proof)) throw new TgError('TG_E_BAD_PROOF');
      keepId = original.id;
    } else cloneOf = original.id;
  }

  const token = await ctx.store.consumeToken(hashSecret(req.token), new Date());
  if (!token.ok) throw new TgError(token.code);

  const renewalSecret = newSecret(32);
  const hostId = keepId ?? randomUUID();
  if (keepId) {
    const issued = await issueForHost(ctx, hostId, req.csr, hashSecret(renewalSecret));
    return response(ctx, hostId, issued, renewalSecret, agentUrl);
  }
  const issued = issueAgentCert(ctx.ca, { csrPem: req.csr, hostId, days: ctx.config.agentCertDays });
  const now = new Date().toISOString();
  await ctx.store.createHost({
    id: hostId, machineId: req.machineId, hostname: req.hostname, group: 'default', spki: csr.spkiSha256,
    certSerial: issued.serial, certNotAfter: issued.notAfter.toISOString(), enrolledAt: now,
    status: cloneOf ? 'clone' : 'active', cloneOf: cloneOf ?? null, renewalHash: hashSecret(renewalSecret),
  });
  await ctx.store.addCert({ serial: issued.serial, hostId, spki: csr.spkiSha256, notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString() });
  if (cloneOf) {
    // Recorded on the original host, so whoever watches it sees that its identity was copied.
    const e = newEvent('host.clone_detected', 'high', ['art31'], { cloneHostId: hostId, machineId: req.machineId, hostname: req.hostname });
    await storeServerEvent(ctx, cloneOf, e, new Date(now));
    ctx.log.warn({ hostId, cloneOf, machineId: req.machineId }, 'clone enrolled: same machine id, different key');
  }
  return { ...response(ctx, hostId, issued, renewalSecret, agentUrl), ...(cloneOf ? { cloneOf } : {}) };
}

/** An agent whose certificate expired while offline: renewal secret plus the same key, no token. */
export async function recover(ctx: ServerContext, req: z.infer<typeof RecoverRequest>, agentUrl: string): Promise<EnrollResponse> {
  const host = await ctx.store.getHost(req.hostId);
  const stored = host ? await ctx.store.getRenewalHash(host.id) : null;
  const csr = verifyCsr(req.csr);
  if (!host || host.status === 'revoked' || !stored || !secretMatches(req.secret, stored) || csr.spkiSha256 !== host.spki) {
    throw new TgError('TG_E_RENEWAL_DENIED');
  }
  const renewalSecret = newSecret(32);
  const issued = await issueForHost(ctx, host.id, req.csr, hashSecret(renewalSecret));
  return response(ctx, host.id, issued, renewalSecret, agentUrl);
}

function response(ctx: ServerContext, hostId: string, issued: IssuedCert, renewalSecret: string, agentUrl: string): EnrollResponse {
  return {
    certificate: issued.certPem, ca: ctx.ca.certPem, hostId, agentUrl: ctx.config.agentUrl ?? agentUrl, renewalSecret,
    notAfter: issued.notAfter.toISOString(), protocolVersion: PROTOCOL_VERSION, capabilities: CAPABILITIES,
  };
}
