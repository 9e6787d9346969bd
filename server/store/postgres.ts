/**
 * PostgreSQL store (`pg` 8, a pool of 10 connections) for institutions that run several stateless
 * server processes on one database. Same semantics as sqlite.ts; what SQLite gets from its single
 * writer, this gets from row locks, ON CONFLICT and transaction-scoped advisory locks (pg-migrations.ts
 * names them): the audit chain, policy versions and command sequence numbers are each extended by one
 * process at a time, so they never fork and never become visible out of order.
 * insertEvents is the hot path: one INSERT per batch, arrays bound as parameters, a named statement.
 */
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type { AgentEvent, StoredEvent, Severity } from '../../shared/events.js';
import type {
  CertRow, CommandRow, EventQuery, HostRow, InsertResult, PolicyRow, Store, TokenCheck, TokenRow, UserRow, HostStatus,
  UserPatch, SessionRow, ApiTokenRow, AuditRow, ViolationDraft, ViolationRow, ViolationQuery, ViolationState, DrillRow,
} from './types.js';
import { AUDIT_GENESIS, auditHash } from '../audit.js';
import { PG_LOCKS, migrate } from './pg-migrations.js';

type Row = Record<string, unknown>;
type Db = pg.Pool | PoolClient;

/** Events deleted per statement by purgeEvents: short transactions, no long lock on the table. */
const PURGE_CHUNK = 10_000;
/** Deadlock and serialization failures are retried this many times with the whole transaction. */
const RETRIES = 3;

/** Builds `$n` placeholders in order. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** `message` with every form of the URL's password removed. */
export function scrubPassword(message: string, url: string): string {
  let pw = '';
  try { pw = new URL(url).password; } catch { /* not a URL: nothing known to scrub */ }
  if (!pw) return message;
  let out = message;
  for (const p of new Set([pw, decodeURIComponent(pw)])) if (p) out = out.split(p).join('***');
  return out;
}

