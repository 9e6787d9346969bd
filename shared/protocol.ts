/**
 * Protocol version spoken between agent and server: one integer, bumped on any change an older
 * peer must know about. The server announces it and its capabilities at enrollment.
 *
 * History:
 *   1 (2026-11-25) events, policy, commands long-poll, renewal over mTLS and by renewal secret.
 */
export const PROTOCOL_VERSION = 1;

export const CAPABILITIES = ['events.gzip', 'policy.etag', 'commands.longpoll', 'renew.mtls', 'renew.secret'] as const;

/** Wire limits of POST /v1/events (contract in DESIGN.md). */
export const LIMITS = {
  maxEventsPerBatch: 1000,
  maxWireBytes: 4 * 1024 * 1024,
  maxInflatedBytes: 16 * 1024 * 1024,
  maxCommandWaitSeconds: 60,
} as const;
