/** The violations queue (art17): filter, assign an owner and due date, acknowledge, resolve with a note, in bulk. */
import { TgError } from '../../../../shared/errors.js';
import type { ServerContext } from '../../../context.js';
import type { ViolationRow, ViolationState } from '../../../store/types.js';
import { audit } from '../../../auth/session.js';
import { body, int, list, query, str, who } from './common.js';
import type { RouteDef } from './index.js';

const STATES = new Set(['open', 'acknowledged', 'resolved', 'unresolved']);

type Action = 'ack' | 'resolve' | 'assign' | 'reopen';

/** One state change, guarded by the state it starts from; returns the row after. */
async function act(ctx: ServerContext, user: string, id: string, action: Action, b: Record<string, unknown>): Promise<ViolationRow> {
  const v = await ctx.store.getViolation(id);
  if (!v) throw new TgError('TG_E_NOT_FOUND', `no violation ${id}`);
  const now = new Date().toISOString();
  const note = str(b.note, 'note', { max: 2000, optional: action !== 'resolve' });
  const notes = note ? [...v.notes, { at: now, by: user, text: note }] : undefined;
  let ok: boolean;
  if (action === 'ack') {
    ok = await ctx.store.updateViolation(id, { state: 'acknowledged', ackedAt: now, ackedBy: user, ...(v.owner ? {} : { owner: user }), ...(notes ? { notes } : {}) }, ['open']);
    if (ok && v.drill) {
      const drills = await ctx.store.listDrills({ host: v.hostId });
      const d = drills.find((x) => x.violationId === id);
      if (d) await ctx.store.updateDrill(d.id, { ackedBy: user, ackedAt: now });
    }
  } else if (action === 'resolve') {
    ok = await ctx.store.updateViolation(id, { state: 'resolved', resolvedAt: now, resolvedBy: user, notes: notes! }, ['open', 'acknowledged']);
  } else if (action === 'reopen') {
    ok = await ctx.store.updateViolation(id, { state: 'open', resolvedAt: null, resolvedBy: null, ...(notes ? { notes } : {}) }, ['resolved']);
  } else {
    const owner = str(b.owner, 'owner', { max: 64 });
    if (!(await ctx.store.getUser(owner))) throw new TgError('TG_E_BAD_REQUEST', `owner: no user ${owner}`);
    const due = b.dueAt === undefined ? undefined : new Date(str(b.dueAt, 'dueAt', { max: 40 }));
    if (due && Number.isNaN(due.getTime())) throw new TgError('TG_E_BAD_REQUEST', 'dueAt: not a time');
    ok = await ctx.store.updateViolation(id, { owner, ...(due ? { dueAt: due.toISOString() } : {}), ...(notes ? { notes } : {}) }, ['open', 'acknowledged']);
  }
  if (!ok) throw new TgError('TG_E_CONFLICT', `violation ${id} is ${v.state}; cannot ${action}`);
  await audit(ctx, user, `violation.${action}`, id, { from: v.state, ...(note ? { note } : {}), ...(b.owner ? { owner: b.owner } : {}), ...(b.dueAt ? { dueAt: b.dueAt } : {}) });
  return (await ctx.store.getViolation(id))!;
}

export function violationRoutes(ctx: ServerContext): RouteDef[] {
  const one = (action: Action, summary: string): RouteDef => ({
    method: 'POST', url: `/api/violations/:id/${action}`, perm: 'violations.triage', summary,
    handler: async (req) => act(ctx, who(req).user, (req.params as { id: string }).id, action, body(req)),
  });
  return [
    {
      method: 'GET', url: '/api/violations', perm: 'read', summary: 'violations: ?state=open|acknowledged|resolved|unresolved&type=&host=&article=&owner=&severity=&overdue=1&drill=1&limit=&offset=',
      handler: async (req) => {
        const q = query(req);
        if (q.state && !STATES.has(q.state)) throw new TgError('TG_E_BAD_REQUEST', 'state: open, acknowledged, resolved or unresolved');
        const r = await ctx.store.listViolations({
          state: (q.state || undefined) as ViolationState | 'unresolved' | undefined, type: q.type || undefined, host: q.host || undefined,
          article: q.article || undefined, owner: q.owner || undefined, severity: q.severity || undefined,
          overdueAt: q.overdue === '1' || q.overdue === 'true' ? new Date().toISOString() : undefined,
          ...(q.drill ? { drill: q.drill === '1' || q.drill === 'true' } : {}),
          limit: int(q.limit, 'limit', 50, 1, 1000), offset: int(q.offset, 'offset', 0, 0, 1e9),
        });
        // Names for this page only (a full host list per request cost 30–70 ms with 5,000 hosts).
        const hosts = new Map<string, string>();
        for (const id of new Set(r.items.map((v) => v.hostId))) hosts.set(id, (await ctx.store.getHost(id))?.hostname ?? '');
        return list(r.items.map((v) => ({ ...v, hostname: hosts.get(v.hostId) || null, overdue: v.state !== 'resolved' && v.dueAt < new Date().toISOString() })), r.total);
      },
    },
    {
      method: 'GET', url: '/api/violations/:id', perm: 'read', summary: 'one violation with the event that raised it',
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        const v = await ctx.store.getViolation(id);
        if (!v) throw new TgError('TG_E_NOT_FOUND', `no violation ${id}`);
        const ev = await ctx.store.getEvent(v.eventId);
        const h = await ctx.store.getHost(v.hostId);
        return { ...v, hostname: h?.hostname ?? null, event: ev };
      },
    },
    one('ack', 'acknowledge: {"note"?}'),
    one('resolve', 'resolve with a note: {"note"}'),
    one('assign', 'assign an owner and due date: {"owner","dueAt"?,"note"?}'),
    one('reopen', 'reopen a resolved violation: {"note"?}'),
    {
      method: 'POST', url: '/api/violations/bulk', perm: 'violations.triage', summary: 'the same action on many: {"ids":[…],"action":"ack|resolve|assign","note"?,"owner"?}',
      handler: async (req) => {
        const b = body(req);
        const ids = b.ids;
        if (!Array.isArray(ids) || ids.length === 0 || ids.length > 500 || !ids.every((x) => typeof x === 'string')) throw new TgError('TG_E_BAD_REQUEST', 'ids: 1 to 500 violation ids');
        const action = b.action;
        if (action !== 'ack' && action !== 'resolve' && action !== 'assign') throw new TgError('TG_E_BAD_REQUEST', 'action: ack, resolve or assign');
        const results: { id: string; ok: boolean; error?: string }[] = [];
        for (const id of ids as string[]) {
          try {
            await act(ctx, who(req).user, id, action, b);
            results.push({ id, ok: true });
          } catch (e) {
            results.push({ id, ok: false, error: (e as Error).message });
          }
        }
        return { results, done: results.filter((r) => r.ok).length };
      },
    },
  ];
}
