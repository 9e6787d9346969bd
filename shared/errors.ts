/**
 * Every error termguard reports, in one table with stable codes (the fastify `FST_ERR_*` way).
 * A code never changes meaning once released; tests check each key equals its code.
 * `status` is the HTTP status when the error crosses the wire; CLI errors use it only for the message.
 */
export const ERRORS = {
  // Envelope and payload (agent API)
  TG_E_BAD_JSON: { status: 400, message: 'request body is not valid JSON' },
  TG_E_BAD_ENVELOPE: { status: 400, message: 'request body does not have the expected shape' },
  TG_E_CONTENT_TYPE: { status: 415, message: 'content type must be application/json' },
  TG_E_BODY_TOO_LARGE: { status: 413, message: 'request body exceeds the size limit' },
  TG_E_TOO_MANY_EVENTS: { status: 413, message: 'a batch holds at most 1000 events' },
  TG_E_BAD_ENCODING: { status: 400, message: 'content encoding is not supported or the body is corrupt' },
  // Per-event rejections (appear in "rejected", never as a whole-request error)
  TG_E_EVENT_INVALID: { status: 400, message: 'event fields are invalid' },
  TG_E_HOST_MISMATCH: { status: 400, message: 'event names another host' },
  TG_E_ID_CONFLICT: { status: 409, message: 'event id is already used by another host' },
  TG_E_ATTESTATION_INVALID: { status: 400, message: 'attestation does not verify' },
  // Identity and TLS
  TG_E_CERT_REQUIRED: { status: 401, message: 'a client certificate from the institution CA is required' },
  TG_E_CERT_REVOKED: { status: 401, message: 'the client certificate is revoked' },
  TG_E_CERT_EXPIRED: { status: 401, message: 'the client certificate has expired' },
  TG_E_CERT_UNKNOWN: { status: 401, message: 'the client certificate is not known to this server' },
  TG_E_HOST_REVOKED: { status: 403, message: 'this host is revoked' },
  // Enrollment and renewal
  TG_E_TOKEN_UNKNOWN: { status: 401, message: 'enrollment token is not known' },
  TG_E_TOKEN_EXPIRED: { status: 401, message: 'enrollment token has expired' },
  TG_E_TOKEN_EXHAUSTED: { status: 401, message: 'enrollment token has no uses left' },
  TG_E_TOKEN_REVOKED: { status: 401, message: 'enrollment token is revoked' },
  TG_E_BAD_CSR: { status: 400, message: 'certificate signing request is invalid' },
  TG_E_BAD_PROOF: { status: 401, message: 'proof of the current key is invalid' },
  TG_E_RENEWAL_DENIED: { status: 401, message: 'renewal secret or key does not match this host' },
  TG_E_CA_MISMATCH: { status: 0, message: 'server CA does not match the expected hash' },
  TG_E_NOT_ENROLLED: { status: 0, message: 'this agent is not enrolled' },
  // Server operation
  TG_E_NOT_FOUND: { status: 404, message: 'no such resource' },
  TG_E_METHOD: { status: 405, message: 'method not allowed' },
  TG_E_UNAUTHENTICATED: { status: 401, message: 'login required' },
  TG_E_FORBIDDEN: { status: 403, message: 'not allowed' },
  TG_E_PASSWORD_CHANGE_REQUIRED: { status: 403, message: 'the one-time password must be changed first' },
  TG_E_CSRF: { status: 403, message: 'missing or wrong X-CSRF-Token header' },
  TG_E_LOGIN_FAILED: { status: 401, message: 'wrong user name or password' },
  TG_E_ACCOUNT_LOCKED: { status: 423, message: 'too many failed logins; the account is locked for a while' },
  TG_E_TOTP_REQUIRED: { status: 401, message: 'a one-time code from the authenticator app is required' },
  TG_E_TOTP_INVALID: { status: 401, message: 'the one-time code is wrong' },
  TG_E_ADMIN_DISABLED: { status: 403, message: 'role admin is disabled while separation of duties is on' },
  TG_E_PASSWORD_WEAK: { status: 400, message: 'password must be at least 12 characters and not the current one' },
  TG_E_CONFLICT: { status: 409, message: 'the resource changed or is in another state' },
  TG_E_BAD_REQUEST: { status: 400, message: 'request parameters are invalid' },
  TG_E_RATE_LIMITED: { status: 429, message: 'too many requests; retry later' },
  TG_E_OVERLOADED: { status: 503, message: 'server is overloaded; retry later' },
  TG_E_STORE: { status: 500, message: 'the store could not complete the request' },
  TG_E_INTERNAL: { status: 500, message: 'internal error' },
  // Configuration and commands
  TG_E_CA_EXISTS: { status: 0, message: 'a CA already exists in this data directory; refusing to overwrite it' },
  TG_E_NO_CA: { status: 0, message: 'no CA in this data directory; run `termguard-server init` first' },
  TG_E_RETENTION_TOO_SHORT: { status: 0, message: 'retention must be at least 184 days (art19: six months)' },
  TG_E_CONFIG: { status: 0, message: 'configuration is invalid' },
  TG_E_POLICY_INVALID: { status: 400, message: 'policy is invalid' },
  TG_E_USAGE: { status: 0, message: 'wrong usage' },
  TG_E_LOCKED: { status: 0, message: 'another process holds this directory' },
  TG_E_SPOOL: { status: 0, message: 'spool I/O failed' },
  TG_E_UNREACHABLE: { status: 0, message: 'server is unreachable' },
} as const satisfies Record<`TG_E_${string}`, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a stable code. `message` is for a person; no stack crosses the wire. */
export class TgError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'TgError';
    this.code = code;
    this.status = ERRORS[code].status || 500;
  }
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isTgError(e: unknown): e is TgError {
  return e instanceof TgError;
}

/** The wire shape of an error: `{"error":{"code":"TG_E_…","message":"…"}}`. */
export function errorBody(code: ErrorCode, message?: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message: message ?? ERRORS[code].message } };
}
