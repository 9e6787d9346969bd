/**
 * Administration: enrollment tokens, USB exceptions, users and roles, API tokens, the audit log,
 * alert settings and separation of duties. Every change is written to the audit log.
 */
import { randomBytes } from 'node:crypto';
import { TgError, isTgError } from '../../../../shared/errors.js';
import { parseDuration } from '../../../../shared/duration.js';
import { caHash } from '../../../../shared/pki.js';
import type { ServerContext } from '../../../context.js';
import { createEnrollToken } from '../../../tokens.js';
import { grantUsbException } from '../../../usb-exceptions.js';
import { hashPassword, hashSecret, newSecret } from '../../../auth/secrets.js';
import { audit } from '../../../auth/session.js';
import { isRole, ROLES } from '../../../auth/roles.js';
import { verifyAuditChain } from '../../../audit.js';
import { consoleUrl } from '../../../config.js';
import { body, int, list, query, str, who } from './common.js';
import type { RouteDef } from './index.js';

const NAME = /^[a-z][a-z0-9._-]{1,63}$/;

function duration(v: unknown, name: string, def: string): number {
  const text = v === undefined || v === '' ? def : str(v, name, { max: 16 });
  try {
    return parseDuration(text);
  } catch (e) {
    throw new TgError('TG_E_BAD_REQUEST', `${name}: ${(e as Error).message}`);
  }
}

