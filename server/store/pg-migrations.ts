/**
 * PostgreSQL schema: the same tables as migrations.ts (SQLite), as ordered steps. Step N is applied
 * when `max(schema_version.version)` is N; never edit a released step, add one.
 *
 * Types: times are `text COLLATE "C"` ISO 8601 strings, as the Store interface passes them, so they
 * round-trip byte for byte (an agent's `time` may carry an offset or nanoseconds; the audit hash covers
 * `time` exactly as written) and compare like SQLite's, whatever the database's default collation is.
 * Agent-supplied JSON (event data, audit details, notes, policies, settings) is `json`, which keeps the
 * text as written and accepts "\u0000" (jsonb refuses it); `violations.articles` is `jsonb` because it is
 * filtered (`?`) and grouped on, and its values come from rule definitions.
 *
 * Events are one plain table, not partitioned by month: idempotency is by id alone, and a unique index
 * on a partitioned table must include the partition key, which a resent event does not keep (its
 * received_at is new). Partitioning would need a second, global id table as large as the primary key
 * index and a second insert per event. Retention deletes by the received_at index in chunks instead;
 * autovacuum (tuned below) hands the space to new rows, so the table stays at about six months' size.
 */
import type { PoolClient } from 'pg';

const C = 'text COLLATE "C"';

