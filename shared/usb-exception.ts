/**
 * Temporary USB exceptions: a security officer allows one device (vendor, product, serial) on one
 * host until a time, saying who approved it and why. The server signs the grant with the
 * institution CA key; the agent verifies it offline against its ca.crt and honours it only until
 * `notAfter`, then reverts to the policy by itself.
 */
import { createPrivateKey, createPublicKey, sign, verify, X509Certificate } from 'node:crypto';
import { canonicalize } from './canonical.js';

export interface UsbException {
  kind: 'termguard.usb_exception';
  id: string;
  hostId: string;
  vendorId: string;
  productId: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  approvedBy: string;
  reason: string;
}

export interface SignedUsbException {
  exception: UsbException;
  signature: string;
}

export function signUsbException(e: Omit<UsbException, 'kind'>, caKeyPem: string): SignedUsbException {
  const exception: UsbException = { kind: 'termguard.usb_exception', ...e };
  const sig = sign('sha256', Buffer.from(canonicalize(exception)), createPrivateKey(caKeyPem));
  return { exception, signature: sig.toString('base64') };
}

/** Why an exception cannot be honoured on this host now, or null when it can. */
export function usbExceptionProblem(s: unknown, caPem: string, hostId: string, now = new Date()): string | null {
  if (typeof s !== 'object' || s === null) return 'not an object';
  const { exception: e, signature } = s as Partial<SignedUsbException>;
  if (!e || typeof e !== 'object' || e.kind !== 'termguard.usb_exception' || typeof signature !== 'string') return 'not a USB exception';
  let ok = false;
  try {
    ok = verify('sha256', Buffer.from(canonicalize(e)), createPublicKey(new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'pem' })), Buffer.from(signature, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) return 'signature does not verify against the institution CA';
  if (e.hostId !== hostId) return `granted to host ${e.hostId}, not this one`;
  const t = now.getTime();
  if (Number.isNaN(Date.parse(e.notAfter)) || t >= Date.parse(e.notAfter)) return `expired at ${e.notAfter}`;
  if (Number.isNaN(Date.parse(e.notBefore)) || t < Date.parse(e.notBefore)) return `not valid before ${e.notBefore}`;
  return null;
}
