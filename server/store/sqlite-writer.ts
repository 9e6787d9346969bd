/**
 * The event writer: inserts batches of events (and host "last seen" touches) in group commits.
 * Hot path. It runs inline (CLI, tests) or in its own worker thread (the server), so SQLite's
 * work — inserts, index updates, WAL checkpoints — runs on the second core, off the event loop
 * that does TLS, HTTP and JSON. A batch is acked only after the transaction holding it committed.
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
}

export interface WriteResult {
  acked: string[];
  conflicts: string[];
}

const CHECKPOINT_EVERY_MS = 1000;
/** Past this WAL size a checkpoint also truncates the file, so it never grows without bound. */
const WAL_TRUNCATE_BYTES = 64 * 1024 * 1024;

export class EventWriter {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly owner: Database.Statement;
  private readonly touch: Database.Statement;
  private readonly touchPolicy: Database.Statement;
  private lastCheckpoint = Date.now();

  constructor(file: string, private readonly ownCheckpoints: boolean) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
    // Index pages of 200+ hosts' (host, time) entries stay hot instead of being re-read per batch.
    this.db.pragma('cache_size = -65536');
    // In a worker, checkpoints run here on a timer instead of inside some request's commit.
    if (ownCheckpoints) this.db.pragma('wal_autocheckpoint = 0');
    this.insert = this.db.prepare(`INSERT OR IGNORE INTO events (id, host_id, type, time, received_at, severity, articles, data)
                                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.owner = this.db.prepare('SELECT host_id FROM events WHERE id = ?').pluck();
    this.touch = this.db.prepare('UPDATE hosts SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)');
    this.touchPolicy = this.db.prepare(`UPDATE hosts SET last_seen = max(coalesce(last_seen, ''), ?), policy_version = ? WHERE id = ?`);
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
      return { acked, conflicts };
    }))();
    if (this.ownCheckpoints && Date.now() - this.lastCheckpoint > CHECKPOINT_EVERY_MS) this.checkpoint();
    return results;
  }

  checkpoint(): void {
    this.lastCheckpoint = Date.now();
    const [r] = this.db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    if (r && r.log * 4096 > WAL_TRUNCATE_BYTES) this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    if (!this.db.open) return;
    if (this.ownCheckpoints) this.checkpoint();
    this.db.close();
  }
}
