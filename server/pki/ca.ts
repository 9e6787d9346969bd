/**
 * The institution CA: creates itself, issues the server certificate and agent certificates from
 * CSRs, and builds CRLs. Every structure is built with the DER helpers in shared/der.ts and signed
 * with node:crypto: forge's JS signing costs ~73 ms per certificate with an RSA-3072 key, OpenSSL's
 * ~2 ms on this 2-core host (`openssl speed rsa3072`), and forge cannot hold EC keys or build CRLs.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { TgError } from '../../shared/errors.js';
import {
  bool, children, ctx, DerError, expectTag, fromPem, int, namedBits, octets, oid, parseOne, readBits, readOid,
  readSmallInt, seq, set, TAG, time, tlv, toPem, utf8, type Tlv,
} from '../../shared/der.js';
import { certNames, nameCommonName, normaliseSerial, OID, signatureAlgorithm, signDer, spkiDer } from '../../shared/pki.js';

export interface CaMaterial {
  keyPem: string;
  certPem: string;
}

export interface IssuedCert {
  certPem: string;
  /** Normalised hex (normaliseSerial). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  spkiSha256: string;
}

export interface CsrInfo {
  publicKeyPem: string;
  spkiSha256: string;
  commonName: string | null;
}

const EXT = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
// KeyUsage bit numbers (RFC 5280 4.2.1.3).
const KU_DIGITAL_SIGNATURE = 0;
const KU_KEY_CERT_SIGN = 5;
const KU_CRL_SIGN = 6;

const MIN_CA_BITS = 3072;
const MAX_CSR_CHARS = 16 * 1024;
const MIN_RSA_BITS = 2048;
// Larger RSA keys buy nothing for an agent and make every handshake slower.
const MAX_RSA_BITS = 8192;
const CLOCK_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Certificate building

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** RFC 5280 4.2.1.2 method 1: sha1 of the subjectPublicKey bits. */
function keyIdentifier(spki: Buffer): Buffer {
  const [, bitString] = children(parseOne(spki));
  return createHash('sha1').update(readBits(expectTag(bitString, TAG.BIT_STRING, 'subjectPublicKey'))).digest();
}

/** 16 random bytes, positive and without a leading zero byte, so the DER INTEGER is exactly 16 bytes. */
function randomSerial(): Buffer {
  for (;;) {
    const b = randomBytes(16);
    b[0]! &= 0x7f;
    if (b[0] !== 0) return b;
  }
}

const cnName = (cn: string): Buffer => seq(set(seq(oid(OID.commonName), utf8(cn))));

interface TbsParts {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Buffer[];
}

/** Build, sign and self-check one certificate. */
function makeCert(signer: KeyObject, signerPublic: KeyObject, p: TbsParts): string {
  const tbs = seq(
    ctx(0, int(2)), // v3
    int(p.serial),
    signatureAlgorithm(signer).algId,
    p.issuer,
    seq(time(p.notBefore), time(p.notAfter)),
    p.subject,
    p.spki,
    ctx(3, seq(...p.extensions)),
  );
  const pem = toPem('CERTIFICATE', signDer(tbs, signer));
  if (!new X509Certificate(pem).verify(signerPublic)) throw new Error('issued certificate does not verify against the CA key');
  return pem;
}

interface LoadedCa {
  key: KeyObject;
  cert: X509Certificate;
  subject: Buffer;
  keyId: Buffer;
}

// Parsing an RSA-3072 key costs more than signing with it; agents renew in bursts, so keep the last CA.
let lastCa: { keyPem: string; certPem: string; loaded: LoadedCa } | undefined;

function loadCa(ca: CaMaterial): LoadedCa {
  if (lastCa && lastCa.keyPem === ca.keyPem && lastCa.certPem === ca.certPem) return lastCa.loaded;
  const key = createPrivateKey(ca.keyPem);
  const cert = new X509Certificate(ca.certPem);
  if (!cert.ca) throw new Error('CA certificate lacks basicConstraints CA:true');
  if (!cert.checkPrivateKey(key)) throw new Error('CA key does not match the CA certificate');
  const { subject, tbsFields } = certNames(cert.raw);
  const loaded: LoadedCa = { key, cert, subject: subject.raw, keyId: subjectKeyIdOf(tbsFields) ?? keyIdentifier(spkiDer(cert.publicKey)) };
  lastCa = { keyPem: ca.keyPem, certPem: ca.certPem, loaded };
  return loaded;
}

