/**
 * Enrollment lives on the console listener: an agent has no certificate yet.
 * POST /v1/enroll (token) and POST /v1/recover (renewal secret, expired certificate).
 */
import type { FastifyRequest } from 'fastify';
import type { App as FastifyInstance } from '../../../http/app.js';
import { TgError } from '../../../../shared/errors.js';
import type { ServerContext } from '../../../context.js';
import { EnrollRequest, RecoverRequest, enroll, recover } from '../../../enroll.js';

/** The agent listener, reached under the same name the agent used to reach us. */
function agentUrlFor(ctx: ServerContext, req: FastifyRequest): string {
  const host = req.hostname.replace(/:\d+$/, '') || ctx.config.hosts[0]!;
  return `https://${host}:${ctx.config.agentPort}`;
}

function parse<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TgError('TG_E_BAD_ENVELOPE', `${i.path.map(String).join('.') || 'body'}: ${i.message}`);
  }
  return r.data;
}

export function enrollRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/enroll', async (req) => {
    const body = parse(EnrollRequest, req.body);
    const res = await enroll(ctx, body, agentUrlFor(ctx, req));
    req.log.info({ hostId: res.hostId, hostname: body.hostname, clone: res.cloneOf !== undefined }, 'agent enrolled');
    return res;
  });
  app.post('/v1/recover', async (req) => {
    const body = parse(RecoverRequest, req.body);
    const res = await recover(ctx, body, agentUrlFor(ctx, req));
    req.log.info({ hostId: res.hostId }, 'agent recovered an expired certificate');
    return res;
  });
}
