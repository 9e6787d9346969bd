/**
 * The PostgreSQL store: the shared store suite, then what only a shared database has — several server
 * processes (here: several stores, each with its own pool) writing the same rows at the same time.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { PostgresStore } from '../../../server/store/postgres.js';
import { PG_LOCKS, PG_MIGRATIONS } from '../../../server/store/pg-migrations.js';
import { openStore } from '../../../server/store/index.js';
import { verifyAuditChain } from '../../../server/audit.js';
import { hashSecret } from '../../../server/auth/secrets.js';
import { newEvent, type AgentEvent } from '../../../shared/events.js';
import type { Store, ViolationDraft } from '../../../server/store/types.js';
import { postgresSkipReason, startPostgres, type PgCluster } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/server.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { join } from 'node:path';
import { storeSuite } from './suite.js';

/** Empty every table of the schema (not schema_version), restarting identity columns. */
async function truncateAll(pool: pg.Pool): Promise<void> {
  const r = await pool.query<{ t: string }>(`SELECT quote_ident(tablename) AS t FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_version'`);
  await pool.query(`TRUNCATE ${r.rows.map((x) => x.t).join(', ')} RESTART IDENTITY`);
}

const host = (s: Store, id: string) => s.createHost({
  id, machineId: `m-${id}`, hostname: id, group: 'default', spki: `spki-${id}`, certSerial: `serial-${id}`,
  certNotAfter: '2099-01-01T00:00:00.000Z', enrolledAt: new Date().toISOString(), status: 'active', cloneOf: null, renewalHash: 'r',
});

describe('openStore with a postgres:// URL', () => {
  it('fails with TG_E_STORE and never prints the password', async () => {
    // Port 1 on loopback refuses at once.
    const err = await openStore(tempDir('tg-pgurl-'), 'postgres://termguard:s3cr%21t-pw@127.0.0.1:1/termguard').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TG_E_STORE' });
    const msg = (err as Error).message;
    expect(msg).toMatch(/127\.0\.0\.1:1/);
    expect(msg).not.toMatch(/s3cr/);
  });
});

/**
 * Calls beyond the shared suite's, in one script, returning everything they answer. Run against both
 * backends, the answers must be equal (times the stores stamp themselves are masked).
 */
