/**
 * Syslog over TCP (RFC 6587 octet counting) or TLS (RFC 5425): one connection kept open, opened
 * again on the next message after it drops; the queue's backoff spaces the reconnects. A message
 * counts as sent once the socket has taken it: plain syslog has no acknowledgement, so a message
 * written as the receiver goes away can be lost (RELP would close that gap; SIEMs rarely speak it).
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { DEFAULT_APP_NAME, DEFAULT_FACILITY, type SyslogTargetConfig } from './config.js';
import { formatSyslog, frameOctetCounting } from './format.js';
import type { Outcome, Transport } from './queue.js';
import type { AlertMessage } from './types.js';

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : String(e.message ?? err);
}

export class SyslogTransport implements Transport {
  private sock: Socket | null = null;
  /** Sockets not yet closed, including one still connecting, so close() can end them all. */
  private readonly open = new Set<Socket>();
  private closed = false;

  constructor(
    private readonly cfg: SyslogTargetConfig,
    private readonly o: { hostname: string; timeoutMs: number; log?: Logger },
  ) {}

  encode(m: AlertMessage): Buffer {
    return frameOctetCounting(formatSyslog(m, {
      hostname: this.o.hostname,
      appName: this.cfg.appName ?? DEFAULT_APP_NAME,
      facility: this.cfg.facility ?? DEFAULT_FACILITY,
      procId: String(process.pid),
    }));
  }

  state(): Record<string, unknown> {
    return { connected: this.sock !== null };
  }

  async deliver(payload: Buffer): Promise<Outcome> {
    if (this.closed) return { ok: false, permanent: false, error: 'forwarder closed' };
    try {
      const s = this.sock ?? await this.connect();
      await this.write(s, payload);
      return { ok: true };
    } catch (err) {
      return { ok: false, permanent: false, error: `syslog ${this.cfg.host}:${this.cfg.port}: ${describe(err)}` };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sock = null;
    await Promise.all([...this.open].map((s) => new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      // Written data is already with the kernel; end politely, but never wait long for the peer.
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
    })));
  }

  private connect(): Promise<Socket> {
    const { host, port, tls, ca } = this.cfg;
    return new Promise((resolve, reject) => {
      const s: Socket = tls
        // Verified against `ca` or Node's trust store; SNI only for names (RFC 6066 forbids addresses).
        ? tlsConnect({ host, port, ca, servername: isIP(host) ? undefined : host, minVersion: 'TLSv1.2' })
        : netConnect({ host, port });
      this.open.add(s);
      const timer = setTimeout(() => s.destroy(new Error(`connect timed out after ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      timer.unref();
      const fail = (err: Error) => { clearTimeout(timer); reject(err); };
      s.once('error', fail);
      s.once('close', () => {
        this.open.delete(s);
        if (this.sock === s) this.sock = null;
        fail(new Error('connection closed'));
      });
      s.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.off('error', fail);
        s.on('error', (err) => this.o.log?.debug({ err: describe(err) }, 'syslog connection error'));
        // Receivers send nothing; read and discard so a chatty one cannot fill our buffers, and drop on its FIN.
        s.on('data', () => {});
        s.once('end', () => s.destroy());
        s.setNoDelay(true);
        s.setKeepAlive(true, 60_000);
        // An idle connection must not keep a process alive; close() ends it anyway.
        s.unref();
        if (this.closed) { s.destroy(); reject(new Error('forwarder closed')); return; }
        this.sock = s;
        resolve(s);
      });
    });
  }

  private write(s: Socket, payload: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const onClose = () => done(new Error('connection closed while writing'));
      const timer = setTimeout(() => s.destroy(new Error(`write timed out after ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      const done = (err?: Error | null) => {
        clearTimeout(timer);
        s.off('close', onClose);
        if (err) { s.destroy(); reject(err); } else resolve();
      };
      s.once('close', onClose);
      s.write(payload, done);
    });
  }
}
