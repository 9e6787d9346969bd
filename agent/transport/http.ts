/**
 * A small HTTPS client over node:https with keep-alive. The agent trusts only the institution CA
 * (ca.crt) and presents its own certificate on the agent listener.
 */
import { request, Agent } from 'node:https';
import { gzipSync } from 'node:zlib';
import type { TLSSocket } from 'node:tls';
import { TgError } from '../../shared/errors.js';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = unknown>(): T;
}

export interface TlsIdentity {
  ca: string;
  key?: string;
  cert?: string;
}

export class HttpClient {
  private readonly agent: Agent;
  /**
   * The last TLS session the server gave us. node:https drops its cached session whenever a socket
   * closes with an error — every refused attempt while the server restarts — so without our own
   * copy a fleet coming back from an outage would make a full handshake per agent.
   */
  private session: Buffer | undefined;
  private readonly sessionWatched = new WeakSet<TLSSocket>();

  /**
   * `idleMs`: close a kept-alive connection after this long unused (the next request resumes the TLS
   * session); without it the connection stays until the server closes it.
   */
  constructor(private readonly base: string, tls: TlsIdentity | { insecure: true }, opts: { idleMs?: number } = {}) {
    this.agent = 'insecure' in tls
      ? new Agent({ keepAlive: false, rejectUnauthorized: false, minVersion: 'TLSv1.2' })
      : new Agent({ keepAlive: true, maxSockets: 4, ca: tls.ca, key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2', ...(opts.idleMs ? { timeout: opts.idleMs } : {}) });
  }

  close(): void {
    this.agent.destroy();
  }

  /** A kept-alive connection is open and unused: a request now needs no new handshake. */
  hasIdleConnection(): boolean {
    return hasIdleSocket(this.agent);
  }

  async send(method: string, path: string, opts: { json?: unknown; headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; gzipOver?: number } = {}): Promise<HttpResponse> {
    const url = new URL(path, this.base);
    let body: Buffer | undefined;
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.json !== undefined) {
      body = Buffer.from(JSON.stringify(opts.json));
      headers['content-type'] = 'application/json';
      if (opts.gzipOver !== undefined && body.length > opts.gzipOver) {
        body = gzipSync(body, { level: 1 });
        headers['content-encoding'] = 'gzip';
      }
      headers['content-length'] = String(body.length);
    }
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = request(url, { method, headers, agent: this.agent, timeout: opts.timeoutMs ?? 30_000, signal: opts.signal, ...(this.session ? { session: this.session } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            json<T>() {
              try {
                return JSON.parse(text) as T;
              } catch {
                throw new TgError('TG_E_BAD_JSON', `server answered ${res.statusCode} with a body that is not JSON`);
              }
            },
          });
        });
      });
      req.once('socket', (socket: TLSSocket) => {
        if (!this.sessionWatched.has(socket)) {
          this.sessionWatched.add(socket);
          socket.on('session', (s: Buffer) => { this.session = s; });
        }
      });
      req.on('timeout', () => req.destroy(new TgError('TG_E_UNREACHABLE', `no answer from ${url.origin} within ${opts.timeoutMs ?? 30_000} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** The agent holds a kept-alive socket that no request is using. */
export function hasIdleSocket(agent: Agent): boolean {
  for (const k in agent.freeSockets) if ((agent.freeSockets[k]?.length ?? 0) > 0) return true;
  return false;
}

/** The server's error code from an error body, if it sent one. */
export function errorCode(res: HttpResponse): string | undefined {
  try {
    return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}
