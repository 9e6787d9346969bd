/** Schema migrations, applied in order; index = user_version before the step. Never edit a released step. */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, uses_total INTEGER NOT NULL, uses_left INTEGER NOT NULL,
    expires_at TEXT NOT NULL, revoked_at TEXT, created_at TEXT NOT NULL
  );
  CREATE TABLE hosts (
    id TEXT PRIMARY KEY, machine_id TEXT NOT NULL, hostname TEXT NOT NULL, grp TEXT NOT NULL DEFAULT 'default',
    spki TEXT NOT NULL, cert_serial TEXT NOT NULL, cert_not_after TEXT NOT NULL, renewal_hash TEXT NOT NULL,
    enrolled_at TEXT NOT NULL, last_seen TEXT, policy_version INTEGER, status TEXT NOT NULL DEFAULT 'active', clone_of TEXT
  );
  CREATE INDEX hosts_machine ON hosts (machine_id);
  CREATE TABLE certs (
    serial TEXT PRIMARY KEY, host_id TEXT NOT NULL REFERENCES hosts (id), spki TEXT NOT NULL,
    not_before TEXT NOT NULL, not_after TEXT NOT NULL, revoked_at TEXT
  );
  CREATE INDEX certs_host ON certs (host_id);
  CREATE TABLE events (
    id TEXT PRIMARY KEY, host_id TEXT NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL, received_at TEXT NOT NULL,
    severity TEXT NOT NULL, articles TEXT NOT NULL, data TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX events_host_time ON events (host_id, time);
  CREATE INDEX events_received ON events (received_at, id);
  CREATE TABLE policies (
    grp TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (grp, version)
  );
  CREATE TABLE commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, host_id TEXT, type TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL
  );
  CREATE INDEX commands_host ON commands (host_id, seq);
  CREATE TABLE users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL, must_change INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL
  );
  `,
  `
  ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN locked_until TEXT;
  ALTER TABLE users ADD COLUMN totp_secret TEXT;
  ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN last_login TEXT;
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, last_seen TEXT NOT NULL
  );
  CREATE INDEX sessions_user ON sessions (user);
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL, created_by TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT, last_used TEXT
  );
  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT,
    details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
  );
  CREATE TABLE violations (
    id TEXT PRIMARY KEY, host_id TEXT NOT NULL, event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, rule TEXT NOT NULL,
    articles TEXT NOT NULL, severity TEXT NOT NULL, summary TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'open',
    owner TEXT, due_at TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    acked_at TEXT, acked_by TEXT, resolved_at TEXT, resolved_by TEXT, notes TEXT NOT NULL DEFAULT '[]',
    escalated_at TEXT, drill INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX violations_state ON violations (state, created_at);
  CREATE INDEX violations_host ON violations (host_id, created_at);
  CREATE INDEX violations_type ON violations (type, created_at);
  CREATE INDEX violations_due ON violations (due_at) WHERE state != 'resolved';
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE TABLE drills (
    id TEXT PRIMARY KEY, host_id TEXT NOT NULL, command_seq INTEGER NOT NULL UNIQUE, started_by TEXT NOT NULL,
    started_at TEXT NOT NULL, violation_id TEXT, acked_by TEXT, acked_at TEXT
  );
  `,
  `
  CREATE INDEX violations_open_host ON violations (host_id, type, due_at) WHERE state != 'resolved';
  CREATE INDEX violations_open_type ON violations (type, articles, state, due_at) WHERE state != 'resolved';
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
  CREATE TABLE change_counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
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