async function script(s: Store): Promise<unknown[]> {
  const out: unknown[] = [];
  const at = (d: number, h = 0) => new Date(Date.UTC(2020, 0, d, h)).toISOString();
  for (const id of ['h1', 'h2', 'h3']) {
    await s.createHost({ id, machineId: id === 'h3' ? 'm-h1' : `m-${id}`, hostname: `pc-${id}`, group: 'default', spki: 'k', certSerial: `c-${id}`,
      certNotAfter: at(30), enrolledAt: at(1, Number(id[1])), status: id === 'h3' ? 'clone' : 'active', cloneOf: id === 'h3' ? 'h1' : null, renewalHash: 'r' });
  }
  out.push(await s.setHostGroup('h2', 'trading'), await s.setHostGroup('nope', 'x'), await s.hostsByMachineId('m-h1'), await s.listHosts());
  await s.touchHost('h1', at(2));
  await s.touchHost('h1', at(1));
  out.push(await s.getHost('h1'), await s.getHost('nope'), await s.getRenewalHash('h2'), await s.getRenewalHash('nope'));

  const ev = (n: number, type: string, host: string) => ({ ...newEvent(type, 'low', ['art29'], { n }, new Date(Date.UTC(2020, 0, 1, 0, n))), id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}` });
  for (let n = 0; n < 30; n++) await s.insertEvents(n % 3 ? 'h1' : 'h2', [ev(n, n % 4 ? 'drill' : 'usb.attached', n % 3 ? 'h1' : 'h2')], at(2, n % 5));
  const ids = (r: { id: string }[]) => r.map((e) => e.id.slice(-2));
  out.push(
    ids(await s.queryEvents({ latest: true, limit: 7 })), ids(await s.queryEvents({ host: 'h1', latest: true, limit: 4 })),
    ids(await s.queryEvents({ types: ['usb.attached'], until: at(1, 0).replace('00:00', '00:20') })),
    ids(await s.queryEvents({ since: at(1).replace('00:00', '00:05'), until: at(1).replace('00:00', '00:09'), host: 'h1' })),
    ids(await s.queryEvents({ after: { receivedAt: at(2, 2), id: '00000000-0000-7000-8000-000000000012' }, limit: 5 })),
    await s.countEvents({ host: 'h2', type: 'drill' }), await s.getEvent('00000000-0000-7000-8000-000000000003'), await s.purgeEvents(at(2, 1)), await s.countEvents(),
  );

  const v = (id: string, host: string, type: string, created: number, due: number, drill = false, severity: ViolationDraft['severity'] = 'high') => ({
    id, hostId: host, eventId: `e-${id}`, type, rule: type, articles: type === 'usb.blocked' ? ['art31'] : ['art29', 'art31'], severity,
    summary: `s ${id}`, dueAt: at(due), createdAt: at(created), drill,
  });
  out.push(await s.insertViolations([v('v1', 'h1', 'usb.blocked', 3, 5), v('v2', 'h1', 'egress.violation', 3, 30), v('v3', 'h2', 'usb.blocked', 4, 6, true, 'low'),
    v('v4', 'h2', 'egress.violation', 5, 7), v('v5', 'h1', 'usb.blocked', 6, 28)]));
  out.push(await s.updateViolation('v1', { state: 'acknowledged', owner: 'alice', ackedAt: at(4), ackedBy: 'alice', notes: [{ at: at(4), by: 'alice', text: 'on it' }] }, ['open']));
  out.push(await s.updateViolation('v4', { state: 'resolved', resolvedAt: at(8), resolvedBy: 'bob' }));
  out.push(await s.updateViolation('v2', { dueAt: at(29) }), await s.updateViolation('nope', { owner: 'x' }));
  const sorted = <T>(a: T[]) => a.map((x) => JSON.stringify(x)).sort();
  for (const q of [{ state: 'open' as const }, { state: 'unresolved' as const }, { drill: true }, { drill: false, severity: 'high' }, { owner: 'alice' },
    { host: 'h2', article: 'art29' }, { createdFrom: at(4), createdTo: at(6) }, { limit: 2, offset: 1 }, { overdueAt: at(10) }]) {
    const r = await s.listViolations(q);
    out.push(q, r.total, r.items.map((x) => x.id));
  }
  out.push(await s.getViolation('v1'), sorted(await s.violationStats({ now: at(10) })), sorted(await s.violationStats({ from: at(4), to: at(6), now: at(6) })));
  out.push(sorted(await s.openViolationCounts()), await s.violationsPerDay(at(4)), sorted((await s.violationsAlive(at(7), at(9))).map((x) => x.id)));
  out.push((await s.escalateOverdue(at(10))).map((x) => x.id));

  const seq = await s.addCommand('h1', 'drill', { d: 1 });
  await s.createDrill({ id: 'd1', hostId: 'h1', commandSeq: seq, startedBy: 'alice', startedAt: at(5) });
  await s.createDrill({ id: 'd2', hostId: 'h2', commandSeq: seq + 100, startedBy: 'bob', startedAt: at(7) });
  await s.updateDrill('d1', { violationId: 'v1', ackedBy: 'carol', ackedAt: at(6) });
  await s.updateDrill('d2', {});
  out.push(await s.drillByCommand(seq), await s.drillByCommand(999), await s.listDrills({}), await s.listDrills({ from: at(6), to: at(8) }), await s.listDrills({ host: 'h1' }));

  await s.createUser({ name: 'bob', passwordHash: 'h1', role: 'auditor', mustChange: false, disabled: false });
  await s.createUser({ name: 'alice', passwordHash: 'h0', role: 'admin', mustChange: true, disabled: false });
  out.push(await s.updateUser('alice', { passwordHash: 'h2', role: 'operator', mustChange: false, disabled: true, failedLogins: 3, lockedUntil: at(9),
    totpSecret: 'JBSWY3DP', totpEnabled: true, lastLogin: at(8) }), await s.updateUser('alice', {}), await s.updateUser('nobody', { role: 'x' }));
  out.push(await s.getUser('alice'), await s.listUsers(), await s.getUser('nobody'));

  await s.createSession({ idHash: 's1', user: 'alice', csrf: 'c', createdAt: at(1), expiresAt: at(2), lastSeen: at(1) });
  await s.createSession({ idHash: 's2', user: 'alice', csrf: 'c', createdAt: at(1), expiresAt: at(2), lastSeen: at(1) });
  await s.touchSession('s1', at(3), at(4));
  out.push(await s.getSession('s1'));
  await s.deleteSession('s1');
  out.push(await s.getSession('s1'), await s.deleteUserSessions('alice'), await s.getSession('s2'));

  await s.createApiToken({ id: 'a1', hash: 'ah', name: 'siem', role: 'auditor', createdBy: 'alice', createdAt: at(1), revokedAt: null, lastUsed: null });
  await s.touchApiToken('a1', at(2));
  out.push(await s.apiTokenByHash('ah'), await s.revokeApiToken('a1', at(3)), await s.revokeApiToken('a1', at(4)), await s.listApiTokens(), await s.apiTokenByHash('x'));

  await s.setPolicy('default', { a: 1 });
  await s.setPolicy('trading', { b: 2 });
  await s.setPolicy('default', { a: 3 });
  out.push(await s.listPolicyVersions('default'), await s.getPolicyVersion('default', 1), await s.getPolicyVersion('default', 2));
  await s.setSetting('x', 1);
  await s.setSetting('x', { y: [2] });
  out.push(await s.getSetting('x'));
  out.push(await s.listAudit({ desc: true, limit: 5 }), await s.countAudit());
  return out;
}

/** The stores stamp some times with the clock: mask those (anything from this year on). */
function mask(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v), (_k, x: unknown) => (typeof x === 'string' && /^20[2-9]\d-.*Z$/.test(x) && x >= '2026' ? '<now>' : x));
}

const skip = postgresSkipReason();

describe.skipIf(skip !== null)('postgres store', () => {
  let cluster: PgCluster;
  let suiteUrl: string;
  beforeAll(async () => {
    cluster = await startPostgres();
    suiteUrl = await cluster.createDatabase();
  }, 120_000);
  afterAll(async () => { await cluster?.stop(); });

  // A fresh store per test, as SQLite gets a new file: the same database, emptied.
  storeSuite('postgres', async () => {
    const s = await PostgresStore.open(suiteUrl);
    await truncateAll(s.pool);
    return s;
  });

  /** Two stores on one new database: two server processes sharing it. */
  async function two(): Promise<[PostgresStore, PostgresStore, () => Promise<void>]> {
    const url = await cluster.createDatabase();
    const a = await PostgresStore.open(url);
    const b = await PostgresStore.open(url);
    return [a, b, async () => { await a.close(); await b.close(); }];
  }

  it('answers every other call as the SQLite store does', async () => {
    const url = await cluster.createDatabase();
    const p = await PostgresStore.open(url);
    const q = new SqliteStore(join(tempDir('tg-store-'), 'termguard.db'));
    try {
      const [got, want] = [await script(p), await script(q)];
      expect(mask(got)).toEqual(mask(want));
    } finally {
      await p.close();
      await q.close();
    }
  });

  it('is what openStore returns for postgres:// and postgresql:// URLs', async () => {
    const url = await cluster.createDatabase();
    for (const u of [url, url.replace('postgres://', 'postgresql://')]) {
      const s = await openStore(tempDir('tg-pgurl-'), u);
      try {
        expect(s.kind).toBe('postgres');
        expect(await s.countEvents()).toBe(0);
      } finally {
        await s.close();
      }
    }
  });

  it('keeps times and JSON exactly as given', async () => {
    const [s, , done] = await two();
    try {
      await host(s, 'h1');
      const e: AgentEvent = {
        id: '0190F2A1-0000-7000-8000-00000000000A', type: 'media.file_written', time: '2026-11-01T08:00:00.123456789+08:00',
        severity: 'medium', articles: ['art31'], data: { name: 'a\u0000b.txt', z: 1, a: { big: 1e21, neg: -0.5 }, list: [null, true] },
      };
      expect(await s.insertEvents('h1', [e], '2026-11-01T00:00:00Z', { seen: '2026-11-01T00:00:00Z', policyVersion: 7 })).toEqual({ acked: [e.id], conflicts: [], violations: [] });
      expect(await s.getEvent(e.id)).toEqual({ ...e, host: 'h1', receivedAt: '2026-11-01T00:00:00Z' });
      expect(await s.queryEvents({ host: 'h1', since: '2026-11-01T08:00:00.1+08:00' })).toHaveLength(1);
      expect(await s.getHost('h1')).toMatchObject({ lastSeen: '2026-11-01T00:00:00Z', policyVersion: 7 });
      // last_seen never moves back; the policy version follows the agent.
      await s.touchHost('h1', '2026-10-01T00:00:00.000Z', 6);
      expect(await s.getHost('h1')).toMatchObject({ lastSeen: '2026-11-01T00:00:00Z', policyVersion: 6 });
      await s.setSetting('k', { b: 'x\u0000y', a: [1, 'two'] });
      expect(await s.getSetting('k')).toEqual({ b: 'x\u0000y', a: [1, 'two'] });
      expect(await s.getSetting('missing')).toBeUndefined();
      const a = await s.appendAudit({ time: '2026-11-20T00:00:00+08:00', actor: 'alice', action: 'x', target: null, details: { note: 'nul\u0000', n: 1.5 } });
      const rows = await s.listAudit({});
      expect(rows).toEqual([a]);
      expect(verifyAuditChain(rows)).toMatchObject({ ok: true, rows: 1 });
    } finally {
      await done();
    }
  });

  it('stores events sent to two processes at once exactly once and acks them to both', async () => {
    const [a, b, done] = await two();
    try {
      await host(a, 'h1');
      for (let round = 0; round < 5; round++) {
        const evs = Array.from({ length: 1000 }, (_, i) => newEvent('drill', 'low', [], { round, i }));
        // The second process gets the batch in the opposite order: no deadlock, no error.
        const [ra, rb] = await Promise.all([
          a.insertEvents('h1', evs, new Date().toISOString(), { seen: new Date().toISOString() }),
          b.insertEvents('h1', [...evs].reverse(), new Date().toISOString(), { seen: new Date().toISOString() }),
        ]);
        expect(ra).toEqual({ acked: evs.map((e) => e.id), conflicts: [], violations: [] });
        expect(rb).toEqual({ acked: evs.map((e) => e.id).reverse(), conflicts: [], violations: [] });
        expect(await a.countEvents()).toBe(1000 * (round + 1));
      }
      // A repeated id inside one batch is stored once and acked each time it appears.
      const d = newEvent('drill', 'low', [], {});
      expect(await a.insertEvents('h1', [d, d], new Date().toISOString())).toEqual({ acked: [d.id, d.id], conflicts: [], violations: [] });
      expect(await a.countEvents()).toBe(5001);
    } finally {
      await done();
    }
  });

  it('gives an id sent by two hosts at once to one of them and reports a conflict to the other', async () => {
    const [a, b, done] = await two();
    try {
      await host(a, 'h1');
      await host(a, 'h2');
      const evs = Array.from({ length: 500 }, () => newEvent('egress.violation', 'high', ['art29'], {}));
      const at = new Date().toISOString();
      // Each process drafts its own violation for every event: only the owner's goes in, once.
      const drafts = (hostId: string) => evs.map((e) => ({
        id: `${hostId}-${e.id}`, hostId, eventId: e.id, type: e.type, rule: e.type, articles: ['art29'], severity: 'high' as const,
        summary: 's', dueAt: at, createdAt: at, drill: false,
      }));
      const [r1, r2] = await Promise.all([
        a.insertEvents('h1', evs, at, undefined, drafts('h1')),
        b.insertEvents('h2', evs, at, undefined, drafts('h2')),
      ]);
      expect(r1.acked.length + r2.acked.length).toBe(500);
      expect(r1.violations.map((v) => v.eventId).sort()).toEqual([...r1.acked].sort());
      expect(r2.violations.map((v) => v.eventId).sort()).toEqual([...r2.acked].sort());
      expect((await a.listViolations({ host: 'h1', limit: 1000 })).total).toBe(r1.acked.length);
      expect((await a.listViolations({ limit: 1000 })).total).toBe(500);
      expect(new Set(r1.acked)).toEqual(new Set(r2.conflicts));
      expect(new Set(r2.acked)).toEqual(new Set(r1.conflicts));
      expect(await a.countEvents({ host: 'h1' })).toBe(r1.acked.length);
      expect(await a.countEvents({ host: 'h2' })).toBe(r2.acked.length);
    } finally {
      await done();
    }
  });

  it('raises a violation once when two processes derive it from the same events', async () => {
    const [a, b, done] = await two();
    try {
      const draft = (who: string, i: number): ViolationDraft => ({
        id: `${who}-${i}`, hostId: 'h1', eventId: `e${i}`, type: 'usb.blocked', rule: 'usb.blocked', articles: ['art31'], severity: 'high',
        summary: `s${i}`, dueAt: '2026-12-01T00:00:00.000Z', createdAt: '2026-11-20T00:00:00.000Z', drill: false,
      });
      const n = 300;
      const da = Array.from({ length: n }, (_, i) => draft('a', i));
      const db = Array.from({ length: n }, (_, i) => draft('b', n - 1 - i));
      const [ia, ib] = await Promise.all([a.insertViolations(da), b.insertViolations(db)]);
      expect(ia.length + ib.length).toBe(n);
      const events = [...ia, ...ib].map((v) => v.eventId);
      expect(new Set(events).size).toBe(n);
      expect((await a.listViolations({ limit: 1000 })).total).toBe(n);
      // And escalation marks each overdue violation in exactly one process.
      const [ea, eb] = await Promise.all([a.escalateOverdue('2026-12-02T00:00:00.000Z'), b.escalateOverdue('2026-12-02T00:00:00.000Z')]);
      expect(ea.length + eb.length).toBe(n);
      expect(new Set([...ea, ...eb].map((v) => v.id)).size).toBe(n);
      expect([...ea, ...eb].every((v) => v.escalatedAt === '2026-12-02T00:00:00.000Z')).toBe(true);
    } finally {
      await done();
    }
  });

  it('keeps one audit chain when two processes append at once', async () => {
    const [a, b, done] = await two();
    try {
      const append = (s: Store, who: string, i: number) => s.appendAudit({
        time: new Date().toISOString(), actor: who, action: 'test.append', target: `t${i}`, details: { i },
      });
      await Promise.all(Array.from({ length: 60 }, (_, i) => append(i % 2 ? a : b, i % 2 ? 'a' : 'b', i)));
      const rows = await a.listAudit({ limit: 1000 });
      expect(rows).toHaveLength(60);
      expect(verifyAuditChain(rows)).toMatchObject({ ok: true, rows: 60 });
      expect(await b.countAudit()).toBe(60);
    } finally {
      await done();
    }
  });

  it('numbers policy versions uniquely across groups and processes', async () => {
    const [a, b, done] = await two();
    try {
      const made = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).setPolicy(i % 3 ? 'default' : 'trading', { i })));
      expect(made.map((p) => p.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect((await a.getPolicy('default'))?.version).toBe(Math.max(...made.filter((p) => p.group === 'default').map((p) => p.version)));
    } finally {
      await done();
    }
  });

  it('hands out the uses of a token exactly once across processes', async () => {
    const [a, b, done] = await two();
    try {
      const now = new Date();
      await a.createToken({ id: 't1', hash: hashSecret('tok'), uses: 5, expiresAt: new Date(now.getTime() + 60_000).toISOString() });
      const r = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).consumeToken(hashSecret('tok'), now)));
      expect(r.filter((x) => x.ok)).toHaveLength(5);
      expect(r.filter((x) => !x.ok).every((x) => !x.ok && x.code === 'TG_E_TOKEN_EXHAUSTED')).toBe(true);
      expect((await a.listTokens())[0]?.usesLeft).toBe(0);
    } finally {
      await done();
    }
  });

  it('numbers commands uniquely and in order across processes', async () => {
    const [a, b, done] = await two();
    try {
      const seqs = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).addCommand(null, 'policy.changed', { i })));
      expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect((await a.commandsAfter('h1', 0)).map((c) => c.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(await b.changeStamp()).toBe('40:0:0');

      // Another process is adding command 41 and has not committed yet: command 42 must wait for it,
      // or an agent polling "after 40" would get 42, then ask "after 42" and never see 41.
      const other = await a.pool.connect();
      try {
        await other.query('BEGIN');
        await other.query('SELECT pg_advisory_xact_lock($1)', [PG_LOCKS.command]);
        await other.query(`INSERT INTO commands (host_id, type, payload, created_at) VALUES (NULL, 'slow', '{}', '2026-11-01T00:00:00.000Z')`);
        let added = 0;
        const later = b.addCommand(null, 'fast', {}).then((seq) => { added = seq; });
        await new Promise((r) => setTimeout(r, 300));
        expect(added).toBe(0);
        expect((await a.commandsAfter('h1', 40)).map((c) => c.seq)).toEqual([]);
        await other.query('COMMIT');
        await later;
        expect(added).toBe(42);
        expect((await a.commandsAfter('h1', 40)).map((c) => c.type)).toEqual(['slow', 'fast']);
      } finally {
        other.release();
      }
    } finally {
      await done();
    }
  });

  it('migrates a new database from several processes starting together', async () => {
    const url = await cluster.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url)));
    try {
      const r = await stores[0]!.pool.query<{ version: number }>('SELECT version FROM schema_version ORDER BY version');
      expect(r.rows.map((x) => x.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
      // Opening an up-to-date database applies nothing again.
      const again = await PostgresStore.open(url);
      await again.close();
      expect((await stores[1]!.pool.query('SELECT count(*)::int AS n FROM schema_version')).rows[0]).toEqual({ n: PG_MIGRATIONS.length });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
