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
];
