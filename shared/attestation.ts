/**
 * Signed hardening attestation (art11): what one terminal proved about itself, verifiable offline
 * by an auditor who trusts only the institution CA. The file is readable JSON: the body in clear,
 * the signature over its canonical form (RFC 8785), and the agent certificate that certifies the key.
 *
 * To say *which* field was changed, the body carries a digest of each of its parts (`fieldDigests`),
 * itself covered by the signature: a verifier recomputes them and names every part that differs.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import { canonicalize, digest } from './canonical.js';
import { certInfo, signData, verifyData } from './pki.js';

export const ATTESTATION_KIND = 'termguard.attestation';
export const ATTESTATION_VERSION = 1;

export interface AttestedCheck {
  id: string;
  status: 'pass' | 'fail' | 'not_applicable' | 'error';
  title: { en: string; zh: string };
  articles: string[];
  mlps: string;
  evidence: Record<string, unknown>;
  reason?: string;
}

export interface AttestationBody {
  kind: typeof ATTESTATION_KIND;
  version: typeof ATTESTATION_VERSION;
  hostId: string;
  hostname: string;
  time: string;
  agentVersion: string;
  os: string;
  policyVersion: number;
  policyDigest: string;
  profile: string;
  summary: { pass: number; fail: number; not_applicable: number; error: number };
  checks: AttestedCheck[];
  inventoryDigest: string;
  fieldDigests: Record<string, string>;
}

export interface AttestationFile {
  body: AttestationBody;
  signature: { alg: 'ecdsa-sha256' | 'rsa-sha256'; value: string };
  certificate: string;
}

/** The parts of a body that get their own digest: every scalar field and every check. */
function parts(body: Omit<AttestationBody, 'fieldDigests'>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k === 'checks') (v as AttestedCheck[]).forEach((c, i) => { out[`checks[${i}] (${c.id})`] = c; });
    else out[k] = v;
  }
  out['checks.length'] = body.checks.length;
  return out;
}

function fieldDigestsOf(body: Omit<AttestationBody, 'fieldDigests'>): Record<string, string> {
  return Object.fromEntries(Object.entries(parts(body)).map(([k, v]) => [k, digest(v)]));
}

export function signAttestation(body: Omit<AttestationBody, 'fieldDigests' | 'kind' | 'version'>, keyPem: string, certPem: string): AttestationFile {
  const base = { kind: ATTESTATION_KIND, version: ATTESTATION_VERSION, ...body } as Omit<AttestationBody, 'fieldDigests'>;
  const full: AttestationBody = { ...base, fieldDigests: fieldDigestsOf(base) };
  const alg = createPublicKey(keyPem).asymmetricKeyType === 'ec' ? 'ecdsa-sha256' : 'rsa-sha256';
  return { body: full, signature: { alg, value: signData(keyPem, Buffer.from(canonicalize(full))) }, certificate: certPem };
}

export type VerifyResult = { ok: true; body: AttestationBody; problems: [] } | { ok: false; problems: string[] };

/** Verify against the institution CA; every problem found is named, most specific first. */
export function verifyAttestation(input: unknown, caPem: string): VerifyResult {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null) return { ok: false, problems: ['file: not a JSON object'] };
  const f = input as Partial<AttestationFile>;
  for (const k of ['body', 'signature', 'certificate'] as const) if (!(k in f)) problems.push(`file: missing "${k}"`);
  if (problems.length) return { ok: false, problems };
  const body = f.body as AttestationBody;
  if (typeof body !== 'object' || body === null) return { ok: false, problems: ['body: not an object'] };
  if (body.kind !== ATTESTATION_KIND || body.version !== ATTESTATION_VERSION) problems.push(`body.kind/version: expected ${ATTESTATION_KIND} v${ATTESTATION_VERSION}`);

  // 1. Which parts changed since signing.
  const { fieldDigests, ...rest } = body;
  if (typeof fieldDigests !== 'object' || fieldDigests === null) problems.push('body.fieldDigests: missing');
  else {
    const now = fieldDigestsOf(rest);
    for (const k of new Set([...Object.keys(now), ...Object.keys(fieldDigests)])) {
      if (now[k] !== fieldDigests[k]) problems.push(`body.${k}: changed after signing (digest ${now[k] ?? 'absent'} ≠ signed ${fieldDigests[k] ?? 'absent'})`);
    }
  }

  // 2. The certificate: issued by this CA, to this host, valid when the attestation was made.
  let cert: X509Certificate | null = null;
  try {
    cert = new X509Certificate(String(f.certificate));
  } catch {
    problems.push('certificate: not a PEM certificate');
  }
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(caPem);
  } catch {
    return { ok: false, problems: [...problems, 'CA: the given CA file is not a PEM certificate'] };
  }
  if (cert) {
    if (!cert.verify(ca.publicKey)) problems.push(`certificate: not issued by the given CA (issuer "${cert.issuer.replace(/\n/g, ', ')}")`);
    const info = certInfo(cert.toString());
    if (info.commonName !== body.hostId) problems.push(`certificate: issued to host ${info.commonName}, but body.hostId is ${body.hostId}`);
    const t = Date.parse(body.time);
    if (Number.isNaN(t)) problems.push('body.time: not a date');
    else if (t < info.notBefore.getTime() || t > info.notAfter.getTime()) {
      problems.push(`certificate: not valid at body.time ${body.time} (valid ${info.notBefore.toISOString()} to ${info.notAfter.toISOString()})`);
    }
  }

  // 3. The signature over the canonical body, by the certified key.
  const sig = f.signature as AttestationFile['signature'];
  if (typeof sig?.value !== 'string') problems.push('signature: missing value');
  else if (cert) {
    let canonical: string | null = null;
    try {
      canonical = canonicalize(body);
    } catch {
      problems.push('body: cannot be canonicalised');
    }
    if (canonical !== null && !verifyData(cert.toString(), Buffer.from(canonical), sig.value)) {
      problems.push('signature: does not verify with the certificate\'s key over the canonical body (the body, the signature or the certificate was changed, or another key signed it)');
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, body, problems: [] };
}
