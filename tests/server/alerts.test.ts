/**
 * Alert forwarding against real receivers on 127.0.0.1 (port 0): a TCP and a TLS syslog receiver
 * that parse RFC 6587 octet-counted frames, and HTTP webhook receivers. Nothing leaves loopback.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import {
  AlertForwarder, formatSyslog, frameOctetCounting, validateAlertConfig, webhookBody,
  type AlertConfig, type AlertForwarderOptions, type AlertMessage,
} from '../../server/alerts/index.js';

const LOOPBACK = '127.0.0.1';
const FAST: AlertForwarderOptions = { retryBaseMs: 5, retryMaxMs: 20, timeoutMs: 3000, hostname: 'tg-server' };

function alert(over: Partial<AlertMessage> = {}): AlertMessage {
  return {
    id: '0190f5a4-0000-7000-8000-000000000001',
    time: '2026-11-25T08:30:00.123Z',
    host: { id: 'h-1', hostname: 'teller-01', group: 'branch-a' },
    type: 'egress.violation',
    severity: 'high',
    articles: ['art29', 'art31'],
    summary: 'connection to 203.0.113.10:443 by curl',
    url: 'https://console.example/violations/1',
    drill: false,
    ...over,
  };
}

const closers: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

function forwarder(config: AlertConfig, opts: AlertForwarderOptions = {}): AlertForwarder {
  const f = new AlertForwarder(config, { ...FAST, ...opts });
  closers.push(() => f.close());
  return f;
}

async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- receivers

interface SyslogReceiver { port: number; messages: string[]; connections: number; sockets: Set<Socket>; close(): Promise<void> }

/** RFC 6587 §3.4.1 octet counting: MSG-LEN SP MSG, the length in bytes. Anything else fails the test. */
function deframe(onMessage: (m: string) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const sp = buf.indexOf(0x20);
      if (sp < 0) return;
      const lenText = buf.subarray(0, sp).toString('ascii');
      if (!/^[1-9]\d{0,8}$/.test(lenText)) throw new Error(`bad frame length ${JSON.stringify(lenText)}`);
      const len = Number(lenText);
      if (buf.length < sp + 1 + len) return;
      onMessage(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
      buf = buf.subarray(sp + 1 + len);
    }
  };
}

async function listen(server: Server | HttpServer, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function syslogReceiver(tls?: { key: string; cert: string }): Promise<SyslogReceiver> {
  const r = { port: 0, messages: [] as string[], connections: 0, sockets: new Set<Socket>(), close: async () => {} };
  const onSocket = (s: Socket) => {
    r.connections++;
    r.sockets.add(s);
    s.on('close', () => r.sockets.delete(s));
    s.on('error', () => {});
    const feed = deframe((m) => r.messages.push(m));
    s.on('data', (c: Buffer) => {
      try { feed(c); } catch (err) { r.messages.push(`FRAMING ERROR: ${(err as Error).message}`); s.destroy(); }
    });
  };
  const server: Server = tls ? createTlsServer({ key: tls.key, cert: tls.cert }, onSocket) : createNetServer(onSocket);
  server.on('tlsClientError', () => {});
  r.port = await listen(server);
  r.close = () => new Promise<void>((resolve) => { for (const s of r.sockets) s.destroy(); server.close(() => resolve()); });
  closers.push(r.close);
  return r;
}

interface Hit { headers: IncomingHttpHeaders; body: string; at: number }
type Reply = { status: number; headers?: Record<string, string> };

async function webhookReceiver(reply: (n: number, hit: Hit) => Reply, port = 0): Promise<{ port: number; hits: Hit[]; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      hits.push(hit);
      const r = reply(hits.length, hit);
      res.writeHead(r.status, r.headers ?? {});
      res.end('{}');
    });
  });
  const p = await listen(server, port);
  const close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  closers.push(close);
  return { port: p, hits, close };
}

