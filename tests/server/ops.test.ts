/** /healthz, /metrics and ingest back-pressure (503 + Retry-After) on a real server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEvent } from '../../shared/events.js';
import { enrollTestAgent, https, startTestServer, type TestAgent, type TestServer } from '../helpers/server.js';

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
