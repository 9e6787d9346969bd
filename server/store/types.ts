/**
 * The store interface: SQLite (embedded default) implements it now; PostgreSQL will implement the
 * same interface and pass the same store test suite. Times cross it as ISO 8601 strings in UTC.
 */
import type { AgentEvent, StoredEvent } from '../../shared/events.js';

export interface TokenRow {
  id: string;
  usesTotal: number;
  usesLeft: number;
  expiresAt: string;
  revokedAt: string | null;
  createdAt: string;
}

export type HostStatus = 'active' | 'revoked' | 'clone';

export interface HostRow {
  id: string;
  machineId: string;
  hostname: string;
  group: string;
  spki: string;
  certSerial: string;
  certNotAfter: string;
  enrolledAt: string;
  lastSeen: string | null;
  policyVersion: number | null;
  status: HostStatus;
  cloneOf: string | null;
}

export interface CertRow {
  serial: string;
  hostId: string;
  spki: string;
  notBefore: string;
  notAfter: string;
  revokedAt: string | null;
}

export interface PolicyRow {
  group: string;
  version: number;
  policy: Record<string, unknown>;
  createdAt: string;
}

export interface CommandRow {
  seq: number;
  hostId: string | null;
  type: string;
  payload: Record<string, unknown>;
  createdAt: string;
}

export interface EventQuery {
  host?: string;
  type?: string;
  since?: string;
  limit?: number;
  /** Resume after this (receivedAt, id) position: listing large tables in pages. */
  after?: { receivedAt: string; id: string };
  /** Only events whose agent time is before this. */
  until?: string;
  /** Newest first (by arrival); `after` is then ignored. */
  latest?: boolean;
  /** Only these types. */
  types?: string[];
}

export interface InsertResult {
  /** Stored now or already stored for this host: safe to ack. */
  acked: string[];
  /** Id already used by another host's event. */
  conflicts: string[];
  /** The violation drafts inserted with the events (those of acked events, first for their event). */
  violations: ViolationDraft[];
}

export type TokenCheck =
  | { ok: true; token: TokenRow }
  | { ok: false; code: 'TG_E_TOKEN_UNKNOWN' | 'TG_E_TOKEN_EXPIRED' | 'TG_E_TOKEN_EXHAUSTED' | 'TG_E_TOKEN_REVOKED' };

export interface UserRow {
  name: string;
  passwordHash: string;
  role: string;
  mustChange: boolean;
  disabled: boolean;
  createdAt: string;
  failedLogins: number;
  lockedUntil: string | null;
  /** Base32 TOTP secret (set at enrolment; in force once totpEnabled). */
  totpSecret: string | null;
  totpEnabled: boolean;
  lastLogin: string | null;
}

export type UserPatch = Partial<Pick<UserRow, 'passwordHash' | 'role' | 'mustChange' | 'disabled' | 'failedLogins' | 'lockedUntil' | 'totpSecret' | 'totpEnabled' | 'lastLogin'>>;

export interface SessionRow {
  idHash: string;
  user: string;
  csrf: string;
  createdAt: string;
  expiresAt: string;
  lastSeen: string;
}

export interface ApiTokenRow {
  id: string;
  name: string;
  role: string;
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsed: string | null;
}

export interface AuditRow {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export type ViolationState = 'open' | 'acknowledged' | 'resolved';

export interface ViolationNote { at: string; by: string; text: string }

export interface ViolationRow {
  id: string;
  hostId: string;
  eventId: string;
  type: string;
  rule: string;
  articles: string[];
  severity: 'low' | 'medium' | 'high' | 'critical';
  summary: string;
  state: ViolationState;
  owner: string | null;
  dueAt: string;
  createdAt: string;
  updatedAt: string;
  ackedAt: string | null;
  ackedBy: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
  notes: ViolationNote[];
  escalatedAt: string | null;
  drill: boolean;
}

export type ViolationDraft = Pick<ViolationRow, 'id' | 'hostId' | 'eventId' | 'type' | 'rule' | 'articles' | 'severity' | 'summary' | 'dueAt' | 'createdAt' | 'drill'>;

export interface ViolationQuery {
  state?: ViolationState | 'unresolved';
  type?: string;
  host?: string;
  article?: string;
  owner?: string;
  severity?: string;
  overdueAt?: string;
  drill?: boolean;
  createdFrom?: string;
  createdTo?: string;
  limit?: number;
  offset?: number;
}

export interface DrillRow {
  id: string;
  hostId: string;
  commandSeq: number;
  startedBy: string;
  startedAt: string;
  violationId: string | null;
  ackedBy: string | null;
  ackedAt: string | null;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  close(): Promise<void>;

  createToken(t: { id: string; hash: string; uses: number; expiresAt: string }): Promise<void>;
  listTokens(): Promise<TokenRow[]>;
  revokeToken(id: string): Promise<boolean>;
  /** Atomically check the token and take one use. */
  consumeToken(hash: string, now: Date): Promise<TokenCheck>;

  createHost(h: Omit<HostRow, 'lastSeen' | 'policyVersion'> & { renewalHash: string }): Promise<void>;
  getHost(id: string): Promise<HostRow | null>;
  hostsByMachineId(machineId: string): Promise<HostRow[]>;
  listHosts(): Promise<HostRow[]>;
  /** Record a newly issued certificate as the host's current one (and its renewal secret when rotated). */
  setHostCert(hostId: string, cert: Omit<CertRow, 'revokedAt'>, renewalHash?: string): Promise<void>;
  getRenewalHash(hostId: string): Promise<string | null>;
  touchHost(hostId: string, seen: string, policyVersion?: number): Promise<void>;
  revokeHost(hostId: string, at: string): Promise<boolean>;

