/**
 * Self-protection (issue 8, item 5): a host that stops heartbeating gets the agent.offline alert
 * within 3 intervals (1 s here) plus the check period; a host that said agent.stopped gets none; a
 * host that keeps heartbeating gets none; the alert is raised once, also with two server processes
 * on one PostgreSQL database, and resolved when the host returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import pino from 'pino';
import { newEvent } from '../../shared/events.js';
import { enrollTestAgent, startTestServer, tempDir, until, agentFor, type TestAgent, type TestServer } from '../helpers/server.js';
import { initData } from '../../server/init.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { createEnrollToken } from '../../server/tokens.js';
import { postgresSkipReason, startPostgres, type PgCluster } from '../helpers/postgres.js';
import type { ViolationDraft } from '../../server/store/types.js';

const INTERVAL = 1;
const CHECK = 0.25;

const beat = (a: TestAgent) => a.post('/v1/events', { events: [newEvent('agent.heartbeat', 'low', ['art31'], { intervalSeconds: INTERVAL, policyVersion: 0 })] });

/** Heartbeats every INTERVAL until stopped. */
function heartbeating(a: TestAgent): { stop(): Promise<number> } {
  let on = true;
  let last = 0;
  const loop = (async () => {
    while (on) {
      const r = await beat(a);
      if (r.status === 200) last = Date.now();
      await new Promise((res) => setTimeout(res, INTERVAL * 1000));
    }
  })();
  return { async stop() { on = false; await loop; return last; } };
}

describe('offline alert (SQLite)', () => {
  let t: TestServer;
  const raised: ViolationDraft[] = [];
  beforeAll(async () => {
    t = await startTestServer({ offlineCheckSeconds: CHECK });
    const prev = t.srv.ctx.onViolations;
    t.srv.ctx.onViolations = (v) => { raised.push(...v); prev?.(v); };
  });
  afterAll(async () => { await t.stop(); });

  it('alerts the silent host only, within 3 intervals, once; resolves it when the host returns', async () => {
    const [silent, alive, stopped] = await Promise.all([enrollTestAgent(t), enrollTestAgent(t), enrollTestAgent(t)]);
    const hb = [heartbeating(silent), heartbeating(alive), heartbeating(stopped)];
    await new Promise((r) => setTimeout(r, 2500));
    const lastBeat = await hb[0]!.stop();
    await hb[2]!.stop();
    const bye = await stopped.post('/v1/events', { events: [newEvent('agent.stopped', 'low', ['art31'], { reason: 'stopped', cause: 'system-shutdown', signal: 'SIGTERM' })] });
    expect(bye.status).toBe(200);

    const store = t.srv.ctx.store;
    const v = await until('offline violation', async () => (await store.listViolations({ host: silent.hostId, type: 'agent.offline' })).items[0], 15_000);
    const after = Date.parse(v.createdAt) - lastBeat;
    // 3 intervals, plus one check period, plus scheduling slack.
    expect(after).toBeGreaterThan(3 * INTERVAL * 1000 - 200);
    expect(after).toBeLessThan(3 * INTERVAL * 1000 + CHECK * 1000 + 1500);
    expect(v).toMatchObject({ rule: 'agent.offline', severity: 'high', articles: ['art31'], state: 'open' });
    const ev = await store.getEvent(v.eventId);
    expect(ev).toMatchObject({ type: 'agent.offline', host: silent.hostId, data: { source: 'server', intervalSeconds: INTERVAL } });

    // More checks pass: still one, and nothing for the others.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await store.listViolations({ type: 'agent.offline' })).total).toBe(1);
    expect(raised.filter((x) => x.rule === 'agent.offline').map((x) => x.hostId)).toEqual([silent.hostId]);
    expect((await store.listViolations({ host: stopped.hostId })).total).toBe(0); // a clean shutdown is neither offline nor a violation
    expect((await store.listViolations({ host: alive.hostId })).total).toBe(0);

    // The host comes back: its spell is resolved by the server, with a note.
    await beat(silent);
    const resolved = await until('resolved', async () => { const r = await store.getViolation(v.id); return r?.state === 'resolved' && r; }, 10_000);
    expect(resolved.resolvedBy).toBe('termguard');
    expect(resolved.notes.at(-1)!.text).toMatch(/reported again/);
    await hb[1]!.stop();
  }, 40_000);

  it('a stop by hand or an uninstall is reported as a violation; a shutdown is not', async () => {
    const a = await enrollTestAgent(t);
    const events = [
      newEvent('agent.stopped', 'low', ['art31'], { reason: 'stopped', cause: 'service-stop', signal: 'SIGTERM' }),
      newEvent('agent.stopped', 'low', ['art31'], { reason: 'stopped', cause: 'uninstall', signal: 'SIGTERM' }),
      newEvent('agent.stopped', 'low', ['art31'], { reason: 'stopped', cause: 'system-shutdown', signal: 'SIGTERM' }),
    ];
    expect((await a.post('/v1/events', { events })).status).toBe(200);
    const list = await until('violations', async () => { const l = await t.srv.ctx.store.listViolations({ host: a.hostId }); return l.total === 2 && l; });
    expect(list.items.map((v) => [v.rule, v.severity]).sort()).toEqual([['agent.service_stopped', 'medium'], ['agent.uninstalled', 'high']]);
  });
});

const skip = postgresSkipReason();

describe.skipIf(skip !== null)('offline alert with two servers on one PostgreSQL database', () => {
  let cluster: PgCluster;
  let a: RunningServer;
  let b: RunningServer;
  const dir = tempDir('tg-pg-off-');
  beforeAll(async () => {
    cluster = await startPostgres();
    const url = await cluster.createDatabase();
    await initData(dir, { storeUrl: url });
    const start = () => startServer({ dataDir: dir, storeUrl: url, agentPort: 0, consolePort: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), overrides: { offlineCheckSeconds: 0.1 } });
    [a, b] = await Promise.all([start(), start()]);
  }, 120_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('raises and forwards the offline alert once', async () => {
    const forwarded: string[] = [];
    for (const s of [a, b]) s.ctx.onViolations = (v) => forwarded.push(...v.filter((x) => x.rule === 'agent.offline').map((x) => x.id));
    const ts = { srv: a, dir, caHash: '', adminPassword: '', token: async () => (await createEnrollToken(a.ctx.store)).token, stop: async () => undefined } as TestServer;
    const one = await enrollTestAgent(ts);
    const viaB = agentFor({ ...ts, srv: b }, one);
    await beat(one);
    await beat(viaB);
    await until('offline violation', async () => (await a.ctx.store.listViolations({ type: 'agent.offline' })).total === 1, 15_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await b.ctx.store.listViolations({ type: 'agent.offline' })).total).toBe(1);
    expect(await a.ctx.store.countEvents({ type: 'agent.offline' })).toBe(1);
    expect(forwarded).toHaveLength(1);
  }, 60_000);
});
