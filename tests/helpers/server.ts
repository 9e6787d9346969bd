/** Test harness: a real server (real CA, real TLS, real SQLite file) in a temp folder, on free loopback ports. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, Agent, type RequestOptions } from 'node:https';
import pino from 'pino';
import { initData } from '../../server/init.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { createEnrollToken } from '../../server/tokens.js';
import { generateAgentKey, makeCsr } from '../../shared/pki.js';
import type { ServerConfig } from '../../server/config.js';

export interface TestServer {
  dir: string;
  caHash: string;
  adminPassword: string;
  srv: RunningServer;
  token(opts?: { uses?: number; ttlMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dir = tempDir('tg-srv-');
  const r = await initData(dir, {});
  const srv = await startServer({
    dataDir: dir, agentPort: 0, consolePort: 0, bind: '127.0.0.1',
    logger: pino({ level: process.env.TG_TEST_LOG ?? 'silent' }),
    overrides: { revocationPollSeconds: 0.5, ...overrides },
  });
  return {
    dir, caHash: r.caHash, adminPassword: r.adminPassword, srv,
    token: async (o = {}) => (await createEnrollToken(srv.ctx.store, o)).token,
    async stop() {
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTPS request; resolves with the reply or rejects with the TLS/socket error. */
export function https(url: string, opts: RequestOptions & { body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const { body, ...rest } = opts;
    const req = request(url, { timeout: 10_000, ...rest }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** An agent identity enrolled over the real API: key made here, only the CSR sent. */
export interface TestAgent {
  hostId: string;
  key: string;
  cert: string;
  ca: string;
  renewalSecret: string;
  agent: Agent;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Reply>;
  get(path: string, headers?: Record<string, string>): Promise<Reply>;
}

export async function enrollTestAgent(t: TestServer, opts: { machineId?: string; token?: string; key?: { privateKeyPem: string; publicKeyPem: string } } = {}): Promise<TestAgent> {
  const key = opts.key ?? generateAgentKey();
  const csr = makeCsr(key.privateKeyPem, key.publicKeyPem, 'test');
  const ca = t.srv.ctx.ca.certPem;
  const res = await https(`${t.srv.consoleUrl}/v1/enroll`, {
    method: 'POST', ca, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: opts.token ?? await t.token(), csr, hostname: 'test-host', machineId: opts.machineId ?? `m-${Math.random().toString(16).slice(2)}` }),
  });
  if (res.status !== 200) throw new Error(`enroll failed: ${res.status} ${res.body}`);
  return agentFor(t, { hostId: res.json.hostId, key: key.privateKeyPem, cert: res.json.certificate, ca, renewalSecret: res.json.renewalSecret });
}

export function agentFor(t: TestServer, id: { hostId: string; key: string; cert: string; ca: string; renewalSecret: string }): TestAgent {
  const agent = new Agent({ keepAlive: true, key: id.key, cert: id.cert, ca: id.ca });
  const base = t.srv.agentUrl;
  return {
    ...id, agent,
    post: (path, body, headers = {}) => https(`${base}${path}`, {
      method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    }),
    get: (path, headers = {}) => https(`${base}${path}`, { method: 'GET', agent, headers }),
  };
}

/** Poll until `fn` returns something truthy; fail with `what` after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/**
 * Serve on a port below the ephemeral range: an agent that knocks on the closed port while its server
 * is down (for days, in the offline test) could otherwise, on loopback, end up connected to itself and
 * hold the port.
 */
export async function serveBelowEphemeral(serve: (port: number) => Promise<RunningServer>): Promise<RunningServer> {
  let low = 32768;
  try { low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low; } catch { /* not Linux */ }
  for (let attempt = 0; ; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * Math.max(1, low - 10_000));
    try {
      return await serve(port);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw e;
    }
  }
}
