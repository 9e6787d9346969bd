import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { buildCrl, createCa, issueAgentCert, issueServerCert, verifyCsr, type CaMaterial } from '../../../server/pki/ca.js';
import { caHash, certInfo, generateAgentKey, makeCsr, normaliseSerial, spkiSha256 } from '../../../shared/pki.js';
import { fromPem, toPem } from '../../../shared/der.js';
import { TgError } from '../../../shared/errors.js';

const DAY = 86_400_000;
let dir: string;
let ca: CaMaterial;
let caX: X509Certificate;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tg-ca-'));
  ca = createCa({ commonName: 'termguard test CA' });
  caX = new X509Certificate(ca.certPem);
});
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

function rsaKey(bits: number): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

function expectBadCsr(f: () => unknown, reason?: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TgError);
    expect((e as TgError).code).toBe('TG_E_BAD_CSR');
    if (reason) expect((e as TgError).message).toMatch(reason);
    return;
  }
  throw new Error('expected TG_E_BAD_CSR');
}

function agent(hostId: string, opts: { days?: number; now?: Date } = {}, signer = ca): { keyPem: string; certPem: string; serial: string } {
  const k = generateAgentKey();
  const issued = issueAgentCert(signer, { csrPem: makeCsr(k.privateKeyPem, k.publicKeyPem, 'ignored'), hostId, ...opts });
  return { keyPem: k.privateKeyPem, certPem: issued.certPem, serial: issued.serial };
}

describe('createCa', () => {
  it('makes an RSA-3072 CA with critical basicConstraints (pathLen 0) and keyUsage keyCertSign+cRLSign', () => {
    expect(caX.ca).toBe(true);
    expect(caX.publicKey.asymmetricKeyType).toBe('rsa');
    expect(caX.publicKey.asymmetricKeyDetails?.modulusLength).toBeGreaterThanOrEqual(3072);
    expect(createPrivateKey(ca.keyPem).asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(caX.verify(caX.publicKey)).toBe(true);
    expect(caX.subject).toBe('CN=termguard test CA');
    expect(caX.issuer).toBe(caX.subject);
    const text = openssl(['x509', '-in', file('ca.pem', ca.certPem), '-noout', '-text']).out;
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toMatch(/Subject Key Identifier/);
    expect(text).toMatch(/sha256WithRSAEncryption/);
    const info = certInfo(ca.certPem);
    expect(info.serial).toMatch(/^[1-7][0-9a-f]{31}$|^[0-9a-f]{1,31}$/);
    expect(info.notAfter.getUTCFullYear() - new Date().getUTCFullYear()).toBe(10);
  });

  it('refuses keys under 3072 bits', () => {
    expect(() => createCa({ keyBits: 2048 })).toThrow(TgError);
    expect(() => createCa({ keyBits: 2048 })).toThrow(/3072/);
  });

  it('caHash matches `openssl x509 -outform der | sha256sum`', () => {
    const out = execFileSync('sh', ['-c', 'openssl x509 -in "$1" -outform der | sha256sum', 'sh', file('ca-hash.pem', ca.certPem)], { encoding: 'utf8' });
    expect(caHash(ca.certPem)).toBe('sha256:' + out.split(' ')[0]);
  });
});

describe('issueServerCert', () => {
  it('verifies against the CA and carries DNS and IP (v4 and v6) SANs with serverAuth', () => {
    const s = issueServerCert(ca, ['tg.example.org', '127.0.0.1', 'localhost', '::1', '2001:db8::8:800:200c:417a']);
    const x = new X509Certificate(s.certPem);
    expect(x.verify(caX.publicKey)).toBe(true);
    expect(x.checkIssued(caX)).toBe(true);
    expect(x.ca).toBe(false);
    expect(x.subject).toBe('CN=tg.example.org');
    expect(x.subjectAltName).toBe('DNS:tg.example.org, IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:8:800:200C:417A');
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(x.checkHost('tg.example.org')).toBe('tg.example.org');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkIP('::1')).toBe('::1');
    expect(x.checkPrivateKey(createPrivateKey(s.keyPem))).toBe(true);
    const v = openssl(['verify', '-purpose', 'sslserver', '-CAfile', file('ca.pem', ca.certPem), file('server.pem', s.certPem)]);
    expect(v.status, v.out).toBe(0);
    expect(Math.round((new Date(x.validTo).getTime() - Date.now()) / DAY)).toBe(825);
  });

  it('refuses no hosts and malformed names', () => {
    expect(() => issueServerCert(ca, [])).toThrow(TgError);
    expect(() => issueServerCert(ca, ['bad host'])).toThrow(TgError);
    expect(() => issueServerCert(ca, ['-bad.example'])).toThrow(TgError);
  });
});