export const PG_MIGRATIONS: string[] = [
  `
  CREATE TABLE tokens (
    id ${C} PRIMARY KEY, hash ${C} NOT NULL UNIQUE, uses_total integer NOT NULL, uses_left integer NOT NULL,
    expires_at ${C} NOT NULL, revoked_at ${C}, created_at ${C} NOT NULL
  );
  -- Every ingest batch updates last_seen: room on the page keeps those updates HOT.
  CREATE TABLE hosts (
    id ${C} PRIMARY KEY, machine_id ${C} NOT NULL, hostname text NOT NULL, grp ${C} NOT NULL DEFAULT 'default',
    spki text NOT NULL, cert_serial ${C} NOT NULL, cert_not_after ${C} NOT NULL, renewal_hash text NOT NULL,
    enrolled_at ${C} NOT NULL, last_seen ${C}, policy_version integer, status ${C} NOT NULL DEFAULT 'active', clone_of ${C}
  ) WITH (fillfactor = 70);
  CREATE INDEX hosts_machine ON hosts (machine_id);
  CREATE TABLE certs (
    serial ${C} PRIMARY KEY, host_id ${C} NOT NULL REFERENCES hosts (id), spki text NOT NULL,
    not_before ${C} NOT NULL, not_after ${C} NOT NULL, revoked_at ${C}
  );
  CREATE INDEX certs_host ON certs (host_id);
  CREATE INDEX certs_revoked ON certs (revoked_at) WHERE revoked_at IS NOT NULL;
  -- Six months of a 5,000-terminal fleet: vacuum and analyse after 2 % / 1 % changed rows, not 20 %.
  CREATE TABLE events (
    id ${C} PRIMARY KEY, host_id ${C} NOT NULL, type ${C} NOT NULL, time ${C} NOT NULL, received_at ${C} NOT NULL,
    severity ${C} NOT NULL, articles json NOT NULL, data json NOT NULL
  ) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.01);
  CREATE INDEX events_host_time ON events (host_id, time);
  CREATE INDEX events_received ON events (received_at, id);
  CREATE TABLE policies (
    grp ${C} NOT NULL, version integer NOT NULL, body json NOT NULL, created_at ${C} NOT NULL, PRIMARY KEY (grp, version)
  );
  -- Versions are unique across groups; this index also makes max(version) (the change stamp) cheap.
  CREATE UNIQUE INDEX policies_version ON policies (version);
  CREATE TABLE commands (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, host_id ${C}, type ${C} NOT NULL, payload json NOT NULL,
    created_at ${C} NOT NULL
  );
  CREATE INDEX commands_host ON commands (host_id, seq);
  CREATE TABLE users (
    name ${C} PRIMARY KEY, password_hash text NOT NULL, role ${C} NOT NULL, must_change boolean NOT NULL DEFAULT false,
    disabled boolean NOT NULL DEFAULT false, created_at ${C} NOT NULL, failed_logins integer NOT NULL DEFAULT 0,
    locked_until ${C}, totp_secret text, totp_enabled boolean NOT NULL DEFAULT false, last_login ${C}
  );
  CREATE TABLE sessions (
    id_hash ${C} PRIMARY KEY, user_name ${C} NOT NULL, csrf text NOT NULL, created_at ${C} NOT NULL,
    expires_at ${C} NOT NULL, last_seen ${C} NOT NULL
  );
  CREATE INDEX sessions_user ON sessions (user_name);
  CREATE TABLE api_tokens (
    id ${C} PRIMARY KEY, hash ${C} NOT NULL UNIQUE, name text NOT NULL, role ${C} NOT NULL, created_by ${C} NOT NULL,
    created_at ${C} NOT NULL, revoked_at ${C}, last_used ${C}
  );
  CREATE TABLE audit_log (
    seq bigint PRIMARY KEY, time ${C} NOT NULL, actor ${C} NOT NULL, action ${C} NOT NULL, target text,
    details json NOT NULL, prev_hash ${C} NOT NULL, hash ${C} NOT NULL
  );
  CREATE TABLE violations (
    id ${C} PRIMARY KEY, host_id ${C} NOT NULL, event_id ${C} NOT NULL UNIQUE, type ${C} NOT NULL, rule ${C} NOT NULL,
    articles jsonb NOT NULL, severity ${C} NOT NULL, summary text NOT NULL, state ${C} NOT NULL DEFAULT 'open',
    owner ${C}, due_at ${C} NOT NULL, created_at ${C} NOT NULL, updated_at ${C} NOT NULL,
    acked_at ${C}, acked_by ${C}, resolved_at ${C}, resolved_by ${C}, notes json NOT NULL DEFAULT '[]',
    escalated_at ${C}, drill boolean NOT NULL DEFAULT false
  );
  CREATE INDEX violations_state ON violations (state, created_at);
  CREATE INDEX violations_host ON violations (host_id, created_at);
  CREATE INDEX violations_type ON violations (type, created_at);
  CREATE INDEX violations_created ON violations (created_at, id);
  CREATE INDEX violations_due ON violations (due_at) WHERE state <> 'resolved';
  CREATE INDEX violations_articles ON violations USING gin (articles);
  CREATE TABLE settings (key ${C} PRIMARY KEY, value json NOT NULL, updated_at ${C} NOT NULL);
  CREATE TABLE drills (
    id ${C} PRIMARY KEY, host_id ${C} NOT NULL, command_seq bigint NOT NULL UNIQUE, started_by ${C} NOT NULL,
    started_at ${C} NOT NULL, violation_id ${C}, acked_by ${C}, acked_at ${C}
  );
  CREATE INDEX drills_started ON drills (started_at);
  `,
  `
  CREATE INDEX violations_open_host ON violations (host_id, type, due_at) WHERE state <> 'resolved';
  CREATE INDEX violations_open_type ON violations (type, state, due_at) WHERE state <> 'resolved';
  CREATE INDEX violations_state_created ON violations (state, created_at, id);
  `,
  // violations_state (state, created_at) is a prefix of violations_state_created: every violation
  // paid for a b-tree insert that no query needs.
  `
  DROP INDEX violations_state;
  `,
  // Counts changes the change stamp must announce that no other table's max() shows: a host moved
  // to another group (its policy changes with no new policy row).
  `
  CREATE TABLE change_counters (name ${C} PRIMARY KEY, n bigint NOT NULL);
  INSERT INTO change_counters (name, n) VALUES ('host_groups', 0);
  `,
  // The start-up sweep reads the events whose violations are raised after their commit (drills,
  // hardening runs) by arrival: without these a range on events_received walked every event of the
  // window (1.3 s of start-up at 1.6 million events). Each holds only its type's rows.
  `
  CREATE INDEX events_drill_received ON events (received_at, id) WHERE type = 'drill';
  CREATE INDEX events_check_received ON events (received_at, id) WHERE type = 'host.check';
  `,
];

/** Advisory lock keys (one namespace, "tg" in the high bytes) serialising work across server processes. */
export const PG_LOCKS = {
  migrate: 0x7467_0001,
  audit: 0x7467_0002,
  policy: 0x7467_0003,
  command: 0x7467_0004,
} as const;

/**
 * Bring the schema up to date in one transaction. The advisory lock is taken before anything is read
 * or created, so processes starting together queue here and each later one finds the work done.
 */
export async function migrate(c: PoolClient): Promise<number> {
  await c.query('BEGIN');
  try {
    await c.query('SELECT pg_advisory_xact_lock($1)', [PG_LOCKS.migrate]);
    await c.query(`CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at ${C} NOT NULL)`);
    const r = await c.query<{ v: number }>('SELECT coalesce(max(version), 0)::integer AS v FROM schema_version');
    const current = r.rows[0]!.v;
    if (current > PG_MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this server knows (${PG_MIGRATIONS.length}); upgrade the server`);
    }
    for (let v = current; v < PG_MIGRATIONS.length; v++) {
      await c.query(PG_MIGRATIONS[v]!);
      await c.query('INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)', [v + 1, new Date().toISOString()]);
    }
    await c.query('COMMIT');
    return PG_MIGRATIONS.length;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
