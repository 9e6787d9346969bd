/**
 * SQLite store (better-sqlite3 12, WAL). The hot path, insertEvents, goes to the event writer:
 * its own worker thread with group commits in the server, inline elsewhere. Several processes may
 * open the same file (the CLI reads while the server writes): WAL plus a busy timeout makes that safe.
 */
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { AgentEvent, StoredEvent, Severity } from '../../shared/events.js';
import type {
  CertRow, CommandRow, EventQuery, HostRow, InsertResult, PolicyRow, Store, TokenCheck, TokenRow, UserRow, HostStatus,
  UserPatch, SessionRow, ApiTokenRow, AuditRow, ViolationDraft, ViolationRow, ViolationQuery, ViolationState, DrillRow,
} from './types.js';
import { AUDIT_GENESIS, auditHash } from '../audit.js';
import { MIGRATIONS } from './migrations.js';
import { EventWriter, SEP, type WriteRequest, type WriteResult } from './sqlite-writer.js';
import { WriterThread } from './sqlite-writer-client.js';

type Row = Record<string, unknown>;

/** The drafts whose ids the writer reports inserted. */
function insertedDrafts(drafts: ViolationDraft[], ids: string[] | undefined): ViolationDraft[] {
  if (!drafts.length || !ids?.length) return [];
  const inserted = new Set(ids);
  return drafts.filter((d) => inserted.has(d.id));
}

