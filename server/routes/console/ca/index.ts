/** GET /v1/ca — the institution CA certificate (PEM). The agent checks its hash against --ca-hash. */
import type { App as FastifyInstance } from '../../../http/app.js';
import type { ServerContext } from '../../../context.js';

export function caRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/ca', async (_req, reply) => reply.type('application/x-pem-file').send(ctx.ca.certPem));
}
