/** GET /v1/policy — the policy of the host's group, with an ETag so an unchanged policy costs a 304. */
import type { App as FastifyInstance } from '../../../http/app.js';
import { DEFAULT_POLICY, PolicySchema } from '../../../../shared/policy.js';
import type { ServerContext } from '../../../context.js';

export async function policyFor(ctx: ServerContext, hostId: string): Promise<{ group: string; version: number; policy: Record<string, unknown> }> {
  const host = await ctx.store.getHost(hostId);
  const group = host?.group ?? 'default';
  const row = (await ctx.store.getPolicy(group)) ?? (group !== 'default' ? await ctx.store.getPolicy('default') : null);
  if (!row) return { group, version: 0, policy: DEFAULT_POLICY };
  return { group: row.group, version: row.version, policy: PolicySchema.parse(row.policy) };
}

export function policyRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/policy', async (req, reply) => {
    const p = await policyFor(ctx, req.agent.hostId);
    const etag = `"${p.group}-${p.version}"`;
    void reply.header('etag', etag);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return { version: p.version, policy: p.policy };
  });
}