  addCert(c: Omit<CertRow, 'revokedAt'>): Promise<void>;
  getCert(serial: string): Promise<CertRow | null>;
  revokedCerts(): Promise<{ serial: string; revokedAt: string; notAfter: string }[]>;

  /**
   * Store events (idempotent by id) and, in the same commit, mark the host seen and insert the
   * violations they raise (a draft goes in only if its event was acked, and once per event).
   */
  insertEvents(hostId: string, events: AgentEvent[], receivedAt: string, touch?: { seen: string; policyVersion?: number }, violations?: ViolationDraft[]): Promise<InsertResult>;
  queryEvents(q: EventQuery): Promise<StoredEvent[]>;
  getEvent(id: string): Promise<StoredEvent | null>;
  countEvents(q?: Pick<EventQuery, 'host' | 'type'>): Promise<number>;
  /** Delete events received before `before`; returns how many. */
  purgeEvents(before: string): Promise<number>;

  getPolicy(group: string): Promise<PolicyRow | null>;
  setPolicy(group: string, policy: Record<string, unknown>): Promise<PolicyRow>;

  /** Changes whenever a command or a policy version is added or a host moves to another group (cheap; polled once a second). */
  changeStamp(): Promise<string>;
  addCommand(hostId: string | null, type: string, payload: Record<string, unknown>): Promise<number>;
  commandsAfter(hostId: string, seq: number, limit?: number): Promise<CommandRow[]>;

  createUser(u: Pick<UserRow, 'name' | 'passwordHash' | 'role' | 'mustChange' | 'disabled'>): Promise<void>;
  getUser(name: string): Promise<UserRow | null>;
  updateUser(name: string, patch: UserPatch): Promise<boolean>;
  listUsers(): Promise<UserRow[]>;

  createSession(s: SessionRow): Promise<void>;
  getSession(idHash: string): Promise<SessionRow | null>;
  touchSession(idHash: string, lastSeen: string, expiresAt: string): Promise<void>;
  deleteSession(idHash: string): Promise<void>;
  deleteUserSessions(user: string): Promise<number>;

  createApiToken(t: ApiTokenRow & { hash: string }): Promise<void>;
  apiTokenByHash(hash: string): Promise<ApiTokenRow | null>;
  listApiTokens(): Promise<ApiTokenRow[]>;
  revokeApiToken(id: string, at: string): Promise<boolean>;
  touchApiToken(id: string, at: string): Promise<void>;

  /** Append to the hash-chained audit log; the chain is extended inside one transaction. */
  appendAudit(a: { time: string; actor: string; action: string; target: string | null; details: Record<string, unknown> }): Promise<AuditRow>;
  listAudit(q: { afterSeq?: number; limit?: number; desc?: boolean }): Promise<AuditRow[]>;
  countAudit(): Promise<number>;

  /** Insert new violations; one per event id (a second draft for the same event is ignored). Returns the rows inserted. */
  insertViolations(drafts: ViolationDraft[]): Promise<ViolationDraft[]>;
  getViolation(id: string): Promise<ViolationRow | null>;
  listViolations(q: ViolationQuery): Promise<{ items: ViolationRow[]; total: number }>;
  /** Apply a change if the violation is still in `from` (when given); false when it is not. */
  updateViolation(id: string, patch: Partial<Pick<ViolationRow, 'state' | 'owner' | 'dueAt' | 'ackedAt' | 'ackedBy' | 'resolvedAt' | 'resolvedBy' | 'notes' | 'escalatedAt'>>, from?: ViolationState[]): Promise<boolean>;
  /** Mark unresolved violations past their due date as escalated; returns those newly marked. */
  escalateOverdue(now: string): Promise<ViolationRow[]>;
  /** Counts per (type, state, overdue) for the overview and reports. */
  violationStats(q: { from?: string; to?: string; now: string; unresolvedOnly?: boolean }): Promise<{ type: string; articles: string[]; state: ViolationState; overdue: boolean; count: number }[]>;

  /** Violations alive during [from, to): created before `to` and not resolved before `from`. */
  violationsAlive(from: string, to: string): Promise<ViolationRow[]>;
  /** Unresolved violations per host and type. */
  openViolationCounts(): Promise<{ hostId: string; type: string; count: number; overdue: number }[]>;
  /** Violations created per day (UTC) from `from`, for the trend chart. */
  violationsPerDay(from: string): Promise<{ day: string; opened: number }[]>;

  getSetting(key: string): Promise<unknown>;
  setSetting(key: string, value: unknown): Promise<void>;

  createDrill(d: Omit<DrillRow, 'violationId' | 'ackedBy' | 'ackedAt'>): Promise<void>;
  drillByCommand(seq: number): Promise<DrillRow | null>;
  updateDrill(id: string, patch: Partial<Pick<DrillRow, 'violationId' | 'ackedBy' | 'ackedAt'>>): Promise<void>;
  listDrills(q: { from?: string; to?: string; host?: string }): Promise<DrillRow[]>;

  /** Moves the host (false: no such host); the change stamp moves with it. */
  setHostGroup(hostId: string, group: string): Promise<boolean>;
  listPolicyVersions(group: string): Promise<PolicyRow[]>;
  getPolicyVersion(group: string, version: number): Promise<PolicyRow | null>;
}
