import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caHash, certInfo, generateAgentKey, makeCsr, normaliseSerial, signData, spkiSha256, verifyData } from '../../shared/pki.js';
import { children, fromPem, int, oid, parseOne, readOid, time, toPem } from '../../shared/der.js';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'tg-pki-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

function openssl(args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { input, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** A self-signed certificate made by openssl, independent of our own builder. */
function opensslSelfSigned(cn: string): { certPem: string; keyPem: string } {
  const key = join(dir, `${cn}.key`);
  const crt = join(dir, `${cn}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt,
    '-subj', `/CN=${cn}/O=termguard test`, '-days', '30', '-set_serial', '0x00ABCDEF0123'], { stdio: 'pipe' });
  return { certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

describe('der', () => {
  it('encodes integers, OIDs and times the DER way', () => {
    expect(int(0).toString('hex')).toBe('020100');
    expect(int(127).toString('hex')).toBe('02017f');
    expect(int(128).toString('hex')).toBe('02020080');
    expect(int(Buffer.from('0000ff', 'hex')).toString('hex')).toBe('020200ff');
    expect(oid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(readOid(parseOne(oid('2.5.29.37')))).toBe('2.5.29.37');
    expect(time(new Date('2030-01-02T03:04:05Z')).toString('ascii').slice(2)).toBe('300102030405Z');
    expect(time(new Date('2050-01-02T03:04:05Z')).toString('ascii').slice(2)).toBe('20500102030405Z');
  });

  it('reads strictly: no trailing bytes, no overruns, no indefinite length', () => {
    expect(() => parseOne(Buffer.from('3000ff', 'hex'))).toThrow(/trailing/);
    expect(() => parseOne(Buffer.from('3005020100', 'hex'))).toThrow(/past the end/);
    expect(() => parseOne(Buffer.from('30800000', 'hex'))).toThrow(/indefinite/);
    expect(() => parseOne(Buffer.from('308103020100', 'hex'))).toThrow(/non-minimal/);
    expect(children(parseOne(Buffer.from('3006020101020102', 'hex'))).map((c) => c.value[0])).toEqual([1, 2]);
  });

  it('takes exactly one clean PEM block', () => {
    const pem = toPem('X', Buffer.from('hello'));
    expect(fromPem(pem, ['X'])?.toString()).toBe('hello');
    expect(fromPem(pem, ['Y'])).toBeNull();
    expect(fromPem(pem + pem, ['X'])).toBeNull();
    expect(fromPem(pem.replace('aGVs', 'a*Vs'), ['X'])).toBeNull();
  });
});

describe('shared/pki', () => {
  it('caHash is sha256 of the DER, as `openssl x509 -outform der | sha256sum` prints it', () => {
    const { certPem } = opensslSelfSigned('hash-ca');
    const p = join(dir, 'hash.pem');
    writeFileSync(p, certPem);
    const out = execFileSync('sh', ['-c', 'openssl x509 -in "$1" -outform der | sha256sum', 'sh', p], { encoding: 'utf8' });
    expect(caHash(certPem)).toBe('sha256:' + out.split(' ')[0]);
    expect(caHash(certPem)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('spkiSha256 is the same for the private key, the public key, a KeyObject and the certificate', () => {
    const { certPem, keyPem } = opensslSelfSigned('spki');
    const pubDer = execFileSync('openssl', ['pkey', '-pubout', '-outform', 'der'], { input: keyPem });
    const want = createHash('sha256').update(pubDer).digest('hex');
    expect(spkiSha256(keyPem)).toBe(want);
    expect(spkiSha256(certPem)).toBe(want);
    expect(spkiSha256(createPrivateKey(keyPem))).toBe(want);
    expect(spkiSha256(createPublicKey(keyPem))).toBe(want);
    expect(spkiSha256(createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }) as string)).toBe(want);
  });

  it('certInfo reads names, dates, serial and fingerprint', () => {
    const { certPem } = opensslSelfSigned('info');
    const i = certInfo(certPem);
    const x = new X509Certificate(certPem);
    expect(i.commonName).toBe('info');
    expect(i.issuerCommonName).toBe('info');
    expect(i.serial).toBe('abcdef0123');
    expect(i.notBefore.getTime()).toBe(new Date(x.validFrom).getTime());
    expect(i.notAfter.getTime() - i.notBefore.getTime()).toBe(30 * 86_400_000);
    expect(i.fingerprint256).toBe(x.fingerprint256);
    expect(i.spkiSha256).toBe(spkiSha256(certPem));
  });

  it('normaliseSerial: lower case, no colons, no leading zeros', () => {
    expect(normaliseSerial('00ABCDEF')).toBe('abcdef');
    expect(normaliseSerial('0a:bc:de')).toBe('abcde');
    expect(normaliseSerial('0000')).toBe('0');
    expect(normaliseSerial('7F')).toBe('7f');
    expect(() => normaliseSerial('xyz')).toThrow();
    expect(() => normaliseSerial('')).toThrow();
  });

  it('generateAgentKey makes an ECDSA P-256 PKCS#8 key', () => {
    const k = generateAgentKey();
    expect(k.privateKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(k.publicKeyPem).toContain('-----BEGIN PUBLIC KEY-----');
    const o = createPrivateKey(k.privateKeyPem);
    expect(o.asymmetricKeyType).toBe('ec');
    expect(o.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it.each([
    ['EC P-256', () => generateAgentKey()],
    ['RSA-2048', () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
    }],
  ])('makeCsr (%s) is accepted by `openssl req -verify`', (name, mk) => {
    const k = mk();
    const csr = makeCsr(k.privateKeyPem, k.publicKeyPem, 'agent-01');
    const p = join(dir, `csr-${name.replace(/\W/g, '')}.pem`);
    writeFileSync(p, csr);
    const v = openssl(['req', '-verify', '-in', p, '-noout', '-subject']);
    expect(v.status, v.out).toBe(0);
    expect(v.out).toMatch(/verify OK/);
    expect(v.out).toMatch(/CN\s*=\s*agent-01/);
    const alg = readOid(children(children(parseOne(fromPem(csr, ['CERTIFICATE REQUEST'])!))[1]!)[0]!);
    expect(alg).toBe(name.startsWith('EC') ? '1.2.840.10045.4.3.2' : '1.2.840.113549.1.1.11');
  });

  it('makeCsr refuses a public key that is not the private key\'s', () => {
    const a = generateAgentKey();
    const b = generateAgentKey();
    expect(() => makeCsr(a.privateKeyPem, b.publicKeyPem, 'x')).toThrow(/does not belong/);
  });

  it('signData/verifyData round-trip for EC and RSA, and reject tampering', () => {
    const data = Buffer.from('renewal proof 2026-11-25T00:00:00Z');
    const ec = generateAgentKey();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaPriv = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const rsaPub = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    for (const [priv, pub] of [[ec.privateKeyPem, ec.publicKeyPem], [rsaPriv, rsaPub]] as const) {
      const sig = signData(priv, data);
      expect(verifyData(pub, data, sig)).toBe(true);
      expect(verifyData(pub, Buffer.from('other'), sig)).toBe(false);
      const bad = Buffer.from(sig, 'base64');
      bad[bad.length - 1]! ^= 1;
      expect(verifyData(pub, data, bad.toString('base64'))).toBe(false);
      expect(verifyData(pub, data, 'not base64!')).toBe(false);
      expect(verifyData('garbage', data, sig)).toBe(false);
    }
    expect(verifyData(rsaPub, data, signData(ec.privateKeyPem, data))).toBe(false);
  });

  it('verifyData accepts a certificate as the public key', () => {
    const { certPem, keyPem } = opensslSelfSigned('sigcert');
    const data = Buffer.from('x');
    expect(verifyData(certPem, data, signData(keyPem, data))).toBe(true);
  });
});
