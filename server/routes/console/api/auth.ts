/** Login, logout, the session, password change and the second factor. */
import { TgError } from '../../../../shared/errors.js';
import type { ServerContext } from '../../../context.js';
import { hashPassword, verifyPasswordAsync } from '../../../auth/secrets.js';
import { audit, checkNewPassword, clearSessionCookie, login, newSession, setSessionCookie } from '../../../auth/session.js';
import { MFA_ROLES, PERMISSIONS, can, type Permission } from '../../../auth/roles.js';
import { newTotpSecret, otpauthUri, verifyTotp } from '../../../auth/totp.js';
import { body, str, who } from './common.js';
import type { RouteDef } from './index.js';

export function authRoutes(ctx: ServerContext): RouteDef[] {
  return [
    {
      method: 'POST', url: '/api/login', perm: 'public', summary: 'log in: {"username","password","totp"?} → session cookie',
      handler: async (req, reply) => {
        const b = body(req);
        const r = await login(ctx, {
          username: str(b.username, 'username', { max: 64 }), password: str(b.password, 'password', { max: 256 }),
          ...(b.totp !== undefined ? { totp: str(b.totp, 'totp', { max: 8, optional: true }) } : {}),
        }, req.ip);
        setSessionCookie(reply, r.cookie);
        return { user: r.user, role: r.role, mustChangePassword: r.mustChange, csrfToken: r.csrf };
      },
    },
    {
      method: 'POST', url: '/api/logout', perm: 'self', beforePasswordChange: true, summary: 'end this session',
      handler: async (req, reply) => {
        const p = who(req);
        if (p.sessionHash) await ctx.store.deleteSession(p.sessionHash);
        clearSessionCookie(reply);
        await audit(ctx, p.user, 'logout', p.user);
        return { ok: true };
      },
    },
    {
      method: 'GET', url: '/api/session', perm: 'self', beforePasswordChange: true, summary: 'who is logged in: user, role, csrfToken, permissions',
      handler: async (req) => {
        const p = who(req);
        const permissions = (Object.keys(PERMISSIONS) as Permission[]).filter((x) => can(p.role, x));
        const needsMfa = p.kind === 'session' && (MFA_ROLES as readonly string[]).includes(p.role) && !p.totpEnabled;
        return { user: p.user, role: p.role, kind: p.kind, csrfToken: p.csrf, mustChangePassword: p.mustChange, permissions, totpEnabled: p.totpEnabled, totpRecommended: needsMfa };
      },
    },
    {
      method: 'POST', url: '/api/password', perm: 'self', beforePasswordChange: true, summary: 'change my password: {"current","new"}',
      handler: async (req, reply) => {
        const p = who(req);
        if (p.kind !== 'session') throw new TgError('TG_E_FORBIDDEN', 'API tokens have no password');
        const b = body(req);
        const current = str(b.current, 'current', { max: 256 });
        const u = (await ctx.store.getUser(p.user))!;
        if (!(await verifyPasswordAsync(current, u.passwordHash))) throw new TgError('TG_E_LOGIN_FAILED', 'the current password is wrong');
        const next = checkNewPassword(u.name, current, b.new);
        await ctx.store.updateUser(u.name, { passwordHash: hashPassword(next), mustChange: false });
        // Other sessions of this user end: whoever knew the old password is out.
        await ctx.store.deleteUserSessions(u.name);
        const { cookie, csrf } = await newSession(ctx, u.name);
        setSessionCookie(reply, cookie);
        await audit(ctx, u.name, 'user.password_changed', u.name);
        return { ok: true, csrfToken: csrf };
      },
    },
    {
      method: 'POST', url: '/api/totp/setup', perm: 'self', summary: 'start second-factor enrolment: a new secret and its otpauth:// URI',
      handler: async (req) => {
        const p = who(req);
        if (p.kind !== 'session') throw new TgError('TG_E_FORBIDDEN', 'API tokens have no second factor');
        const secret = newTotpSecret();
        await ctx.store.updateUser(p.user, { totpSecret: secret, totpEnabled: false });
        return { secret, uri: otpauthUri(secret, p.user) };
      },
    },
    {
      method: 'POST', url: '/api/totp/enable', perm: 'self', summary: 'confirm enrolment with a current code: {"code"}',
      handler: async (req) => {
        const p = who(req);
        const u = (await ctx.store.getUser(p.user))!;
        if (!u.totpSecret) throw new TgError('TG_E_BAD_REQUEST', 'call /api/totp/setup first');
        if (!verifyTotp(u.totpSecret, str(body(req).code, 'code', { max: 8 }))) throw new TgError('TG_E_TOTP_INVALID');
        await ctx.store.updateUser(u.name, { totpEnabled: true });
        await audit(ctx, u.name, 'user.totp_enabled', u.name);
        return { ok: true };
      },
    },
  ];
}