export function adminRoutes(ctx: ServerContext): RouteDef[] {
  return [
    // ── enrollment tokens ──
    {
      method: 'GET', url: '/api/tokens', perm: 'tokens.write', summary: 'enrollment tokens (never their values), the CA hash and the enroll command',
      handler: async () => ({
        ...list(await ctx.store.listTokens()), caHash: caHash(ctx.ca.certPem),
        enrollCommand: `termguard-agent enroll --server ${consoleUrl(ctx.config)} --token <token> --ca-hash ${caHash(ctx.ca.certPem)}`,
      }),
    },
    {
      method: 'POST', url: '/api/tokens', perm: 'tokens.write', summary: 'create an enrollment token: {"uses","ttl"} → the token, shown once, and the enroll command',
      handler: async (req) => {
        const b = body(req);
        const uses = b.uses === undefined ? 1 : Number(b.uses);
        if (!Number.isInteger(uses) || uses < 1 || uses > 100_000) throw new TgError('TG_E_BAD_REQUEST', 'uses: 1 to 100000');
        const t = await createEnrollToken(ctx.store, { uses, ttlMs: duration(b.ttl, 'ttl', '24h') });
        await audit(ctx, who(req).user, 'token.create', t.id, { uses, expiresAt: t.expiresAt });
        const hash = caHash(ctx.ca.certPem);
        return { id: t.id, token: t.token, expiresAt: t.expiresAt, caHash: hash, enrollCommand: `termguard-agent enroll --server ${consoleUrl(ctx.config)} --token ${t.token} --ca-hash ${hash}` };
      },
    },
    {
      method: 'POST', url: '/api/tokens/:id/revoke', perm: 'tokens.write', summary: 'revoke an enrollment token',
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        const ok = await ctx.store.revokeToken(id);
        if (!ok) throw new TgError('TG_E_NOT_FOUND', `no unrevoked token ${id}`);
        await audit(ctx, who(req).user, 'token.revoke', id);
        return { ok };
      },
    },
    // ── USB exceptions ──
    {
      method: 'GET', url: '/api/usb/requests', perm: 'read', summary: 'devices blocked or flagged on hosts (unresolved by default): candidates for an exception; ?state=&limit=',
      handler: async (req) => {
        const q = query(req);
        const state = q.state || 'unresolved';
        if (!['open', 'acknowledged', 'resolved', 'unresolved'].includes(state)) throw new TgError('TG_E_BAD_REQUEST', 'state: open, acknowledged, resolved or unresolved');
        const limit = int(q.limit, 'limit', 100, 1, 1000);
        const rows = [];
        for (const type of ['usb.blocked', 'usb.attached']) rows.push(...(await ctx.store.listViolations({ state: state as 'unresolved', type, limit })).items);
        rows.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
        const hosts = new Map((await ctx.store.listHosts()).map((h) => [h.id, h.hostname]));
        const items = [];
        for (const v of rows.slice(0, limit)) {
          const e = await ctx.store.getEvent(v.eventId);
          const d = (e?.data.device ?? null) as Record<string, unknown> | null;
          items.push({ violationId: v.id, hostId: v.hostId, hostname: hosts.get(v.hostId) ?? null, time: v.createdAt, state: v.state, device: d });
        }
        return list(items);
      },
    },
    {
      method: 'POST', url: '/api/usb/exceptions', perm: 'usb.approve', summary: 'approve a temporary signed exception: {"hostId","vendorId","productId","serial","reason","ttl","violationId"?}',
      handler: async (req) => {
        const b = body(req);
        const p = who(req);
        let g;
        try {
          g = await grantUsbException(ctx.store, ctx.ca.keyPem, {
            hostId: str(b.hostId, 'hostId', { max: 128 }), vendorId: str(b.vendorId, 'vendorId', { max: 4 }), productId: str(b.productId, 'productId', { max: 4 }),
            serial: str(b.serial, 'serial', { max: 256 }), reason: str(b.reason, 'reason', { max: 500 }), ttlMs: duration(b.ttl, 'ttl', '8h'), approvedBy: p.user,
          });
          ctx.hub.poke();
        } catch (e) {
          if (isTgError(e) && e.code === 'TG_E_USAGE') throw new TgError('TG_E_BAD_REQUEST', e.message);
          throw e;
        }
        await audit(ctx, p.user, 'usb.exception', g.exception.hostId, { exception: g.exception });
        if (typeof b.violationId === 'string') {
          const v = await ctx.store.getViolation(b.violationId);
          if (v && v.state !== 'resolved') {
            await ctx.store.updateViolation(v.id, { state: 'resolved', resolvedAt: new Date().toISOString(), resolvedBy: p.user, notes: [...v.notes, { at: new Date().toISOString(), by: p.user, text: `exception ${g.exception.id} granted: ${g.exception.reason}` }] });
            await audit(ctx, p.user, 'violation.resolve', v.id, { via: 'usb.exception' });
          }
        }
        return { exception: g.exception };
      },
    },
    // ── users and API tokens ──
    {
      method: 'GET', url: '/api/users', perm: 'users.write', summary: 'console users and their roles',
      handler: async () => list((await ctx.store.listUsers()).map((u) => ({ name: u.name, role: u.role, disabled: u.disabled, mustChangePassword: u.mustChange, totpEnabled: u.totpEnabled, lockedUntil: u.lockedUntil, lastLogin: u.lastLogin, createdAt: u.createdAt }))),
    },
    {
      method: 'POST', url: '/api/users', perm: 'users.write', summary: 'add a user: {"name","role"} → one-time password',
      handler: async (req) => {
        const b = body(req);
        const name = str(b.name, 'name', { max: 64, pattern: NAME });
        if (!isRole(b.role)) throw new TgError('TG_E_BAD_REQUEST', `role: one of ${ROLES.join(', ')}`);
        if (await ctx.store.getUser(name)) throw new TgError('TG_E_CONFLICT', `user ${name} exists`);
        const password = newSecret(12);
        await ctx.store.createUser({ name, passwordHash: hashPassword(password), role: b.role, mustChange: true, disabled: false });
        await audit(ctx, who(req).user, 'user.add', name, { role: b.role });
        return { name, role: b.role, password };
      },
    },
    {
      method: 'POST', url: '/api/users/:name/:action', perm: 'users.write', summary: 'disable | enable | reset (new one-time password, unlock, second factor off) | role {"role"}',
      handler: async (req) => {
        const { name, action } = req.params as { name: string; action: string };
        const p = who(req);
        const u = await ctx.store.getUser(name);
        if (!u) throw new TgError('TG_E_NOT_FOUND', `no user ${name}`);
        if (name === p.user && action !== 'reset') throw new TgError('TG_E_FORBIDDEN', 'you cannot disable yourself or change your own role');
        let extra: Record<string, unknown> = {};
        if (action === 'disable' || action === 'enable') {
          await ctx.store.updateUser(name, { disabled: action === 'disable' });
          if (action === 'disable') await ctx.store.deleteUserSessions(name);
        } else if (action === 'reset') {
          const password = newSecret(12);
          await ctx.store.updateUser(name, { passwordHash: hashPassword(password), mustChange: true, failedLogins: 0, lockedUntil: null, totpEnabled: false, totpSecret: null });
          await ctx.store.deleteUserSessions(name);
          extra = { password };
        } else if (action === 'role') {
          const role = body(req).role;
          if (!isRole(role)) throw new TgError('TG_E_BAD_REQUEST', `role: one of ${ROLES.join(', ')}`);
          await ctx.store.updateUser(name, { role });
          await ctx.store.deleteUserSessions(name);
          extra = { role };
        } else throw new TgError('TG_E_NOT_FOUND', `no action ${action}`);
        await audit(ctx, p.user, `user.${action}`, name, 'role' in extra ? { role: extra.role } : {});
        return { ok: true, ...extra };
      },
    },
    {
      method: 'GET', url: '/api/owners', perm: 'violations.triage', summary: 'active users a violation can be assigned to (names and roles only)',
      handler: async () => list((await ctx.store.listUsers()).filter((u) => !u.disabled).map((u) => ({ name: u.name, role: u.role }))),
    },
    {
      method: 'GET', url: '/api/api-tokens', perm: 'users.write', summary: 'API tokens for automation (never their values)',
      handler: async () => list(await ctx.store.listApiTokens()),
    },
    {
      method: 'POST', url: '/api/api-tokens', perm: 'users.write', summary: 'create an API token with a role: {"name","role"} → the token, shown once',
      handler: async (req) => {
        const b = body(req);
        const name = str(b.name, 'name', { max: 64, pattern: NAME });
        if (!isRole(b.role) || b.role === 'admin') throw new TgError('TG_E_BAD_REQUEST', 'role: sysadmin, secadmin, auditor or analyst (not admin)');
        const token = `tgk_${newSecret(32)}`;
        const id = randomBytes(6).toString('hex');
        await ctx.store.createApiToken({ id, hash: hashSecret(token), name, role: b.role, createdBy: who(req).user, createdAt: new Date().toISOString(), revokedAt: null, lastUsed: null });
        await audit(ctx, who(req).user, 'apitoken.create', id, { name, role: b.role });
        return { id, name, role: b.role, token };
      },
    },
    {
      method: 'POST', url: '/api/api-tokens/:id/revoke', perm: 'users.write', summary: 'revoke an API token',
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        if (!(await ctx.store.revokeApiToken(id, new Date().toISOString()))) throw new TgError('TG_E_NOT_FOUND', `no live API token ${id}`);
        await audit(ctx, who(req).user, 'apitoken.revoke', id);
        return { ok: true };
      },
    },
    // ── audit log ──
    {
      method: 'GET', url: '/api/audit', perm: 'audit.read', summary: 'the audit log, newest first: ?limit=',
      handler: async (req) => list(await ctx.store.listAudit({ desc: true, limit: int(query(req).limit, 'limit', 200, 1, 5000) }), await ctx.store.countAudit()),
    },
    {
      method: 'GET', url: '/api/audit/verify', perm: 'audit.read', summary: 'verify the whole hash chain',
      handler: async () => {
        const rows = [];
        for (let after = 0; ;) {
          const page = await ctx.store.listAudit({ afterSeq: after, limit: 5000 });
          rows.push(...page);
          if (page.length < 5000) break;
          after = page[page.length - 1]!.seq;
        }
        return verifyAuditChain(rows);
      },
    },
    // ── settings ──
    {
      method: 'GET', url: '/api/settings', perm: 'read', summary: 'server settings: separation of duties, alert targets (secrets hidden)',
      handler: async () => {
        const alerts = (await ctx.store.getSetting('alerts')) as Record<string, Record<string, unknown> | null> | undefined;
        const hide = (o: Record<string, unknown> | null | undefined) => (o ? { ...o, ...(o.secret ? { secret: '********' } : {}) } : null);
        return { separationOfDuties: (await ctx.store.getSetting('separationOfDuties')) === true, alerts: { syslog: hide(alerts?.syslog), webhook: hide(alerts?.webhook) }, alertStats: ctx.alertStats?.() ?? null };
      },
    },
    {
      method: 'PUT', url: '/api/settings/separation-of-duties', perm: 'settings.write', summary: 'switch separation of duties: {"enabled"} (needs an active sysadmin, secadmin and auditor)',
      handler: async (req) => {
        const enabled = body(req).enabled;
        if (typeof enabled !== 'boolean') throw new TgError('TG_E_BAD_REQUEST', 'enabled: true or false');
        if (enabled) {
          const users = (await ctx.store.listUsers()).filter((u) => !u.disabled);
          const missing = ['sysadmin', 'secadmin', 'auditor'].filter((r) => !users.some((u) => u.role === r));
          if (missing.length) throw new TgError('TG_E_CONFLICT', `separation of duties needs an active user for each of: ${missing.join(', ')}`);
        }
        await ctx.store.setSetting('separationOfDuties', enabled);
        if (enabled) for (const u of (await ctx.store.listUsers()).filter((x) => x.role === 'admin')) await ctx.store.deleteUserSessions(u.name);
        await audit(ctx, who(req).user, 'settings.separation_of_duties', null, { enabled });
        return { ok: true, separationOfDuties: enabled };
      },
    },
    {
      method: 'PUT', url: '/api/settings/alerts', perm: 'settings.write', summary: 'alert targets: {"syslog":{host,port,tls,ca}|null,"webhook":{url,headers,secret,ca}|null}',
      handler: async (req) => {
        const b = body(req);
        // The console shows a stored webhook secret as ******** and sends that back to mean "unchanged".
        const webhook = b.webhook as Record<string, unknown> | null | undefined;
        if (webhook && webhook.secret === '********') {
          const stored = (await ctx.store.getSetting('alerts')) as { webhook?: { secret?: string } } | undefined;
          if (stored?.webhook?.secret) webhook.secret = stored.webhook.secret;
          else delete webhook.secret;
        }
        const v = ctx.validateAlerts ? ctx.validateAlerts(b) : { ok: true as const, config: b };
        if (!v.ok) throw new TgError('TG_E_BAD_REQUEST', v.error);
        await ctx.store.setSetting('alerts', v.config);
        ctx.alertsChanged?.(v.config);
        await audit(ctx, who(req).user, 'settings.alerts', null, { syslog: !!(v.config as { syslog?: unknown }).syslog, webhook: !!(v.config as { webhook?: unknown }).webhook });
        return { ok: true };
      },
    },
    {
      method: 'GET', url: '/api/drills', perm: 'read', summary: 'emergency drills: who started, who acknowledged, how fast',
      handler: async () => {
        const drills = await ctx.store.listDrills({});
        const hosts = new Map((await ctx.store.listHosts()).map((h) => [h.id, h.hostname]));
        return list(drills.map((d) => ({ ...d, hostname: hosts.get(d.hostId) ?? null, secondsToAck: d.ackedAt ? Math.round((Date.parse(d.ackedAt) - Date.parse(d.startedAt)) / 1000) : null })));
      },
    },
  ];
}
