/**
 * The event writer: inserts batches of events (and host "last seen" touches) in group commits.
 * Hot path. It runs inline (CLI, tests) or in its own worker thread (the server), so SQLite's
 * work runs off the event loop that does TLS, HTTP and JSON; in the server a third thread
 * checkpoints the WAL concurrently, so no commit ever waits for a checkpoint.
 * A batch is acked only after the transaction holding it committed.
 */
import Database from 'better-sqlite3';

/**
 * Events flattened to one string (a single memcpy between threads): fields id, type, time, severity,
 * articles JSON, data JSON, separated by NUL. NUL cannot occur in any of them: the first four are
 * validated against patterns, and JSON.stringify escapes U+0000 inside strings.
 */
export const FIELDS = 6;
export const SEP = '\u0000';

export interface WriteRequest {
  hostId: string;
  receivedAt: string;
  /** FIELDS strings per event joined by SEP; '' for none. */
  rows: string;
  touch?: { seen: string; policyVersion?: number };
  /**
   * Violation drafts (JSON of ViolationDraft[]), inserted once per event id in the same group commit:
   * the server's one writer connection does every hot write, so the event loop never waits on
   * SQLite's write lock (a write from the main connection would block it for as long as a commit).
   * With rows, a draft goes in only if its event is among this request's acked ones.
   */
  violations?: string;
}

export interface WriteResult {
  acked: string[];
  conflicts: string[];
  /** Ids of the violations inserted (not already there for their event). */
  violations?: string[];
}

interface Draft {
  id: string; hostId: string; eventId: string; type: string; rule: string; articles: string[]; severity: string;
  summary: string; dueAt: string; createdAt: string; drill?: boolean;
}

/** After a completed checkpoint the WAL restarts from its beginning and is cut back to this size. */
export const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

export class EventWriter {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly owner: Database.Statement;
  private readonly touch: Database.Statement;
  private readonly touchPolicy: Database.Statement;
  private readonly violation: Database.Statement;
  /** `externalCheckpoints`: another connection checkpoints (the server's checkpointer thread). */
  constructor(file: string, externalCheckpoints: boolean) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
    // Index pages of 200+ hosts' (host, time) entries stay hot instead of being re-read per batch.
    this.db.pragma('cache_size = -65536');
    this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    if (externalCheckpoints) this.db.pragma('wal_autocheckpoint = 0');
    this.insert = this.db.prepare(`INSERT OR IGNORE INTO events (id, host_id, type, time, received_at, severity, articles, data)
                                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.owner = this.db.prepare('SELECT host_id FROM events WHERE id = ?').pluck();
    this.touch = this.db.prepare('UPDATE hosts SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)');
    this.touchPolicy = this.db.prepare(`UPDATE hosts SET last_seen = max(coalesce(last_seen, ''), ?), policy_version = ? WHERE id = ?`);
    this.violation = this.db.prepare(`INSERT INTO violations (id, host_id, event_id, type, rule, articles, severity, summary, due_at, created_at, updated_at, drill)
                                      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`);
  }

  /** One transaction for all requests; results in the same order. */
  write(requests: WriteRequest[]): WriteResult[] {
    const results = this.db.transaction(() => requests.map((r) => {
      const acked: string[] = [];
      const conflicts: string[] = [];
      const { hostId, receivedAt } = r;
      const rows = r.rows === '' ? [] : r.rows.split(SEP);
      for (let i = 0; i < rows.length; i += FIELDS) {
        const id = rows[i]!;
        const res = this.insert.run(id, hostId, rows[i + 1], rows[i + 2], receivedAt, rows[i + 3], rows[i + 4], rows[i + 5]);
        if (res.changes === 1 || this.owner.get(id) === hostId) acked.push(id);
        else conflicts.push(id);
      }
      if (r.touch) {
        if (r.touch.policyVersion === undefined) this.touch.run(r.touch.seen, hostId, r.touch.seen);
        else this.touchPolicy.run(r.touch.seen, r.touch.policyVersion, hostId);
      }
      if (r.violations) {
        let drafts = JSON.parse(r.violations) as Draft[];
        if (rows.length) {
          const ok = new Set(acked);
          drafts = drafts.filter((d) => ok.has(d.eventId));
        }
        const inserted = drafts.filter((d) => this.violation.run(
          d.id, d.hostId, d.eventId, d.type, d.rule, JSON.stringify(d.articles), d.severity, d.summary, d.dueAt, d.createdAt, d.createdAt, d.drill ? 1 : 0,
        ).changes > 0).map((d) => d.id);
        return { acked, conflicts, violations: inserted };
      }
      return { acked, conflicts };
    }))();
    return results;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Checkpoints the WAL from its own connection, concurrently with the writer (PASSIVE never blocks it). */
export class Checkpointer {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('wal_autocheckpoint = 0');
  }

  checkpoint(): void {
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  close(): void {
    if (!this.db.open) return;
    try { this.checkpoint(); } catch { /* best effort at shutdown */ }
    this.db.close();
  }
}
