/** Overview, hosts, host detail and the actions on a host (revoke, group, drill), events. */
import { randomUUID } from 'node:crypto';
import { TgError } from '../../../../shared/errors.js';
import type { ServerContext } from '../../../context.js';
import type { HostRow } from '../../../store/types.js';
import { audit } from '../../../auth/session.js';
import { body, int, list, query, str, who } from './common.js';
import type { RouteDef } from './index.js';
import { GROUP } from './policies.js';

export const ONLINE_MS = 5 * 60_000;
export const SILENT_MS = 24 * 3_600_000;
const TIMELINE = ['usb.attached', 'usb.blocked', 'usb.unblocked', 'usb.detached', 'media.mounted', 'media.unmounted', 'media.file_written', 'media.files_burst',
  'egress.violation', 'egress.internet_reachable', 'egress.interface', 'egress.blocked', 'egress.enforcement', 'agent.started', 'agent.stopped', 'drill'];

export function hostView(h: HostRow, now: number, open: Map<string, { count: number; overdue: number; hardening: boolean }>) {
  const o = open.get(h.id);
  const seen = h.lastSeen ? Date.parse(h.lastSeen) : null;
  const status = h.status !== 'active' ? h.status : seen !== null && now - seen <= ONLINE_MS ? 'online' : 'offline';
  return {
    id: h.id, hostname: h.hostname, group: h.group, status, lastSeen: h.lastSeen, enrolledAt: h.enrolledAt, policyVersion: h.policyVersion,
    certNotAfter: h.certNotAfter, cloneOf: h.cloneOf, openViolations: o?.count ?? 0, overdueViolations: o?.overdue ?? 0,
    compliant: !(o?.hardening ?? false), silent: h.status === 'active' && (seen === null || now - seen > SILENT_MS),
  };
}

export async function openByHost(ctx: ServerContext): Promise<Map<string, { count: number; overdue: number; hardening: boolean }>> {
  const m = new Map<string, { count: number; overdue: number; hardening: boolean }>();
  for (const r of await ctx.store.openViolationCounts()) {
    const x = m.get(r.hostId) ?? { count: 0, overdue: 0, hardening: false };
    x.count += r.count;
    x.overdue += r.overdue;
    if (r.type === 'host.check') x.hardening = true;
    m.set(r.hostId, x);
  }
  return m;
}

