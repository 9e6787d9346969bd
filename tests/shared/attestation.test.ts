/** Attestation: signed by the agent's certified key, verifiable offline, and precise about what is wrong. */
import { describe, it, expect } from 'vitest';
import { createCa, issueAgentCert } from '../../server/pki/ca.js';
import { generateAgentKey, makeCsr } from '../../shared/pki.js';
import { signAttestation, verifyAttestation, type AttestationFile } from '../../shared/attestation.js';

const ca = createCa({ commonName: 'test institution CA' });
function identity(hostId: string, authority = ca) {
  const k = generateAgentKey();
  const cert = issueAgentCert(authority, { csrPem: makeCsr(k.privateKeyPem, k.publicKeyPem, 'x'), hostId });
  return { key: k.privateKeyPem, cert: cert.certPem };
}

const hostA = identity('host-a');

function body(hostId = 'host-a') {
  return {
    hostId, hostname: 'trading-01', time: new Date().toISOString(), agentVersion: '0.1.0', os: 'linux', policyVersion: 3,
    policyDigest: 'sha256:' + 'ab'.repeat(32), profile: 'mlps3', summary: { pass: 1, fail: 1, not_applicable: 0, error: 0 },
    checks: [
      { id: 'linux.pam.minlen', status: 'pass' as const, title: { en: 'Password length', zh: '口令长度' }, articles: ['art9'], mlps: '8.1.4.1 a)', evidence: { minlen: 12 } },
      { id: 'linux.ssh.root_login', status: 'fail' as const, title: { en: 'SSH root login', zh: '禁止root远程登录' }, articles: ['art9'], mlps: '8.1.4.1 c)', evidence: { PermitRootLogin: 'yes' } },
    ],
    inventoryDigest: 'sha256:' + 'cd'.repeat(32),
  };
}

const clone = (f: AttestationFile): AttestationFile => JSON.parse(JSON.stringify(f)) as AttestationFile;

describe('attestation', () => {
  it('verifies a genuine attestation against the institution CA', () => {
    const f = signAttestation(body(), hostA.key, hostA.cert);
    const r = verifyAttestation(JSON.parse(JSON.stringify(f)), ca.certPem);
    expect(r).toMatchObject({ ok: true, problems: [] });
  });

  it('names the field when one byte of the body changed', () => {
    const f = clone(signAttestation(body(), hostA.key, hostA.cert));
    f.body.hostname = 'trading-02';
    const r = verifyAttestation(f, ca.certPem);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/^body\.hostname: changed after signing/);
    expect(r.problems.some((p) => p.startsWith('signature:'))).toBe(true);
  });

  it('names the check whose result was swapped', () => {
    const f = clone(signAttestation(body(), hostA.key, hostA.cert));
    f.body.checks[1]!.status = 'pass';
    const r = verifyAttestation(f, ca.certPem);
    expect(r.problems[0]).toMatch(/^body\.checks\[1\] \(linux\.ssh\.root_login\): changed after signing/);
  });

  it('catches a tampered signature byte', () => {
    const f = clone(signAttestation(body(), hostA.key, hostA.cert));
    const sig = Buffer.from(f.signature.value, 'base64');
    sig[sig.length - 5] ^= 0x01;
    f.signature.value = sig.toString('base64');
    const r = verifyAttestation(f, ca.certPem);
    expect(r.problems).toEqual([expect.stringMatching(/^signature: does not verify/)]);
  });

  it('refuses a signature by another host\'s key', () => {
    const hostB = identity('host-b');
    const forged = signAttestation(body('host-a'), hostB.key, hostA.cert);
    expect(verifyAttestation(forged, ca.certPem).problems).toEqual([expect.stringMatching(/^signature: does not verify/)]);
    // And with host B's own certificate, the host mismatch is named.
    const other = signAttestation(body('host-a'), hostB.key, hostB.cert);
    expect(verifyAttestation(other, ca.certPem).problems).toEqual([expect.stringMatching(/^certificate: issued to host host-b, but body\.hostId is host-a/)]);
  });

  it('refuses a certificate from another CA', () => {
    const rogueCa = createCa({ commonName: 'rogue CA' });
    const rogue = identity('host-a', rogueCa);
    const f = signAttestation(body(), rogue.key, rogue.cert);
    expect(verifyAttestation(f, ca.certPem).problems).toEqual([expect.stringMatching(/^certificate: not issued by the given CA/)]);
  });

  it('refuses structural garbage with a message', () => {
    expect(verifyAttestation('nope', ca.certPem).problems).toEqual(['file: not a JSON object']);
    expect(verifyAttestation({ body: {} }, ca.certPem).problems).toContain('file: missing "signature"');
  });
});