describe('verifyCsr', () => {
  it('accepts EC P-256 and RSA CSRs from makeCsr and returns the key', () => {
    for (const k of [generateAgentKey(), rsaKey(2048)]) {
      const info = verifyCsr(makeCsr(k.privateKeyPem, k.publicKeyPem, 'agent-x'));
      expect(info.commonName).toBe('agent-x');
      expect(info.spkiSha256).toBe(spkiSha256(k.publicKeyPem));
      expect(spkiSha256(info.publicKeyPem)).toBe(info.spkiSha256);
    }
  });

  it('accepts a CSR made by openssl', () => {
    const key = join(dir, 'ossl-ec.key');
    const csr = execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/O=x/CN=from-openssl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const info = verifyCsr(csr);
    expect(info.commonName).toBe('from-openssl');
    expect(info.spkiSha256).toBe(spkiSha256(readFileSync(key, 'utf8')));
  });

  it('rejects a flipped signature byte: no proof of possession', () => {
    const k = generateAgentKey();
    const der = fromPem(makeCsr(k.privateKeyPem, k.publicKeyPem, 'a'), ['CERTIFICATE REQUEST'])!;
    der[der.length - 1]! ^= 0x01;
    expectBadCsr(() => verifyCsr(toPem('CERTIFICATE REQUEST', der)), /signature/);
  });

  it('rejects a CSR whose public key was swapped for another', () => {
    for (const mk of [generateAgentKey, () => rsaKey(2048)]) {
      const a = mk();
      const b = mk();
      const der = fromPem(makeCsr(a.privateKeyPem, a.publicKeyPem, 'same'), ['CERTIFICATE REQUEST'])!;
      const spkiA = fromPem(a.publicKeyPem, ['PUBLIC KEY'])!;
      const spkiB = fromPem(b.publicKeyPem, ['PUBLIC KEY'])!;
      const at = der.indexOf(spkiA);
      expect(at).toBeGreaterThan(0);
      expect(spkiB.length).toBe(spkiA.length);
      spkiB.copy(der, at);
      expectBadCsr(() => verifyCsr(toPem('CERTIFICATE REQUEST', der)), /does not verify/);
    }
  });

  it('rejects garbage, wrong PEM types, oversize input and unsupported keys', () => {
    expectBadCsr(() => verifyCsr('hello'), /PEM/);
    expectBadCsr(() => verifyCsr(''), /PEM/);
    expectBadCsr(() => verifyCsr(ca.certPem), /PEM/);
    expectBadCsr(() => verifyCsr(toPem('CERTIFICATE REQUEST', Buffer.from('not der at all'))), /malformed/);
    expectBadCsr(() => verifyCsr(toPem('CERTIFICATE REQUEST', Buffer.from('3003020100', 'hex'))), /malformed/);
    expectBadCsr(() => verifyCsr('-----BEGIN CERTIFICATE REQUEST-----\n' + 'A'.repeat(17_000) + '\n-----END CERTIFICATE REQUEST-----\n'), /larger/);
    expectBadCsr(() => verifyCsr(undefined as unknown as string));
    // A truncated CSR.
    const k = generateAgentKey();
    const der = fromPem(makeCsr(k.privateKeyPem, k.publicKeyPem, 'a'), ['CERTIFICATE REQUEST'])!;
    expectBadCsr(() => verifyCsr(toPem('CERTIFICATE REQUEST', der.subarray(0, der.length - 5))), /malformed/);
    // Keys we refuse, in CSRs openssl signs properly.
    const small = rsaKey(1024);
    expectBadCsr(() => verifyCsr(makeCsr(small.privateKeyPem, small.publicKeyPem, 'small')), /RSA keys must have/);
    for (const [alg, opt, reason] of [['ec', 'ec_paramgen_curve:P-384', /P-256/], ['ed25519', '', /unsupported key type/]] as const) {
      const args = ['req', '-new', '-newkey', alg, ...(opt ? ['-pkeyopt', opt] : []), '-nodes', '-keyout', join(dir, `${alg}.key`), '-subj', '/CN=x'];
      const csr = execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expectBadCsr(() => verifyCsr(csr), reason);
    }
  });

  it('is accepted by `openssl req -verify`', () => {
    const k = generateAgentKey();
    const v = openssl(['req', '-verify', '-noout', '-in', file('agent.csr', makeCsr(k.privateKeyPem, k.publicKeyPem, 'h'))]);
    expect(v.status, v.out).toBe(0);
    expect(v.out).toMatch(/verify OK/);
  });
});

