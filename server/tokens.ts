/** Enrollment tokens: random, shown once, stored as sha256 with expiry, use count and revocation. */
import { randomBytes } from 'node:crypto';
import type { Store } from './store/types.js';
import { hashSecret, newSecret } from './auth/secrets.js';

export const DEFAULT_TOKEN_TTL_MS = 24 * 3_600_000;

export async function createEnrollToken(store: Store, opts: { uses?: number; ttlMs?: number; now?: Date } = {}): Promise<{ id: string; token: string; expiresAt: string }> {
  const uses = opts.uses ?? 1;
  if (!Number.isInteger(uses) || uses < 1 || uses > 1_000_000) throw new Error(`--uses must be a whole number from 1 to 1000000, not ${uses}`);
  const ttl = opts.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
  if (ttl <= 0) throw new Error('--ttl must be positive');
  const id = randomBytes(6).toString('hex');
  const token = newSecret(24);
  const expiresAt = new Date((opts.now ?? new Date()).getTime() + ttl).toISOString();
  await store.createToken({ id, hash: hashSecret(token), uses, expiresAt });
  return { id, token, expiresAt };
}
