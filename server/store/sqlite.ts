/**
 * SQLite store (better-sqlite3 12, WAL). The hot path, insertEvents, goes to the event writer:
 * its own worker thread with group commits in the server, inline elsewhere. Several processes may
 * open the same file (the CLI reads while the server writes): WAL plus a busy timeout makes that safe.
 */
import Database from 'better-sqlite3';
import type { AgentEvent, StoredEvent, Severity } from '../../shared/events.js';
import type {
  CertRow, CommandRow, EventQuery, HostRow, InsertResult, PolicyRow, Store, TokenCheck, TokenRow, UserRow, HostStatus,
} from './types.js';
import { MIGRATIONS } from './migrations.js';
import { EventWriter, SEP, type WriteRequest, type WriteResult } from './sqlite-writer.js';
import { WriterThread } from './sqlite-writer-client.js';

type Row = Record<string, unknown>;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly db: Database.Database;
  private readonly stmts: ReturnType<SqliteStore['prepare']>;
  private readonly writer: { write(r: WriteRequest): Promise<WriteResult>; close(): Promise<void> };

  constructor(file: string, opts: { writerThread?: boolean } = {}) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    this.stmts = this.prepare();
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

  private prepare() {
    const d = this.db;
    return {
      tokenByHash: d.prepare('SELECT * FROM tokens WHERE hash = ?'),
      takeToken: d.prepare('UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ? AND uses_left > 0'),
      getHost: d.prepare('SELECT * FROM hosts WHERE id = ?'),
      getCert: d.prepare('SELECT * FROM certs WHERE serial = ?'),
      changeStamp: d.prepare(`SELECT (SELECT coalesce(max(seq), 0) FROM commands) AS c,
                                     (SELECT count(*) FROM policies) AS p`),
    };
  }

  async close(): Promise<void> {
    await this.writer.close();
    if (this.db.open) this.db.close();
  }

  // ── tokens ──────────────────────────────────────────────────────────
  async createToken(t: { id: string; hash: string; uses: number; expiresAt: string }): Promise<void> {
    this.db.prepare(`INSERT INTO tokens (id, hash, uses_total, uses_left, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(t.id, t.hash, t.uses, t.uses, t.expiresAt, new Date().toISOString());
  }

  async listTokens(): Promise<TokenRow[]> {
    return (this.db.prepare('SELECT * FROM tokens ORDER BY created_at').all() as Row[]).map(tokenRow);
  }

  async revokeToken(id: string): Promise<boolean> {
    return this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(new Date().toISOString(), id).changes > 0;
  }

  async consumeToken(hash: string, now: Date): Promise<TokenCheck> {
    return this.db.transaction((): TokenCheck => {
      const r = this.stmts.tokenByHash.get(hash) as Row | undefined;
      if (!r) return { ok: false, code: 'TG_E_TOKEN_UNKNOWN' };
      const t = tokenRow(r);
      if (t.revokedAt) return { ok: false, code: 'TG_E_TOKEN_REVOKED' };
      if (Date.parse(t.expiresAt) <= now.getTime()) return { ok: false, code: 'TG_E_TOKEN_EXPIRED' };
      if (this.stmts.takeToken.run(t.id).changes === 0) return { ok: false, code: 'TG_E_TOKEN_EXHAUSTED' };
      return { ok: true, token: { ...t, usesLeft: t.usesLeft - 1 } };
    }).immediate();
  }

  // ── hosts and certificates ──────────────────────────────────────────
  async createHost(h: Omit<HostRow, 'lastSeen' | 'policyVersion'> & { renewalHash: string }): Promise<void> {
    this.db.prepare(`INSERT INTO hosts (id, machine_id, hostname, grp, spki, cert_serial, cert_not_after, enrolled_at, status, clone_of, renewal_hash)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(h.id, h.machineId, h.hostname, h.group, h.spki, h.certSerial, h.certNotAfter, h.enrolledAt, h.status, h.cloneOf, h.renewalHash);
  }

  async getHost(id: string): Promise<HostRow | null> {
    const r = this.stmts.getHost.get(id) as Row | undefined;
    return r ? hostRow(r) : null;
  }

  async hostsByMachineId(machineId: string): Promise<HostRow[]> {
    return (this.db.prepare('SELECT * FROM hosts WHERE machine_id = ? ORDER BY enrolled_at').all(machineId) as Row[]).map(hostRow);
  }

  async listHosts(): Promise<HostRow[]> {
    return (this.db.prepare('SELECT * FROM hosts ORDER BY enrolled_at').all() as Row[]).map(hostRow);
  }

  async setHostCert(hostId: string, c: Omit<CertRow, 'revokedAt'>, renewalHash?: string): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO certs (serial, host_id, spki, not_before, not_after) VALUES (?, ?, ?, ?, ?)')
        .run(c.serial, c.hostId, c.spki, c.notBefore, c.notAfter);
      this.db.prepare(`UPDATE hosts SET spki = ?, cert_serial = ?, cert_not_after = ?, renewal_hash = coalesce(?, renewal_hash) WHERE id = ?`)
        .run(c.spki, c.serial, c.notAfter, renewalHash ?? null, hostId);
    })();
  }

  async getRenewalHash(hostId: string): Promise<string | null> {
    return (this.db.prepare('SELECT renewal_hash FROM hosts WHERE id = ?').pluck().get(hostId) as string | undefined) ?? null;
  }

  async touchHost(hostId: string, seen: string, policyVersion?: number): Promise<void> {
    await this.writer.write({ hostId, receivedAt: seen, rows: '', touch: { seen, ...(policyVersion !== undefined ? { policyVersion } : {}) } });
  }

  async revokeHost(hostId: string, at: string): Promise<boolean> {
    return this.db.transaction(() => {
      const n = this.db.prepare(`UPDATE hosts SET status = 'revoked' WHERE id = ? AND status != 'revoked'`).run(hostId).changes;
      this.db.prepare('UPDATE certs SET revoked_at = ? WHERE host_id = ? AND revoked_at IS NULL').run(at, hostId);
      return n > 0;
    })();
  }

  async addCert(c: Omit<CertRow, 'revokedAt'>): Promise<void> {
    this.db.prepare('INSERT INTO certs (serial, host_id, spki, not_before, not_after) VALUES (?, ?, ?, ?, ?)')
      .run(c.serial, c.hostId, c.spki, c.notBefore, c.notAfter);
  }

  async getCert(serial: string): Promise<CertRow | null> {
    const r = this.stmts.getCert.get(serial) as Row | undefined;
    return r ? certRow(r) : null;
  }

  async revokedCerts(): Promise<{ serial: string; revokedAt: string; notAfter: string }[]> {
    return (this.db.prepare('SELECT serial, revoked_at, not_after FROM certs WHERE revoked_at IS NOT NULL ORDER BY revoked_at').all() as Row[])
      .map((r) => ({ serial: String(r.serial), revokedAt: String(r.revoked_at), notAfter: String(r.not_after) }));
  }

  // ── events ──────────────────────────────────────────────────────────
  async insertEvents(hostId: string, events: AgentEvent[], receivedAt: string, touch?: { seen: string; policyVersion?: number }): Promise<InsertResult> {
    const rows: string[] = [];
    for (const e of events) rows.push(e.id, e.type, e.time, e.severity, JSON.stringify(e.articles), JSON.stringify(e.data));
    return this.writer.write({ hostId, receivedAt, rows: rows.join(SEP), ...(touch ? { touch } : {}) });
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.host) { where.push('host_id = ?'); args.push(q.host); }
    if (q.type) { where.push('type = ?'); args.push(q.type); }
    if (q.since) { where.push('time >= ?'); args.push(q.since); }
    if (q.after) { where.push('(received_at, id) > (?, ?)'); args.push(q.after.receivedAt, q.after.id); }
    const sql = `SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY received_at, id LIMIT ?`;
    args.push(q.limit ?? 1000);
    return (this.db.prepare(sql).all(...args) as Row[]).map(eventRow);
  }

  async countEvents(q: Pick<EventQuery, 'host' | 'type'> = {}): Promise<number> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.host) { where.push('host_id = ?'); args.push(q.host); }
    if (q.type) { where.push('type = ?'); args.push(q.type); }
    return this.db.prepare(`SELECT count(*) FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}`).pluck().get(...args) as number;
  }

  async purgeEvents(before: string): Promise<number> {
    // Callers go through retention.purgeOnce, which refuses less than 184 days.
    return this.db.prepare('DELETE FROM events WHERE received_at < ?').run(before).changes;
  }

  // ── policies and commands ───────────────────────────────────────────
  async getPolicy(group: string): Promise<PolicyRow | null> {
    const r = this.db.prepare('SELECT * FROM policies WHERE grp = ? ORDER BY version DESC LIMIT 1').get(group) as Row | undefined;
    return r ? policyRow(r) : null;
  }

  async setPolicy(group: string, policy: Record<string, unknown>): Promise<PolicyRow> {
    return this.db.transaction(() => {
      const v = (this.db.prepare('SELECT coalesce(max(version), 0) FROM policies WHERE grp = ?').pluck().get(group) as number) + 1;
      const createdAt = new Date().toISOString();
      this.db.prepare('INSERT INTO policies (grp, version, body, created_at) VALUES (?, ?, ?, ?)').run(group, v, JSON.stringify(policy), createdAt);
      return { group, version: v, policy, createdAt };
    }).immediate();
  }

  async changeStamp(): Promise<string> {
    const r = this.stmts.changeStamp.get() as Row;
    return `${String(r.c)}:${String(r.p)}`;
  }

  async addCommand(hostId: string | null, type: string, payload: Record<string, unknown>): Promise<number> {
    return Number(this.db.prepare('INSERT INTO commands (host_id, type, payload, created_at) VALUES (?, ?, ?, ?)')
      .run(hostId, type, JSON.stringify(payload), new Date().toISOString()).lastInsertRowid);
  }

  async commandsAfter(hostId: string, seq: number, limit = 100): Promise<CommandRow[]> {
    return (this.db.prepare('SELECT * FROM commands WHERE seq > ? AND (host_id = ? OR host_id IS NULL) ORDER BY seq LIMIT ?')
      .all(seq, hostId, limit) as Row[]).map((r) => ({
      seq: Number(r.seq), hostId: (r.host_id as string | null) ?? null, type: String(r.type),
      payload: JSON.parse(String(r.payload)) as Record<string, unknown>, createdAt: String(r.created_at),
    }));
  }

  // ── users ───────────────────────────────────────────────────────────
  async createUser(u: Omit<UserRow, 'createdAt'>): Promise<void> {
    this.db.prepare('INSERT INTO users (name, password_hash, role, must_change, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(u.name, u.passwordHash, u.role, u.mustChange ? 1 : 0, u.disabled ? 1 : 0, new Date().toISOString());
  }

  async getUser(name: string): Promise<UserRow | null> {
    const r = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as Row | undefined;
    return r ? { name: String(r.name), passwordHash: String(r.password_hash), role: String(r.role), mustChange: r.must_change === 1, disabled: r.disabled === 1, createdAt: String(r.created_at) } : null;
  }

  async updateUser(name: string, patch: Partial<Pick<UserRow, 'passwordHash' | 'role' | 'mustChange' | 'disabled'>>): Promise<boolean> {
    const sets: string[] = [];
    const args: unknown[] = [];
    if (patch.passwordHash !== undefined) { sets.push('password_hash = ?'); args.push(patch.passwordHash); }
    if (patch.role !== undefined) { sets.push('role = ?'); args.push(patch.role); }
    if (patch.mustChange !== undefined) { sets.push('must_change = ?'); args.push(patch.mustChange ? 1 : 0); }
    if (patch.disabled !== undefined) { sets.push('disabled = ?'); args.push(patch.disabled ? 1 : 0); }
    if (!sets.length) return false;
    return this.db.prepare(`UPDATE users SET ${sets.join(', ')} WHERE name = ?`).run(...args, name).changes > 0;
  }
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