describe('issueAgentCert', () => {
  it('sets CN = hostId, 90 days, clientAuth, the CSR key, and verifies against the CA', () => {
    const k = generateAgentKey();
    const csrPem = makeCsr(k.privateKeyPem, k.publicKeyPem, 'attacker-chosen-name');
    const now = new Date();
    const issued = issueAgentCert(ca, { csrPem, hostId: 'h-0193a2b4', now });
    const x = new X509Certificate(issued.certPem);
    expect(x.verify(caX.publicKey)).toBe(true);
    expect(x.subject).toBe('CN=h-0193a2b4');
    expect(x.issuer).toBe(caX.subject);
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(spkiSha256(x.publicKey)).toBe(spkiSha256(k.publicKeyPem));
    expect(issued.spkiSha256).toBe(spkiSha256(k.publicKeyPem));
    expect(issued.serial).toBe(normaliseSerial(x.serialNumber));
    expect(issued.serial).toMatch(/^[1-9a-f][0-9a-f]*$/);
    expect(BigInt('0x' + issued.serial) < 1n << 127n).toBe(true);
    expect(issued.notAfter.getTime()).toBe(new Date(x.validTo).getTime());
    expect(issued.notBefore.getTime()).toBe(new Date(x.validFrom).getTime());
    expect(Math.abs(issued.notAfter.getTime() - now.getTime() - 90 * DAY)).toBeLessThan(1000);
    expect(Math.abs(now.getTime() - issued.notBefore.getTime() - 5 * 60_000)).toBeLessThan(1000);
    const info = certInfo(issued.certPem);
    expect(info.commonName).toBe('h-0193a2b4');
    expect(info.issuerCommonName).toBe('termguard test CA');
    const text = openssl(['x509', '-in', file('agent.pem', issued.certPem), '-noout', '-text']).out;
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication/);
    expect(text).toMatch(/Authority Key Identifier/);
    const v = openssl(['verify', '-purpose', 'sslclient', '-CAfile', file('ca.pem', ca.certPem), file('agent.pem', issued.certPem)]);
    expect(v.status, v.out).toBe(0);
  });

  it('takes an RSA-2048 CSR as well', () => {
    const k = rsaKey(2048);
    const issued = issueAgentCert(ca, { csrPem: makeCsr(k.privateKeyPem, k.publicKeyPem, 'r'), hostId: 'h-rsa' });
    expect(new X509Certificate(issued.certPem).verify(caX.publicKey)).toBe(true);
    expect(issued.spkiSha256).toBe(spkiSha256(k.privateKeyPem));
  });

  it('gives every certificate a fresh serial', () => {
    const k = generateAgentKey();
    const csrPem = makeCsr(k.privateKeyPem, k.publicKeyPem, 'x');
    const serials = new Set(Array.from({ length: 50 }, () => issueAgentCert(ca, { csrPem, hostId: 'h' }).serial));
    expect(serials.size).toBe(50);
  });

  it('refuses a bad CSR with TG_E_BAD_CSR', () => {
    expectBadCsr(() => issueAgentCert(ca, { csrPem: 'garbage', hostId: 'h' }));
  });

  it('measures issue time (logged, not asserted)', () => {
    const k = generateAgentKey();
    const csrPem = makeCsr(k.privateKeyPem, k.publicKeyPem, 'x');
    issueAgentCert(ca, { csrPem, hostId: 'warm' });
    const n = 200;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) issueAgentCert(ca, { csrPem, hostId: `h-${i}` });
    const per = (performance.now() - t0) / n;
    const t1 = performance.now();
    for (let i = 0; i < n; i++) verifyCsr(csrPem);
    const csrPer = (performance.now() - t1) / n;
    console.log(`issueAgentCert (RSA-3072 CA, EC P-256 CSR): ${per.toFixed(2)} ms each over ${n}; of which verifyCsr ${csrPer.toFixed(2)} ms`);
  });
});