/** Insert violation drafts (one per event id, the first wins) inside the caller's transaction; the ids inserted. */
async function insertDrafts(c: PoolClient, drafts: ViolationDraft[]): Promise<Set<string>> {
  // Event-id order for the same reason as insertEvents; a stable sort keeps the first draft for an event.
  const sorted = [...drafts].sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  const col = <K extends keyof ViolationDraft>(k: K, f: (v: ViolationDraft[K]) => unknown = (v) => v) => sorted.map((d) => f(d[k]));
  const r = await c.query<{ id: string }>({
    name: 'tg_insert_violations',
    text: `INSERT INTO violations (id, host_id, event_id, type, rule, articles, severity, summary, due_at, created_at, updated_at, drill)
           SELECT u.id, u.host_id, u.event_id, u.type, u.rule, u.articles::jsonb, u.severity, u.summary, u.due_at, u.created_at, u.created_at, u.drill
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[])
             AS u (id, host_id, event_id, type, rule, articles, severity, summary, due_at, created_at, drill)
           ON CONFLICT (event_id) DO NOTHING RETURNING id`,
    values: [col('id'), col('hostId'), col('eventId'), col('type'), col('rule'), col('articles', (a) => JSON.stringify(a)), col('severity'),
      col('summary'), col('dueAt'), col('createdAt'), col('drill')],
  });
  return new Set(r.rows.map((x) => x.id));
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private closed = false;

  private constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Connect, bring the schema up to date, and return the store. */
  static async open(url: string, opts: { poolSize?: number } = {}): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: url, max: opts.poolSize ?? 10, application_name: 'termguard-server',
      connectionTimeoutMillis: 15_000, idleTimeoutMillis: 30_000,
    });
    // An idle connection that dies (database restart, network) is dropped by the pool and the next
    // query opens a new one; without a listener the 'error' event would end the process.
    pool.on('error', () => undefined);
    try {
      const c = await pool.connect();
      try {
        await migrate(c);
      } finally {
        c.release();
      }
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw e;
    }
    return new PostgresStore(pool);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async rows(db: Db, text: string, values: unknown[] = []): Promise<Row[]> {
    return (await db.query<QueryResultRow>(text, values)).rows as Row[];
  }

  private async one(db: Db, text: string, values: unknown[] = []): Promise<Row | undefined> {
    return (await this.rows(db, text, values))[0];
  }

  private async changes(db: Db, text: string, values: unknown[] = []): Promise<number> {
    return (await db.query(text, values)).rowCount ?? 0;
  }

  /** Run `fn` in one transaction on one connection; retried whole on deadlock or serialization failure. */
  private async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const c = await this.pool.connect();
      let broken = false;
      try {
        await c.query('BEGIN');
        const r = await fn(c);
        await c.query('COMMIT');
        return r;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => { broken = true; });
        const code = (e as { code?: unknown }).code;
        if (attempt < RETRIES && (code === '40P01' || code === '40001')) continue;
        throw e;
      } finally {
        c.release(broken);
      }
    }
  }

  // ── tokens ──────────────────────────────────────────────────────────
  async createToken(t: { id: string; hash: string; uses: number; expiresAt: string }): Promise<void> {
    await this.pool.query('INSERT INTO tokens (id, hash, uses_total, uses_left, expires_at, created_at) VALUES ($1, $2, $3, $3, $4, $5)',
      [t.id, t.hash, t.uses, t.expiresAt, new Date().toISOString()]);
  }

  async listTokens(): Promise<TokenRow[]> {
    return (await this.rows(this.pool, 'SELECT * FROM tokens ORDER BY created_at')).map(tokenRow);
  }

  async revokeToken(id: string): Promise<boolean> {
    return await this.changes(this.pool, 'UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [new Date().toISOString(), id]) > 0;
  }

  async consumeToken(hash: string, now: Date): Promise<TokenCheck> {
    return this.tx(async (c): Promise<TokenCheck> => {
      // The row lock makes concurrent enrollments with one token take its uses one at a time.
      const r = await this.one(c, 'SELECT * FROM tokens WHERE hash = $1 FOR UPDATE', [hash]);
      if (!r) return { ok: false, code: 'TG_E_TOKEN_UNKNOWN' };
      const t = tokenRow(r);
      if (t.revokedAt) return { ok: false, code: 'TG_E_TOKEN_REVOKED' };
      if (Date.parse(t.expiresAt) <= now.getTime()) return { ok: false, code: 'TG_E_TOKEN_EXPIRED' };
      if (await this.changes(c, 'UPDATE tokens SET uses_left = uses_left - 1 WHERE id = $1 AND uses_left > 0', [t.id]) === 0) {
        return { ok: false, code: 'TG_E_TOKEN_EXHAUSTED' };
      }
      return { ok: true, token: { ...t, usesLeft: t.usesLeft - 1 } };
    });
  }

  // ── hosts and certificates ──────────────────────────────────────────
  async createHost(h: Omit<HostRow, 'lastSeen' | 'policyVersion'> & { renewalHash: string }): Promise<void> {
    await this.pool.query(`INSERT INTO hosts (id, machine_id, hostname, grp, spki, cert_serial, cert_not_after, enrolled_at, status, clone_of, renewal_hash)
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [h.id, h.machineId, h.hostname, h.group, h.spki, h.certSerial, h.certNotAfter, h.enrolledAt, h.status, h.cloneOf, h.renewalHash]);
  }

  async getHost(id: string): Promise<HostRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM hosts WHERE id = $1', [id]);
    return r ? hostRow(r) : null;
  }

  async hostsByMachineId(machineId: string): Promise<HostRow[]> {
    return (await this.rows(this.pool, 'SELECT * FROM hosts WHERE machine_id = $1 ORDER BY enrolled_at', [machineId])).map(hostRow);
  }

  async listHosts(): Promise<HostRow[]> {
    return (await this.rows(this.pool, 'SELECT * FROM hosts ORDER BY enrolled_at')).map(hostRow);
  }

  async setHostCert(hostId: string, c: Omit<CertRow, 'revokedAt'>, renewalHash?: string): Promise<void> {
    await this.tx(async (db) => {
      await db.query('INSERT INTO certs (serial, host_id, spki, not_before, not_after) VALUES ($1, $2, $3, $4, $5)',
        [c.serial, c.hostId, c.spki, c.notBefore, c.notAfter]);
      await db.query('UPDATE hosts SET spki = $1, cert_serial = $2, cert_not_after = $3, renewal_hash = coalesce($4, renewal_hash) WHERE id = $5',
        [c.spki, c.serial, c.notAfter, renewalHash ?? null, hostId]);
    });
  }

  async getRenewalHash(hostId: string): Promise<string | null> {
    const r = await this.one(this.pool, 'SELECT renewal_hash FROM hosts WHERE id = $1', [hostId]);
    return r ? String(r.renewal_hash) : null;
  }

  async touchHost(hostId: string, seen: string, policyVersion?: number): Promise<void> {
    await touch(this.pool, hostId, { seen, ...(policyVersion !== undefined ? { policyVersion } : {}) });
  }

  async revokeHost(hostId: string, at: string): Promise<boolean> {
    return this.tx(async (c) => {
      const n = await this.changes(c, `UPDATE hosts SET status = 'revoked' WHERE id = $1 AND status <> 'revoked'`, [hostId]);
      await c.query('UPDATE certs SET revoked_at = $1 WHERE host_id = $2 AND revoked_at IS NULL', [at, hostId]);
      return n > 0;
    });
  }

  async addCert(c: Omit<CertRow, 'revokedAt'>): Promise<void> {
    await this.pool.query('INSERT INTO certs (serial, host_id, spki, not_before, not_after) VALUES ($1, $2, $3, $4, $5)',
      [c.serial, c.hostId, c.spki, c.notBefore, c.notAfter]);
  }

  async getCert(serial: string): Promise<CertRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM certs WHERE serial = $1', [serial]);
    return r ? certRow(r) : null;
  }

  async revokedCerts(): Promise<{ serial: string; revokedAt: string; notAfter: string }[]> {
    return (await this.rows(this.pool, 'SELECT serial, revoked_at, not_after FROM certs WHERE revoked_at IS NOT NULL ORDER BY revoked_at'))
      .map((r) => ({ serial: String(r.serial), revokedAt: String(r.revoked_at), notAfter: String(r.not_after) }));
  }

  // ── events ──────────────────────────────────────────────────────────
  async insertEvents(hostId: string, events: AgentEvent[], receivedAt: string, t?: { seen: string; policyVersion?: number }, violations?: ViolationDraft[]): Promise<InsertResult> {
    // Rows go in id order, so two processes inserting overlapping batches take index locks in the
    // same order and cannot deadlock (a stable sort: a repeated id keeps its first occurrence).
    const sorted = events.length > 1 ? [...events].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) : events;
    const n = sorted.length;
    const ids = new Array<string>(n), types = new Array<string>(n), times = new Array<string>(n);
    const sevs = new Array<string>(n), arts = new Array<string>(n), data = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const e = sorted[i]!;
      ids[i] = e.id; types[i] = e.type; times[i] = e.time; sevs[i] = e.severity;
      arts[i] = JSON.stringify(e.articles); data[i] = JSON.stringify(e.data);
    }
    return this.tx(async (c) => {
      const stored = new Set<string>();
      if (n) {
        // ON CONFLICT waits for a concurrent insert of the same id to commit or roll back, so an id
        // not returned here is committed by then and visible to the owner lookup below.
        const r = await c.query<{ id: string }>({
          name: 'tg_insert_events',
          text: `INSERT INTO events (id, host_id, type, time, received_at, severity, articles, data)
                 SELECT u.id, $2::text, u.type, u.time, $3::text, u.severity, u.articles::json, u.data::json
                 FROM unnest($1::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS u (id, type, time, severity, articles, data)
                 ON CONFLICT (id) DO NOTHING RETURNING id`,
          values: [ids, hostId, receivedAt, types, times, sevs, arts, data],
        });
        for (const row of r.rows) stored.add(row.id);
      }
      const owner = new Map<string, string>();
      if (stored.size < n) {
        const known = ids.filter((id) => !stored.has(id));
        const r = await c.query<{ id: string; host_id: string }>({
          name: 'tg_event_owners', text: 'SELECT id, host_id FROM events WHERE id = ANY($1::text[])', values: [known],
        });
        for (const row of r.rows) owner.set(row.id, row.host_id);
      }
      if (t) await touch(c, hostId, t);
      const acked: string[] = [];
      const conflicts: string[] = [];
      for (const e of events) (stored.has(e.id) || owner.get(e.id) === hostId ? acked : conflicts).push(e.id);
      const ok = new Set(acked);
      const drafts = (violations ?? []).filter((d) => ok.has(d.eventId));
      const inserted = drafts.length ? await insertDrafts(c, drafts) : new Set<string>();
      return { acked, conflicts, violations: drafts.filter((d) => inserted.has(d.id)) };
    });
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const p = new Params();
    const where: string[] = [];
    if (q.host) where.push(`host_id = ${p.add(q.host)}`);
    if (q.type) where.push(`type = ${p.add(q.type)}`);
    if (q.types?.length) where.push(`type = ANY(${p.add(q.types)}::text[])`);
    if (q.since) where.push(`time >= ${p.add(q.since)}`);
    if (q.until) where.push(`time < ${p.add(q.until)}`);
    if (q.after && !q.latest) where.push(`(received_at, id) > (${p.add(q.after.receivedAt)}, ${p.add(q.after.id)})`);
    const order = q.latest ? (q.host ? 'time DESC' : 'received_at DESC, id DESC') : 'received_at, id';
    const sql = `SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${order} LIMIT ${p.add(q.limit ?? 1000)}`;
    return (await this.rows(this.pool, sql, p.values)).map(eventRow);
  }

  async getEvent(id: string): Promise<StoredEvent | null> {
    const r = await this.one(this.pool, 'SELECT * FROM events WHERE id = $1', [id]);
    return r ? eventRow(r) : null;
  }

  async countEvents(q: Pick<EventQuery, 'host' | 'type'> = {}): Promise<number> {
    const p = new Params();
    const where: string[] = [];
    if (q.host) where.push(`host_id = ${p.add(q.host)}`);
    if (q.type) where.push(`type = ${p.add(q.type)}`);
    const r = await this.one(this.pool, `SELECT count(*) AS n FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}`, p.values);
    return Number(r?.n ?? 0);
  }

  async purgeEvents(before: string): Promise<number> {
    // Callers go through retention.purgeOnce, which refuses less than 184 days. Deleting in chunks
    // through the received_at index keeps each transaction short on a table of many millions of rows.
    let total = 0;
    for (;;) {
      const n = await this.changes(this.pool,
        'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < $1 ORDER BY received_at LIMIT $2)', [before, PURGE_CHUNK]);
      total += n;
      if (n < PURGE_CHUNK) return total;
    }
  }

  // ── policies and commands ───────────────────────────────────────────
  async getPolicy(group: string): Promise<PolicyRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM policies WHERE grp = $1 ORDER BY version DESC LIMIT 1', [group]);
    return r ? policyRow(r) : null;
  }

  async setPolicy(group: string, policy: Record<string, unknown>): Promise<PolicyRow> {
    return this.tx(async (c) => {
      // Versions are unique across groups: a host moved to another group always sees a new version.
      // The lock makes max + 1 safe between processes (the unique index would otherwise refuse one).
      await c.query('SELECT pg_advisory_xact_lock($1)', [PG_LOCKS.policy]);
      const r = await this.one(c, 'SELECT coalesce(max(version), 0) + 1 AS v FROM policies');
      const version = Number(r?.v);
      const createdAt = new Date().toISOString();
      await c.query('INSERT INTO policies (grp, version, body, created_at) VALUES ($1, $2, $3, $4)', [group, version, JSON.stringify(policy), createdAt]);
      return { group, version, policy, createdAt };
    });
  }

  async changeStamp(): Promise<string> {
    // Two index-only max() lookups and one primary-key read in one round trip; polled every second by each server process.
    const r = await this.pool.query<{ s: string }>({
      name: 'tg_change_stamp',
      text: `SELECT (SELECT coalesce(max(seq), 0) FROM commands) || ':' || (SELECT coalesce(max(version), 0) FROM policies)
               || ':' || coalesce((SELECT n FROM change_counters WHERE name = 'host_groups'), 0) AS s`,
    });
    return r.rows[0]!.s;
  }

  async addCommand(hostId: string | null, type: string, payload: Record<string, unknown>): Promise<number> {
    return this.tx(async (c) => {
      // Sequence numbers must become visible in order, or an agent polling "after seq" could skip one
      // that commits late: one process at a time takes a number and commits.
      await c.query('SELECT pg_advisory_xact_lock($1)', [PG_LOCKS.command]);
      const r = await this.one(c, 'INSERT INTO commands (host_id, type, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING seq',
        [hostId, type, JSON.stringify(payload), new Date().toISOString()]);
      return Number(r?.seq);
    });
  }

  async commandsAfter(hostId: string, seq: number, limit = 100): Promise<CommandRow[]> {
    return (await this.rows(this.pool, 'SELECT * FROM commands WHERE seq > $1 AND (host_id = $2 OR host_id IS NULL) ORDER BY seq LIMIT $3', [seq, hostId, limit]))
      .map((r) => ({
        seq: Number(r.seq), hostId: (r.host_id as string | null) ?? null, type: String(r.type),
        payload: r.payload as Record<string, unknown>, createdAt: String(r.created_at),
      }));
  }

  // ── users ───────────────────────────────────────────────────────────
  async createUser(u: Pick<UserRow, 'name' | 'passwordHash' | 'role' | 'mustChange' | 'disabled'>): Promise<void> {
    await this.pool.query('INSERT INTO users (name, password_hash, role, must_change, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [u.name, u.passwordHash, u.role, u.mustChange, u.disabled, new Date().toISOString()]);
  }

  async getUser(name: string): Promise<UserRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM users WHERE name = $1', [name]);
    return r ? userRow(r) : null;
  }

  async listUsers(): Promise<UserRow[]> {
    return (await this.rows(this.pool, 'SELECT * FROM users ORDER BY name')).map(userRow);
  }

  async updateUser(name: string, patch: UserPatch): Promise<boolean> {
    const cols: Record<keyof UserPatch, string> = {
      passwordHash: 'password_hash', role: 'role', mustChange: 'must_change', disabled: 'disabled', failedLogins: 'failed_logins',
      lockedUntil: 'locked_until', totpSecret: 'totp_secret', totpEnabled: 'totp_enabled', lastLogin: 'last_login',
    };
    const p = new Params();
    const sets: string[] = [];
    for (const [k, v] of Object.entries(patch) as [keyof UserPatch, unknown][]) {
      if (v === undefined) continue;
      sets.push(`${cols[k]} = ${p.add(v)}`);
    }
    if (!sets.length) return false;
    return await this.changes(this.pool, `UPDATE users SET ${sets.join(', ')} WHERE name = ${p.add(name)}`, p.values) > 0;
  }

  // ── sessions and API tokens ─────────────────────────────────────────
  async createSession(x: SessionRow): Promise<void> {
    await this.pool.query('INSERT INTO sessions (id_hash, user_name, csrf, created_at, expires_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6)',
      [x.idHash, x.user, x.csrf, x.createdAt, x.expiresAt, x.lastSeen]);
  }

  async getSession(idHash: string): Promise<SessionRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM sessions WHERE id_hash = $1', [idHash]);
    return r ? {
      idHash: String(r.id_hash), user: String(r.user_name), csrf: String(r.csrf), createdAt: String(r.created_at),
      expiresAt: String(r.expires_at), lastSeen: String(r.last_seen),
    } : null;
  }

  async touchSession(idHash: string, lastSeen: string, expiresAt: string): Promise<void> {
    await this.pool.query('UPDATE sessions SET last_seen = $1, expires_at = $2 WHERE id_hash = $3', [lastSeen, expiresAt, idHash]);
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
  }

  async deleteUserSessions(user: string): Promise<number> {
    return this.changes(this.pool, 'DELETE FROM sessions WHERE user_name = $1', [user]);
  }

  async createApiToken(t: ApiTokenRow & { hash: string }): Promise<void> {
    await this.pool.query('INSERT INTO api_tokens (id, hash, name, role, created_by, created_at, revoked_at, last_used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [t.id, t.hash, t.name, t.role, t.createdBy, t.createdAt, t.revokedAt, t.lastUsed]);
  }

  async apiTokenByHash(hash: string): Promise<ApiTokenRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM api_tokens WHERE hash = $1', [hash]);
    return r ? apiTokenRow(r) : null;
  }

  async listApiTokens(): Promise<ApiTokenRow[]> {
    return (await this.rows(this.pool, 'SELECT * FROM api_tokens ORDER BY created_at')).map(apiTokenRow);
  }

  async revokeApiToken(id: string, at: string): Promise<boolean> {
    return await this.changes(this.pool, 'UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]) > 0;
  }

  async touchApiToken(id: string, at: string): Promise<void> {
    await this.pool.query('UPDATE api_tokens SET last_used = $1 WHERE id = $2', [at, id]);
  }

  // ── audit log ───────────────────────────────────────────────────────
  async appendAudit(a: { time: string; actor: string; action: string; target: string | null; details: Record<string, unknown> }): Promise<AuditRow> {
    return this.tx(async (c): Promise<AuditRow> => {
      // One appender at a time across all processes (the lock also covers the empty log, which a row
      // lock cannot); the next holder's fresh snapshot then sees this row as the head.
      await c.query('SELECT pg_advisory_xact_lock($1)', [PG_LOCKS.audit]);
      const last = await this.one(c, 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
      const seq = last ? Number(last.seq) + 1 : 1;
      const prevHash = last ? String(last.hash) : AUDIT_GENESIS;
      const row = { seq, ...a, prevHash, hash: auditHash(prevHash, { seq, ...a }) };
      await c.query('INSERT INTO audit_log (seq, time, actor, action, target, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [seq, a.time, a.actor, a.action, a.target, JSON.stringify(a.details), prevHash, row.hash]);
      return row;
    });
  }

  async listAudit(q: { afterSeq?: number; limit?: number; desc?: boolean }): Promise<AuditRow[]> {
    const rows = q.desc
      ? await this.rows(this.pool, 'SELECT * FROM audit_log ORDER BY seq DESC LIMIT $1', [q.limit ?? 100])
      : await this.rows(this.pool, 'SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [q.afterSeq ?? 0, q.limit ?? 100]);
    return rows.map((r) => ({
      seq: Number(r.seq), time: String(r.time), actor: String(r.actor), action: String(r.action), target: (r.target as string | null) ?? null,
      details: r.details as Record<string, unknown>, prevHash: String(r.prev_hash), hash: String(r.hash),
    }));
  }

  async countAudit(): Promise<number> {
    return Number((await this.one(this.pool, 'SELECT count(*) AS n FROM audit_log'))?.n ?? 0);
  }

  // ── violations ──────────────────────────────────────────────────────
  async insertViolations(drafts: ViolationDraft[]): Promise<ViolationDraft[]> {
    if (!drafts.length) return [];
    const inserted = await this.tx((c) => insertDrafts(c, drafts));
    return drafts.filter((d) => inserted.has(d.id));
  }

  async getViolation(id: string): Promise<ViolationRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM violations WHERE id = $1', [id]);
    return r ? violationRow(r) : null;
  }

  async listViolations(q: ViolationQuery): Promise<{ items: ViolationRow[]; total: number }> {
    const p = new Params();
    const where: string[] = [];
    if (q.state === 'unresolved') where.push("state <> 'resolved'");
    else if (q.state) where.push(`state = ${p.add(q.state)}`);
    if (q.type) where.push(`type = ${p.add(q.type)}`);
    if (q.host) where.push(`host_id = ${p.add(q.host)}`);
    if (q.owner) where.push(`owner = ${p.add(q.owner)}`);
    if (q.severity) where.push(`severity = ${p.add(q.severity)}`);
    if (q.article) where.push(`articles ? ${p.add(q.article)}`);
    if (q.overdueAt) where.push(`state <> 'resolved' AND due_at < ${p.add(q.overdueAt)}`);
    if (q.drill !== undefined) where.push(`drill = ${p.add(q.drill)}`);
    if (q.createdFrom) where.push(`created_at >= ${p.add(q.createdFrom)}`);
    if (q.createdTo) where.push(`created_at < ${p.add(q.createdTo)}`);
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const n = p.values.length;
    const total = Number((await this.one(this.pool, `SELECT count(*) AS n FROM violations ${w}`, p.values))?.n ?? 0);
    const items = (await this.rows(this.pool, `SELECT * FROM violations ${w} ORDER BY created_at DESC, id DESC LIMIT $${n + 1} OFFSET $${n + 2}`,
      [...p.values, Math.min(q.limit ?? 50, 1000), q.offset ?? 0])).map(violationRow);
    return { items, total };
  }

  async updateViolation(id: string, patch: Partial<Pick<ViolationRow, 'state' | 'owner' | 'dueAt' | 'ackedAt' | 'ackedBy' | 'resolvedAt' | 'resolvedBy' | 'notes' | 'escalatedAt'>>, from?: ViolationState[]): Promise<boolean> {
    const cols: Record<string, string> = {
      state: 'state', owner: 'owner', dueAt: 'due_at', ackedAt: 'acked_at', ackedBy: 'acked_by', resolvedAt: 'resolved_at',
      resolvedBy: 'resolved_by', notes: 'notes', escalatedAt: 'escalated_at',
    };
    const p = new Params();
    const sets: string[] = [`updated_at = ${p.add(new Date().toISOString())}`];
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      sets.push(`${cols[k]} = ${p.add(k === 'notes' ? JSON.stringify(v) : v)}`);
    }
    const idp = p.add(id);
    const cond = from?.length ? ` AND state = ANY(${p.add(from)}::text[])` : '';
    return await this.changes(this.pool, `UPDATE violations SET ${sets.join(', ')} WHERE id = ${idp}${cond}`, p.values) > 0;
  }

  async escalateOverdue(now: string): Promise<ViolationRow[]> {
    // One statement: a second process's UPDATE waits on the row locks, re-checks escalated_at IS NULL
    // and skips the rows the first one marked, so each violation is escalated (and alerted) once.
    return (await this.rows(this.pool, `WITH marked AS (
        UPDATE violations SET escalated_at = $1, updated_at = $1 WHERE state <> 'resolved' AND due_at < $1 AND escalated_at IS NULL RETURNING *
      ) SELECT * FROM marked ORDER BY created_at, id`, [now])).map(violationRow);
  }

  async violationStats(q: { from?: string; to?: string; now: string; unresolvedOnly?: boolean }): Promise<{ type: string; articles: string[]; state: ViolationState; overdue: boolean; count: number }[]> {
    const p = new Params();
    const nowP = p.add(q.now);
    const where: string[] = [];
    if (q.from) where.push(`created_at >= ${p.add(q.from)}`);
    if (q.to) where.push(`created_at < ${p.add(q.to)}`);
    if (q.unresolvedOnly) where.push(`state <> 'resolved'`);
    const rows = await this.rows(this.pool, `SELECT type, articles, state, (state <> 'resolved' AND due_at < ${nowP}) AS overdue, count(*) AS n FROM violations
      ${where.length ? 'WHERE ' + where.join(' AND ') : ''} GROUP BY type, articles, state, 4`, p.values);
    return rows.map((r) => ({ type: String(r.type), articles: r.articles as string[], state: r.state as ViolationState, overdue: r.overdue === true, count: Number(r.n) }));
  }

  async violationsAlive(from: string, to: string): Promise<ViolationRow[]> {
    return (await this.rows(this.pool, 'SELECT * FROM violations WHERE created_at < $1 AND (resolved_at IS NULL OR resolved_at >= $2)', [to, from])).map(violationRow);
  }

  async openViolationCounts(): Promise<{ hostId: string; type: string; count: number; overdue: number }[]> {
    const now = new Date().toISOString();
    return (await this.rows(this.pool, `SELECT host_id, type, count(*) AS n, count(*) FILTER (WHERE due_at < $1) AS od FROM violations
      WHERE state <> 'resolved' GROUP BY host_id, type`, [now]))
      .map((r) => ({ hostId: String(r.host_id), type: String(r.type), count: Number(r.n), overdue: Number(r.od) }));
  }

  async violationsPerDay(from: string): Promise<{ day: string; opened: number }[]> {
    return (await this.rows(this.pool, 'SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM violations WHERE created_at >= $1 GROUP BY 1 ORDER BY 1', [from]))
      .map((r) => ({ day: String(r.day), opened: Number(r.n) }));
  }

  // ── settings, drills, groups ────────────────────────────────────────
  async getSetting(key: string): Promise<unknown> {
    const r = await this.one(this.pool, 'SELECT value FROM settings WHERE key = $1', [key]);
    return r ? r.value : undefined;
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    await this.pool.query(`INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
                           ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    [key, JSON.stringify(value), new Date().toISOString()]);
  }

  async createDrill(d: Omit<DrillRow, 'violationId' | 'ackedBy' | 'ackedAt'>): Promise<void> {
    await this.pool.query('INSERT INTO drills (id, host_id, command_seq, started_by, started_at) VALUES ($1, $2, $3, $4, $5)',
      [d.id, d.hostId, d.commandSeq, d.startedBy, d.startedAt]);
  }

  async drillByCommand(seq: number): Promise<DrillRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM drills WHERE command_seq = $1', [seq]);
    return r ? drillRow(r) : null;
  }

  async updateDrill(id: string, patch: Partial<Pick<DrillRow, 'violationId' | 'ackedBy' | 'ackedAt'>>): Promise<void> {
    const cols: Record<string, string> = { violationId: 'violation_id', ackedBy: 'acked_by', ackedAt: 'acked_at' };
    const p = new Params();
    const sets = Object.entries(patch).filter(([, v]) => v !== undefined).map(([k, v]) => `${cols[k]} = ${p.add(v)}`);
    if (!sets.length) return;
    await this.pool.query(`UPDATE drills SET ${sets.join(', ')} WHERE id = ${p.add(id)}`, p.values);
  }

  async listDrills(q: { from?: string; to?: string; host?: string }): Promise<DrillRow[]> {
    const p = new Params();
    const where: string[] = [];
    if (q.from) where.push(`started_at >= ${p.add(q.from)}`);
    if (q.to) where.push(`started_at < ${p.add(q.to)}`);
    if (q.host) where.push(`host_id = ${p.add(q.host)}`);
    return (await this.rows(this.pool, `SELECT * FROM drills ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY started_at DESC`, p.values)).map(drillRow);
  }

  async setHostGroup(hostId: string, group: string): Promise<boolean> {
    // One statement: the move and the counter the change stamp reads commit together.
    const r = await this.one(this.pool, `
      WITH moved AS (UPDATE hosts SET grp = $1 WHERE id = $2 RETURNING id),
           bumped AS (INSERT INTO change_counters (name, n) SELECT 'host_groups', 1 WHERE EXISTS (SELECT 1 FROM moved)
                      ON CONFLICT (name) DO UPDATE SET n = change_counters.n + 1 RETURNING n)
      SELECT count(*)::integer AS moved FROM moved`, [group, hostId]);
    return Number(r?.moved ?? 0) > 0;
  }

  async listPolicyVersions(group: string): Promise<PolicyRow[]> {
    return (await this.rows(this.pool, 'SELECT * FROM policies WHERE grp = $1 ORDER BY version DESC', [group])).map(policyRow);
  }

  async getPolicyVersion(group: string, version: number): Promise<PolicyRow | null> {
    const r = await this.one(this.pool, 'SELECT * FROM policies WHERE grp = $1 AND version = $2', [group, version]);
    return r ? policyRow(r) : null;
  }
}