/** A loopback port nothing listens on (listened on, then closed). */
async function deadPort(): Promise<number> {
  const s = createNetServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---------------------------------------------------------------- RFC 5424 parser (the receiver's view)

interface Parsed { pri: number; version: string; timestamp: string; hostname: string; appName: string; procId: string; msgId: string; sdId: string; params: Record<string, string>; msg: string }

/** Parses one RFC 5424 message with a single SD-ELEMENT, unescaping PARAM-VALUEs per §6.3.3. */
function parse5424(line: string): Parsed {
  const h = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(line);
  if (!h) throw new Error(`bad header: ${line}`);
  let i = h[0].length;
  if (line[i] !== '[') throw new Error('expected one SD-ELEMENT');
  i++;
  const idEnd = line.slice(i).search(/[ \]]/);
  const sdId = line.slice(i, i + idEnd);
  i += idEnd;
  const params: Record<string, string> = {};
  while (line[i] === ' ') {
    i++;
    const eq = line.indexOf('="', i);
    const name = line.slice(i, eq);
    if (!/^[^= \]"]{1,32}$/.test(name)) throw new Error(`bad PARAM-NAME ${name}`);
    i = eq + 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) throw new Error('unterminated PARAM-VALUE');
      if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\' || line[i + 1] === ']')) { value += line[i + 1]; i += 2; continue; }
      if (c === '"') { i++; break; }
      if (c === ']') throw new Error(`unescaped ] in PARAM-VALUE of ${name}`);
      value += c;
      i++;
    }
    params[name] = value;
  }
  if (line[i] !== ']') throw new Error(`expected ] at ${i}: ${line.slice(i)}`);
  i++;
  const msg = line[i] === ' ' ? line.slice(i + 1) : '';
  return { pri: Number(h[1]), version: h[2]!, timestamp: h[3]!, hostname: h[4]!, appName: h[5]!, procId: h[6]!, msgId: h[7]!, sdId, params, msg };
}

// ---------------------------------------------------------------- certificates

let certDir = '';
let good = { key: '', cert: '' };
let other = { key: '', cert: '' };

