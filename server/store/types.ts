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
}

export interface InsertResult {
  /** Stored now or already stored for this host: safe to ack. */
  acked: string[];
  /** Id already used by another host's event. */
  conflicts: string[];
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

  /** Store events (idempotent by id) and, in the same commit, mark the host seen. */
  insertEvents(hostId: string, events: AgentEvent[], receivedAt: string, touch?: { seen: string; policyVersion?: number }): Promise<InsertResult>;
  queryEvents(q: EventQuery): Promise<StoredEvent[]>;
  countEvents(q?: Pick<EventQuery, 'host' | 'type'>): Promise<number>;
  /** Delete events received before `before`; returns how many. */
  purgeEvents(before: string): Promise<number>;

  getPolicy(group: string): Promise<PolicyRow | null>;
  setPolicy(group: string, policy: Record<string, unknown>): Promise<PolicyRow>;

  /** Changes whenever a command or a policy version is added (cheap; polled once a second). */
  changeStamp(): Promise<string>;
  addCommand(hostId: string | null, type: string, payload: Record<string, unknown>): Promise<number>;
  commandsAfter(hostId: string, seq: number, limit?: number): Promise<CommandRow[]>;

  createUser(u: Omit<UserRow, 'createdAt'>): Promise<void>;
  getUser(name: string): Promise<UserRow | null>;
  updateUser(name: string, patch: Partial<Pick<UserRow, 'passwordHash' | 'role' | 'mustChange' | 'disabled'>>): Promise<boolean>;
}
