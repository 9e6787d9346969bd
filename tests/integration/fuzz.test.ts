/**
 * 10,000 malformed or hostile payloads (fixed seed) against POST /v1/events (mutual TLS) and
 * POST /v1/enroll: every answer is a 4xx with a stable error code, the server keeps serving, its
 * memory stays bounded, and the store is unchanged (no event, host or token use).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { Agent } from 'node:https';
import { newEvent, validateEvent } from '../../shared/events.js';
import { enrollTestAgent, https, startTestServer, type TestAgent, type TestServer } from '../helpers/server.js';
import { mulberry32 as rng } from '../helpers/rng.js';


const BOMB = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20));
/** 1,001 events (one over the batch limit), made once: building it per request cost most of the run. */
const TOO_MANY = JSON.stringify({ events: Array.from({ length: 1001 }, () => newEvent('agent.heartbeat', 'low', [], { n: 1 })) });
const HOSTILE = ['<img src=x onerror=alert(1)>', '</script>', 'javascript:alert(1)', "'; DROP TABLE events; --", '\u0000', '\ud800', '𝕏'.repeat(1000), 'A'.repeat(70_000), '${jndi:ldap://x}', '../../etc/passwd'];

function payload(r: () => number, seq: number): { body: Buffer | string; headers: Record<string, string>; kind?: number } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const valid = () => newEvent('agent.heartbeat', 'low', [], { n: seq });
  // Every event below is broken in at least one field, so none may be stored.
  const broken = (): unknown => {
    const e: Record<string, unknown> = { ...valid() };
    const field = pick(['id', 'type', 'time', 'severity', 'articles', 'data', 'host', 'extra', '__proto__']);
    const value = pick<unknown>([null, 42, -1, 1e308, true, [], {}, '', pick(HOSTILE), { __proto__: { admin: true } }, [[[[[]]]]], 'x'.repeat(300)]);
    if (field === 'extra' || field === '__proto__') e[field === 'extra' ? pick(HOSTILE).slice(0, 20) : field] = value;
    else if (field === 'host') e.host = 'another-host-' + seq;
    else if (field === 'data' && value !== null && typeof value === 'object' && !Array.isArray(value)) e.data = 'not an object';
    else if (field === 'articles' && Array.isArray(value)) e.articles = [pick(HOSTILE)];
    else if (field === 'id' && typeof value === 'string' && value === '') e.id = 'not-a-uuid';
    else e[field] = value;
    // A mutation that happened to leave a valid event (e.g. data = {}) is broken another way.
    const wire = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
    if (typeof validateEvent(wire) !== 'string') wire.severity = pick(HOSTILE);
    return wire;
  };
  const kind = Math.floor(r() * 10);
  const json = (v: unknown) => ({ body: JSON.stringify(v), headers: { 'content-type': 'application/json' } });
  return { ...pickKind(), kind };
  function pickKind(): { body: Buffer | string; headers: Record<string, string> } {
  switch (kind) {
    case 0: return json({ events: Array.from({ length: 1 + Math.floor(r() * 20) }, broken) });
    case 1: return json(pick<unknown>([null, [], 'events', 42, { events: 'x' }, { events: {} }, { events: [], more: 1 }, { evnts: [] }]));
    case 2: return { body: JSON.stringify({ events: [valid()] }).slice(0, Math.floor(r() * 40)), headers: { 'content-type': 'application/json' } };
    case 3: return { body: Buffer.from(Array.from({ length: 64 }, () => Math.floor(r() * 256))), headers: { 'content-type': 'application/json', 'content-encoding': pick(['gzip', 'identity', 'br']) } };
    // A gzip bomb (20 MiB of spaces in ~20 KiB) every 500th payload: each one costs the server an inflate up to its cap.
    case 4: return seq % 500 === 4 ? { body: BOMB, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } } : json({ events: [broken()] });
    case 5: return { body: JSON.stringify({ events: [valid()] }), headers: { 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) } };
    case 6: return json({ events: [broken(), broken()], nested: JSON.parse('['.repeat(200) + ']'.repeat(200)) as unknown });
    case 7: return { body: TOO_MANY, headers: { 'content-type': 'application/json' } };
    case 8: return json({ events: [{ ...(broken() as object), data: { deep: JSON.parse('{"a":'.repeat(100) + '1' + '}'.repeat(100)) as unknown }, severity: 'urgent' }] });
    default: return { body: '{"events":[' + '{"id":'.repeat(50), headers: { 'content-type': 'application/json' } };
  }
  }
}

let t: TestServer;
let agent: TestAgent;
beforeAll(async () => { t = await startTestServer(); agent = await enrollTestAgent(t); }, 60_000);
afterAll(async () => { await t?.stop(); });

describe('fuzz', () => {
  it('10,000 hostile payloads: only 4xx with error codes, nothing stored, memory bounded, still serving', async () => {
    const r = rng(20261125);
    const store = t.srv.ctx.store;
    const eventsBefore = await store.countEvents();
    const hostsBefore = (await store.listHosts()).length;
    const tokensBefore = JSON.stringify(await store.listTokens());
    const rssBefore = process.memoryUsage().rss;
    const consoleAgent = new Agent({ keepAlive: true, ca: t.srv.ctx.ca.certPem });
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < 10_000) {
        const i = next++;
        const enroll = i % 5 === 4;
        const p = payload(r, i);
        let res;
        try {
          res = enroll
            ? await https(`${t.srv.consoleUrl}/v1/enroll`, { method: 'POST', agent: consoleAgent, headers: p.headers, body: p.body, timeout: 60_000 })
            : await https(`${t.srv.agentUrl}/v1/events`, { method: 'POST', agent: agent.agent, headers: p.headers, body: p.body, timeout: 60_000 });
        } catch (e) {
          bad.push(`#${i} ${enroll ? 'enroll' : 'events'} kind ${p.kind} ${JSON.stringify(p.headers)}: ${(e as Error).message}`);
          continue;
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const code = res.json?.error?.code as string | undefined;
        if (res.status >= 500) bad.push(`#${i} ${enroll ? 'enroll' : 'events'} → ${res.status} ${res.body.slice(0, 100)}`);
        else if (res.status === 200 && !enroll && (res.json.acked as unknown[]).length > 0) bad.push(`#${i} acked ${JSON.stringify(res.json.acked)}`);
        else if (res.status !== 200 && !/^TG_E_[A-Z_]+$/.test(code ?? '')) bad.push(`#${i} ${res.status} without an error code: ${res.body.slice(0, 100)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(bad.slice(0, 10)).toEqual([]);
    expect([...statuses.keys()].every((s) => s === 200 || (s >= 400 && s < 500))).toBe(true);
    expect(await store.countEvents()).toBe(eventsBefore);
    expect((await store.listHosts()).length).toBe(hostsBefore);
    expect(JSON.stringify(await store.listTokens())).toBe(tokensBefore);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(300 * 1024 * 1024);
    consoleAgent.destroy();
    const ok = await agent.post('/v1/events', { events: [newEvent('agent.heartbeat', 'low', [], {})] });
    expect(ok.json.acked).toHaveLength(1);
  }, 600_000);
});