function makeCert(name: string): { key: string; cert: string } {
  const key = join(certDir, `${name}.key`);
  const cert = join(certDir, `${name}.pem`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

beforeAll(() => {
  certDir = mkdtempSync(join(tmpdir(), 'tg-alerts-'));
  good = makeCert('receiver');
  other = makeCert('other');
});
afterAll(() => rmSync(certDir, { recursive: true, force: true }));

// ---------------------------------------------------------------- tests

describe('formatSyslog', () => {
  it('builds an RFC 5424 line: PRI, version, timestamp, header fields, SD and a BOM-prefixed MSG', () => {
    const line = formatSyslog(alert(), { hostname: 'tg-server', appName: 'termguard', facility: 13, procId: '42' });
    const p = parse5424(line);
    expect(p.pri).toBe(13 * 8 + 3);
    expect(p.version).toBe('1');
    expect(p.timestamp).toBe('2026-11-25T08:30:00.123Z');
    expect([p.hostname, p.appName, p.procId, p.msgId]).toEqual(['tg-server', 'termguard', '42', 'egress.violation']);
    expect(p.sdId).toBe('termguard@32473');
    expect(p.params).toEqual({
      host: 'teller-01', hostId: 'h-1', group: 'branch-a', violation: alert().id, severity: 'high',
      articles: 'art29,art31', drill: 'false', url: 'https://console.example/violations/1',
    });
    expect(p.msg).toBe('\uFEFFconnection to 203.0.113.10:443 by curl');
  });

  it('maps severities to crit, err, warning, notice under the chosen facility', () => {
    const pri = (severity: AlertMessage['severity'], facility: number) =>
      parse5424(formatSyslog(alert({ severity }), { hostname: 'h', appName: 'a', facility })).pri;
    expect([pri('critical', 13), pri('high', 13), pri('medium', 13), pri('low', 13)]).toEqual([106, 107, 108, 109]);
    expect(pri('critical', 4)).toBe(34);
    expect(pri('low', 10)).toBe(85);
  });

  it('uses NILVALUE for empty fields, replaces non-printable header characters and caps MSGID at 32', () => {
    const p = parse5424(formatSyslog(alert({ type: 'a.very.long.event.type.that.goes.on.and.on', time: 'not a time', url: null }), { hostname: '', appName: 'term guard', facility: 13 }));
    expect(p.hostname).toBe('-');
    expect(p.procId).toBe('-');
    expect(p.timestamp).toBe('-');
    expect(p.appName).toBe('term_guard');
    expect(p.msgId).toBe('a.very.long.event.type.that.goes');
    expect(p.msgId).toHaveLength(32);
    expect(p.params.url).toBeUndefined();
  });

  it('frames by octet count in bytes, not characters', () => {
    expect(frameOctetCounting('证联网').toString('utf8')).toBe('9 证联网');
    expect(frameOctetCounting('abc').toString('utf8')).toBe('3 abc');
  });

  it('webhookBody is JSON carrying every field', () => {
    expect(JSON.parse(webhookBody(alert()))).toEqual({ kind: 'termguard.alert', version: 1, ...alert() });
  });
});

describe('syslog over TCP', () => {
  it('delivers in order over one kept-open connection, and reconnects after the receiver drops it', async () => {
    const rx = await syslogReceiver();
    const f = forwarder({ syslog: { host: LOOPBACK, port: rx.port } });
    for (let i = 1; i <= 3; i++) f.send(alert({ id: `v-${i}` }));
    await f.flush(5000);
    await until(() => rx.messages.length === 3, 5000, '3 messages');
    expect(rx.messages.map((m) => parse5424(m).params.violation)).toEqual(['v-1', 'v-2', 'v-3']);
    expect(rx.connections).toBe(1);
    expect(f.stats()).toMatchObject({ queued: 0, sent: 3, deadLettered: 0, perTarget: { syslog: { connected: true } } });

    for (const s of rx.sockets) s.destroy();
    await until(() => f.stats().perTarget.syslog?.connected === false, 5000, 'disconnect noticed');
    f.send(alert({ id: 'v-4' }));
    await until(() => rx.messages.length === 4, 5000, 'message after reconnect');
    expect(parse5424(rx.messages[3]!).params.violation).toBe('v-4');
    expect(rx.connections).toBe(2);
  });

  it('keeps a hostile summary and hostname inert: one message, CR/LF replaced, SD values escaped', async () => {
    const rx = await syslogReceiver();
    const f = forwarder({ syslog: { host: LOOPBACK, port: rx.port, appName: 'tg', facility: 4 } });
    const hostname = 'evil"] [x@1 a="b\\\r\n<13>1 fake';
    const summary = 'ok\r\n<13>1 2026-01-01T00:00:00Z forged app - - - injected]"\\ end\u2028more';
    f.send(alert({ host: { id: 'h-"]', hostname, group: 'g\\' }, summary }));
    await f.flush(5000);
    await until(() => rx.messages.length >= 1);
    await sleep(50);
    expect(rx.messages).toHaveLength(1);
    const line = rx.messages[0]!;
    expect(line).not.toMatch(/[\r\n\u2028]/);
    expect(line).toContain('host="evil\\"\\] [x@1 a=\\"b\\\\  <13>1 fake"');
    const p = parse5424(line);
    expect(p.pri).toBe(4 * 8 + 3);
    expect(p.appName).toBe('tg');
    expect(p.params.host).toBe('evil"] [x@1 a="b\\  <13>1 fake');
    expect(p.params.hostId).toBe('h-"]');
    expect(p.params.group).toBe('g\\');
    expect(p.params.articles).toBe('art29,art31');
    expect(Object.keys(p.params)).toEqual(['host', 'hostId', 'group', 'violation', 'severity', 'articles', 'drill', 'url']);
    expect(p.msg).toBe('\uFEFFok  <13>1 2026-01-01T00:00:00Z forged app - - - injected]"\\ end more');
  });
});

describe('syslog over TLS', () => {
  it('delivers when the receiver certificate verifies against the configured CA', async () => {
    const rx = await syslogReceiver(good);
    const f = forwarder({ syslog: { host: LOOPBACK, port: rx.port, tls: true, ca: good.cert } });
    f.send(alert({ summary: 'über TLS 证联网' }));
    await f.flush(5000);
    await until(() => rx.messages.length === 1);
    expect(parse5424(rx.messages[0]!).msg).toBe('\uFEFFüber TLS 证联网');
    expect(f.stats()).toMatchObject({ sent: 1, deadLettered: 0 });
  });

  it('does not deliver when the certificate is signed by another CA, or checked against the system CAs', async () => {
    const rx = await syslogReceiver(good);
    let handshakes = 0;
    const f1 = forwarder({ syslog: { host: LOOPBACK, port: rx.port, tls: true, ca: other.cert } }, { maxAttempts: 3 });
    const f2 = forwarder({ syslog: { host: LOOPBACK, port: rx.port, tls: true } }, { maxAttempts: 3 });
    f1.send(alert());
    f2.send(alert());
    await Promise.all([f1.flush(5000), f2.flush(5000)]);
    handshakes = rx.messages.length;
    for (const f of [f1, f2]) {
      const s = f.stats();
      expect(s).toMatchObject({ queued: 0, sent: 0, retried: 2, deadLettered: 1 });
      expect(s.lastError).toMatch(/certificate|self.signed/i);
    }
    expect(handshakes).toBe(0);
    expect(rx.messages).toEqual([]);
  });
});

describe('webhook', () => {
  it('retries 503 twice, then delivers once with the JSON body', async () => {
    const rx = await webhookReceiver((n) => ({ status: n <= 2 ? 503 : 204 }));
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${rx.port}/hook` } });
    f.send(alert());
    await f.flush(5000);
    expect(rx.hits).toHaveLength(3);
    expect(new Set(rx.hits.map((h) => h.body)).size).toBe(1);
    expect(rx.hits[2]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(rx.hits[2]!.body)).toMatchObject({ id: alert().id, severity: 'high', host: alert().host });
    expect(f.stats()).toMatchObject({ queued: 0, sent: 1, retried: 2, deadLettered: 0, perTarget: { webhook: { sent: 1, lastStatus: 204 } } });
    await sleep(50);
    expect(rx.hits).toHaveLength(3);
  });

  it('dead-letters a 400 at once, without retrying, and goes on with the next alert', async () => {
    const rx = await webhookReceiver((n) => ({ status: n === 1 ? 400 : 200 }));
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${rx.port}/` } });
    f.send(alert({ id: 'bad' }));
    f.send(alert({ id: 'good' }));
    await f.flush(5000);
    expect(rx.hits.map((h) => (JSON.parse(h.body) as { id: string }).id)).toEqual(['bad', 'good']);
    expect(f.stats()).toMatchObject({ sent: 1, retried: 0, deadLettered: 1 });
    expect(f.stats().lastError).toContain('HTTP 400');
  });

  it('dead-letters after maxAttempts of a 500', async () => {
    const rx = await webhookReceiver(() => ({ status: 500 }));
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${rx.port}/` } }, { maxAttempts: 4 });
    f.send(alert());
    await f.flush(5000);
    expect(rx.hits).toHaveLength(4);
    expect(f.stats()).toMatchObject({ sent: 0, retried: 3, deadLettered: 1 });
  });

  it('honours Retry-After, capped at retryMaxMs', async () => {
    const rx = await webhookReceiver((n) => (n === 1 ? { status: 429, headers: { 'retry-after': '3600' } } : { status: 200 }));
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${rx.port}/` } }, { retryBaseMs: 1, retryMaxMs: 400 });
    f.send(alert());
    await f.flush(5000);
    expect(rx.hits).toHaveLength(2);
    const gap = rx.hits[1]!.at - rx.hits[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(350);
    expect(gap).toBeLessThan(2500);
  });

  it('delivers once the receiver comes up, keeping order and dropping the oldest waiting alerts when full', async () => {
    const port = await deadPort();
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${port}/` } }, { maxAttempts: 1000, maxQueue: 2 });
    f.send(alert({ id: 'v-1' }));
    await until(() => f.stats().retried >= 1, 5000, 'retries while down');
    expect(f.stats().lastError).toMatch(/ECONNREFUSED/);
    for (let i = 2; i <= 5; i++) f.send(alert({ id: `v-${i}` }));
    // v-1 is being retried; v-2 and v-3 were dropped to keep two waiting.
    expect(f.stats()).toMatchObject({ queued: 3, sent: 0, deadLettered: 2, lastError: 'queue full: oldest alert dropped' });
    const rx = await webhookReceiver(() => ({ status: 200 }), port);
    await f.flush(5000);
    expect(rx.hits.map((h) => (JSON.parse(h.body) as { id: string }).id)).toEqual(['v-1', 'v-4', 'v-5']);
    expect(f.stats()).toMatchObject({ queued: 0, sent: 3, deadLettered: 2 });
  });

  it('signs the body with HMAC-SHA256 and sends the configured headers', async () => {
    const secret = 'a-shared-secret-of-some-length';
    const rx = await webhookReceiver((_n, hit) => {
      const expected = `sha256=${createHmac('sha256', secret).update(hit.body).digest('hex')}`;
      return { status: hit.headers['x-termguard-signature'] === expected ? 200 : 401 };
    });
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${rx.port}/`, secret, headers: { authorization: 'Bearer t0k3n' } } });
    f.send(alert({ summary: 'signed 证联网' }));
    await f.flush(5000);
    expect(f.stats()).toMatchObject({ sent: 1, deadLettered: 0 });
    expect(rx.hits[0]!.headers.authorization).toBe('Bearer t0k3n');
    expect(rx.hits[0]!.headers['x-termguard-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('a wrong secret fails verification at the receiver (the signature covers the body)', async () => {
    const rx = await webhookReceiver((_n, hit) => {
      const expected = `sha256=${createHmac('sha256', 'the-receivers-secret-xx').update(hit.body).digest('hex')}`;
      return { status: hit.headers['x-termguard-signature'] === expected ? 200 : 401 };
    });
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${rx.port}/`, secret: 'a-different-secret-xx' } });
    f.send(alert());
    await f.flush(5000);
    expect(f.stats()).toMatchObject({ sent: 0, deadLettered: 1 });
  });

  it('over https, verifies the receiver against the configured CA', async () => {
    let hits = 0;
    const server = createHttpsServer({ key: good.key, cert: good.cert }, (req, res) => { hits++; req.resume(); res.end(); });
    const port = await listen(server);
    closers.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
    const right = forwarder({ webhook: { url: `https://${LOOPBACK}:${port}/`, ca: good.cert } });
    const wrong = forwarder({ webhook: { url: `https://${LOOPBACK}:${port}/`, ca: other.cert } }, { maxAttempts: 2 });
    right.send(alert());
    wrong.send(alert());
    await Promise.all([right.flush(5000), wrong.flush(5000)]);
    expect(hits).toBe(1);
    expect(right.stats()).toMatchObject({ sent: 1, deadLettered: 0 });
    expect(wrong.stats()).toMatchObject({ sent: 0, deadLettered: 1 });
    expect(wrong.stats().lastError).toMatch(/certificate|signature/i);
  });
});