export function hostRoutes(ctx: ServerContext): RouteDef[] {
  return [
    {
      method: 'GET', url: '/api/overview', perm: 'read', summary: 'hosts online/offline, compliance, open and overdue violations by type and article, 30-day trend',
      handler: async () => {
        const now = Date.now();
        const open = await openByHost(ctx);
        const hosts = (await ctx.store.listHosts()).map((h) => hostView(h, now, open));
        const active = hosts.filter((h) => h.status === 'online' || h.status === 'offline');
        const stats = await ctx.store.violationStats({ now: new Date(now).toISOString(), unresolvedOnly: true });
        const byType = new Map<string, { open: number; overdue: number }>();
        const byArticle = new Map<string, { open: number; overdue: number }>();
        for (const s of stats) {
          if (s.state === 'resolved') continue;
          const t = byType.get(s.type) ?? { open: 0, overdue: 0 };
          t.open += s.count; if (s.overdue) t.overdue += s.count; byType.set(s.type, t);
          for (const a of s.articles) {
            const x = byArticle.get(a) ?? { open: 0, overdue: 0 };
            x.open += s.count; if (s.overdue) x.overdue += s.count; byArticle.set(a, x);
          }
        }
        const from = new Date(now - 29 * 86_400_000).toISOString().slice(0, 10);
        const perDay = new Map((await ctx.store.violationsPerDay(from)).map((d) => [d.day, d.opened]));
        const trend = Array.from({ length: 30 }, (_, i) => {
          const day = new Date(now - (29 - i) * 86_400_000).toISOString().slice(0, 10);
          return { day, opened: perDay.get(day) ?? 0 };
        });
        return {
          hosts: { total: hosts.length, online: hosts.filter((h) => h.status === 'online').length, offline: hosts.filter((h) => h.status === 'offline').length,
            revoked: hosts.filter((h) => h.status === 'revoked').length, silent: hosts.filter((h) => h.silent).length },
          compliance: { compliant: active.filter((h) => h.compliant).length, total: active.length, percent: active.length ? Math.round(1000 * active.filter((h) => h.compliant).length / active.length) / 10 : null },
          violations: {
            open: [...byType.values()].reduce((n, x) => n + x.open, 0), overdue: [...byType.values()].reduce((n, x) => n + x.overdue, 0),
            byType: [...byType].map(([type, v]) => ({ type, ...v })).sort((a, b) => b.open - a.open),
            byArticle: [...byArticle].map(([article, v]) => ({ article, ...v })).sort((a, b) => a.article.localeCompare(b.article, 'en', { numeric: true })),
          },
          trend,
        };
      },
    },
    {
      method: 'GET', url: '/api/hosts', perm: 'read', summary: 'hosts: ?q=&status=online|offline|revoked|clone&group=&compliant=true|false&policyVersion=&limit=&offset=',
      handler: async (req) => {
        const q = query(req);
        const now = Date.now();
        const open = await openByHost(ctx);
        let hosts = (await ctx.store.listHosts()).map((h) => hostView(h, now, open));
        const needle = q.q?.toLowerCase();
        if (needle) hosts = hosts.filter((h) => h.hostname.toLowerCase().includes(needle) || h.id.includes(needle));
        if (q.status) hosts = hosts.filter((h) => h.status === q.status);
        if (q.group) hosts = hosts.filter((h) => h.group === q.group);
        if (q.compliant) hosts = hosts.filter((h) => String(h.compliant) === q.compliant);
        if (q.policyVersion) hosts = hosts.filter((h) => String(h.policyVersion) === q.policyVersion);
        hosts.sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id));
        const offset = int(q.offset, 'offset', 0, 0, 1e9);
        const limit = int(q.limit, 'limit', 100, 1, 1000);
        return list(hosts.slice(offset, offset + limit), hosts.length);
      },
    },
    {
      method: 'GET', url: '/api/hosts/:id', perm: 'read', summary: 'one host: inventory, checks, USB and connection timeline, open violations, attestation',
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        const h = await ctx.store.getHost(id);
        if (!h) throw new TgError('TG_E_NOT_FOUND', `no host ${id}`);
        const latest = async (type: string) => (await ctx.store.queryEvents({ host: id, type, latest: true, limit: 1 }))[0] ?? null;
        const [inventory, checks, attestation] = await Promise.all([latest('host.inventory'), latest('host.check'), latest('host.attestation')]);
        const timeline = await ctx.store.queryEvents({ host: id, types: TIMELINE, latest: true, limit: 200 });
        const violations = await ctx.store.listViolations({ host: id, state: 'unresolved', limit: 200 });
        const policy = await ctx.store.getPolicy(h.group);
        return {
          host: hostView(h, Date.now(), await openByHost(ctx)), policy: { group: h.group, latestVersion: policy?.version ?? 0, applied: h.policyVersion },
          inventory: inventory ? { time: inventory.time, data: inventory.data } : null,
          checks: checks ? { time: checks.time, data: checks.data } : null,
          attestation: attestation ? { time: attestation.time, id: attestation.id } : null,
          timeline: timeline.map((e) => ({ id: e.id, type: e.type, time: e.time, severity: e.severity, data: e.data })),
          violations: violations.items,
        };
      },
    },
    {
      method: 'GET', url: '/api/hosts/:id/attestation', perm: 'read', summary: 'the latest signed attestation of a host (JSON file, verifiable offline)',
      handler: async (req, reply) => {
        const id = (req.params as { id: string }).id;
        const e = (await ctx.store.queryEvents({ host: id, type: 'host.attestation', latest: true, limit: 1 }))[0];
        if (!e) throw new TgError('TG_E_NOT_FOUND', `no attestation from host ${id}`);
        void reply.header('content-disposition', `attachment; filename="attestation-${id.replace(/[^a-zA-Z0-9-]/g, '')}.json"`);
        return e.data;
      },
    },
    {
      method: 'POST', url: '/api/hosts/:id/revoke', perm: 'hosts.write', summary: 'revoke a host: its certificate stops working within seconds',
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        const p = who(req);
        if (!(await ctx.store.getHost(id))) throw new TgError('TG_E_NOT_FOUND', `no host ${id}`);
        const done = await ctx.store.revokeHost(id, new Date().toISOString());
        await ctx.revocations.refresh();
        await audit(ctx, p.user, 'host.revoke', id, { changed: done });
        return { ok: true, revoked: done };
      },
    },
    {
      method: 'POST', url: '/api/hosts/:id/group', perm: 'hosts.write', summary: 'move a host to a group (its policy follows): {"group"}',
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        const p = who(req);
        const group = str(body(req).group, 'group', { max: 64, pattern: GROUP });
        const h = await ctx.store.getHost(id);
        if (!h) throw new TgError('TG_E_NOT_FOUND', `no host ${id}`);
        await ctx.store.setHostGroup(id, group);
        // Policy versions are unique across groups: the agent's long-poll, woken now (other server
        // processes see the store's change stamp within a second), answers with a new version.
        ctx.hub.poke();
        await audit(ctx, p.user, 'host.group', id, { from: h.group, to: group });
        return { ok: true };
      },
    },
    {
      method: 'POST', url: '/api/hosts/:id/drill', perm: 'drill.start', summary: 'start an emergency drill on a host (art16/24): {"note"}',
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        const p = who(req);
        const h = await ctx.store.getHost(id);
        if (!h || h.status !== 'active') throw new TgError('TG_E_NOT_FOUND', `no active host ${id}`);
        const note = str(body(req).note, 'note', { max: 200, optional: true });
        const drillId = randomUUID();
        const seq = await ctx.store.addCommand(id, 'drill', { drillId, note, startedBy: p.user });
        ctx.hub.poke();
        await ctx.store.createDrill({ id: drillId, hostId: id, commandSeq: seq, startedBy: p.user, startedAt: new Date().toISOString() });
        await audit(ctx, p.user, 'drill.start', id, { drillId, note });
        return { ok: true, drillId };
      },
    },
    {
      method: 'GET', url: '/api/groups', perm: 'read', summary: 'host groups with their policy version and host counts',
      handler: async () => {
        const hosts = await ctx.store.listHosts();
        const names = new Set(['default', ...hosts.map((h) => h.group)]);
        const out = [];
        for (const g of [...names].sort()) {
          const p = await ctx.store.getPolicy(g);
          const members = hosts.filter((h) => h.group === g && h.status === 'active');
          out.push({ group: g, policyVersion: p?.version ?? 0, hosts: members.length, applied: members.filter((h) => p && h.policyVersion === p.version).length });
        }
        return list(out);
      },
    },
    {
      method: 'GET', url: '/api/events', perm: 'read', summary: 'stored events, newest first: ?host=&type=&since=&limit=',
      handler: async (req) => {
        const q = query(req);
        const since = q.since ? new Date(q.since) : null;
        if (since && Number.isNaN(since.getTime())) throw new TgError('TG_E_BAD_REQUEST', 'since: not a time');
        const items = await ctx.store.queryEvents({ host: q.host || undefined, type: q.type || undefined, since: since?.toISOString(), latest: true, limit: int(q.limit, 'limit', 100, 1, 1000) });
        return list(items);
      },
    },
  ];
}
