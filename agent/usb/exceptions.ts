/**
 * The agent's temporary USB exceptions: kept in the state folder (so they survive a restart),
 * each verified against the institution CA before use, dropped when it lapses.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/fs.js';
import { usbExceptionProblem, type SignedUsbException, type UsbException } from '../../shared/usb-exception.js';

export class UsbExceptions {
  private list: SignedUsbException[] = [];
  private readonly file: string;

  constructor(stateDir: string, private readonly caPem: string, private readonly hostId: string) {
    this.file = join(stateDir, 'usb-exceptions.json');
    try {
      this.list = JSON.parse(readFileSync(this.file, 'utf8')) as SignedUsbException[];
    } catch {
      this.list = [];
    }
  }

  /** Verify and keep a grant; returns why it was refused, or null. */
  add(s: unknown, now = new Date()): string | null {
    const problem = usbExceptionProblem(s, this.caPem, this.hostId, now);
    if (problem) return problem;
    const signed = s as SignedUsbException;
    this.list = [...this.list.filter((x) => x.exception.id !== signed.exception.id), signed];
    this.save();
    return null;
  }

  /** Exceptions valid now (each re-verified: the file is on disk and could have been edited). */
  active(now = new Date()): UsbException[] {
    return this.list.filter((s) => usbExceptionProblem(s, this.caPem, this.hostId, now) === null).map((s) => s.exception);
  }

  /** Forget lapsed ones; returns those removed, so the caller can re-evaluate their devices. */
  prune(now = new Date()): UsbException[] {
    const gone = this.list.filter((s) => usbExceptionProblem(s, this.caPem, this.hostId, now) !== null);
    if (gone.length) {
      this.list = this.list.filter((s) => !gone.includes(s));
      this.save();
    }
    return gone.map((s) => s.exception);
  }

  /** Milliseconds until the next one lapses, or null. */
  nextExpiry(now = new Date()): number | null {
    const times = this.active(now).map((e) => Date.parse(e.notAfter) - now.getTime());
    return times.length ? Math.max(0, Math.min(...times)) : null;
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.list, null, 2) + '\n', 0o600);
  }
}
