/**
 * Console logins and who is asking. Sessions live in the store (sha256 of the cookie value only),
 * expire after 30 idle minutes and 12 hours at most; each carries a CSRF token the client sends back
 * in `X-CSRF-Token` on every state change. Five failed logins lock the account for 15 minutes. A
 * user with a second factor enrolled must give the current TOTP code. API tokens (Bearer) carry a
 * role of their own and need no CSRF token (no cookie, no ambient authority).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TgError } from '../../shared/errors.js';
import type { ServerContext } from '../context.js';
import { hashPassword, hashSecret, newSecret, verifyPasswordAsync } from './secrets.js';
import { verifyTotp } from './totp.js';
import { isRole, type Role } from './roles.js';

export const SESSION_COOKIE = 'tg_session';
export const IDLE_MS = 30 * 60_000;
export const ABSOLUTE_MS = 12 * 3_600_000;
export const MAX_FAILURES = 5;
export const LOCK_MS = 15 * 60_000;
const DUMMY_HASH = hashPassword('termguard timing equaliser');

export interface Principal {
  kind: 'session' | 'token';
  user: string;
  role: Role;
  mustChange: boolean;
  csrf: string | null;
  sessionHash: string | null;
  totpEnabled: boolean;
}

export async function separationOfDuties(ctx: ServerContext): Promise<boolean> {
  return (await ctx.store.getSetting('separationOfDuties')) === true;
}

export async function audit(ctx: ServerContext, actor: string, action: string, target: string | null, details: Record<string, unknown> = {}): Promise<void> {
  await ctx.store.appendAudit({ time: new Date().toISOString(), actor, action, target, details });
}

/** Check the credentials; returns the new session's cookie value and CSRF token. */
export async function login(ctx: ServerContext, body: { username: string; password: string; totp?: string }, ip: string): Promise<{ cookie: string; csrf: string; user: string; role: string; mustChange: boolean }> {
  const now = new Date();
  const u = await ctx.store.getUser(body.username);
  if (!u || u.disabled) {
    await verifyPasswordAsync(body.password, DUMMY_HASH); // same cost whether or not the user exists
    await audit(ctx, body.username.slice(0, 64), 'login.failed', null, { ip, reason: u ? 'disabled' : 'unknown user' });
    throw new TgError('TG_E_LOGIN_FAILED');
  }
  if (u.lockedUntil && Date.parse(u.lockedUntil) > now.getTime()) {
    throw new TgError('TG_E_ACCOUNT_LOCKED', `too many failed logins; locked until ${u.lockedUntil}`);
  }
  const fail = async (code: 'TG_E_LOGIN_FAILED' | 'TG_E_TOTP_INVALID', reason: string): Promise<never> => {
    const failures = u.failedLogins + 1;
    const lock = failures >= MAX_FAILURES;
    const lockedUntil = lock ? new Date(now.getTime() + LOCK_MS).toISOString() : null;
    await ctx.store.updateUser(u.name, { failedLogins: lock ? 0 : failures, lockedUntil });
    await audit(ctx, u.name, lock ? 'user.locked' : 'login.failed', u.name, { ip, reason, failures, ...(lockedUntil ? { lockedUntil } : {}) });
    throw new TgError(lock ? 'TG_E_ACCOUNT_LOCKED' : code, lock ? `too many failed logins; locked until ${lockedUntil}` : undefined);
  };
  if (!(await verifyPasswordAsync(body.password, u.passwordHash))) return fail('TG_E_LOGIN_FAILED', 'wrong password');
  if (u.totpEnabled && u.totpSecret) {
    if (!body.totp) throw new TgError('TG_E_TOTP_REQUIRED');
    if (!verifyTotp(u.totpSecret, body.totp)) return fail('TG_E_TOTP_INVALID', 'wrong one-time code');
  }
  if (u.role === 'admin' && await separationOfDuties(ctx)) {
    await audit(ctx, u.name, 'login.refused', u.name, { ip, reason: 'admin disabled by separation of duties' });
    throw new TgError('TG_E_ADMIN_DISABLED');
  }
  const { cookie, csrf } = await newSession(ctx, u.name, now);
  await ctx.store.updateUser(u.name, { failedLogins: 0, lockedUntil: null, lastLogin: now.toISOString() });
  await audit(ctx, u.name, 'login', u.name, { ip });
  return { cookie, csrf, user: u.name, role: u.role, mustChange: u.mustChange };
}

/** Store a new session; returns the cookie value (only its hash is kept) and its CSRF token. */
export async function newSession(ctx: ServerContext, user: string, now = new Date()): Promise<{ cookie: string; csrf: string }> {
  const cookie = newSecret(32);
  const csrf = newSecret(24);
  await ctx.store.createSession({
    idHash: hashSecret(cookie), user, csrf, createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + IDLE_MS).toISOString(), lastSeen: now.toISOString(),
  });
  return { cookie, csrf };
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

/** Who sent this request: a live session cookie or an API token; null when neither. */
export async function principalOf(ctx: ServerContext, req: FastifyRequest): Promise<Principal | null> {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) {
    const t = await ctx.store.apiTokenByHash(hashSecret(auth.slice(7).trim()));
    if (!t || t.revokedAt || !isRole(t.role)) return null;
    await ctx.store.touchApiToken(t.id, new Date().toISOString());
    return { kind: 'token', user: `token:${t.name}`, role: t.role, mustChange: false, csrf: null, sessionHash: null, totpEnabled: false };
  }
  const value = cookieValue(req.headers.cookie, SESSION_COOKIE);
  if (!value || value.length > 200) return null;
  const idHash = hashSecret(value);
  const s = await ctx.store.getSession(idHash);
  const now = Date.now();
  if (!s || Date.parse(s.expiresAt) <= now || Date.parse(s.createdAt) + ABSOLUTE_MS <= now) {
    if (s) await ctx.store.deleteSession(idHash);
    return null;
  }
  const u = await ctx.store.getUser(s.user);
  if (!u || u.disabled || !isRole(u.role)) {
    await ctx.store.deleteSession(idHash);
    return null;
  }
  if (now - Date.parse(s.lastSeen) > 30_000) await ctx.store.touchSession(idHash, new Date(now).toISOString(), new Date(now + IDLE_MS).toISOString());
  return { kind: 'session', user: u.name, role: u.role, mustChange: u.mustChange, csrf: s.csrf, sessionHash: idHash, totpEnabled: u.totpEnabled };
}

export function setSessionCookie(reply: FastifyReply, value: string): void {
  void reply.header('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${ABSOLUTE_MS / 1000}`);
}

export function clearSessionCookie(reply: FastifyReply): void {
  void reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`);
}

/** Passwords: 12 characters at least, not the user name, not the current one. */
export function checkNewPassword(user: string, current: string, next: unknown): string {
  if (typeof next !== 'string' || next.length < 12 || next.length > 256 || next === current || next.toLowerCase().includes(user.toLowerCase())) {
    throw new TgError('TG_E_PASSWORD_WEAK');
  }
  return next;
}