describe('AlertForwarder', () => {
  it('retries each target on its own: a dead syslog does not hold back the webhook', async () => {
    const rx = await webhookReceiver(() => ({ status: 200 }));
    const f = forwarder({ syslog: { host: LOOPBACK, port: await deadPort() }, webhook: { url: `http://${LOOPBACK}:${rx.port}/` } }, { maxAttempts: 1000 });
    f.send(alert({ id: 'v-1' }));
    f.send(alert({ id: 'v-2' }));
    await until(() => rx.hits.length === 2, 5000, 'webhook deliveries');
    // The receiver sees the second request before the forwarder has read its answer.
    await until(() => f.stats().perTarget.webhook?.sent === 2, 5000, 'webhook answers counted');
    const s = f.stats();
    expect(s.perTarget.webhook).toMatchObject({ sent: 2, queued: 0 });
    expect(s.perTarget.syslog).toMatchObject({ sent: 0, queued: 2, connected: false });
    expect(s.queued).toBe(2);
  });

  it('send never throws nor blocks, even for a malformed message', () => {
    const f = forwarder({ syslog: { host: LOOPBACK, port: 9 } });
    const t = Date.now();
    expect(() => f.send({} as AlertMessage)).not.toThrow();
    expect(() => f.send({ ...alert(), fn: () => 1 } as unknown as AlertMessage)).not.toThrow();
    expect(Date.now() - t).toBeLessThan(50);
    expect(f.stats().deadLettered).toBe(2);
  });

  it('carries queued alerts over to a changed target, and dead-letters them when a target is turned off', async () => {
    const rx = await webhookReceiver(() => ({ status: 200 }));
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${await deadPort()}/` } }, { maxAttempts: 1000 });
    f.send(alert({ id: 'v-1' }));
    f.send(alert({ id: 'v-2' }));
    await until(() => f.stats().retried >= 1);
    f.updateConfig({ webhook: { url: `http://${LOOPBACK}:${rx.port}/` } });
    await f.flush(5000);
    expect(rx.hits.map((h) => (JSON.parse(h.body) as { id: string }).id)).toEqual(['v-1', 'v-2']);

    f.updateConfig({ webhook: { url: `http://${LOOPBACK}:${await deadPort()}/` } });
    f.send(alert({ id: 'v-3' }));
    await until(() => f.stats().retried >= 2);
    f.updateConfig({ webhook: null });
    expect(f.stats()).toMatchObject({ queued: 0, sent: 2, deadLettered: 1, perTarget: {} });
  });

  it('flush gives up at its timeout and close stops retrying', async () => {
    const f = forwarder({ webhook: { url: `http://${LOOPBACK}:${await deadPort()}/` } }, { maxAttempts: 1000 });
    f.send(alert());
    const t = Date.now();
    await f.flush(200);
    expect(Date.now() - t).toBeGreaterThanOrEqual(190);
    expect(f.stats().queued).toBe(1);
    await f.close();
    const retried = f.stats().retried;
    await sleep(100);
    expect(f.stats().retried).toBe(retried);
    f.send(alert());
    expect(f.stats().queued).toBe(0);
  });
});