/** Rows deleted per retention transaction. */
const PURGE_CHUNK = 5000;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly db: Database.Database;
  private readonly cache = new Map<string, Database.Statement>();
  private readonly writer: { write(r: WriteRequest): Promise<WriteResult>; close(): Promise<void> };

  constructor(file: string, opts: { writerThread?: boolean } = {}) {
    // Created owner-only (events, password hashes, session digests); SQLite gives the -wal and -shm
    // files the database file's mode. An existing file keeps the mode its operator chose.
    if (file !== ':memory:') closeSync(openSync(file, 'a', 0o600));
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    if (opts.writerThread) {
      // The writer thread checkpoints the WAL; this connection leaves that to it.
      this.db.pragma('wal_autocheckpoint = 0');
      this.writer = new WriterThread(file);
    } else {
      const w = new EventWriter(file, false);
      this.writer = { write: async (r) => w.write([r])[0]!, close: async () => w.close() };
    }
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  /**
   * A statement prepared once per SQL text and kept: the hot reads (a long-poll's commands, the
   * certificate behind a new connection) run thousands of times a minute on a large fleet, and
   * preparing costs more than running them. Dynamic SQL (filters) stays a bounded set of texts.
   */
  private sql(text: string): Database.Statement {
    let st = this.cache.get(text);
    if (!st) {
      if (this.cache.size >= 500) this.cache.clear();
      st = this.db.prepare(text);
      this.cache.set(text, st);
    }
    return st;
  }

  async close(): Promise<void> {
    await this.writer.close();
    if (this.db.open) this.db.close();
  }

  // ── tokens ──────────────────────────────────────────────────────────
  async createToken(t: { id: string; hash: string; uses: number; expiresAt: string }): Promise<void> {
    this.sql(`INSERT INTO tokens (id, hash, uses_total, uses_left, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(t.id, t.hash, t.uses, t.uses, t.expiresAt, new Date().toISOString());
  }

  async listTokens(): Promise<TokenRow[]> {
    return (this.sql('SELECT * FROM tokens ORDER BY created_at').all() as Row[]).map(tokenRow);
  }

  async revokeToken(id: string): Promise<boolean> {
    return this.sql('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(new Date().toISOString(), id).changes > 0;
  }

  async consumeToken(hash: string, now: Date): Promise<TokenCheck> {
    return this.db.transaction((): TokenCheck => {
      const r = this.sql('SELECT * FROM tokens WHERE hash = ?').get(hash) as Row | undefined;
      if (!r) return { ok: false, code: 'TG_E_TOKEN_UNKNOWN' };
      const t = tokenRow(r);
      if (t.revokedAt) return { ok: false, code: 'TG_E_TOKEN_REVOKED' };
      if (Date.parse(t.expiresAt) <= now.getTime()) return { ok: false, code: 'TG_E_TOKEN_EXPIRED' };
      if (this.sql('UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ? AND uses_left > 0').run(t.id).changes === 0) return { ok: false, code: 'TG_E_TOKEN_EXHAUSTED' };
      return { ok: true, token: { ...t, usesLeft: t.usesLeft - 1 } };
    }).immediate();
  }

  // ── hosts and certificates ──────────────────────────────────────────
  async createHost(h: Omit<HostRow, 'lastSeen' | 'policyVersion'> & { renewalHash: string }): Promise<void> {
    this.sql(`INSERT INTO hosts (id, machine_id, hostname, grp, spki, cert_serial, cert_not_after, enrolled_at, status, clone_of, renewal_hash)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(h.id, h.machineId, h.hostname, h.group, h.spki, h.certSerial, h.certNotAfter, h.enrolledAt, h.status, h.cloneOf, h.renewalHash);
  }

  async getHost(id: string): Promise<HostRow | null> {
    const r = this.sql('SELECT * FROM hosts WHERE id = ?').get(id) as Row | undefined;
    return r ? hostRow(r) : null;
  }

  async hostsByMachineId(machineId: string): Promise<HostRow[]> {
    return (this.sql('SELECT * FROM hosts WHERE machine_id = ? ORDER BY enrolled_at').all(machineId) as Row[]).map(hostRow);
  }

  async listHosts(): Promise<HostRow[]> {
    return (this.sql('SELECT * FROM hosts ORDER BY enrolled_at').all() as Row[]).map(hostRow);
  }

  async setHostCert(hostId: string, c: Omit<CertRow, 'revokedAt'>, renewalHash?: string): Promise<void> {
    this.db.transaction(() => {
      this.sql('INSERT INTO certs (serial, host_id, spki, not_before, not_after) VALUES (?, ?, ?, ?, ?)')
        .run(c.serial, c.hostId, c.spki, c.notBefore, c.notAfter);
      this.sql(`UPDATE hosts SET spki = ?, cert_serial = ?, cert_not_after = ?, renewal_hash = coalesce(?, renewal_hash) WHERE id = ?`)
        .run(c.spki, c.serial, c.notAfter, renewalHash ?? null, hostId);
    })();
  }

  async getRenewalHash(hostId: string): Promise<string | null> {
    return (this.sql('SELECT renewal_hash FROM hosts WHERE id = ?').pluck().get(hostId) as string | undefined) ?? null;
  }

  async touchHost(hostId: string, seen: string, policyVersion?: number): Promise<void> {
    await this.writer.write({ hostId, receivedAt: seen, rows: '', touch: { seen, ...(policyVersion !== undefined ? { policyVersion } : {}) } });
  }

  async revokeHost(hostId: string, at: string): Promise<boolean> {
    return this.db.transaction(() => {
      const n = this.sql(`UPDATE hosts SET status = 'revoked' WHERE id = ? AND status != 'revoked'`).run(hostId).changes;
      this.sql('UPDATE certs SET revoked_at = ? WHERE host_id = ? AND revoked_at IS NULL').run(at, hostId);
      return n > 0;
    })();
  }

  async addCert(c: Omit<CertRow, 'revokedAt'>): Promise<void> {
    this.sql('INSERT INTO certs (serial, host_id, spki, not_before, not_after) VALUES (?, ?, ?, ?, ?)')
      .run(c.serial, c.hostId, c.spki, c.notBefore, c.notAfter);
  }

  async getCert(serial: string): Promise<CertRow | null> {
    const r = this.sql('SELECT * FROM certs WHERE serial = ?').get(serial) as Row | undefined;
    return r ? certRow(r) : null;
  }

  async revokedCerts(): Promise<{ serial: string; revokedAt: string; notAfter: string }[]> {
    return (this.sql('SELECT serial, revoked_at, not_after FROM certs WHERE revoked_at IS NOT NULL ORDER BY revoked_at').all() as Row[])
      .map((r) => ({ serial: String(r.serial), revokedAt: String(r.revoked_at), notAfter: String(r.not_after) }));
  }

  // ── events ──────────────────────────────────────────────────────────
  async insertEvents(hostId: string, events: AgentEvent[], receivedAt: string, touch?: { seen: string; policyVersion?: number }, violations?: ViolationDraft[]): Promise<InsertResult> {
    const rows: string[] = [];
    for (const e of events) rows.push(e.id, e.type, e.time, e.severity, JSON.stringify(e.articles), JSON.stringify(e.data));
    const r = await this.writer.write({
      hostId, receivedAt, rows: rows.join(SEP), ...(touch ? { touch } : {}), ...(violations?.length ? { violations: JSON.stringify(violations) } : {}),
    });
    return { acked: r.acked, conflicts: r.conflicts, violations: insertedDrafts(violations ?? [], r.violations) };
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.host) { where.push('host_id = ?'); args.push(q.host); }
    if (q.type) { where.push('type = ?'); args.push(q.type); }
    if (q.types?.length) { where.push(`type IN (${q.types.map(() => '?').join(', ')})`); args.push(...q.types); }
    if (q.since) { where.push('time >= ?'); args.push(q.since); }
    if (q.until) { where.push('time < ?'); args.push(q.until); }
    if (q.after && !q.latest) { where.push('(received_at, id) > (?, ?)'); args.push(q.after.receivedAt, q.after.id); }
    const order = q.latest ? (q.host ? 'time DESC' : 'received_at DESC, id DESC') : 'received_at, id';
    const sql = `SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${order} LIMIT ?`;
    args.push(q.limit ?? 1000);
    return (this.sql(sql).all(...args) as Row[]).map(eventRow);
  }

  async getEvent(id: string): Promise<StoredEvent | null> {
    const r = this.sql('SELECT * FROM events WHERE id = ?').get(id) as Row | undefined;
    return r ? eventRow(r) : null;
  }

  async countEvents(q: Pick<EventQuery, 'host' | 'type'> = {}): Promise<number> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.host) { where.push('host_id = ?'); args.push(q.host); }
    if (q.type) { where.push('type = ?'); args.push(q.type); }
    return this.sql(`SELECT count(*) FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}`).pluck().get(...args) as number;
  }

  async purgeEvents(before: string): Promise<number> {
    // Callers go through retention.purgeOnce, which refuses less than 184 days. A day of a large
    // fleet is millions of rows: deleted in chunks through the received_at index, each its own short
    // transaction, yielding in between so the event writer and the console are never held up long.
    const del = this.sql('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < ? ORDER BY received_at LIMIT ?)');
    let total = 0;
    for (;;) {
      const n = del.run(before, PURGE_CHUNK).changes;
      total += n;
      if (n < PURGE_CHUNK) return total;
      await new Promise((r) => setImmediate(r));
    }
  }

  // ── policies and commands ───────────────────────────────────────────
  async getPolicy(group: string): Promise<PolicyRow | null> {
    const r = this.sql('SELECT * FROM policies WHERE grp = ? ORDER BY version DESC LIMIT 1').get(group) as Row | undefined;
    return r ? policyRow(r) : null;
  }

  async setPolicy(group: string, policy: Record<string, unknown>): Promise<PolicyRow> {
    return this.db.transaction(() => {
      // Versions are unique across groups: a host moved to another group always sees a new version.
      const v = (this.sql('SELECT coalesce(max(version), 0) FROM policies').pluck().get() as number) + 1;
      const createdAt = new Date().toISOString();
      this.sql('INSERT INTO policies (grp, version, body, created_at) VALUES (?, ?, ?, ?)').run(group, v, JSON.stringify(policy), createdAt);
      return { group, version: v, policy, createdAt };
    }).immediate();
  }

  async changeStamp(): Promise<string> {
    const r = this.sql(`SELECT (SELECT coalesce(max(seq), 0) FROM commands) AS c, (SELECT count(*) FROM policies) AS p,
                               coalesce((SELECT n FROM change_counters WHERE name = 'host_groups'), 0) AS g`).get() as Row;
    return `${String(r.c)}:${String(r.p)}:${String(r.g)}`;
  }

  async addCommand(hostId: string | null, type: string, payload: Record<string, unknown>): Promise<number> {
    return Number(this.sql('INSERT INTO commands (host_id, type, payload, created_at) VALUES (?, ?, ?, ?)')
      .run(hostId, type, JSON.stringify(payload), new Date().toISOString()).lastInsertRowid);
  }

  async commandsAfter(hostId: string, seq: number, limit = 100): Promise<CommandRow[]> {
    return (this.sql('SELECT * FROM commands WHERE seq > ? AND (host_id = ? OR host_id IS NULL) ORDER BY seq LIMIT ?')
      .all(seq, hostId, limit) as Row[]).map((r) => ({
      seq: Number(r.seq), hostId: (r.host_id as string | null) ?? null, type: String(r.type),
      payload: JSON.parse(String(r.payload)) as Record<string, unknown>, createdAt: String(r.created_at),
    }));
  }

  // ── users ───────────────────────────────────────────────────────────
  async createUser(u: Pick<UserRow, 'name' | 'passwordHash' | 'role' | 'mustChange' | 'disabled'>): Promise<void> {
    this.sql('INSERT INTO users (name, password_hash, role, must_change, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(u.name, u.passwordHash, u.role, u.mustChange ? 1 : 0, u.disabled ? 1 : 0, new Date().toISOString());
  }

  async getUser(name: string): Promise<UserRow | null> {
    const r = this.sql('SELECT * FROM users WHERE name = ?').get(name) as Row | undefined;
    return r ? userRow(r) : null;
  }

  async listUsers(): Promise<UserRow[]> {
    return (this.sql('SELECT * FROM users ORDER BY name').all() as Row[]).map(userRow);
  }

  async updateUser(name: string, patch: UserPatch): Promise<boolean> {
    const cols: Record<keyof UserPatch, string> = {
      passwordHash: 'password_hash', role: 'role', mustChange: 'must_change', disabled: 'disabled', failedLogins: 'failed_logins',
      lockedUntil: 'locked_until', totpSecret: 'totp_secret', totpEnabled: 'totp_enabled', lastLogin: 'last_login',
    };
    const sets: string[] = [];
    const args: unknown[] = [];
    for (const [k, v] of Object.entries(patch) as [keyof UserPatch, unknown][]) {
      if (v === undefined) continue;
      sets.push(`${cols[k]} = ?`);
      args.push(typeof v === 'boolean' ? (v ? 1 : 0) : v);
    }
    if (!sets.length) return false;
    return this.sql(`UPDATE users SET ${sets.join(', ')} WHERE name = ?`).run(...args, name).changes > 0;
  }

  // ── sessions and API tokens ─────────────────────────────────────────
  async createSession(x: SessionRow): Promise<void> {
    this.sql('INSERT INTO sessions (id_hash, user, csrf, created_at, expires_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)')
      .run(x.idHash, x.user, x.csrf, x.createdAt, x.expiresAt, x.lastSeen);
  }

  async getSession(idHash: string): Promise<SessionRow | null> {
    const r = this.sql('SELECT * FROM sessions WHERE id_hash = ?').get(idHash) as Row | undefined;
    return r ? { idHash: String(r.id_hash), user: String(r.user), csrf: String(r.csrf), createdAt: String(r.created_at), expiresAt: String(r.expires_at), lastSeen: String(r.last_seen) } : null;
  }

  async touchSession(idHash: string, lastSeen: string, expiresAt: string): Promise<void> {
    this.sql('UPDATE sessions SET last_seen = ?, expires_at = ? WHERE id_hash = ?').run(lastSeen, expiresAt, idHash);
  }

  async deleteSession(idHash: string): Promise<void> {
    this.sql('DELETE FROM sessions WHERE id_hash = ?').run(idHash);
  }

  async deleteUserSessions(user: string): Promise<number> {
    return this.sql('DELETE FROM sessions WHERE user = ?').run(user).changes;
  }

  async createApiToken(t: ApiTokenRow & { hash: string }): Promise<void> {
    this.sql('INSERT INTO api_tokens (id, hash, name, role, created_by, created_at, revoked_at, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(t.id, t.hash, t.name, t.role, t.createdBy, t.createdAt, t.revokedAt, t.lastUsed);
  }

  async apiTokenByHash(hash: string): Promise<ApiTokenRow | null> {
    const r = this.sql('SELECT * FROM api_tokens WHERE hash = ?').get(hash) as Row | undefined;
    return r ? apiTokenRow(r) : null;
  }

  async listApiTokens(): Promise<ApiTokenRow[]> {
    return (this.sql('SELECT * FROM api_tokens ORDER BY created_at').all() as Row[]).map(apiTokenRow);
  }

  async revokeApiToken(id: string, at: string): Promise<boolean> {
    return this.sql('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0;
  }

  async touchApiToken(id: string, at: string): Promise<void> {
    this.sql('UPDATE api_tokens SET last_used = ? WHERE id = ?').run(at, id);
  }

  // ── audit log ───────────────────────────────────────────────────────
  async appendAudit(a: { time: string; actor: string; action: string; target: string | null; details: Record<string, unknown> }): Promise<AuditRow> {
    return this.db.transaction((): AuditRow => {
      const last = this.sql('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as Row | undefined;
      const seq = last ? Number(last.seq) + 1 : 1;
      const prevHash = last ? String(last.hash) : AUDIT_GENESIS;
      const row = { seq, ...a, prevHash, hash: auditHash(prevHash, { seq, ...a }) };
      this.sql('INSERT INTO audit_log (seq, time, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(seq, a.time, a.actor, a.action, a.target, JSON.stringify(a.details), prevHash, row.hash);
      return row;
    }).immediate();
  }

  async listAudit(q: { afterSeq?: number; limit?: number; desc?: boolean }): Promise<AuditRow[]> {
    const rows = q.desc
      ? this.sql('SELECT * FROM audit_log ORDER BY seq DESC LIMIT ? OFFSET 0').all(q.limit ?? 100)
      : this.sql('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?').all(q.afterSeq ?? 0, q.limit ?? 100);
    return (rows as Row[]).map((r) => ({
      seq: Number(r.seq), time: String(r.time), actor: String(r.actor), action: String(r.action), target: (r.target as string | null) ?? null,
      details: JSON.parse(String(r.details)) as Record<string, unknown>, prevHash: String(r.prev_hash), hash: String(r.hash),
    }));
  }

  async countAudit(): Promise<number> {
    return this.sql('SELECT count(*) FROM audit_log').pluck().get() as number;
  }

  // ── violations ──────────────────────────────────────────────────────
  async insertViolations(drafts: ViolationDraft[]): Promise<ViolationDraft[]> {
    if (!drafts.length) return [];
    // Through the event writer (its group commit), never this connection: see WriteRequest.violations.
    const r = await this.writer.write({ hostId: '', receivedAt: '', rows: '', violations: JSON.stringify(drafts) });
    return insertedDrafts(drafts, r.violations);
  }

  async getViolation(id: string): Promise<ViolationRow | null> {
    const r = this.sql('SELECT * FROM violations WHERE id = ?').get(id) as Row | undefined;
    return r ? violationRow(r) : null;
  }

  async listViolations(q: ViolationQuery): Promise<{ items: ViolationRow[]; total: number }> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.state === 'unresolved') where.push("state != 'resolved'");
    else if (q.state) { where.push('state = ?'); args.push(q.state); }
    if (q.type) { where.push('type = ?'); args.push(q.type); }
    if (q.host) { where.push('host_id = ?'); args.push(q.host); }
    if (q.owner) { where.push('owner = ?'); args.push(q.owner); }
    if (q.severity) { where.push('severity = ?'); args.push(q.severity); }
    if (q.article) { where.push('EXISTS (SELECT 1 FROM json_each(violations.articles) WHERE value = ?)'); args.push(q.article); }
    if (q.overdueAt) { where.push("state != 'resolved' AND due_at < ?"); args.push(q.overdueAt); }
    if (q.drill !== undefined) { where.push('drill = ?'); args.push(q.drill ? 1 : 0); }
    if (q.createdFrom) { where.push('created_at >= ?'); args.push(q.createdFrom); }
    if (q.createdTo) { where.push('created_at < ?'); args.push(q.createdTo); }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = this.sql(`SELECT count(*) FROM violations ${w}`).pluck().get(...args) as number;
    const items = (this.sql(`SELECT * FROM violations ${w} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`)
      .all(...args, Math.min(q.limit ?? 50, 1000), q.offset ?? 0) as Row[]).map(violationRow);
    return { items, total };
  }

  async updateViolation(id: string, patch: Partial<Pick<ViolationRow, 'state' | 'owner' | 'dueAt' | 'ackedAt' | 'ackedBy' | 'resolvedAt' | 'resolvedBy' | 'notes' | 'escalatedAt'>>, from?: ViolationState[]): Promise<boolean> {
    const cols: Record<string, string> = {
      state: 'state', owner: 'owner', dueAt: 'due_at', ackedAt: 'acked_at', ackedBy: 'acked_by', resolvedAt: 'resolved_at',
      resolvedBy: 'resolved_by', notes: 'notes', escalatedAt: 'escalated_at',
    };
    const sets: string[] = ['updated_at = ?'];
    const args: unknown[] = [new Date().toISOString()];
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      sets.push(`${cols[k]} = ?`);
      args.push(k === 'notes' ? JSON.stringify(v) : v);
    }
    const cond = from?.length ? ` AND state IN (${from.map(() => '?').join(', ')})` : '';
    return this.sql(`UPDATE violations SET ${sets.join(', ')} WHERE id = ?${cond}`).run(...args, id, ...(from ?? [])).changes > 0;
  }

  async escalateOverdue(now: string): Promise<ViolationRow[]> {
    return this.db.transaction(() => {
      const rows = (this.sql("SELECT * FROM violations WHERE state != 'resolved' AND due_at < ? AND escalated_at IS NULL").all(now) as Row[]).map(violationRow);
      const mark = this.sql('UPDATE violations SET escalated_at = ?, updated_at = ? WHERE id = ?');
      for (const r of rows) mark.run(now, now, r.id);
      return rows.map((r) => ({ ...r, escalatedAt: now }));
    }).immediate();
  }

  async violationStats(q: { from?: string; to?: string; now: string; unresolvedOnly?: boolean }): Promise<{ type: string; articles: string[]; state: ViolationState; overdue: boolean; count: number }[]> {
    const where: string[] = [];
    const args: unknown[] = [q.now];
    if (q.from) { where.push('created_at >= ?'); args.push(q.from); }
    if (q.to) { where.push('created_at < ?'); args.push(q.to); }
    if (q.unresolvedOnly) where.push("state != 'resolved'");
    const rows = this.sql(`SELECT type, articles, state, (state != 'resolved' AND due_at < ?) AS overdue, count(*) AS n FROM violations
      ${where.length ? 'WHERE ' + where.join(' AND ') : ''} GROUP BY type, articles, state, overdue`).all(...args) as Row[];
    return rows.map((r) => ({ type: String(r.type), articles: JSON.parse(String(r.articles)) as string[], state: r.state as ViolationState, overdue: r.overdue === 1, count: Number(r.n) }));
  }

  async violationsAlive(from: string, to: string): Promise<ViolationRow[]> {
    return (this.sql('SELECT * FROM violations WHERE created_at < ? AND (resolved_at IS NULL OR resolved_at >= ?)').all(to, from) as Row[]).map(violationRow);
  }

  async openViolationCounts(): Promise<{ hostId: string; type: string; count: number; overdue: number }[]> {
    const now = new Date().toISOString();
    return (this.sql(`SELECT host_id, type, count(*) AS n, sum(due_at < ?) AS od FROM violations WHERE state != 'resolved' GROUP BY host_id, type`).all(now) as Row[])
      .map((r) => ({ hostId: String(r.host_id), type: String(r.type), count: Number(r.n), overdue: Number(r.od) }));
  }

  async violationsPerDay(from: string): Promise<{ day: string; opened: number }[]> {
    return (this.sql('SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM violations WHERE created_at >= ? GROUP BY day ORDER BY day').all(from) as Row[])
      .map((r) => ({ day: String(r.day), opened: Number(r.n) }));
  }

  // ── settings, drills, groups ────────────────────────────────────────
  async getSetting(key: string): Promise<unknown> {
    const v = this.sql('SELECT value FROM settings WHERE key = ?').pluck().get(key) as string | undefined;
    return v === undefined ? undefined : JSON.parse(v) as unknown;
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    this.sql('INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at')
      .run(key, JSON.stringify(value), new Date().toISOString());
  }

  async createDrill(d: Omit<DrillRow, 'violationId' | 'ackedBy' | 'ackedAt'>): Promise<void> {
    this.sql('INSERT INTO drills (id, host_id, command_seq, started_by, started_at) VALUES (?, ?, ?, ?, ?)').run(d.id, d.hostId, d.commandSeq, d.startedBy, d.startedAt);
  }

  async drillByCommand(seq: number): Promise<DrillRow | null> {
    const r = this.sql('SELECT * FROM drills WHERE command_seq = ?').get(seq) as Row | undefined;
    return r ? drillRow(r) : null;
  }

  async updateDrill(id: string, patch: Partial<Pick<DrillRow, 'violationId' | 'ackedBy' | 'ackedAt'>>): Promise<void> {
    const cols: Record<string, string> = { violationId: 'violation_id', ackedBy: 'acked_by', ackedAt: 'acked_at' };
    const e = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (!e.length) return;
    this.sql(`UPDATE drills SET ${e.map(([k]) => `${cols[k]} = ?`).join(', ')} WHERE id = ?`).run(...e.map(([, v]) => v), id);
  }

  async listDrills(q: { from?: string; to?: string; host?: string }): Promise<DrillRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.from) { where.push('started_at >= ?'); args.push(q.from); }
    if (q.to) { where.push('started_at < ?'); args.push(q.to); }
    if (q.host) { where.push('host_id = ?'); args.push(q.host); }
    return (this.sql(`SELECT * FROM drills ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY started_at DESC`).all(...args) as Row[]).map(drillRow);
  }

  async setHostGroup(hostId: string, group: string): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.sql('UPDATE hosts SET grp = ? WHERE id = ?').run(group, hostId).changes === 0) return false;
      // The change stamp announces the move: servers caching a host's policy read it again.
      this.sql("INSERT INTO change_counters (name, n) VALUES ('host_groups', 1) ON CONFLICT (name) DO UPDATE SET n = n + 1").run();
      return true;
    }).immediate();
  }

  async listPolicyVersions(group: string): Promise<PolicyRow[]> {
    return (this.sql('SELECT * FROM policies WHERE grp = ? ORDER BY version DESC').all(group) as Row[]).map(policyRow);
  }

  async getPolicyVersion(group: string, version: number): Promise<PolicyRow | null> {
    const r = this.sql('SELECT * FROM policies WHERE grp = ? AND version = ?').get(group, version) as Row | undefined;
    return r ? policyRow(r) : null;
  }
}