describe('buildCrl', () => {
  it('is parsed and verified by `openssl crl` and lists the serials', () => {
    const a = agent('h-crl-1');
    const crl = buildCrl(ca, [{ serial: a.serial, revokedAt: new Date('2026-01-02T03:04:05Z') }, { serial: '00:0A:BC', revokedAt: new Date() }]);
    expect(crl).toMatch(/^-----BEGIN X509 CRL-----\n/);
    const r = openssl(['crl', '-in', file('crl.pem', crl), '-noout', '-text', '-CAfile', file('ca.pem', ca.certPem)]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/verify OK/);
    expect(r.out).toMatch(/Version 2/);
    expect(r.out).toMatch(/CRL Number/);
    expect(r.out.toLowerCase()).toContain(`serial number: ${a.serial.length % 2 ? '0' : ''}${a.serial}`);
    expect(r.out).toMatch(/Serial Number: 0ABC/);
    expect(r.out).toMatch(/Revocation Date: Jan {2}2 03:04:05 2026 GMT/);
    const v = openssl(['verify', '-crl_check', '-CRLfile', file('crl.pem', crl), '-CAfile', file('ca.pem', ca.certPem), file('revoked.pem', a.certPem)]);
    expect(v.status).not.toBe(0);
    expect(v.out).toMatch(/certificate revoked/);
  });

  it('builds an empty CRL without a revokedCertificates field', () => {
    const r = openssl(['crl', '-in', file('empty.pem', buildCrl(ca, [])), '-noout', '-text', '-CAfile', file('ca.pem', ca.certPem)]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/No Revoked Certificates/);
  });

  it('defaults nextUpdate to thisUpdate + 7 days and refuses nextUpdate before thisUpdate', () => {
    const thisUpdate = new Date('2026-11-01T00:00:00Z');
    const r = openssl(['crl', '-in', file('dates.pem', buildCrl(ca, [], { thisUpdate })), '-noout', '-lastupdate', '-nextupdate']);
    expect(r.out).toMatch(/lastUpdate=Nov {2}1 00:00:00 2026 GMT/);
    expect(r.out).toMatch(/nextUpdate=Nov {2}8 00:00:00 2026 GMT/);
    expect(() => buildCrl(ca, [], { thisUpdate, nextUpdate: thisUpdate })).toThrow();
  });
});

