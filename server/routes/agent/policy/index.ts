/** GET /v1/policy — the policy of the host's group, with an ETag so an unchanged policy costs a 304. */
import type { App as FastifyInstance } from '../../../http/app.js';
import { DEFAULT_POLICY, PolicySchema } from '../../../../shared/policy.js';
import type { ServerContext } from '../../../context.js';

/**
 * Checked policies by version, per server (a version is unique across groups and never changes):
 * every long-poll asks, and checking the schema costs more than the two reads.
 */
const checkedBy = new WeakMap<ServerContext, Map<number, Record<string, unknown>>>();

export interface HostPolicy { group: string; version: number; policy: Record<string, unknown> }

/**
 * What `policyFor` answered per host, and at which hub generation. What it reads (the host's group,
 * the group's newest policy) changes only with a new policy row or a group move, and both move the
 * store's change stamp, which the hub watches: an answer holds until the hub's generation moves.
 * Every long-poll asks, so a fleet's idle polls read nothing.
 */
const answeredBy = new WeakMap<ServerContext, Map<string, { gen: number; answer: HostPolicy }>>();
const MAX_ANSWERS = 200_000;

/** The host's policy as `policyFor` reads it, from the cache while the hub has seen no change. */
export async function currentPolicy(ctx: ServerContext, hostId: string): Promise<HostPolicy> {
  let answers = answeredBy.get(ctx);
  if (!answers) answeredBy.set(ctx, answers = new Map());
  const gen = ctx.hub.generation;
  const hit = answers.get(hostId);
  if (hit && hit.gen === gen) return hit.answer;
  // The generation before the read: a change during the read leaves the entry stale, not trusted.
  const answer = await policyFor(ctx, hostId);
  if (answers.size >= MAX_ANSWERS) answers.clear();
  answers.set(hostId, { gen, answer });
  return answer;
}

/** The host's group and that group's newest policy (else the default group's), read from the store. */
async function policyFor(ctx: ServerContext, hostId: string): Promise<HostPolicy> {
  const host = await ctx.store.getHost(hostId);
  const group = host?.group ?? 'default';
  const row = (await ctx.store.getPolicy(group)) ?? (group !== 'default' ? await ctx.store.getPolicy('default') : null);
  if (!row) return { group, version: 0, policy: DEFAULT_POLICY };
  let checked = checkedBy.get(ctx);
  if (!checked) checkedBy.set(ctx, checked = new Map());
  let policy = checked.get(row.version);
  if (!policy) {
    policy = PolicySchema.parse(row.policy);
    if (checked.size >= 64) checked.clear();
    checked.set(row.version, policy);
  }
  return { group: row.group, version: row.version, policy };
}

export function policyRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/policy', async (req, reply) => {
    const p = await currentPolicy(ctx, req.agent.hostId);
    const etag = `"${p.group}-${p.version}"`;
    void reply.header('etag', etag);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return { version: p.version, policy: p.policy };
  });
}