/** The certificate's own subjectKeyIdentifier, so AKIs match a CA we did not make ourselves. */
function subjectKeyIdOf(tbsFields: Tlv[]): Buffer | null {
  const exts = tbsFields.find((f) => f.tag === 0xa3);
  if (!exts) return null;
  for (const e of children(children(exts)[0]!)) {
    const parts = children(e);
    if (readOid(parts[0]!) === EXT.subjectKeyIdentifier) {
      return expectTag(parseOne(parts[parts.length - 1]!.value), TAG.OCTET_STRING, 'subjectKeyIdentifier').value;
    }
  }
  return null;
}

const akiExt = (keyId: Buffer): Buffer => extension(EXT.authorityKeyIdentifier, false, seq(tlv(0x80, keyId)));
const skiExt = (spki: Buffer): Buffer => extension(EXT.subjectKeyIdentifier, false, octets(keyIdentifier(spki)));
const ekuExt = (...usages: string[]): Buffer => extension(EXT.extKeyUsage, false, seq(...usages.map(oid)));
const endEntityExt = (): Buffer => extension(EXT.basicConstraints, true, seq());

function positiveInt(v: number | undefined, dflt: number, what: string): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n <= 0) throw new TgError('TG_E_CONFIG', `${what} must be a positive integer, got ${String(v)}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// CA and server certificate

export function createCa(opts: { commonName?: string; keyBits?: number; years?: number } = {}): CaMaterial {
  const keyBits = opts.keyBits ?? MIN_CA_BITS;
  if (!Number.isInteger(keyBits) || keyBits < MIN_CA_BITS) {
    throw new TgError('TG_E_CONFIG', `CA key must be RSA with at least ${MIN_CA_BITS} bits, got ${String(opts.keyBits)}`);
  }
  const years = positiveInt(opts.years, 10, 'CA lifetime in years');
  const commonName = opts.commonName ?? 'termguard CA';
  if (commonName.length < 1 || commonName.length > 64) throw new TgError('TG_E_CONFIG', 'CA common name must be 1 to 64 characters');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: keyBits, publicExponent: 0x10001 });
  const spki = spkiDer(publicKey);
  const now = Date.now();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + years);
  const name = cnName(commonName);
  const certPem = makeCert(privateKey, publicKey, {
    serial: randomSerial(),
    issuer: name,
    subject: name,
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter,
    spki,
    extensions: [
      extension(EXT.basicConstraints, true, seq(bool(true), int(0))),
      extension(EXT.keyUsage, true, namedBits([KU_KEY_CERT_SIGN, KU_CRL_SIGN])),
      skiExt(spki),
    ],
  });
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, certPem };
}

/** Network-order bytes of an IPv4 or IPv6 address (no zone index). */
function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  if (isIP(ip) !== 6 || ip.includes('%')) throw new TgError('TG_E_CONFIG', `not an IP address: ${ip}`);
  let s = ip;
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    tail = v4[1]!.split('.').map(Number);
    s = s.slice(0, -v4[1]!.length) + '0:0';
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const groups = (x: string): string[] => (x === '' ? [] : x.split(':'));
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length) Buffer.from(tail).copy(out, 12);
  return out;
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
function checkDnsName(h: string): void {
  const labels = (h.startsWith('*.') ? h.slice(2) : h).split('.');
  if (h.length > 253 || !labels.every((l) => DNS_LABEL.test(l))) throw new TgError('TG_E_CONFIG', `not a host name or IP address: ${JSON.stringify(h)}`);
}

/** The server's TLS certificate and its new ECDSA P-256 key (which never leaves the server host). */
export function issueServerCert(ca: CaMaterial, hosts: string[], opts: { days?: number } = {}): CaMaterial {
  if (hosts.length === 0) throw new TgError('TG_E_CONFIG', 'the server certificate needs at least one host name or IP address');
  const days = positiveInt(opts.days, 825, 'server certificate lifetime in days');
  const names: Buffer[] = [];
  for (const h of hosts) {
    if (isIP(h)) {
      names.push(tlv(0x87, ipBytes(h))); // iPAddress [7]
    } else {
      checkDnsName(h);
      names.push(tlv(0x82, Buffer.from(h.toLowerCase(), 'ascii'))); // dNSName [2] IMPLICIT IA5String
    }
  }
  if (hosts[0]!.length > 64) throw new TgError('TG_E_CONFIG', `the first host is the common name and must be at most 64 characters: ${hosts[0]}`);
  const c = loadCa(ca);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = spkiDer(publicKey);
  const now = Date.now();
  const certPem = makeCert(c.key, c.cert.publicKey, {
    serial: randomSerial(),
    issuer: c.subject,
    subject: cnName(hosts[0]!),
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + days * DAY_MS),
    spki,
    extensions: [
      endEntityExt(),
      extension(EXT.keyUsage, true, namedBits([KU_DIGITAL_SIGNATURE])),
      ekuExt(EKU_SERVER_AUTH),
      extension(EXT.subjectAltName, false, seq(...names)),
      skiExt(spki),
      akiExt(c.keyId),
    ],
  });
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, certPem };
}

// ---------------------------------------------------------------------------------------------
// CSRs and agent certificates

const CSR_SIG_ALGS: Record<string, { keyType: 'ec' | 'rsa'; hash: string }> = {
  [OID.ecdsaWithSha256]: { keyType: 'ec', hash: 'sha256' },
  [OID.ecdsaWithSha384]: { keyType: 'ec', hash: 'sha384' },
  [OID.ecdsaWithSha512]: { keyType: 'ec', hash: 'sha512' },
  [OID.sha256WithRsa]: { keyType: 'rsa', hash: 'sha256' },
  [OID.sha384WithRsa]: { keyType: 'rsa', hash: 'sha384' },
  [OID.sha512WithRsa]: { keyType: 'rsa', hash: 'sha512' },
};

const badCsr = (reason: string, cause?: unknown): TgError =>
  new TgError('TG_E_BAD_CSR', `certificate signing request is invalid: ${reason}`, cause === undefined ? undefined : { cause });

function parseCsr(csrPem: string): CsrInfo & { publicKey: KeyObject; spki: Buffer } {
  if (typeof csrPem !== 'string') throw badCsr('not a string');
  if (csrPem.length > MAX_CSR_CHARS) throw badCsr(`larger than ${MAX_CSR_CHARS} bytes`);
  const der = fromPem(csrPem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  if (!der) throw badCsr('not a single PEM "CERTIFICATE REQUEST" block');

  let info: Tlv, algOid: string, algParams: Tlv | undefined, signature: Buffer, spki: Tlv, subject: Tlv;
  try {
    const parts = children(expectTag(parseOne(der), TAG.SEQUENCE, 'CertificationRequest'));
    if (parts.length !== 3) throw new DerError('CertificationRequest must have 3 fields');
    info = expectTag(parts[0], TAG.SEQUENCE, 'CertificationRequestInfo');
    const alg = children(expectTag(parts[1], TAG.SEQUENCE, 'signatureAlgorithm'));
    algOid = readOid(expectTag(alg[0], TAG.OID, 'signature algorithm'));
    algParams = alg[1];
    if (alg.length > 2) throw new DerError('signatureAlgorithm has extra fields');
    signature = readBits(expectTag(parts[2], TAG.BIT_STRING, 'signature'));
    const f = children(info);
    if (f.length !== 4) throw new DerError('CertificationRequestInfo must have 4 fields');
    if (readSmallInt(expectTag(f[0], TAG.INTEGER, 'version')) !== 0) throw new DerError('version must be 0 (v1)');
    subject = expectTag(f[1], TAG.SEQUENCE, 'subject');
    spki = expectTag(f[2], TAG.SEQUENCE, 'subjectPKInfo');
    expectTag(f[3], 0xa0, 'attributes');
  } catch (e) {
    if (e instanceof DerError) throw badCsr(`malformed DER: ${e.message}`, e);
    throw e;
  }

  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
  } catch (e) {
    throw badCsr('the public key cannot be read', e);
  }
  const kt = publicKey.asymmetricKeyType;
  const d = publicKey.asymmetricKeyDetails ?? {};
  if (kt === 'ec') {
    if (d.namedCurve !== 'prime256v1') throw badCsr(`EC keys must be on P-256, not ${String(d.namedCurve)}`);
  } else if (kt === 'rsa') {
    const bitsN = d.modulusLength ?? 0;
    if (bitsN < MIN_RSA_BITS || bitsN > MAX_RSA_BITS) throw badCsr(`RSA keys must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits, not ${bitsN}`);
  } else {
    throw badCsr(`unsupported key type ${String(kt)} (use ECDSA P-256 or RSA)`);
  }

  const alg = CSR_SIG_ALGS[algOid];
  if (!alg) throw badCsr(`unsupported signature algorithm ${algOid}`);
  if (alg.keyType !== kt) throw badCsr(`signature algorithm ${algOid} does not fit a ${kt} key`);
  // ECDSA identifiers have no parameters; RSA ones carry NULL (or, from some encoders, nothing).
  if (algParams && !(kt === 'rsa' && algParams.tag === TAG.NULL && algParams.value.length === 0)) {
    throw badCsr('unexpected signature algorithm parameters');
  }
  let ok = false;
  try {
    ok = verify(alg.hash, info.raw, publicKey, signature);
  } catch (e) {
    throw badCsr('the signature cannot be checked', e);
  }
  if (!ok) throw badCsr('the signature does not verify (no proof of possession of the key)');

  let commonName: string | null;
  try {
    commonName = nameCommonName(subject);
  } catch (e) {
    if (e instanceof DerError) throw badCsr(`malformed subject: ${e.message}`, e);
    throw e;
  }
  // Export once: each export costs ~0.1 ms, a third of an EC CSR check.
  const canonicalSpki = spkiDer(publicKey);
  return {
    publicKey,
    spki: canonicalSpki,
    publicKeyPem: toPem('PUBLIC KEY', canonicalSpki),
    spkiSha256: createHash('sha256').update(canonicalSpki).digest('hex'),
    commonName,
  };
}

/** Parse a PKCS#10 request and check its self-signature; throws TG_E_BAD_CSR with the reason. */
/** Enrollment checks a CSR and then issues from it: parse and verify it once for both. */
let lastCsr: { pem: string; parsed: ReturnType<typeof parseCsr> } | null = null;
function parseCsrOnce(pem: string): ReturnType<typeof parseCsr> {
  if (lastCsr?.pem === pem) return lastCsr.parsed;
  const parsed = parseCsr(pem);
  lastCsr = { pem, parsed };
  return parsed;
}

export function verifyCsr(csrPem: string): CsrInfo {
  const { publicKeyPem, spkiSha256: spkiHash, commonName } = parseCsrOnce(csrPem);
  return { publicKeyPem, spkiSha256: spkiHash, commonName };
}

/** An agent's client certificate: CN is the host id the server chose, the key is the CSR's. */
export function issueAgentCert(ca: CaMaterial, opts: { csrPem: string; hostId: string; days?: number; now?: Date }): IssuedCert {
  const { hostId } = opts;
  // The server picks host ids; a bad one is a bug here, not a client error.
  if (!hostId || hostId.length > 64 || /[\u0000-\u001f\u007f]/.test(hostId)) {
    throw new RangeError(`host id is not a valid common name: ${JSON.stringify(hostId)}`);
  }
  const days = positiveInt(opts.days, 90, 'agent certificate lifetime in days');
  const csr = parseCsrOnce(opts.csrPem);
  const c = loadCa(ca);
  const now = (opts.now ?? new Date()).getTime();
  const serial = randomSerial();
  const spki = csr.spki;
  const notBefore = new Date(Math.floor((now - CLOCK_SKEW_MS) / 1000) * 1000);
  const notAfter = new Date(Math.floor((now + days * DAY_MS) / 1000) * 1000);
  const certPem = makeCert(c.key, c.cert.publicKey, {
    serial,
    issuer: c.subject,
    subject: cnName(hostId),
    notBefore,
    notAfter,
    spki,
    extensions: [
      endEntityExt(),
      extension(EXT.keyUsage, true, namedBits([KU_DIGITAL_SIGNATURE])),
      ekuExt(EKU_CLIENT_AUTH),
      skiExt(spki),
      akiExt(c.keyId),
    ],
  });
  return { certPem, serial: normaliseSerial(serial.toString('hex')), notBefore, notAfter, spkiSha256: csr.spkiSha256 };
}

// ---------------------------------------------------------------------------------------------
// CRL

/**
 * An X.509 v2 CRL for Node's tls `crl` option. An expired CRL (nextUpdate past) makes OpenSSL
 * reject every client, so whoever serves it must rebuild it well before nextUpdate.
 */
export function buildCrl(
  ca: CaMaterial,
  revoked: { serial: string; revokedAt: Date }[],
  opts: { thisUpdate?: Date; nextUpdate?: Date } = {},
): string {
  const c = loadCa(ca);
  const thisUpdate = opts.thisUpdate ?? new Date();
  const nextUpdate = opts.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * DAY_MS);
  if (!(nextUpdate.getTime() > thisUpdate.getTime())) throw new RangeError('CRL nextUpdate must be after thisUpdate');
  const seen = new Set<string>();
  const entries: Buffer[] = [];
  for (const r of revoked) {
    const hex = normaliseSerial(r.serial);
    if (seen.has(hex)) continue;
    seen.add(hex);
    entries.push(seq(int(Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex')), time(r.revokedAt)));
  }
  const tbs = seq(
    int(1), // v2
    signatureAlgorithm(c.key).algId,
    c.subject,
    time(thisUpdate),
    time(nextUpdate),
    ...(entries.length ? [seq(...entries)] : []), // an empty revokedCertificates must be left out
    ctx(0, seq(
      akiExt(c.keyId),
      // CRL numbers must increase; thisUpdate in milliseconds does, without state to keep.
      extension(EXT.crlNumber, false, int(BigInt(thisUpdate.getTime()))),
    )),
  );
  return toPem('X509 CRL', signDer(tbs, c.key));
}