/** Mark the host seen (never moving last_seen back) and, when given, record the policy version it runs. */
async function touch(db: Db, hostId: string, t: { seen: string; policyVersion?: number }): Promise<void> {
  if (t.policyVersion === undefined) {
    // Skipping rows that are already newer avoids writing a new row version for nothing.
    await db.query({ name: 'tg_touch', text: 'UPDATE hosts SET last_seen = $1 WHERE id = $2 AND (last_seen IS NULL OR last_seen < $1)', values: [t.seen, hostId] });
  } else {
    await db.query({ name: 'tg_touch_policy', text: 'UPDATE hosts SET last_seen = greatest(last_seen, $1), policy_version = $2 WHERE id = $3', values: [t.seen, t.policyVersion, hostId] });
  }
}

function opt(v: unknown): string | null {
  return v == null ? null : String(v);
}

function userRow(r: Row): UserRow {
  return {
    name: String(r.name), passwordHash: String(r.password_hash), role: String(r.role), mustChange: r.must_change === true, disabled: r.disabled === true,
    createdAt: String(r.created_at), failedLogins: Number(r.failed_logins ?? 0), lockedUntil: opt(r.locked_until),
    totpSecret: opt(r.totp_secret), totpEnabled: r.totp_enabled === true, lastLogin: opt(r.last_login),
  };
}

