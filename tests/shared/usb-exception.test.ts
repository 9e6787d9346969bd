/** Temporary USB exceptions: signed by the institution CA, for one host, honoured only until they lapse. */
import { describe, it, expect } from 'vitest';
import { createCa } from '../../server/pki/ca.js';
import { signUsbException, usbExceptionProblem } from '../../shared/usb-exception.js';
import { UsbExceptions } from '../../agent/usb/exceptions.js';
import { tempDir } from '../helpers/server.js';

const ca = createCa();
const other = createCa({ commonName: 'rogue' });
const now = new Date('2026-11-25T10:00:00Z');
const grant = (o: Partial<{ hostId: string; notAfter: string }> = {}, key = ca.keyPem) => signUsbException({
  id: 'x1', hostId: 'h1', vendorId: '0781', productId: '5567', serial: '4C53', notBefore: '2026-11-25T09:00:00.000Z',
  notAfter: '2026-11-25T12:00:00.000Z', approvedBy: 'secadmin wang', reason: 'audit evidence copy', ...o,
}, key);

describe('USB exceptions', () => {
  it('are honoured for their host within their time', () => {
    expect(usbExceptionProblem(grant(), ca.certPem, 'h1', now)).toBeNull();
  });
  it('are refused when forged, tampered, for another host, expired or not yet valid', () => {
    expect(usbExceptionProblem(grant({}, other.keyPem), ca.certPem, 'h1', now)).toMatch(/signature/);
    const t = grant();
    t.exception.serial = 'ANY';
    expect(usbExceptionProblem(t, ca.certPem, 'h1', now)).toMatch(/signature/);
    expect(usbExceptionProblem(grant(), ca.certPem, 'h2', now)).toMatch(/granted to host h1/);
    expect(usbExceptionProblem(grant(), ca.certPem, 'h1', new Date('2026-11-25T12:00:00Z'))).toMatch(/expired/);
    expect(usbExceptionProblem(grant(), ca.certPem, 'h1', new Date('2026-11-25T08:00:00Z'))).toMatch(/not valid before/);
    expect(usbExceptionProblem({ nope: 1 }, ca.certPem, 'h1', now)).toBe('not a USB exception');
  });
  it('persist in the state folder, lapse by themselves and report when the next one lapses', () => {
    const dir = tempDir('tg-ex-');
    const store = new UsbExceptions(dir, ca.certPem, 'h1');
    expect(store.add(grant({ hostId: 'h2' }), now)).toBe('granted to host h2, not this one');
    expect(store.add(grant(), now)).toBeNull();
    const again = new UsbExceptions(dir, ca.certPem, 'h1');
    expect(again.active(now).map((e) => e.id)).toEqual(['x1']);
    expect(again.nextExpiry(now)).toBe(2 * 3_600_000);
    const later = new Date('2026-11-25T12:00:01Z');
    expect(again.active(later)).toEqual([]);
    expect(again.prune(later).map((e) => e.id)).toEqual(['x1']);
    expect(new UsbExceptions(dir, ca.certPem, 'h1').active(now)).toEqual([]);
  });
});
