/**
 * The console API over real HTTPS: login and sessions, the role matrix over every route, CSRF,
 * the one-time password, lockout, API tokens, violations raised from agent events and triaged,
 * drills, reports, and the hash-chained audit log (a modified row breaks verification).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { API_ROUTES } from '../../server/routes/console/api/index.js';
import { PERMISSIONS, ROLES, type Role } from '../../server/auth/roles.js';
import { hashPassword } from '../../server/auth/secrets.js';
import { totp } from '../../server/auth/totp.js';
import { newEvent } from '../../shared/events.js';
import { enrollTestAgent, https, startTestServer, until, type Reply, type TestAgent, type TestServer } from '../helpers/server.js';

let t: TestServer;
let agent: TestAgent;
const PASSWORD = 'correct horse battery staple';

interface Session { cookie: string; csrf: string }

async function call(method: string, path: string, o: { session?: Session; csrf?: string | null; bearer?: string; body?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (o.session) headers.cookie = o.session.cookie;
  const csrf = o.csrf === undefined ? o.session?.csrf : o.csrf;
  if (csrf) headers['x-csrf-token'] = csrf;
  if (o.bearer) headers.authorization = `Bearer ${o.bearer}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  return https(`${t.srv.consoleUrl}${path}`, { method, ca: t.srv.ctx.ca.certPem, headers, ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}) });
}

async function login(username: string, password = PASSWORD, extra: Record<string, unknown> = {}): Promise<Session> {
  const r = await call('POST', '/api/login', { body: { username, password, ...extra } });
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.body}`);
  const cookie = String(r.headers['set-cookie']).split(';')[0]!;
  return { cookie, csrf: r.json.csrfToken };
}

beforeAll(async () => {
  t = await startTestServer();
  for (const role of ROLES) {
    await t.srv.ctx.store.createUser({ name: `u-${role}`, passwordHash: hashPassword(PASSWORD), role, mustChange: false, disabled: false });
  }
  agent = await enrollTestAgent(t);
}, 60_000);

afterAll(async () => { await t?.stop(); });

describe('login and sessions', () => {
  it('the one-time admin password must be changed before anything else; cookie flags are strict', async () => {
    const r = await call('POST', '/api/login', { body: { username: 'admin', password: t.adminPassword } });
    expect(r.status).toBe(200);
    expect(r.json.mustChangePassword).toBe(true);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/Secure/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const s: Session = { cookie: setCookie.split(';')[0]!, csrf: r.json.csrfToken };
    expect((await call('GET', '/api/hosts', { session: s })).json.error.code).toBe('TG_E_PASSWORD_CHANGE_REQUIRED');
    expect((await call('GET', '/api/session', { session: s })).status).toBe(200);
    expect((await call('POST', '/api/password', { session: s, body: { current: t.adminPassword, new: 'short' } })).json.error.code).toBe('TG_E_PASSWORD_WEAK');
    const ch = await call('POST', '/api/password', { session: s, body: { current: t.adminPassword, new: 'a much longer passphrase 42' } });
    expect(ch.status).toBe(200);
    // The old session ended with the password change; the new cookie works.
    expect((await call('GET', '/api/session', { session: s })).status).toBe(401);
    const s2: Session = { cookie: String(ch.headers['set-cookie']).split(';')[0]!, csrf: ch.json.csrfToken };
    expect((await call('GET', '/api/hosts', { session: s2 })).status).toBe(200);
    expect((await call('POST', '/api/login', { body: { username: 'admin', password: t.adminPassword } })).status).toBe(401);
  });

  it('five wrong passwords lock the account; the right one is refused while locked', async () => {
    await t.srv.ctx.store.createUser({ name: 'victim', passwordHash: hashPassword(PASSWORD), role: 'analyst', mustChange: false, disabled: false });
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push((await call('POST', '/api/login', { body: { username: 'victim', password: `wrong ${i}` } })).json.error.code);
    expect(codes).toEqual(['TG_E_LOGIN_FAILED', 'TG_E_LOGIN_FAILED', 'TG_E_LOGIN_FAILED', 'TG_E_LOGIN_FAILED', 'TG_E_ACCOUNT_LOCKED']);
    const r = await call('POST', '/api/login', { body: { username: 'victim', password: PASSWORD } });
    expect(r.status).toBe(423);
    expect(r.json.error.code).toBe('TG_E_ACCOUNT_LOCKED');
    expect((await call('POST', '/api/login', { body: { username: 'nobody', password: 'x' } })).json.error.code).toBe('TG_E_LOGIN_FAILED');
  });

  it('a second factor, once enrolled, is required and checked', async () => {
    await t.srv.ctx.store.createUser({ name: 'mfa-user', passwordHash: hashPassword(PASSWORD), role: 'secadmin', mustChange: false, disabled: false });
    const s = await login('mfa-user');
    const setup = await call('POST', '/api/totp/setup', { session: s, body: {} });
    expect(setup.json.uri).toMatch(/^otpauth:\/\/totp\/termguard:mfa-user\?secret=/);
    expect((await call('POST', '/api/totp/enable', { session: s, body: { code: '000000' } })).json.error.code).toBe('TG_E_TOTP_INVALID');
    expect((await call('POST', '/api/totp/enable', { session: s, body: { code: totp(setup.json.secret) } })).status).toBe(200);
    expect((await call('POST', '/api/login', { body: { username: 'mfa-user', password: PASSWORD } })).json.error.code).toBe('TG_E_TOTP_REQUIRED');
    expect((await call('POST', '/api/login', { body: { username: 'mfa-user', password: PASSWORD, totp: '123456' } })).json.error.code).toBe('TG_E_TOTP_INVALID');
    expect((await call('POST', '/api/login', { body: { username: 'mfa-user', password: PASSWORD, totp: totp(setup.json.secret) } })).status).toBe(200);
  });
});

describe('role matrix and CSRF', () => {
  it('every route, as every role and anonymously: only the allowed succeed', async () => {
    const sessions = new Map<Role, Session>();
    for (const role of ROLES) sessions.set(role, await login(`u-${role}`));
    const routes = API_ROUTES.filter((r) => r.url !== '/api/logout' && r.url !== '/api/login');
    expect(routes.length).toBeGreaterThan(30);
    const failures: string[] = [];
    for (const r of routes) {
      const path = r.url.replace(/:(\w+)/g, (_m, k: string) => (k === 'action' ? 'disable' : k === 'group' ? 'default' : k === 'version' ? '1' : 'no-such-thing'));
      const body = r.method === 'GET' ? undefined : {};
      const anon = await call(r.method, path, { body });
      if (r.perm === 'public') { if (anon.status === 401) failures.push(`${r.method} ${r.url} public but 401`); continue; }
      if (anon.status !== 401) failures.push(`${r.method} ${r.url} anonymous → ${anon.status}`);
      for (const role of ROLES) {
        const res = await call(r.method, path, { session: sessions.get(role)!, body });
        const allowed = r.perm === 'self' || (PERMISSIONS[r.perm] as readonly string[]).includes(role);
        if (allowed && (res.status === 401 || res.status === 403)) failures.push(`${r.method} ${r.url} as ${role}: ${res.status} ${res.body.slice(0, 120)}`);
        if (!allowed && res.status !== 403) failures.push(`${r.method} ${r.url} as ${role}: expected 403, got ${res.status}`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('a state change without the CSRF token, or with a wrong one, is refused; an API token needs none', async () => {
    const s = await login('u-secadmin');
    const policy = { policy: { usb: { mode: 'block' } } };
    expect((await call('PUT', '/api/policies/default', { session: s, csrf: null, body: policy })).json.error.code).toBe('TG_E_CSRF');
    expect((await call('PUT', '/api/policies/default', { session: s, csrf: 'forged', body: policy })).json.error.code).toBe('TG_E_CSRF');
    expect((await call('PUT', '/api/policies/default', { session: s, body: policy })).status).toBe(200);
    const admin = await login('u-admin');
    const tok = await call('POST', '/api/api-tokens', { session: admin, body: { name: 'siem', role: 'auditor' } });
    expect(tok.json.token).toMatch(/^tgk_/);
    expect((await call('GET', '/api/audit', { bearer: tok.json.token })).status).toBe(200);
    expect((await call('PUT', '/api/policies/default', { bearer: tok.json.token, body: policy })).status).toBe(403);
    await call('POST', `/api/api-tokens/${tok.json.id}/revoke`, { session: admin, body: {} });
    expect((await call('GET', '/api/audit', { bearer: tok.json.token })).status).toBe(401);
  });
});

describe('violations from agent events', () => {
  it('an egress violation becomes one open violation (a resend does not raise it twice), triaged to resolved', async () => {
    const e = newEvent('egress.violation', 'high', ['art29'], { direction: 'outbound', proto: 'tcp', remoteAddress: '203.0.113.10', remotePort: 443, process: { pid: 7, name: '<b>curl</b>' } });
    expect((await agent.post('/v1/events', { events: [e] })).status).toBe(200);
    expect((await agent.post('/v1/events', { events: [e] })).status).toBe(200);
    const repeat = newEvent('egress.violation', 'high', ['art29'], { ...e.data, repeat: true, count: 5 });
    await agent.post('/v1/events', { events: [repeat] });
    const analyst = await login('u-analyst');
    const list = await call('GET', `/api/violations?host=${agent.hostId}&type=egress.violation`, { session: analyst });
    expect(list.json.total).toBe(1);
    const v = list.json.items[0];
    expect(v).toMatchObject({ state: 'open', rule: 'egress.outbound_unauthorised', articles: ['art29', 'art31'], severity: 'high', eventId: e.id });
    expect(v.summary).toContain('<b>curl</b>'); // stored as text; the console renders it inert
    expect(Date.parse(v.dueAt) - Date.parse(v.createdAt)).toBe(72 * 3_600_000);
    expect((await call('POST', `/api/violations/${v.id}/resolve`, { session: analyst, body: {} })).json.error.code).toBe('TG_E_BAD_REQUEST');
    expect((await call('POST', `/api/violations/${v.id}/ack`, { session: analyst, body: { note: 'looking' } })).json.state).toBe('acknowledged');
    expect((await call('POST', `/api/violations/${v.id}/ack`, { session: analyst, body: {} })).json.error.code).toBe('TG_E_CONFLICT');
    const done = await call('POST', `/api/violations/${v.id}/resolve`, { session: analyst, body: { note: 'browser update blocked by proxy' } });
    expect(done.json).toMatchObject({ state: 'resolved', resolvedBy: 'u-analyst', ackedBy: 'u-analyst', owner: 'u-analyst' });
    expect(done.json.notes.map((n: { text: string }) => n.text)).toEqual(['looking', 'browser update blocked by proxy']);
    const detail = await call('GET', `/api/violations/${v.id}`, { session: analyst });
    expect(detail.json.event.id).toBe(e.id);
  });

  it('a drill started in the console becomes a drill violation when the agent answers it; its acknowledgement is timed', async () => {
    const sec = await login('u-secadmin');
    const d = await call('POST', `/api/hosts/${agent.hostId}/drill`, { session: sec, body: { note: 'quarterly' } });
    expect(d.status).toBe(200);
    const cmds = await t.srv.ctx.store.commandsAfter(agent.hostId, 0);
    const cmd = cmds.find((c) => c.type === 'drill')!;
    // A drill no one started raises nothing; the answer to ours does.
    await agent.post('/v1/events', { events: [newEvent('drill', 'high', ['art16'], { commandSeq: 999_999 }), newEvent('drill', 'high', ['art16'], { ...cmd.payload, commandSeq: cmd.seq })] });
    const list = await call('GET', '/api/violations?drill=1', { session: sec });
    expect(list.json.total).toBe(1);
    await call('POST', `/api/violations/${list.json.items[0].id}/ack`, { session: sec, body: {} });
    const drills = await call('GET', '/api/drills', { session: sec });
    expect(drills.json.items[0]).toMatchObject({ startedBy: 'u-secadmin', ackedBy: 'u-secadmin', violationId: list.json.items[0].id });
    expect(drills.json.items[0].secondsToAck).toBeGreaterThanOrEqual(0);
  });

  it('a policy published in the console reaches the agent API; the overview and the monthly report count what happened', async () => {
    const sec = await login('u-secadmin');
    const bad = await call('POST', '/api/policies/validate', { session: sec, body: { policy: { egress: { allow: ['not a range'] } } } });
    expect(bad.json.ok).toBe(false);
    expect(bad.json.error).toMatch(/^egress\.allow\[0\]/);
    const pub = await call('PUT', '/api/policies/default', { session: sec, body: { policy: { egress: { allow: ['10.0.0.0/8'] } } } });
    expect((await agent.get('/v1/policy')).json.version).toBe(pub.json.version);
    const ov = await call('GET', '/api/overview', { session: sec });
    expect(ov.json.hosts.total).toBe(1);
    expect(ov.json.trend).toHaveLength(30);
    const month = new Date().toISOString().slice(0, 7);
    const auditor = await login('u-auditor');
    const rep = await call('GET', `/api/reports/monthly?month=${month}&format=json`, { session: auditor });
    expect(rep.status).toBe(200);
    expect(rep.json.violations.opened).toBeGreaterThanOrEqual(2);
    expect(rep.json.violations.closed).toBeGreaterThanOrEqual(1);
    const html = await call('GET', `/api/reports/monthly?month=${month}&format=html`, { session: auditor });
    expect(html.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(html.body).toContain('月度');
    expect((await call('GET', '/api/reports/monthly?month=2026-13', { session: auditor })).status).toBe(400);
  });
});

describe('start-up sweep', () => {
  it('raises the violations of events committed without them (a crash between the two commits), once', async () => {
    const { sweepViolations } = await import('../../server/violations.js');
    // A hardening run's rule reads the store, so its violation is raised after the events' commit.
    const e = newEvent('host.check', 'medium', ['art31'], { profile: 'sweep-test', summary: { pass: 3, fail: 2 } });
    await t.srv.ctx.store.insertEvents(agent.hostId, [e], new Date().toISOString());
    expect((await t.srv.ctx.store.listViolations({ host: agent.hostId, type: 'host.check', state: 'unresolved' })).total).toBe(0);
    expect(await sweepViolations(t.srv.ctx)).toBe(1);
    expect(await sweepViolations(t.srv.ctx)).toBe(0);
    const after = await t.srv.ctx.store.listViolations({ host: agent.hostId, type: 'host.check', state: 'unresolved' });
    expect(after.total).toBe(1);
    expect(after.items[0]!.eventId).toBe(e.id);
  });
});

describe('alerts', () => {
  it('a new violation is forwarded to the webhook set in the console; secrets are not shown back', async () => {
    const { createServer } = await import('node:http');
    const got: { headers: Record<string, unknown>; body: Record<string, unknown> }[] = [];
    const srv = createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => { b += c.toString(); });
      req.on('end', () => { got.push({ headers: req.headers, body: JSON.parse(b) as Record<string, unknown> }); res.end('ok'); });
    }).listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    try {
      const sys = await login('u-sysadmin');
      const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/hook`;
      expect((await call('PUT', '/api/settings/alerts', { session: sys, body: { webhook: { url: 'ftp://x' } } })).status).toBe(400);
      expect((await call('PUT', '/api/settings/alerts', { session: sys, body: { webhook: { url, secret: 'a secret of enough length' } } })).status).toBe(200);
      const shown = await call('GET', '/api/settings', { session: sys });
      expect(shown.json.alerts.webhook).toEqual({ url, secret: '********' });
      const e = newEvent('egress.internet_reachable', 'critical', ['art29'], { source: 'probe', probe: 'tcp://203.0.113.10:80', interface: 'eth0' });
      await agent.post('/v1/events', { events: [e] });
      const hit = await until('webhook called', async () => got.find((g) => g.body.type === 'egress.internet_reachable'), 15_000);
      expect(hit.body).toMatchObject({ severity: 'critical', articles: ['art29', 'art31'], host: { id: agent.hostId } });
      expect(String(hit.body.summary)).toContain('tcp://203.0.113.10:80');
      expect(String(hit.headers['x-termguard-signature'])).toMatch(/^sha256=[0-9a-f]{64}$/);
    } finally {
      srv.close();
    }
  });
});

describe('audit log', () => {
  it('records changes in a hash chain; a modified row breaks verification at that row', async () => {
    const auditor = await login('u-auditor');
    const ok = await call('GET', '/api/audit/verify', { session: auditor });
    expect(ok.json.ok).toBe(true);
    expect(ok.json.rows).toBeGreaterThan(10);
    const log = await call('GET', '/api/audit?limit=1000', { session: auditor });
    const actions = new Set(log.json.items.map((r: { action: string }) => r.action));
    for (const a of ['login', 'login.failed', 'user.locked', 'user.password_changed', 'policy.publish', 'violation.ack', 'violation.resolve', 'drill.start', 'apitoken.create']) expect(actions).toContain(a);
    const db = new Database(join(t.dir, 'termguard.db'));
    db.prepare("UPDATE audit_log SET details = '{\"note\":\"edited\"}' WHERE seq = 3").run();
    db.close();
    const broken = await call('GET', '/api/audit/verify', { session: auditor });
    expect(broken.json).toEqual({ ok: false, seq: 3, reason: 'row 3 was modified' });
  });
});

describe('API description', () => {
  it('/api/openapi.json lists every route with its permission', async () => {
    const r = await call('GET', '/api/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json.paths['/api/violations/{id}/ack'].post['x-termguard-permission']).toBe('violations.triage');
    await until('escalation ran', async () => true);
  });
});
