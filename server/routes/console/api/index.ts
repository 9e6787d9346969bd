/**
 * The console API under /api/ (DESIGN.md): session cookie from POST /api/login or a Bearer API
 * token. Every route names the permission it needs; the hook below refuses before the handler runs:
 * 401 without a principal, 403 for a missing permission, a missing or wrong `X-CSRF-Token` on a
 * cookie session's state change, or a one-time password not yet changed.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TgError } from '../../../../shared/errors.js';
import type { App } from '../../../http/app.js';
import type { ServerContext } from '../../../context.js';
import { can, type Permission } from '../../../auth/roles.js';
import { principalOf } from '../../../auth/session.js';
import { authRoutes } from './auth.js';
import { hostRoutes } from './hosts.js';
import { violationRoutes } from './violations.js';
import { policyRoutes } from './policies.js';
import { adminRoutes } from './admin.js';
import { reportRoutes } from './reports.js';
import { openApi } from './openapi.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface RouteDef {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  perm: Permission | 'public' | 'self';
  summary: string;
  beforePasswordChange?: boolean;
  handler: Handler;
}

/** Every route, for the hook, the role-matrix test and /api/openapi.json. */
export const API_ROUTES: RouteDef[] = [];

export function consoleApi(app: App, ctx: ServerContext): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/')) return;
    const cfg = req.routeOptions.config ?? {};
    req.principal = await principalOf(ctx, req);
    if (cfg.perm === 'public') return;
    const p = req.principal;
    if (!p) throw new TgError('TG_E_UNAUTHENTICATED');
    if (p.mustChange && !cfg.beforePasswordChange) throw new TgError('TG_E_PASSWORD_CHANGE_REQUIRED');
    if (!SAFE.has(req.method) && p.kind === 'session') {
      const sent = req.headers['x-csrf-token'];
      if (typeof sent !== 'string' || sent !== p.csrf) throw new TgError('TG_E_CSRF');
    }
    if (cfg.perm === 'self') return;
    if (!cfg.perm || !can(p.role, cfg.perm)) throw new TgError('TG_E_FORBIDDEN', `role ${p.role} may not ${req.method} ${req.routeOptions.url ?? req.url}`);
  });
  app.addHook('onSend', async (req, reply) => {
    if (req.url.startsWith('/api/')) void reply.header('cache-control', 'no-store');
  });
  const defs: RouteDef[] = [
    ...authRoutes(ctx), ...hostRoutes(ctx), ...violationRoutes(ctx), ...policyRoutes(ctx), ...adminRoutes(ctx), ...reportRoutes(ctx),
  ];
  defs.push({ method: 'GET', url: '/api/openapi.json', perm: 'public', summary: 'this description', handler: async () => openApi(API_ROUTES) });
  API_ROUTES.length = 0;
  API_ROUTES.push(...defs);
  for (const d of defs) {
    app.route({ method: d.method, url: d.url, config: { perm: d.perm, beforePasswordChange: d.beforePasswordChange ?? false }, handler: d.handler });
  }
}