function userRow(r: Row): UserRow {
  return {
    name: String(r.name), passwordHash: String(r.password_hash), role: String(r.role), mustChange: r.must_change === 1, disabled: r.disabled === 1,
    createdAt: String(r.created_at), failedLogins: Number(r.failed_logins ?? 0), lockedUntil: (r.locked_until as string | null) ?? null,
    totpSecret: (r.totp_secret as string | null) ?? null, totpEnabled: r.totp_enabled === 1, lastLogin: (r.last_login as string | null) ?? null,
  };
}

function apiTokenRow(r: Row): ApiTokenRow {
  return {
    id: String(r.id), name: String(r.name), role: String(r.role), createdBy: String(r.created_by), createdAt: String(r.created_at),
    revokedAt: (r.revoked_at as string | null) ?? null, lastUsed: (r.last_used as string | null) ?? null,
  };
}

function violationRow(r: Row): ViolationRow {
  return {
    id: String(r.id), hostId: String(r.host_id), eventId: String(r.event_id), type: String(r.type), rule: String(r.rule),
    articles: JSON.parse(String(r.articles)) as string[], severity: r.severity as ViolationRow['severity'], summary: String(r.summary),
    state: r.state as ViolationState, owner: (r.owner as string | null) ?? null, dueAt: String(r.due_at), createdAt: String(r.created_at),
    updatedAt: String(r.updated_at), ackedAt: (r.acked_at as string | null) ?? null, ackedBy: (r.acked_by as string | null) ?? null,
    resolvedAt: (r.resolved_at as string | null) ?? null, resolvedBy: (r.resolved_by as string | null) ?? null,
    notes: JSON.parse(String(r.notes)) as ViolationRow['notes'], escalatedAt: (r.escalated_at as string | null) ?? null, drill: r.drill === 1,
  };
}

