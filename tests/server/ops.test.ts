/** /healthz, /metrics and ingest back-pressure (503 + Retry-After) on a real server. */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEvent } from '../../shared/events.js';
import { initData } from '../../server/init.js';
import { startServer } from '../../server/server.js';
import { enrollTestAgent, https, startTestServer, tempDir, type TestAgent, type TestServer } from '../helpers/server.js';

let t: TestServer;
let agent: TestAgent;
beforeAll(async () => { t = await startTestServer(); agent = await enrollTestAgent(t); }, 60_000);
afterAll(async () => { await t?.stop(); });

const get = (path: string) => https(`${t.srv.consoleUrl}${path}`, { ca: t.srv.ctx.ca.certPem });

describe('operations', () => {
  it('/healthz answers with the store kind and latency', async () => {
    const r = await get('/healthz');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'ok', store: 'sqlite' });
    expect(r.json.storeLatencyMs).toBeGreaterThanOrEqual(0);
  });

  it('/metrics counts stored events and connected agents in Prometheus text format', async () => {
    const before = await get('/metrics');
    const n = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(before.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    await agent.post('/v1/events', { events: [newEvent('agent.heartbeat', 'low', [], {}), newEvent('agent.heartbeat', 'low', [], {})] });
    const after = (await get('/metrics')).body;
    expect(n(after, 'termguard_events_stored_total') - n(before.body, 'termguard_events_stored_total')).toBe(2);
    expect(n(after, 'termguard_connected_agents')).toBeGreaterThanOrEqual(1);
    expect(n(after, 'termguard_agent_tls_handshakes_total{resumed="false"}')).toBeGreaterThanOrEqual(1);
    expect(n(after, 'process_resident_memory_bytes')).toBeGreaterThan(n(after, 'nodejs_heap_size_used_bytes'));
    expect(n(after, 'termguard_store_write_seconds_count')).toBeGreaterThan(0);
    if (process.platform === 'linux') expect(n(after, 'termguard_malloc_mmap_threshold_bytes')).toBe(16384); // server/native/malloc is built by npm ci
    expect(after).toMatch(/^# TYPE termguard_ingest_requests_total counter$/m);
    expect(after).not.toMatch(/test-host/); // aggregate numbers only
  });

  it('the agent port has 8 accepting sockets, each queueing up to 4,096 connections (a fleet returning at once is not dropped)', () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    // For a listening socket, ss shows the accept backlog in Send-Q.
    const lines = execFileSync('ss', ['-Hltn', `sport = :${t.srv.agentPort}`], { encoding: 'utf8' }).trim().split('\n');
    expect(lines).toHaveLength(8); // server/native/listen is built by npm ci
    for (const line of lines) expect(Number(line.trim().split(/\s+/)[2])).toBe(Math.min(4096, somaxconn));
  });

  it('every accepting socket serves the agent API with the client certificate checked', async () => {
    // 48 new connections: the kernel spreads them over the 8 sockets (by address and port).
    const answers = await Promise.all(Array.from({ length: 48 }, () => https(`${t.srv.agentUrl}/v1/policy`, {
      key: agent.key, cert: agent.cert, ca: t.srv.ctx.ca.certPem, agent: false,
    })));
    expect(answers.map((r) => r.status)).toEqual(Array(48).fill(200));
    // Without a client certificate, on any of them: refused in the handshake.
    const refused = await Promise.all(Array.from({ length: 16 }, () => https(`${t.srv.agentUrl}/v1/policy`, { ca: t.srv.ctx.ca.certPem, agent: false })
      .then(() => 'answered', (e: NodeJS.ErrnoException) => e.code ?? e.message)));
    expect(refused.filter((r) => r === 'answered')).toEqual([]);
  });

  it('a taken agent port is refused as Node refuses it, shared sockets or not', async () => {
    const dir = tempDir('tg-srv-taken-');
    try {
      await initData(dir, {});
      const second = startServer({ dataDir: dir, agentPort: t.srv.agentPort, consolePort: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }) });
      await expect(second).rejects.toThrow(/bind: Address already in use/);
      // The first server still has its 8 sockets and serves.
      expect(execFileSync('ss', ['-Hltn', `sport = :${t.srv.agentPort}`], { encoding: 'utf8' }).trim().split('\n')).toHaveLength(8);
      expect((await agent.get('/v1/policy')).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('agentAcceptSockets: 1 listens the ordinary way, on one socket', async () => {
    const one = await startTestServer({ agentAcceptSockets: 1 });
    try {
      const lines = execFileSync('ss', ['-Hltn', `sport = :${one.srv.agentPort}`], { encoding: 'utf8' }).trim().split('\n');
      expect(lines).toHaveLength(1);
      const a = await enrollTestAgent(one);
      expect((await a.get('/v1/policy')).status).toBe(200);
    } finally {
      await one.stop();
    }
  });

  it('an overloaded server answers 503 with a jittered Retry-After, stores nothing, then serves again', async () => {
    const adm = t.srv.ctx.admission!;
    adm.inflightEvents = adm.maxInflightEvents;
    const e = newEvent('agent.heartbeat', 'low', [], {});
    try {
      const r = await agent.post('/v1/events', { events: [e] });
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('TG_E_OVERLOADED');
      const ra = Number(r.headers['retry-after']);
      expect(ra).toBeGreaterThanOrEqual(2);
      expect(ra).toBeLessThanOrEqual(10);
      expect(await t.srv.ctx.store.getEvent(e.id)).toBeNull();
    } finally {
      adm.inflightEvents = 0;
    }
    const ok = await agent.post('/v1/events', { events: [e] });
    expect(ok.json.acked).toEqual([e.id]);
  });
});
