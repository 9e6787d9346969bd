/**
 * Revoked certificates, enforced three ways: the CRL at handshake, a check in the request path,
 * and closing open connections of a revoked host. Revocations may be written by another process
 * (`host revoke`, a second server on the same database), so the store is re-read on an interval.
 */
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { normaliseSerial } from '../shared/pki.js';
import { buildCrl, type CaMaterial } from './pki/ca.js';
import type { Store } from './store/types.js';

const CRL_LIFETIME_MS = 7 * 86_400_000;
const CRL_REFRESH_MS = 12 * 3_600_000;

export class Revocations {
  private serials = new Set<string>();
  private crlPem: string;
  private crlBuiltAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly sockets = new Set<TLSSocket>();
  private readonly listeners: ((crlPem: string) => void)[] = [];

  constructor(private readonly store: Store, private readonly ca: CaMaterial, private readonly log: Logger, private readonly pollMs: number) {
    this.crlPem = this.build([]);
  }

  get crl(): string {
    return this.crlPem;
  }

  isRevoked(serial: string): boolean {
    return this.serials.has(serial);
  }

  /** Called when the CRL changes, so the listener can swap its secure context. */
  onCrl(fn: (crlPem: string) => void): void {
    this.listeners.push(fn);
  }

  /** Open agent connections. */
  get connections(): number {
    return this.sockets.size;
  }

  track(socket: TLSSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  async start(): Promise<void> {
    await this.refresh();
    const tick = () => {
      this.refresh().catch((e: unknown) => this.log.error({ err: e }, 'revocation refresh failed'))
        .finally(() => { this.timer = setTimeout(tick, this.pollMs); this.timer.unref(); });
    };
    this.timer = setTimeout(tick, this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Re-read revocations; rebuild the CRL and drop open connections when they changed. */
  async refresh(): Promise<void> {
    const now = Date.now();
    const rows = await this.store.revokedCerts();
    const next = new Set(rows.map((r) => r.serial));
    const changed = next.size !== this.serials.size || [...next].some((s) => !this.serials.has(s));
    this.serials = next;
    if (changed || now - this.crlBuiltAt > CRL_REFRESH_MS) {
      // Expired certificates are refused by the handshake anyway; keeping them out keeps the CRL small.
      const live = rows.filter((r) => Date.parse(r.notAfter) > now).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt) }));
      this.crlPem = this.build(live);
      for (const fn of this.listeners) fn(this.crlPem);
    }
    if (changed) this.closeRevoked();
  }

  private build(revoked: { serial: string; revokedAt: Date }[]): string {
    const thisUpdate = new Date(Date.now() - 60_000);
    this.crlBuiltAt = Date.now();
    return buildCrl(this.ca, revoked, { thisUpdate, nextUpdate: new Date(thisUpdate.getTime() + CRL_LIFETIME_MS) });
  }

  private closeRevoked(): void {
    for (const s of this.sockets) {
      const serial = s.getPeerX509Certificate()?.serialNumber;
      if (serial && this.serials.has(normaliseSerial(serial))) {
        this.log.info({ serial }, 'closing connection of a revoked certificate');
        s.destroy();
      }
    }
  }
}