function apiTokenRow(r: Row): ApiTokenRow {
  return {
    id: String(r.id), name: String(r.name), role: String(r.role), createdBy: String(r.created_by), createdAt: String(r.created_at),
    revokedAt: opt(r.revoked_at), lastUsed: opt(r.last_used),
  };
}

function violationRow(r: Row): ViolationRow {
  return {
    id: String(r.id), hostId: String(r.host_id), eventId: String(r.event_id), type: String(r.type), rule: String(r.rule),
    articles: r.articles as string[], severity: r.severity as ViolationRow['severity'], summary: String(r.summary),
    state: r.state as ViolationState, owner: opt(r.owner), dueAt: String(r.due_at), createdAt: String(r.created_at),
    updatedAt: String(r.updated_at), ackedAt: opt(r.acked_at), ackedBy: opt(r.acked_by),
    resolvedAt: opt(r.resolved_at), resolvedBy: opt(r.resolved_by),
    notes: r.notes as ViolationRow['notes'], escalatedAt: opt(r.escalated_at), drill: r.drill === true,
  };
}

function drillRow(r: Row): DrillRow {
  return {
    id: String(r.id), hostId: String(r.host_id), commandSeq: Number(r.command_seq), startedBy: String(r.started_by), startedAt: String(r.started_at),
    violationId: opt(r.violation_id), ackedBy: opt(r.acked_by), ackedAt: opt(r.acked_at),
  };
}

