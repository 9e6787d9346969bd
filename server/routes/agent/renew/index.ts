/** POST /v1/renew {"csr"} over mTLS: a fresh certificate for the calling host (same or rotated key). */
import type { App as FastifyInstance } from '../../../http/app.js';
import { TgError } from '../../../../shared/errors.js';
import type { ServerContext } from '../../../context.js';
import { issueForHost } from '../../../enroll.js';

export function renewRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/renew', async (req) => {
    const body = req.body as { csr?: unknown } | null;
    if (!body || typeof body.csr !== 'string') throw new TgError('TG_E_BAD_ENVELOPE', 'expected {"csr":"-----BEGIN CERTIFICATE REQUEST-----…"}');
    const host = await ctx.store.getHost(req.agent.hostId);
    if (!host || host.status === 'revoked') throw new TgError('TG_E_HOST_REVOKED');
    const issued = await issueForHost(ctx, host.id, body.csr);
    return { certificate: issued.certPem, ca: ctx.ca.certPem, hostId: host.id, notAfter: issued.notAfter.toISOString() };
  });
}
