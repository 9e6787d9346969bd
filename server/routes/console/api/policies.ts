/** The policy editor's API: validate before publish, versions with a diff, which hosts apply which version. */
import { TgError } from '../../../../shared/errors.js';
import { checkPolicy, DEFAULT_POLICY, PolicySchema } from '../../../../shared/policy.js';
import type { ServerContext } from '../../../context.js';
import { audit } from '../../../auth/session.js';
import { body, int, list, query, who } from './common.js';
import type { RouteDef } from './index.js';

/** Host group names: lower-case letters, digits, - and _. */
export const GROUP = /^[a-z0-9][a-z0-9_-]{0,63}$/;

function group(v: string | undefined): string {
  const g = v || 'default';
  if (!GROUP.test(g)) throw new TgError('TG_E_BAD_REQUEST', 'group: lower-case letters, digits, - and _');
  return g;
}

/** Paths whose values differ between two JSON values: `{path, from, to}`. */
export function jsonDiff(a: unknown, b: unknown, path = ''): { path: string; from: unknown; to: unknown }[] {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().flatMap((k) => jsonDiff(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path: path || '(policy)', from: a ?? null, to: b ?? null }];
}

export function policyRoutes(ctx: ServerContext): RouteDef[] {
  const current = async (g: string) => {
    const row = await ctx.store.getPolicy(g);
    return row ? { version: row.version, createdAt: row.createdAt, policy: PolicySchema.parse(row.policy) } : { version: 0, createdAt: null, policy: DEFAULT_POLICY };
  };
  return [
    {
      method: 'GET', url: '/api/policies', perm: 'read', summary: 'a group\'s policy, its versions, and which version its hosts apply: ?group=',
      handler: async (req) => {
        const g = group(query(req).group);
        const versions = (await ctx.store.listPolicyVersions(g)).map((v) => ({ version: v.version, createdAt: v.createdAt }));
        const hosts = (await ctx.store.listHosts()).filter((h) => h.group === g && h.status === 'active');
        const applied = new Map<string, number>();
        for (const h of hosts) applied.set(String(h.policyVersion ?? 'none'), (applied.get(String(h.policyVersion ?? 'none')) ?? 0) + 1);
        return { group: g, current: await current(g), versions, applied: [...applied].map(([version, count]) => ({ version, hosts: count })) };
      },
    },
    {
      method: 'GET', url: '/api/policies/:group/versions/:version', perm: 'read', summary: 'one version of a group\'s policy',
      handler: async (req) => {
        const p = req.params as { group: string; version: string };
        const row = await ctx.store.getPolicyVersion(group(p.group), int(p.version, 'version', 0, 1, Number.MAX_SAFE_INTEGER));
        if (!row) throw new TgError('TG_E_NOT_FOUND', `no version ${p.version} of group ${p.group}`);
        return { group: row.group, version: row.version, createdAt: row.createdAt, policy: PolicySchema.parse(row.policy) };
      },
    },
    {
      method: 'GET', url: '/api/policies/:group/diff', perm: 'read', summary: 'what changed between two versions: ?from=&to= (0 = the defaults)',
      handler: async (req) => {
        const g = group((req.params as { group: string }).group);
        const q = query(req);
        const at = async (v: number) => {
          if (v === 0) return DEFAULT_POLICY;
          const row = await ctx.store.getPolicyVersion(g, v);
          if (!row) throw new TgError('TG_E_NOT_FOUND', `no version ${v} of group ${g}`);
          return PolicySchema.parse(row.policy);
        };
        return list(jsonDiff(await at(int(q.from, 'from', 0, 0, Number.MAX_SAFE_INTEGER)), await at(int(q.to, 'to', 0, 0, Number.MAX_SAFE_INTEGER))));
      },
    },
    {
      method: 'POST', url: '/api/policies/validate', perm: 'read', summary: 'check a policy without publishing it: {"policy"} → {"ok","error"?}',
      handler: async (req) => {
        const r = checkPolicy(body(req).policy);
        return r.ok ? { ok: true, policy: r.policy } : { ok: false, error: r.error };
      },
    },
    {
      method: 'PUT', url: '/api/policies/:group', perm: 'policy.write', summary: 'publish a new version of a group\'s policy: {"policy"}',
      handler: async (req) => {
        const g = group((req.params as { group: string }).group);
        const r = checkPolicy(body(req).policy);
        if (!r.ok) throw new TgError('TG_E_POLICY_INVALID', r.error);
        const before = await current(g);
        const row = await ctx.store.setPolicy(g, r.policy as unknown as Record<string, unknown>);
        ctx.hub.poke();
        await audit(ctx, who(req).user, 'policy.publish', g, { version: row.version, previous: before.version, changes: jsonDiff(before.policy, r.policy).slice(0, 100) });
        return { group: g, version: row.version };
      },
    },
  ];
}