function drillRow(r: Row): DrillRow {
  return {
    id: String(r.id), hostId: String(r.host_id), commandSeq: Number(r.command_seq), startedBy: String(r.started_by), startedAt: String(r.started_at),
    violationId: (r.violation_id as string | null) ?? null, ackedBy: (r.acked_by as string | null) ?? null, ackedAt: (r.acked_at as string | null) ?? null,
  };
}

function tokenRow(r: Row): TokenRow {
  return {
    id: String(r.id), usesTotal: Number(r.uses_total), usesLeft: Number(r.uses_left), expiresAt: String(r.expires_at),
    revokedAt: (r.revoked_at as string | null) ?? null, createdAt: String(r.created_at),
  };
}

function hostRow(r: Row): HostRow {
  return {
    id: String(r.id), machineId: String(r.machine_id), hostname: String(r.hostname), group: String(r.grp), spki: String(r.spki),
    certSerial: String(r.cert_serial), certNotAfter: String(r.cert_not_after), enrolledAt: String(r.enrolled_at),
    lastSeen: (r.last_seen as string | null) ?? null, policyVersion: r.policy_version == null ? null : Number(r.policy_version),
    status: r.status as HostStatus, cloneOf: (r.clone_of as string | null) ?? null,
  };
}

function certRow(r: Row): CertRow {
  return {
    serial: String(r.serial), hostId: String(r.host_id), spki: String(r.spki), notBefore: String(r.not_before),
    notAfter: String(r.not_after), revokedAt: (r.revoked_at as string | null) ?? null,
  };
}

function policyRow(r: Row): PolicyRow {
  return { group: String(r.grp), version: Number(r.version), policy: JSON.parse(String(r.body)) as Record<string, unknown>, createdAt: String(r.created_at) };
}

function eventRow(r: Row): StoredEvent {
  return {
    id: String(r.id), type: String(r.type), time: String(r.time), host: String(r.host_id), receivedAt: String(r.received_at),
    severity: r.severity as Severity, articles: JSON.parse(String(r.articles)) as string[], data: JSON.parse(String(r.data)) as Record<string, unknown>,
  };
}
