/**
 * POST /v1/events against a running server: partial acks, idempotence, unknown types, and every
 * kind of bad input answered as the contract says while the server keeps serving and stores
 * nothing it should not.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import { startTestServer, enrollTestAgent, type TestServer, type TestAgent } from '../helpers/server.js';
import { newEvent } from '../../shared/events.js';
import { signAttestation } from '../../shared/attestation.js';

let t: TestServer;
let a: TestAgent;
let b: TestAgent;
beforeAll(async () => {
  t = await startTestServer();
  a = await enrollTestAgent(t);
  b = await enrollTestAgent(t);
});
afterAll(async () => { await t.stop(); });

const ev = (over: Record<string, unknown> = {}) => ({ ...newEvent('drill', 'low', ['art16'], { n: 1 }), ...over });
const count = () => t.srv.ctx.store.countEvents();

async function stillServing(): Promise<void> {
  const e = ev();
  const r = await a.post('/v1/events', { events: [e] });
  expect(r.status).toBe(200);
  expect(r.json.acked).toEqual([e.id]);
}

describe('POST /v1/events', () => {
  it('stores valid events, stamps receivedAt and the host from the certificate', async () => {
    const events = [ev(), ev({ type: 'usb.attached', severity: 'medium', data: { vendorId: '0781' } })];
    const r = await a.post('/v1/events', { events });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ acked: events.map((e) => e.id), rejected: [] });
    const stored = await t.srv.ctx.store.queryEvents({ host: a.hostId });
    const got = stored.find((s) => s.id === events[1]!.id)!;
    expect(got.host).toBe(a.hostId);
    expect(got.data).toEqual({ vendorId: '0781' });
    expect(Date.parse(got.receivedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('acks a resent event again and stores it once; the same id twice in a batch is stored once', async () => {
    const e = ev();
    const before = await count();
    expect((await a.post('/v1/events', { events: [e] })).json.acked).toEqual([e.id]);
    expect((await a.post('/v1/events', { events: [e, e] })).json.acked).toEqual([e.id]);
    expect(await count()).toBe(before + 1);
  });

  it('stores and acks an event of a type it does not know yet', async () => {
    const e = ev({ type: 'future.gadget_seen', data: { anything: [1, 2] } });
    const r = await a.post('/v1/events', { events: [e] });
    expect(r.json.acked).toEqual([e.id]);
    expect((await t.srv.ctx.store.queryEvents({ type: 'future.gadget_seen' })).map((s) => s.id)).toEqual([e.id]);
  });

  it('acks the valid events of a batch and rejects the invalid ones with codes', async () => {
    const good = ev();
    const badSeverity = ev({ severity: 'urgent' });
    const badTime = ev({ time: 'yesterday' });
    const extraField = ev({ sneaky: true });
    const otherHost = ev({ host: b.hostId });
    const noId = { type: 'drill', time: new Date().toISOString(), severity: 'low', articles: [], data: {} };
    const before = await count();
    const r = await a.post('/v1/events', { events: [good, badSeverity, badTime, extraField, otherHost, noId, 42, 'x'] });
    expect(r.status).toBe(200);
    expect(r.json.acked).toEqual([good.id]);
    const byId = new Map((r.json.rejected as { id: string | null; code: string }[]).map((x) => [x.id, x.code]));
    expect(byId.get(badSeverity.id)).toBe('TG_E_EVENT_INVALID');
    expect(byId.get(badTime.id)).toBe('TG_E_EVENT_INVALID');
    expect(byId.get(extraField.id)).toBe('TG_E_EVENT_INVALID');
    expect(byId.get(otherHost.id)).toBe('TG_E_HOST_MISMATCH');
    expect(r.json.rejected).toHaveLength(7);
    expect(await count()).toBe(before + 1);
  });

  it('refuses to let one host claim an event id another host already stored', async () => {
    const e = ev();
    expect((await b.post('/v1/events', { events: [e] })).json.acked).toEqual([e.id]);
    const r = await a.post('/v1/events', { events: [e] });
    expect(r.json.acked).toEqual([]);
    expect(r.json.rejected).toEqual([{ id: e.id, code: 'TG_E_ID_CONFLICT', message: expect.any(String) }]);
    expect((await t.srv.ctx.store.queryEvents({ host: a.hostId })).some((s) => s.id === e.id)).toBe(false);
  });

  it('verifies attestations on receipt: its own is stored, a tampered one or another host\'s is rejected', async () => {
    const body = (hostId: string) => ({
      hostId, hostname: 'h', time: new Date().toISOString(), agentVersion: '0.1.0', os: 'linux', policyVersion: 0, policyDigest: 'sha256:00',
      profile: 'mlps3', summary: { pass: 0, fail: 0, not_applicable: 0, error: 0 }, checks: [], inventoryDigest: 'sha256:11',
    });
    const good = signAttestation(body(a.hostId), a.key, a.cert);
    const tampered = JSON.parse(JSON.stringify(good));
    tampered.body.policyVersion = 7;
    const bOwn = signAttestation(body(b.hostId), b.key, b.cert);
    const events = [good, tampered, bOwn].map((f) => ev({ type: 'host.attestation', data: f }));
    const r = await a.post('/v1/events', { events });
    expect(r.json.acked).toEqual([events[0]!.id]);
    expect(r.json.rejected.map((x: { code: string }) => x.code)).toEqual(['TG_E_ATTESTATION_INVALID', 'TG_E_ATTESTATION_INVALID']);
    expect(r.json.rejected[0].message).toContain('body.policyVersion: changed after signing');
    expect(r.json.rejected[1].message).toContain(`attestation is for host ${b.hostId}`);
  });

  it('accepts a gzip body', async () => {
    const e = ev();
    const r = await a.post('/v1/events', gzipSync(JSON.stringify({ events: [e] })), { 'content-encoding': 'gzip' });
    expect(r.status).toBe(200);
    expect(r.json.acked).toEqual([e.id]);
  });

  const bad: [string, () => Promise<{ status: number; json: any }>, number, string][] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
    ['malformed JSON', () => a.post('/v1/events', '{"events":[{"id":'), 400, 'TG_E_BAD_JSON'],
    ['wrong content type', () => a.post('/v1/events', JSON.stringify({ events: [ev()] }), { 'content-type': 'text/plain' }), 415, 'TG_E_CONTENT_TYPE'],
    ['envelope not an object', () => a.post('/v1/events', [ev()]), 400, 'TG_E_BAD_ENVELOPE'],
    ['envelope without events', () => a.post('/v1/events', { evnts: [] }), 400, 'TG_E_BAD_ENVELOPE'],
    ['envelope with extra fields', () => a.post('/v1/events', { events: [], host: 'x' }), 400, 'TG_E_BAD_ENVELOPE'],
    ['events not an array', () => a.post('/v1/events', { events: {} }), 400, 'TG_E_BAD_ENVELOPE'],
    ['more than 1000 events', () => a.post('/v1/events', { events: Array.from({ length: 1001 }, () => ev()) }), 413, 'TG_E_TOO_MANY_EVENTS'],
    ['body over 4 MiB on the wire', () => a.post('/v1/events', JSON.stringify({ events: [ev({ data: { pad: 'x'.repeat(5 * 1024 * 1024) } })] })), 413, 'TG_E_BODY_TOO_LARGE'],
    ['gzip body over 16 MiB inflated', () => a.post('/v1/events', gzipSync(JSON.stringify({ events: [ev({ data: { pad: 'x'.repeat(17 * 1024 * 1024) } })] })), { 'content-encoding': 'gzip' }), 413, 'TG_E_BODY_TOO_LARGE'],
    ['corrupt gzip', () => a.post('/v1/events', Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }), 400, 'TG_E_BAD_ENCODING'],
    ['unknown content encoding', () => a.post('/v1/events', Buffer.from('{}'), { 'content-encoding': 'br' }), 400, 'TG_E_BAD_ENCODING'],
  ];
  for (const [what, send, status, code] of bad) {
    it(`answers ${what} with ${status} ${code}, stores nothing and keeps serving`, async () => {
      const before = await count();
      const r = await send();
      expect(r.status).toBe(status);
      expect(r.json).toEqual({ error: { code, message: expect.any(String) } });
      expect(await count()).toBe(before);
      await stillServing();
    });
  }

  it('answers unknown routes with 404 TG_E_NOT_FOUND', async () => {
    const r = await a.get('/v1/nothing');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('TG_E_NOT_FOUND');
  });
});

describe('GET /v1/policy and /v1/commands', () => {
  it('serves the default policy with an ETag and answers 304 when unchanged', async () => {
    const r = await a.get('/v1/policy');
    expect(r.status).toBe(200);
    expect(r.json.version).toBe(0);
    expect(r.json.policy.usb.mode).toBe('audit');
    expect(r.json.policy.egress.enforce).toBe(false);
    expect(r.json.policy.egress.probes).toEqual([]);
    const again = await a.get('/v1/policy', { 'if-none-match': r.headers.etag as string });
    expect(again.status).toBe(304);
  });

  it('wakes a long-poll when the policy changes, and returns queued commands after the cursor', async () => {
    const t0 = Date.now();
    const waiting = a.get('/v1/commands?wait=20&after=0&policy=0');
    await new Promise((r) => setTimeout(r, 300));
    const row = await t.srv.ctx.store.setPolicy('default', { usb: { mode: 'block' } });
    const r = await waiting;
    expect(r.status).toBe(200);
    expect(r.json.policyVersion).toBe(row.version);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const seq = await t.srv.ctx.store.addCommand(a.hostId, 'drill', { drillId: 'd1' });
    await t.srv.ctx.store.addCommand(b.hostId, 'drill', { drillId: 'other-host' });
    const c = await a.get(`/v1/commands?wait=0&after=0&policy=${row.version}`);
    expect(c.json.commands.map((x: { seq: number }) => x.seq)).toEqual([seq]);
    const none = await a.get(`/v1/commands?wait=0&after=${seq}&policy=${row.version}`);
    expect(none.json.commands).toEqual([]);
    expect((await a.get('/v1/commands?wait=999')).json.error.code).toBe('TG_E_BAD_ENVELOPE');
  });

  it('reads nothing from the store while nothing changes, yet delivers a new command or group within the hub interval', async () => {
    const store = t.srv.ctx.store;
    const policy = (await a.get('/v1/policy')).json.version as number;
    const cursor = (await a.get(`/v1/commands?wait=0&after=0&policy=${policy}`)).json.commands.reduce((m: number, c: { seq: number }) => Math.max(m, c.seq), 0) as number;
    await new Promise((r) => setTimeout(r, 1500)); // the hub has seen every earlier change
    const reads: string[] = [];
    const commandsAfter = store.commandsAfter.bind(store);
    const getHost = store.getHost.bind(store);
    const getPolicy = store.getPolicy.bind(store);
    store.commandsAfter = async (hostId, seq, limit) => { reads.push(`commands ${hostId}`); return commandsAfter(hostId, seq, limit); };
    store.getHost = async (id) => { reads.push(`host ${id}`); return getHost(id); };
    store.getPolicy = async (group) => { reads.push(`policy ${group}`); return getPolicy(group); };
    try {
      expect((await a.get(`/v1/commands?wait=0&after=${cursor}&policy=${policy}`)).json.commands).toEqual([]);
      expect(reads.filter((r) => r.startsWith('commands'))).toEqual([`commands ${a.hostId}`]); // wait=0 always reads the commands
      reads.length = 0;
      for (let i = 0; i < 3; i++) {
        const r = await a.get(`/v1/commands?wait=1&after=${cursor}&policy=${policy}`);
        expect(r.json).toEqual({ policyVersion: policy, commands: [] });
      }
      expect(reads).toEqual([]); // waiting polls: neither commands nor the host's group nor its policy

      // Written behind the hub's back (another process): a waiting poll has it within a second or so.
      const seq = await store.addCommand(a.hostId, 'drill', { drillId: 'behind-the-hub' });
      let t0 = Date.now();
      const got = await a.get(`/v1/commands?wait=20&after=${cursor}&policy=${policy}`);
      expect(got.json.commands.map((c: { seq: number }) => c.seq)).toEqual([seq]);
      expect(Date.now() - t0).toBeLessThan(5000);

      // A host moved to another group behind the hub's back: the move moves the store's change
      // stamp, so a poll already waiting is woken and answers with the new group's version.
      const other = await store.setPolicy('ops-moved', { usb: { mode: 'audit' } });
      await a.get(`/v1/commands?wait=3&after=${seq}&policy=${policy}`); // the hub sees the new policy row
      t0 = Date.now();
      const waiting = a.get(`/v1/commands?wait=20&after=${seq}&policy=${policy}`);
      await new Promise((r) => setTimeout(r, 300));
      expect(await store.setHostGroup(a.hostId, 'ops-moved')).toBe(true);
      expect((await waiting).json.policyVersion).toBe(other.version);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect((await a.get('/v1/policy')).json.version).toBe(other.version);

      // Moved through the console, in this process: the hub is poked, the waiting poll answers at once.
      const back = a.get(`/v1/commands?wait=20&after=${seq}&policy=${other.version}`);
      await new Promise((r) => setTimeout(r, 300));
      t0 = Date.now();
      await store.setHostGroup(a.hostId, 'default');
      t.srv.ctx.hub.poke();
      expect((await back).json.policyVersion).toBe(policy);
      expect(Date.now() - t0).toBeLessThan(500);
    } finally {
      store.commandsAfter = commandsAfter;
      store.getHost = getHost;
      store.getPolicy = getPolicy;
      await store.setHostGroup(a.hostId, 'default');
    }
  });
});
