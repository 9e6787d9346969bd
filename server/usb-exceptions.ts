/** Granting a temporary USB exception: signed with the CA key, delivered to the one host as a command. */
import { randomUUID } from 'node:crypto';
import { TgError } from '../shared/errors.js';
import { signUsbException, type SignedUsbException } from '../shared/usb-exception.js';
import type { Store } from './store/types.js';

export const MAX_EXCEPTION_MS = 30 * 86_400_000;

export async function grantUsbException(store: Store, caKeyPem: string, o: {
  hostId: string; vendorId: string; productId: string; serial: string; ttlMs: number; approvedBy: string; reason: string; now?: Date;
}): Promise<SignedUsbException> {
  if (!/^[0-9a-f]{4}$/i.test(o.vendorId) || !/^[0-9a-f]{4}$/i.test(o.productId)) throw new TgError('TG_E_USAGE', 'device must be VID:PID, 4 hex digits each');
  if (!o.serial) throw new TgError('TG_E_USAGE', 'an exception names one device: its serial is required');
  if (o.ttlMs <= 0 || o.ttlMs > MAX_EXCEPTION_MS) throw new TgError('TG_E_USAGE', 'an exception lasts more than 0 and at most 30 days');
  if (!o.approvedBy.trim() || !o.reason.trim()) throw new TgError('TG_E_USAGE', 'who approved it and why are required');
  const host = await store.getHost(o.hostId);
  if (!host) throw new TgError('TG_E_NOT_FOUND', `no host ${o.hostId}`);
  const now = o.now ?? new Date();
  const signed = signUsbException({
    id: randomUUID(), hostId: o.hostId, vendorId: o.vendorId.toLowerCase(), productId: o.productId.toLowerCase(), serial: o.serial,
    notBefore: now.toISOString(), notAfter: new Date(now.getTime() + o.ttlMs).toISOString(), approvedBy: o.approvedBy, reason: o.reason,
  }, caKeyPem);
  await store.addCommand(o.hostId, 'usb.exception', signed as unknown as Record<string, unknown>);
  return signed;
}