describe('mutual TLS on 127.0.0.1', () => {
  // Two servers with the same CA, CRL and server certificate: `strict` refuses as production does;
  // `lenient` (rejectUnauthorized: false) only reports why OpenSSL refused, which the strict one
  // never tells: Node drops the socket without an alert, so both sides see a bare hang-up.
  let strict: tls.Server;
  let lenient: tls.Server;
  const strictErrors: string[] = [];
  const verdicts: { authorized: boolean; error: string | null; cn: string }[] = [];
  let good: ReturnType<typeof agent>;
  let revoked: ReturnType<typeof agent>;
  let expired: ReturnType<typeof agent>;
  let foreign: ReturnType<typeof agent>;

  beforeAll(async () => {
    good = agent('h-good');
    revoked = agent('h-revoked');
    expired = agent('h-expired', { now: new Date(Date.now() - 100 * DAY), days: 1 });
    foreign = agent('h-foreign', {}, createCa({ commonName: 'some other CA' }));
    expect(new Date(new X509Certificate(expired.certPem).validTo).getTime()).toBeLessThan(Date.now() - 98 * DAY);
    const srv = issueServerCert(ca, ['127.0.0.1', 'localhost']);
    const options = (rejectUnauthorized: boolean): tls.TlsOptions => ({
      key: srv.keyPem,
      cert: srv.certPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized,
      minVersion: 'TLSv1.2',
      crl: buildCrl(ca, [{ serial: revoked.serial, revokedAt: new Date() }]),
    });
    strict = tls.createServer(options(true), (s) => {
      s.end(`hello ${String(s.getPeerCertificate().subject?.CN)}`);
    });
    strict.on('tlsClientError', (e) => { strictErrors.push(e.message); });
    lenient = tls.createServer(options(false), (s) => {
      const err = s.authorizationError;
      verdicts.push({ authorized: s.authorized, error: err === null ? null : String((err as Error & { code?: string }).code ?? err), cn: String(s.getPeerCertificate().subject?.CN) });
      s.end('noted');
    });
    await Promise.all([strict, lenient].map((srvr) => new Promise<void>((res) => srvr.listen(0, '127.0.0.1', res))));
  });
  afterAll(async () => {
    await Promise.all([strict, lenient].map((srvr) => new Promise((res) => srvr.close(res))));
  });

  /** Connect with a client certificate; resolves with what the server said, or the error. */
  function connect(server: tls.Server, client: { keyPem: string; certPem: string } | null, maxVersion: tls.SecureVersion): Promise<{ said: string; error?: string }> {
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve) => {
      let said = '';
      const s = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, maxVersion, ...(client ? { key: client.keyPem, cert: client.certPem } : {}) });
      s.setEncoding('utf8');
      s.on('data', (d: string) => { said += d; });
      s.on('error', (e) => { resolve({ said, error: e.message }); });
      s.on('close', () => { resolve({ said }); });
    });
  }

  it.each(['TLSv1.3', 'TLSv1.2'] as const)('accepts a current agent certificate (%s); the client checks the server cert for the IP', async (v) => {
    const r = await connect(strict, good, v);
    expect(r.error).toBeUndefined();
    expect(r.said).toBe('hello h-good');
  });

  it.each([
    ['revoked (in the CRL)', () => revoked, 'CERT_REVOKED'],
    ['expired', () => expired, 'CERT_HAS_EXPIRED'],
    ['from another CA', () => foreign, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    // Node reports a missing client certificate as UNABLE_TO_GET_ISSUER_CERT.
    ['missing', () => null, 'UNABLE_TO_GET_ISSUER_CERT'],
  ])('refuses a %s certificate, for the right reason', async (_name, who, reason) => {
    for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
      const before = strictErrors.length;
      const r = await connect(strict, who(), v);
      expect(r.said).toBe('');
      await new Promise((res) => setTimeout(res, 20)); // let the server's tlsClientError land
      expect(strictErrors.length).toBeGreaterThan(before);

      const n = verdicts.length;
      expect((await connect(lenient, who(), v)).said).toBe('noted');
      const verdict = verdicts[n]!;
      expect(verdict.authorized).toBe(false);
      expect(verdict.error).toBe(reason);
    }
  });

  it('the lenient twin authorises the good certificate, so its verdicts mean something', async () => {
    const n = verdicts.length;
    await connect(lenient, good, 'TLSv1.3');
    expect(verdicts[n]).toEqual({ authorized: true, error: null, cn: 'h-good' });
  });
});
