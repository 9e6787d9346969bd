/**
 * The agent's connection to its server: mutual TLS to the agent listener, plus the console
 * listener for recovering an expired certificate. Reloads its identity after a renewal.
 */
import { readFileSync } from 'node:fs';
import { TgError, type ErrorCode } from '../../shared/errors.js';
import type { AgentEvent } from '../../shared/events.js';
import { HttpClient, errorCode, type HttpResponse } from './http.js';
import { statePaths, type AgentState } from '../state.js';

export interface PostResult {
  acked: string[];
  rejected: { id: string | null; code: string; message: string }[];
}

export interface CommandsResult {
  policyVersion: number;
  commands: { seq: number; type: string; payload: Record<string, unknown>; createdAt: string }[];
}

/** A non-2xx answer, with the server's code and the Retry-After it asked for. */
export class ServerError extends Error {
  constructor(readonly status: number, readonly code: string | undefined, readonly retryAfterMs: number | undefined, message: string) {
    super(message);
    this.name = 'ServerError';
  }
}

function check(res: HttpResponse, what: string): HttpResponse {
  if (res.status >= 200 && res.status < 300) return res;
  if (res.status === 304) return res;
  const ra = Number(res.headers['retry-after']);
  throw new ServerError(res.status, errorCode(res), Number.isFinite(ra) ? ra * 1000 : undefined, `${what} answered ${res.status} ${res.body.slice(0, 200)}`);
}

export class AgentClient {
  private http!: HttpClient;
  private poll!: HttpClient;

  constructor(private readonly stateDir: string, private readonly state: () => AgentState) {
    this.reload();
  }

  /** Read key, certificate and CA again (after renewal). */
  reload(): void {
    const p = statePaths(this.stateDir);
    const tls = { ca: readFileSync(p.ca, 'utf8'), key: readFileSync(p.key, 'utf8'), cert: readFileSync(p.cert, 'utf8') };
    this.http?.close();
    this.poll?.close();
    // Events, policy and renewal: a connection kept while batches flow, closed after 10 s unused, so
    // an idle agent holds one connection (the long-poll) and a server's descriptors go to agents,
    // not to sockets waiting for the next heartbeat; the next request resumes the TLS session.
    this.http = new HttpClient(this.state().agentUrl, tls, { idleMs: 10_000 });
    // The long-poll holds its own connection so it never delays a batch of events.
    this.poll = new HttpClient(this.state().agentUrl, tls);
  }

  close(): void {
    this.http.close();
    this.poll.close();
  }

  async postEvents(events: AgentEvent[], signal?: AbortSignal): Promise<PostResult> {
    // Between two polls the poll's connection is open and idle: a batch (an idle agent's heartbeat,
    // paced by agent/transport/heartbeat.ts) goes there rather than opening the events connection.
    const via = !this.http.hasIdleConnection() && this.poll.hasIdleConnection() ? this.poll : this.http;
    const res = check(await via.send('POST', '/v1/events', { json: { events }, gzipOver: 16 * 1024, timeoutMs: 60_000, signal }), 'POST /v1/events');
    return res.json<PostResult>();
  }

  async getPolicy(signal?: AbortSignal): Promise<{ version: number; policy: Record<string, unknown> }> {
    const res = check(await this.http.send('GET', '/v1/policy', { timeoutMs: 30_000, signal }), 'GET /v1/policy');
    return res.json();
  }

  async getCommands(after: number, policy: number, waitS: number, signal?: AbortSignal): Promise<CommandsResult> {
    const res = check(await this.poll.send('GET', `/v1/commands?wait=${waitS}&after=${after}&policy=${policy}`, { timeoutMs: (waitS + 30) * 1000, signal }), 'GET /v1/commands');
    return res.json<CommandsResult>();
  }

  async renew(csr: string): Promise<{ certificate: string; ca: string; notAfter: string }> {
    const res = check(await this.http.send('POST', '/v1/renew', { json: { csr }, timeoutMs: 30_000 }), 'POST /v1/renew');
    return res.json();
  }

  /** Expired certificate: the renewal secret and our key, on the console listener (no client cert). */
  async recover(csr: string, secret: string): Promise<{ certificate: string; ca: string; notAfter: string; renewalSecret: string }> {
    const p = statePaths(this.stateDir);
    const console = new HttpClient(this.state().serverUrl, { ca: readFileSync(p.ca, 'utf8') });
    try {
      const res = check(await console.send('POST', '/v1/recover', { json: { hostId: this.state().hostId, csr, secret }, timeoutMs: 30_000 }), 'POST /v1/recover');
      return res.json();
    } finally {
      console.close();
    }
  }
}

/** Errors that mean our certificate is no longer good on this server. */
export function isCertificateError(e: unknown): boolean {
  if (e instanceof ServerError) return ['TG_E_CERT_EXPIRED', 'TG_E_CERT_REVOKED', 'TG_E_CERT_UNKNOWN', 'TG_E_HOST_REVOKED'].includes(e.code ?? '');
  const code = (e as { code?: string }).code ?? '';
  const msg = String((e as Error).message ?? '');
  return code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED' || /certificate expired|alert certificate expired/i.test(msg);
}

export function tgCode(e: unknown): ErrorCode | undefined {
  return e instanceof TgError ? e.code : undefined;
}