function tokenRow(r: Row): TokenRow {
  return {
    id: String(r.id), usesTotal: Number(r.uses_total), usesLeft: Number(r.uses_left), expiresAt: String(r.expires_at),
    revokedAt: opt(r.revoked_at), createdAt: String(r.created_at),
  };
}

function hostRow(r: Row): HostRow {
  return {
    id: String(r.id), machineId: String(r.machine_id), hostname: String(r.hostname), group: String(r.grp), spki: String(r.spki),
    certSerial: String(r.cert_serial), certNotAfter: String(r.cert_not_after), enrolledAt: String(r.enrolled_at),
    lastSeen: opt(r.last_seen), policyVersion: r.policy_version == null ? null : Number(r.policy_version),
    status: r.status as HostStatus, cloneOf: opt(r.clone_of),
  };
}

function certRow(r: Row): CertRow {
  return {
    serial: String(r.serial), hostId: String(r.host_id), spki: String(r.spki), notBefore: String(r.not_before),
    notAfter: String(r.not_after), revokedAt: opt(r.revoked_at),
  };
}

function policyRow(r: Row): PolicyRow {
  return { group: String(r.grp), version: Number(r.version), policy: r.body as Record<string, unknown>, createdAt: String(r.created_at) };
}

function eventRow(r: Row): StoredEvent {
  return {
    id: String(r.id), type: String(r.type), time: String(r.time), host: String(r.host_id), receivedAt: String(r.received_at),
    severity: r.severity as Severity, articles: r.articles as string[], data: r.data as Record<string, unknown>,
  };
}
