/**
 * JSON webhook: one POST per alert over a keep-alive agent. 2xx is delivered; 408, 429, 5xx and
 * network errors are retried; any other status (other 4xx, and 3xx: redirects are not followed, so
 * a moved receiver is a configuration error) is permanent.
 */
import { createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import { VERSION } from '../../shared/version.js';
import type { WebhookTargetConfig } from './config.js';
import { webhookBody } from './format.js';
import type { Outcome, Transport } from './queue.js';
import type { AlertMessage } from './types.js';

export const SIGNATURE_HEADER = 'x-termguard-signature';

/** `sha256=<hex>` of HMAC-SHA256(secret, body): what a receiver recomputes over the raw body bytes. */
export function signBody(body: Buffer | string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(v: string | undefined, now = Date.now()): number | undefined {
  if (v === undefined) return undefined;
  const s = v.trim();
  if (/^\d{1,10}$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export function classify(status: number, headers: IncomingHttpHeaders): Outcome {
  if (status >= 200 && status < 300) return { ok: true };
  const error = `webhook: HTTP ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    return retryAfterMs === undefined ? { ok: false, permanent: false, error } : { ok: false, permanent: false, error, retryAfterMs };
  }
  return { ok: false, permanent: true, error };
}

const RESERVED = new Set(['content-type', 'content-length', 'transfer-encoding', 'host', 'connection', SIGNATURE_HEADER]);

export class WebhookTransport implements Transport {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly inflight = new Set<ClientRequest>();
  private readonly baseHeaders: Record<string, string> = {};
  private closed = false;
  private lastStatus: number | null = null;

  constructor(
    private readonly cfg: WebhookTargetConfig,
    private readonly o: { timeoutMs: number; log?: Logger },
  ) {
    this.url = new URL(cfg.url);
    // Verified against `ca` or Node's trust store; one socket, since deliveries are one at a time.
    this.agent = this.url.protocol === 'https:'
      ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: cfg.ca, minVersion: 'TLSv1.2' })
      : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    // Validated configs never carry reserved names; a stored one edited by hand still cannot smuggle them in.
    for (const [k, v] of Object.entries(cfg.headers ?? {})) if (!RESERVED.has(k.toLowerCase())) this.baseHeaders[k] = v;
  }

  encode(m: AlertMessage): Buffer {
    return Buffer.from(webhookBody(m), 'utf8');
  }

  state(): Record<string, unknown> {
    return { lastStatus: this.lastStatus };
  }

  deliver(body: Buffer): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ ok: false, permanent: false, error: 'forwarder closed' });
    const headers: Record<string, string> = {
      ...this.baseHeaders,
      'content-type': 'application/json',
      'content-length': String(body.length),
    };
    if (!Object.keys(this.baseHeaders).some((k) => k.toLowerCase() === 'user-agent')) headers['user-agent'] = `termguard/${VERSION}`;
    if (this.cfg.secret !== undefined) headers[SIGNATURE_HEADER] = signBody(body, this.cfg.secret);
    const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (o: Outcome) => {
        if (settled) return;
        settled = true;
        resolve(o);
      };
      const req = request(this.url, { method: 'POST', headers, agent: this.agent }, (res) => {
        this.lastStatus = res.statusCode ?? 0;
        finish(classify(res.statusCode ?? 0, res.headers));
        // Drain the body so the socket can be reused; the timer below still ends one that never finishes.
        res.on('data', () => {});
        res.once('end', () => { clearTimeout(timer); this.inflight.delete(req); });
        res.once('error', () => {});
      });
      this.inflight.add(req);
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      req.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        this.inflight.delete(req);
        finish({ ok: false, permanent: false, error: `webhook: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}` });
      });
      req.once('close', () => {
        clearTimeout(timer);
        this.inflight.delete(req);
        finish({ ok: false, permanent: false, error: 'webhook: connection closed before a response' });
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.inflight) r.destroy(new Error('forwarder closed'));
    this.inflight.clear();
    this.agent.destroy();
  }
}
