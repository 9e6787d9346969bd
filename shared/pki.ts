/**
 * Key, certificate and CSR helpers shared by agent and server. node:crypto only: the agent must
 * not load node-forge, and forge cannot hold EC keys anyway.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, X509Certificate, KeyObject } from 'node:crypto';
import { bits, children, expectTag, int, nul, oid, parseOne, readOid, readString, seq, set, TAG, toPem, utf8, ctx, type Tlv } from './der.js';

export const OID = {
  commonName: '2.5.4.3',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
} as const;

const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** 'sha256:' + hex of the certificate DER: what an agent pins at enrollment. */
export function caHash(certPem: string): string {
  return 'sha256:' + sha256hex(new X509Certificate(certPem).raw);
}

function publicKeyOf(keyOrCertPem: string | KeyObject): KeyObject {
  if (keyOrCertPem instanceof KeyObject) {
    return keyOrCertPem.type === 'public' ? keyOrCertPem : createPublicKey(keyOrCertPem);
  }
  if (keyOrCertPem.includes('-----BEGIN CERTIFICATE-----')) return new X509Certificate(keyOrCertPem).publicKey;
  // createPublicKey derives the public half from a private key PEM as well.
  return createPublicKey(keyOrCertPem);
}

/** DER SubjectPublicKeyInfo of a public key, private key, or certificate's key. */
export function spkiDer(keyOrCertPem: string | KeyObject): Buffer {
  return publicKeyOf(keyOrCertPem).export({ type: 'spki', format: 'der' });
}

/** Hex sha256 of the SubjectPublicKeyInfo DER: the identity of a key across CSR, certificate and store. */
export function spkiSha256(keyOrCertPem: string | KeyObject): string {
  return sha256hex(spkiDer(keyOrCertPem));
}

export interface CertInfo {
  /** Normalised hex (see normaliseSerial). */
  serial: string;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  spkiSha256: string;
  issuerCommonName: string;
  /** Colon-separated upper-case hex, as Node prints it. */
  fingerprint256: string;
}

/** The first CN of a DER Name, or null. */
export function nameCommonName(name: Tlv): string | null {
  expectTag(name, TAG.SEQUENCE, 'Name');
  for (const rdn of children(name)) {
    for (const atv of children(expectTag(rdn, TAG.SET, 'RDN'))) {
      const [type, value] = children(expectTag(atv, TAG.SEQUENCE, 'AttributeTypeAndValue'));
      if (type && value && readOid(type) === OID.commonName) return readString(value);
    }
  }
  return null;
}

/** Issuer and subject Name elements of a DER certificate. */
export function certNames(der: Buffer): { issuer: Tlv; subject: Tlv; tbsFields: Tlv[] } {
  const [tbs] = children(expectTag(parseOne(der), TAG.SEQUENCE, 'Certificate'));
  const f = children(expectTag(tbs, TAG.SEQUENCE, 'TBSCertificate'));
  // The version field [0] is optional (v1 certificates leave it out).
  const o = f[0]?.tag === 0xa0 ? 1 : 0;
  return { issuer: expectTag(f[o + 2], TAG.SEQUENCE, 'issuer'), subject: expectTag(f[o + 4], TAG.SEQUENCE, 'subject'), tbsFields: f };
}

export function certInfo(certPem: string): CertInfo {
  const x = new X509Certificate(certPem);
  // Names come from the DER: X509Certificate.subject is a printed form with escapes.
  const { issuer, subject } = certNames(x.raw);
  return {
    serial: normaliseSerial(x.serialNumber),
    commonName: nameCommonName(subject) ?? '',
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    spkiSha256: spkiSha256(x.publicKey),
    issuerCommonName: nameCommonName(issuer) ?? '',
    fingerprint256: x.fingerprint256,
  };
}

/**
 * Serial numbers compare as hex, lower case, without colons or leading zeros. Node's
 * getPeerCertificate().serialNumber is upper case and may keep a leading zero.
 */
export function normaliseSerial(s: string): string {
  const hex = s.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) throw new RangeError(`serial is not hex: ${JSON.stringify(s.slice(0, 80))}`);
  return hex.replace(/^0+/, '') || '0';
}

/** A fresh agent key: ECDSA P-256, PKCS#8 private and SPKI public PEM. */
export function generateAgentKey(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** The AlgorithmIdentifier and digest a key signs with here: sha256 with ECDSA or RSA PKCS#1 v1.5. */
export function signatureAlgorithm(key: KeyObject): { algId: Buffer; hash: 'sha256' } {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return { algId: seq(oid(OID.ecdsaWithSha256)), hash: 'sha256' };
    case 'rsa':
      return { algId: seq(oid(OID.sha256WithRsa), nul()), hash: 'sha256' };
    default:
      throw new TypeError(`unsupported key type for signing: ${key.asymmetricKeyType}`);
  }
}

/** Sign a DER `to-be-signed` structure and wrap it as SEQUENCE { tbs, algorithm, BIT STRING signature }. */
export function signDer(tbs: Buffer, key: KeyObject): Buffer {
  const { algId, hash } = signatureAlgorithm(key);
  return seq(tbs, algId, bits(sign(hash, tbs, key)));
}

/** A PKCS#10 request for `commonName`, signed with the key (proof of possession). */
export function makeCsr(privateKeyPem: string, publicKeyPem: string, commonName: string): string {
  const priv = createPrivateKey(privateKeyPem);
  const spki = spkiDer(publicKeyPem);
  if (!spki.equals(spkiDer(priv))) throw new Error('makeCsr: the public key does not belong to the private key');
  const subject = seq(set(seq(oid(OID.commonName), utf8(commonName))));
  // attributes [0] IMPLICIT SET OF Attribute: required, empty.
  const info = seq(int(0), subject, spki, ctx(0, Buffer.alloc(0)));
  const der = signDer(info, priv);
  return toPem('CERTIFICATE REQUEST', der);
}

/** Base64 sha256 signature; ECDSA signatures are DER-encoded, RSA ones PKCS#1 v1.5. */
export function signData(privateKeyPem: string, data: Buffer): string {
  return sign('sha256', data, createPrivateKey(privateKeyPem)).toString('base64');
}

/** False for a wrong signature, a malformed one, or a key that cannot be read. */
export function verifyData(publicKeyOrCertPem: string, data: Buffer, sigB64: string): boolean {
  try {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(sigB64)) return false;
    return verify('sha256', data, publicKeyOf(publicKeyOrCertPem), Buffer.from(sigB64, 'base64'));
  } catch {
    return false;
  }
}
