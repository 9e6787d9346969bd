/**
 * The store test suite every backend passes (SQLite now, PostgreSQL with the scale issue).
 * `open` returns a fresh, empty store.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { verifyAuditChain } from '../../../server/audit.js';
import { newEvent } from '../../../shared/events.js';
import type { Store } from '../../../server/store/types.js';
import { hashSecret } from '../../../server/auth/secrets.js';
import { purgeOnce } from '../../../server/retention.js';

export function storeSuite(name: string, open: () => Promise<Store>): void {
  describe(`store: ${name}`, () => {
    let s: Store;
    beforeEach(async () => { s = await open(); });
    afterEach(async () => { await s.close(); });

    const host = (id: string, machineId = `m-${id}`) => s.createHost({
      id, machineId, hostname: id, group: 'default', spki: `spki-${id}`, certSerial: `serial-${id}`, certNotAfter: '2099-01-01T00:00:00.000Z',
      enrolledAt: new Date().toISOString(), status: 'active', cloneOf: null, renewalHash: 'r',
    });

    it('inserts events idempotently by id and stamps receivedAt', async () => {
      await host('h1');
      const a = newEvent('drill', 'low', ['art16'], { x: 1 });
      const b = newEvent('usb.attached', 'high', ['art31'], { vendorId: '0781' });
      expect(await s.insertEvents('h1', [a, b], '2026-11-01T00:00:00.000Z')).toEqual({ acked: [a.id, b.id], conflicts: [], violations: [] });
      expect(await s.insertEvents('h1', [a], '2026-11-02T00:00:00.000Z')).toEqual({ acked: [a.id], conflicts: [], violations: [] });
      expect(await s.countEvents()).toBe(2);
      const got = await s.queryEvents({ host: 'h1' });
      expect(got.find((e) => e.id === a.id)).toEqual({ ...a, host: 'h1', receivedAt: '2026-11-01T00:00:00.000Z' });
    });

    it('reports an id held by another host as a conflict', async () => {
      await host('h1');
      await host('h2');
      const a = newEvent('drill', 'low', [], {});
      await s.insertEvents('h1', [a], new Date().toISOString());
      expect(await s.insertEvents('h2', [a], new Date().toISOString())).toEqual({ acked: [], conflicts: [a.id], violations: [] });
    });

    it('inserts the violations of acked events in the same commit, once per event, none for another host\'s id', async () => {
      await host('h1');
      await host('h2');
      const at = '2026-11-20T00:00:00.000Z';
      const draft = (id: string, eventId: string, hostId = 'h1') => ({
        id, hostId, eventId, type: 'egress.violation', rule: 'egress.violation', articles: ['art29'], severity: 'high' as const,
        summary: `s ${id}`, dueAt: '2026-11-21T00:00:00.000Z', createdAt: at, drill: false,
      });
      const a = newEvent('egress.violation', 'high', ['art29'], { n: 1 });
      const b = newEvent('egress.violation', 'high', ['art29'], { n: 2 });
      const first = await s.insertEvents('h1', [a, b], at, undefined, [draft('va', a.id), draft('vb', b.id)]);
      expect(first).toEqual({ acked: [a.id, b.id], conflicts: [], violations: [draft('va', a.id), draft('vb', b.id)] });
      // A resend: events acked again, their violations already there.
      expect(await s.insertEvents('h1', [a], at, undefined, [draft('va2', a.id)])).toEqual({ acked: [a.id], conflicts: [], violations: [] });
      // Another host presenting a's id: a conflict, and no violation on its behalf.
      const c = newEvent('egress.violation', 'high', ['art29'], { n: 3 });
      const other = await s.insertEvents('h2', [a, c], at, undefined, [draft('vx', a.id, 'h2'), draft('vc', c.id, 'h2')]);
      expect(other).toEqual({ acked: [c.id], conflicts: [a.id], violations: [draft('vc', c.id, 'h2')] });
      const all = await s.listViolations({});
      expect(all.items.map((v) => [v.id, v.eventId, v.hostId]).sort()).toEqual([['va', a.id, 'h1'], ['vb', b.id, 'h1'], ['vc', c.id, 'h2']]);
    });

    it('filters and pages events', async () => {
      await host('h1');
      await host('h2');
      const evs = Array.from({ length: 25 }, (_, i) => newEvent(i % 2 ? 'drill' : 'agent.heartbeat', 'low', [], { i }, new Date(Date.UTC(2026, 10, 1, 0, i))));
      await s.insertEvents('h1', evs.slice(0, 20), '2026-11-01T01:00:00.000Z');
      await s.insertEvents('h2', evs.slice(20), '2026-11-01T02:00:00.000Z');
      expect(await s.countEvents({ host: 'h1' })).toBe(20);
      expect(await s.countEvents({ type: 'drill' })).toBe(12);
      expect((await s.queryEvents({ since: '2026-11-01T00:20:00.000Z' })).map((e) => e.data.i)).toEqual([20, 21, 22, 23, 24]);
      const page1 = await s.queryEvents({ limit: 10 });
      const page2 = await s.queryEvents({ limit: 10, after: { receivedAt: page1[9]!.receivedAt, id: page1[9]!.id } });
      const page3 = await s.queryEvents({ limit: 10, after: { receivedAt: page2[9]!.receivedAt, id: page2[9]!.id } });
      expect(new Set([...page1, ...page2, ...page3].map((e) => e.id)).size).toBe(25);
    });

    it('consumes tokens atomically with distinct outcomes', async () => {
      const now = new Date();
      await s.createToken({ id: 't1', hash: hashSecret('one'), uses: 2, expiresAt: new Date(now.getTime() + 60_000).toISOString() });
      await s.createToken({ id: 't2', hash: hashSecret('old'), uses: 2, expiresAt: new Date(now.getTime() - 1).toISOString() });
      expect((await s.consumeToken(hashSecret('one'), now)).ok).toBe(true);
      expect((await s.consumeToken(hashSecret('one'), now)).ok).toBe(true);
      expect(await s.consumeToken(hashSecret('one'), now)).toEqual({ ok: false, code: 'TG_E_TOKEN_EXHAUSTED' });
      expect(await s.consumeToken(hashSecret('old'), now)).toEqual({ ok: false, code: 'TG_E_TOKEN_EXPIRED' });
      expect(await s.consumeToken(hashSecret('none'), now)).toEqual({ ok: false, code: 'TG_E_TOKEN_UNKNOWN' });
      expect(await s.revokeToken('t1')).toBe(true);
      expect(await s.consumeToken(hashSecret('one'), now)).toEqual({ ok: false, code: 'TG_E_TOKEN_REVOKED' });
      expect((await s.listTokens()).map((t) => t.id).sort()).toEqual(['t1', 't2']);
    });

    it('records certificates, revokes a host with all its certificates', async () => {
      await host('h1');
      await s.addCert({ serial: 'aa', hostId: 'h1', spki: 'k', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2099-01-01T00:00:00.000Z' });
      await s.setHostCert('h1', { serial: 'bb', hostId: 'h1', spki: 'k2', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2099-01-01T00:00:00.000Z' }, 'newhash');
      expect((await s.getHost('h1'))?.certSerial).toBe('bb');
      expect(await s.getRenewalHash('h1')).toBe('newhash');
      expect(await s.revokeHost('h1', '2026-11-01T00:00:00.000Z')).toBe(true);
      expect(await s.revokeHost('h1', '2026-11-01T00:00:00.000Z')).toBe(false);
      expect((await s.revokedCerts()).map((r) => r.serial).sort()).toEqual(['aa', 'bb']);
      expect((await s.getHost('h1'))?.status).toBe('revoked');
    });

    it('versions policies per group and announces changes through the change stamp', async () => {
      const before = await s.changeStamp();
      expect(await s.getPolicy('default')).toBeNull();
      expect((await s.setPolicy('default', { usb: { mode: 'block' } })).version).toBe(1);
      expect((await s.setPolicy('default', { usb: { mode: 'audit' } })).version).toBe(2);
      // Versions are unique across groups: a host moved between groups always sees a new version.
      expect((await s.setPolicy('trading', {})).version).toBe(3);
      expect((await s.getPolicy('default'))?.policy).toEqual({ usb: { mode: 'audit' } });
      const mid = await s.changeStamp();
      expect(mid).not.toBe(before);
      const seq = await s.addCommand('h1', 'drill', { id: 'd' });
      await s.addCommand(null, 'cert.renew', {});
      expect(await s.changeStamp()).not.toBe(mid);
      // A group move changes a host's policy with no new policy row: the stamp announces it too.
      await host('h1');
      const beforeMove = await s.changeStamp();
      expect(await s.setHostGroup('h1', 'trading')).toBe(true);
      expect(await s.changeStamp()).not.toBe(beforeMove);
      const afterMove = await s.changeStamp();
      expect(await s.setHostGroup('no-such-host', 'trading')).toBe(false);
      expect(await s.changeStamp()).toBe(afterMove);
      expect(await s.setHostGroup('h1', 'default')).toBe(true);
      expect((await s.commandsAfter('h1', 0)).map((c) => c.type)).toEqual(['drill', 'cert.renew']);
      expect((await s.commandsAfter('h1', seq)).map((c) => c.type)).toEqual(['cert.renew']);
      expect((await s.commandsAfter('h2', 0)).map((c) => c.type)).toEqual(['cert.renew']);
    });

    it('purges events older than the retention, never with fewer than 184 days', async () => {
      await host('h1');
      const now = new Date('2026-11-25T00:00:00.000Z');
      const old = newEvent('drill', 'low', [], {});
      const recent = newEvent('drill', 'low', [], {});
      await s.insertEvents('h1', [old], new Date(now.getTime() - 200 * 86_400_000).toISOString());
      await s.insertEvents('h1', [recent], new Date(now.getTime() - 185 * 86_400_000).toISOString());
      await expect(purgeOnce(s, 180, now)).rejects.toThrow(/184/);
      expect(await s.countEvents()).toBe(2);
      expect(await purgeOnce(s, 190, now)).toBe(1);
      expect((await s.queryEvents({})).map((e) => e.id)).toEqual([recent.id]);
    });

    it('purges a day of many rows in chunks, to the row, and keeps the next day whole', async () => {
      await host('h1');
      const day = (d: number, i: number) => new Date(Date.UTC(2026, 0, d, 0, 0, i % 86_400)).toISOString();
      // 25,123 rows on 1 January (more than two chunks on either backend, not a multiple of either), 1,000 on the 2nd.
      for (let k = 0; k < 25_123; k += 1000) {
        const n = Math.min(1000, 25_123 - k);
        await s.insertEvents('h1', Array.from({ length: n }, () => newEvent('drill', 'low', [], {})), day(1, k));
      }
      const keep = Array.from({ length: 1000 }, () => newEvent('drill', 'low', [], {}));
      await s.insertEvents('h1', keep, day(2, 0));
      expect(await s.purgeEvents(day(2, 0))).toBe(25_123);
      expect(await s.countEvents()).toBe(1000);
      expect(await s.purgeEvents(day(2, 0))).toBe(0);
      expect((await s.queryEvents({ limit: 2000 })).map((e) => e.id).sort()).toEqual(keep.map((e) => e.id).sort());
    }, 60_000);

    it('keeps users with hashed passwords', async () => {
      await s.createUser({ name: 'admin', passwordHash: 'scrypt$x', role: 'admin', mustChange: true, disabled: false });
      expect((await s.getUser('admin'))?.mustChange).toBe(true);
      expect(await s.updateUser('admin', { mustChange: false, disabled: true })).toBe(true);
      expect(await s.getUser('admin')).toMatchObject({ mustChange: false, disabled: true });
    });

    it('raises one violation per event, filters, guards state changes, escalates the overdue once', async () => {
      const now = new Date('2026-11-20T00:00:00Z');
      const draft = (id: string, eventId: string, type: string, due: string) => ({
        id, hostId: 'h1', eventId, type, rule: type, articles: ['art29', 'art31'], severity: 'high' as const, summary: `s ${id}`, dueAt: due, createdAt: now.toISOString(), drill: false,
      });
      const first = await s.insertViolations([draft('v1', 'e1', 'egress.violation', '2026-11-21T00:00:00Z'), draft('v2', 'e2', 'usb.blocked', '2026-12-01T00:00:00Z')]);
      expect(first.map((v) => v.id)).toEqual(['v1', 'v2']);
      expect(await s.insertViolations([draft('v3', 'e1', 'egress.violation', '2026-11-21T00:00:00Z')])).toEqual([]); // same event
      expect((await s.listViolations({ article: 'art29' })).total).toBe(2);
      expect((await s.listViolations({ type: 'usb.blocked' })).items.map((v) => v.id)).toEqual(['v2']);
      expect((await s.listViolations({ overdueAt: '2026-11-25T00:00:00Z' })).items.map((v) => v.id)).toEqual(['v1']);
      expect(await s.updateViolation('v1', { state: 'resolved', resolvedBy: 'x', resolvedAt: now.toISOString() }, ['open'])).toBe(true);
      expect(await s.updateViolation('v1', { state: 'acknowledged' }, ['open'])).toBe(false);
      expect((await s.getViolation('v1'))?.state).toBe('resolved');
      expect((await s.escalateOverdue('2026-12-02T00:00:00Z')).map((v) => v.id)).toEqual(['v2']);
      expect(await s.escalateOverdue('2026-12-03T00:00:00Z')).toEqual([]);
      expect((await s.listViolations({ state: 'unresolved' })).total).toBe(1);
    });

    it('chains audit rows: each row hash covers the previous one', async () => {
      const a = await s.appendAudit({ time: '2026-11-20T00:00:00Z', actor: 'alice', action: 'policy.publish', target: 'default', details: { version: 1 } });
      const b = await s.appendAudit({ time: '2026-11-20T00:00:01Z', actor: 'bob', action: 'violation.ack', target: 'v1', details: {} });
      expect(a.seq).toBe(1);
      expect(b.prevHash).toBe(a.hash);
      const rows = await s.listAudit({});
      expect(verifyAuditChain(rows)).toEqual({ ok: true, rows: 2, head: b.hash });
      expect(verifyAuditChain([{ ...rows[0]!, actor: 'mallory' }, rows[1]!])).toMatchObject({ ok: false, seq: 1 });
      expect(verifyAuditChain([rows[1]!])).toMatchObject({ ok: false, seq: 1, reason: 'row 1 is missing' });
    });
  });
}