describe('validateAlertConfig', () => {
  const ok = (raw: unknown) => validateAlertConfig(raw);
  const err = (raw: unknown) => { const r = validateAlertConfig(raw); return r.ok ? null : r.error; };

  it('accepts a full config, an empty one and null targets', () => {
    const full = {
      syslog: { host: 'siem.bank.example', port: 6514, tls: true, ca: good.cert, appName: 'termguard', facility: 13 },
      webhook: { url: 'https://hooks.bank.example/tg', headers: { Authorization: 'Bearer x' }, ca: good.cert, secret: '0123456789abcdef' },
    };
    expect(ok(full)).toEqual({ ok: true, config: full });
    expect(ok({}).ok).toBe(true);
    expect(ok({ syslog: null, webhook: null }).ok).toBe(true);
    expect(ok({ syslog: { host: '127.0.0.1', port: 514 } }).ok).toBe(true);
  });

  it('refuses URLs that are not http(s), or carry credentials', () => {
    expect(err({ webhook: { url: 'ftp://h.example/x' } })).toMatch(/^webhook\.url: expected an http/);
    expect(err({ webhook: { url: 'javascript:alert(1)' } })).toMatch(/^webhook\.url:/);
    expect(err({ webhook: { url: 'file:///etc/passwd' } })).toMatch(/^webhook\.url:/);
    expect(err({ webhook: { url: 'not a url' } })).toMatch(/^webhook\.url:/);
    expect(err({ webhook: { url: 'https://user:pw@h.example/' } })).toMatch(/credentials/);
  });

  it('refuses ports out of range and bad hosts', () => {
    for (const port of [0, 65536, -1, 1.5, '514']) expect(err({ syslog: { host: 'h.example', port } })).toMatch(/^syslog\.port:/);
    expect(err({ syslog: { host: 'h.example', port: 65535 } })).toBeNull();
    expect(err({ syslog: { host: 'bad host\r\n', port: 514 } })).toMatch(/^syslog\.host:/);
    expect(err({ syslog: { host: '', port: 514 } })).toMatch(/^syslog\.host:/);
  });

  it('refuses header names and values with CR/LF, and headers the forwarder sets', () => {
    expect(err({ webhook: { url: 'http://h.example/', headers: { 'x-a\r\nx-b': 'v' } } })).toMatch(/^webhook\.headers\.x-a\r\nx-b: header name must be an RFC 9110 token/);
    expect(err({ webhook: { url: 'http://h.example/', headers: { 'x-a\n': 'v' } } })).toMatch(/header name must be/);
    expect(err({ webhook: { url: 'http://h.example/', headers: { 'x-a': 'v\r\nx-b: 1' } } })).toMatch(/^webhook\.headers/);
    expect(err({ webhook: { url: 'http://h.example/', headers: { 'Content-Type': 'text/plain' } } })).toMatch(/cannot be overridden/);
    expect(err({ webhook: { url: 'http://h.example/', headers: { 'X-Termguard-Signature': 'sha256=00' } } })).toMatch(/cannot be overridden/);
    expect(err({ webhook: { url: 'http://h.example/', headers: { 'x-ok': 'fine value' } } })).toBeNull();
  });

  it('refuses unknown fields, conflicting options and bad values', () => {
    expect(err({ sylog: { host: 'h', port: 1 } })).toMatch(/sylog/);
    expect(err({ syslog: { host: 'h.example', port: 514, tsl: true } })).toMatch(/tsl/);
    expect(err({ syslog: { host: 'h.example', port: 514, ca: good.cert } })).toMatch(/^syslog\.ca: ca is set but tls is not/);
    expect(err({ webhook: { url: 'http://h.example/', ca: good.cert } })).toMatch(/^webhook\.ca: ca is set but the URL is not https/);
    expect(err({ syslog: { host: 'h.example', port: 6514, tls: true, ca: 'not a pem' } })).toMatch(/^syslog\.ca: not a PEM/);
    expect(err({ syslog: { host: 'h.example', port: 514, facility: 24 } })).toMatch(/^syslog\.facility:/);
    expect(err({ syslog: { host: 'h.example', port: 514, appName: 'has space' } })).toMatch(/^syslog\.appName:/);
    expect(err({ webhook: { url: 'http://h.example/', secret: 'short' } })).toMatch(/^webhook\.secret:/);
    expect(err(null)).toMatch(/^\(alerts\)/);
    expect(err('x')).toMatch(/^\(alerts\)/);
  });
});
