/**
 * Enrollment with the real `termguard-agent enroll` command against a running server: CA pinning,
 * token states with distinct codes, the private key never on the wire, re-enrollment with proof of
 * key, clone detection, renewal and expired-certificate recovery.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, request } from 'node:https';
import { readFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { startTestServer, enrollTestAgent, tempDir, https, agentFor, type TestServer } from '../helpers/server.js';
import { generateAgentKey, makeCsr, signData, certInfo, spkiSha256 } from '../../shared/pki.js';
import { issueAgentCert } from '../../server/pki/ca.js';
import { createEnrollToken } from '../../server/tokens.js';
import { hashSecret } from '../../server/auth/secrets.js';

const exec = promisify(execFile);

let t: TestServer;
beforeAll(async () => { t = await startTestServer(); });
afterAll(async () => { await t.stop(); });

async function agentCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, ['dist/agent/cli.js', ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

const enrollArgs = (state: string, token: string, caHash = t.caHash, server = t.srv.consoleUrl) =>
  ['enroll', '--server', server, '--token', token, '--ca-hash', caHash, '--state', state];

async function enrollRaw(body: Record<string, unknown>) {
  return https(`${t.srv.consoleUrl}/v1/enroll`, {
    method: 'POST', ca: t.srv.ctx.ca.certPem, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
}

function csrBody(token: string, machineId = `m-${Math.random()}`) {
  const k = generateAgentKey();
  return { token, csr: makeCsr(k.privateKeyPem, k.publicKeyPem, 'h'), hostname: 'h', machineId };
}

describe('termguard-agent enroll', () => {
  it('enrolls: key 0600 made locally, certificate for the host id, CA and agent URL stored', async () => {
    const state = tempDir('tg-agent-');
    const r = await agentCli(enrollArgs(state, await t.token()), { TERMGUARD_MACHINEID: 'machine-ok' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(statSync(join(state, 'agent.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(state, 'renewal.secret')).mode & 0o777).toBe(0o600);
    const st = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8'));
    expect(st.agentUrl).toBe(`https://127.0.0.1:${t.srv.agentPort}`);
    const cert = certInfo(readFileSync(join(state, 'agent.crt'), 'utf8'));
    expect(cert.commonName).toBe(st.hostId);
    expect(cert.spkiSha256).toBe(spkiSha256(readFileSync(join(state, 'agent.key'), 'utf8')));
    expect(Math.round((cert.notAfter.getTime() - Date.now()) / 86_400_000)).toBe(90);
    expect(readFileSync(join(state, 'ca.crt'), 'utf8')).toBe(t.srv.ctx.ca.certPem);
    const host = await t.srv.ctx.store.getHost(st.hostId);
    expect(host?.status).toBe('active');
    expect((await t.srv.ctx.store.getCert(cert.serial))?.hostId).toBe(st.hostId);
  });

  it('takes the token from --token-file (0600) or TERMGUARD_TOKEN, so it stays off the command line', async () => {
    const dir = tempDir('tg-tokfile-');
    const file = join(dir, 'token');
    writeFileSync(file, `${await t.token()}\n`, { mode: 0o600 });
    const noToken = (state: string) => ['enroll', '--server', t.srv.consoleUrl, '--ca-hash', t.caHash, '--state', state];
    const a = tempDir('tg-agent-');
    const r = await agentCli([...noToken(a), '--token-file', file], { TERMGUARD_MACHINEID: 'machine-tokfile' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^enrolled as host /);
    expect(existsSync(join(a, 'agent.crt'))).toBe(true);
    const b = tempDir('tg-agent-');
    const e = await agentCli(noToken(b), { TERMGUARD_MACHINEID: 'machine-tokenv', TERMGUARD_TOKEN: await t.token() });
    expect(e.stderr).toBe('');
    expect(existsSync(join(b, 'agent.crt'))).toBe(true);
  });

  it('run enrolls from <state>/enroll.json at first start (the MSI path), deletes it, and a bad file fails the start and stays', async () => {
    const state = tempDir('tg-agent-');
    const bad = join(state, 'enroll.json');
    writeFileSync(bad, JSON.stringify({ server: 'http://plain.example', token: 'x', caHash: 'nope' }), { mode: 0o600 });
    const refused = await agentCli(['run', '--state', state]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/TG_E_USAGE: .*enroll\.json needs \{"server"/);
    expect(existsSync(bad)).toBe(true);
    expect(existsSync(join(state, 'agent.key'))).toBe(false);

    writeFileSync(bad, JSON.stringify({ server: t.srv.consoleUrl, token: await t.token(), caHash: t.caHash }), { mode: 0o600 });
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['dist/agent/cli.js', 'run', '--state', state], { env: { ...process.env, TERMGUARD_MACHINEID: 'machine-enroll-file' }, stdio: 'ignore' });
    try {
      const deadline = Date.now() + 30_000;
      while (!existsSync(join(state, 'state.json')) || existsSync(bad)) {
        expect(Date.now() < deadline, 'run did not enroll from enroll.json within 30 s').toBe(true);
        await new Promise((r) => setTimeout(r, 100));
      }
      const hostId = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId as string;
      expect(statSync(join(state, 'agent.key')).mode & 0o777).toBe(0o600);
      while ((await t.srv.ctx.store.countEvents({ host: hostId, type: 'agent.started' })) === 0) {
        expect(Date.now() < deadline, 'the enrolled agent sent nothing').toBe(true);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('refuses a token file readable by others, two token sources, and none, before making a key', async () => {
    const dir = tempDir('tg-tokfile-');
    const file = join(dir, 'token');
    writeFileSync(file, 'tok_x\n', { mode: 0o644 });
    const state = tempDir('tg-agent-');
    const base = ['enroll', '--server', t.srv.consoleUrl, '--ca-hash', t.caHash, '--state', state];
    const open = await agentCli([...base, '--token-file', file]);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/^error: TG_E_USAGE: --token-file .* is readable by group or others; chmod 600 it\n$/);
    const both = await agentCli([...base, '--token-file', file], { TERMGUARD_TOKEN: 'tok_y' });
    expect(both.stderr).toMatch(/^error: TG_E_USAGE: give the token once/);
    const none = await agentCli(base, { TERMGUARD_TOKEN: '' });
    expect(none.stderr).toMatch(/^error: TG_E_USAGE: a token is needed/);
    writeFileSync(join(dir, 'empty'), '\n', { mode: 0o600 });
    const empty = await agentCli([...base, '--token-file', join(dir, 'empty')]);
    expect(empty.stderr).toMatch(/must hold the token alone on one line/);
    expect(existsSync(join(state, 'agent.key'))).toBe(false);
  });

  it('refuses a server whose CA does not match --ca-hash, before making a key', async () => {
    const state = tempDir('tg-agent-');
    const wrong = 'sha256:' + '0'.repeat(64);
    const r = await agentCli(enrollArgs(state, await t.token(), wrong));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: TG_E_CA_MISMATCH: .*refusing to enroll\n$/);
    expect(existsSync(join(state, 'agent.key'))).toBe(false);
  });

  it('refuses expired, exhausted, revoked and unknown tokens with distinct codes', async () => {
    const store = t.srv.ctx.store;
    const expired = await createEnrollToken(store, { ttlMs: 1, now: new Date(Date.now() - 1000) });
    const once = await createEnrollToken(store, { uses: 1 });
    expect((await enrollRaw(csrBody(once.token))).status).toBe(200);
    const revoked = await createEnrollToken(store, { uses: 5 });
    expect(await store.revokeToken(revoked.id)).toBe(true);
    const cases: [string, string][] = [
      [expired.token, 'TG_E_TOKEN_EXPIRED'], [once.token, 'TG_E_TOKEN_EXHAUSTED'],
      [revoked.token, 'TG_E_TOKEN_REVOKED'], ['no-such-token', 'TG_E_TOKEN_UNKNOWN'],
    ];
    const hostsBefore = (await store.listHosts()).length;
    for (const [token, code] of cases) {
      const r = await enrollRaw(csrBody(token));
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe(code);
    }
    expect((await store.listHosts()).length).toBe(hostsBefore);
    // The agent command shows the code too.
    const r = await agentCli(enrollArgs(tempDir('tg-agent-'), once.token));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TG_E_TOKEN_EXHAUSTED');
    // Tokens are stored hashed only.
    const rows = (t.srv.ctx.store as unknown as { db: { prepare(s: string): { all(): { hash: string }[] } } }).db.prepare('SELECT hash FROM tokens').all();
    expect(rows.some((x) => x.hash === once.token)).toBe(false);
    expect(rows.some((x) => x.hash === hashSecret(once.token))).toBe(true);
  });

  it('a bad CSR costs no token use', async () => {
    const tok = await createEnrollToken(t.srv.ctx.store, { uses: 1 });
    const bad = await enrollRaw({ ...csrBody(tok.token), csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('TG_E_BAD_CSR');
    expect((await enrollRaw(csrBody(tok.token))).status).toBe(200);
  });

  it('never sends the private key: the enroll request carries only token, CSR, hostname and machine id', async () => {
    // A recording reverse proxy in front of the console listener, with the server's own certificate.
    const seen: { method: string; url: string; body: string }[] = [];
    const paths = { key: join(t.dir, 'server.key'), cert: join(t.dir, 'server.crt') };
    const proxy = createServer({ key: readFileSync(paths.key), cert: readFileSync(paths.cert) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method!, url: req.url!, body: body.toString('utf8') });
        const up = request(`${t.srv.consoleUrl}${req.url}`, { method: req.method, headers: req.headers, ca: t.srv.ctx.ca.certPem }, (ur) => {
          res.writeHead(ur.statusCode!, ur.headers);
          ur.pipe(res);
        });
        up.end(body);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const port = (proxy.address() as { port: number }).port;
      const state = tempDir('tg-agent-');
      const r = await agentCli(enrollArgs(state, await t.token(), t.caHash, `https://127.0.0.1:${port}`), { TERMGUARD_MACHINEID: 'machine-wire' });
      expect(r.code).toBe(0);
      const enrollReq = seen.find((s) => s.url === '/v1/enroll')!;
      const body = JSON.parse(enrollReq.body);
      expect(Object.keys(body).sort()).toEqual(['csr', 'hostname', 'machineId', 'token']);
      const keyPem = readFileSync(join(state, 'agent.key'), 'utf8');
      const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
      const all = seen.map((s) => s.body).join('\n');
      expect(all).not.toContain('PRIVATE KEY');
      expect(all).not.toContain(keyPem.split('\n')[1]!);
      expect(all).not.toContain(der.toString('base64').slice(40, 100));
      expect(all).not.toContain(der.subarray(36, 68).toString('hex'));
      // The CSR carries the public half of that key.
      const pubPem = createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
      const { verifyCsr } = await import('../../server/pki/ca.js');
      expect(verifyCsr(body.csr).spkiSha256).toBe(spkiSha256(pubPem));
    } finally {
      proxy.close();
    }
  });

  it('keeps the host id when a known machine re-enrolls with its current key', async () => {
    const state = tempDir('tg-agent-');
    const env = { TERMGUARD_MACHINEID: 'machine-reenroll' };
    expect((await agentCli(enrollArgs(state, await t.token()), env)).code).toBe(0);
    const first = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId;
    const r = await agentCli(enrollArgs(state, await t.token()), env);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId).toBe(first);
    expect((await t.srv.ctx.store.hostsByMachineId('machine-reenroll')).length).toBe(1);
  });

  it('keeps the host id for a new key only with a valid proof by the current key', async () => {
    const old = generateAgentKey();
    const a = await enrollTestAgent(t, { machineId: 'machine-rekey', key: old });
    const next = generateAgentKey();
    const csr = makeCsr(next.privateKeyPem, next.publicKeyPem, 'h');
    const sig = signData(old.privateKeyPem, createHash('sha256').update(csr).digest());
    const forged = signData(next.privateKeyPem, createHash('sha256').update(csr).digest());
    const bad = await enrollRaw({ token: await t.token(), csr, hostname: 'h', machineId: 'machine-rekey', proof: { certificate: a.cert, signature: forged } });
    expect(bad.status).toBe(401);
    expect(bad.json.error.code).toBe('TG_E_BAD_PROOF');
    const ok = await enrollRaw({ token: await t.token(), csr, hostname: 'h', machineId: 'machine-rekey', proof: { certificate: a.cert, signature: sig } });
    expect(ok.status).toBe(200);
    expect(ok.json.hostId).toBe(a.hostId);
    expect((await t.srv.ctx.store.getHost(a.hostId))?.spki).toBe(spkiSha256(next.publicKeyPem));
  });

  it('flags a second key with the same machine id as a clone, never merges it', async () => {
    const env = { TERMGUARD_MACHINEID: 'machine-cloned' };
    const s1 = tempDir('tg-agent-');
    const s2 = tempDir('tg-agent-');
    expect((await agentCli(enrollArgs(s1, await t.token()), env)).code).toBe(0);
    const r = await agentCli(enrollArgs(s2, await t.token()), env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('clone');
    const id1 = JSON.parse(readFileSync(join(s1, 'state.json'), 'utf8')).hostId;
    const id2 = JSON.parse(readFileSync(join(s2, 'state.json'), 'utf8')).hostId;
    expect(id2).not.toBe(id1);
    const clone = await t.srv.ctx.store.getHost(id2);
    expect(clone?.status).toBe('clone');
    expect(clone?.cloneOf).toBe(id1);
    expect((await t.srv.ctx.store.getHost(id1))?.status).toBe('active');
    const flagged = await t.srv.ctx.store.queryEvents({ host: id1, type: 'host.clone_detected' });
    expect(flagged).toHaveLength(1);
    expect(flagged[0]!.data.cloneHostId).toBe(id2);
    // The violation is raised with the event, not at the next start-up.
    const v = await t.srv.ctx.store.listViolations({ host: id1, type: 'host.clone_detected' });
    expect(v.total).toBe(1);
    expect(v.items[0]!.eventId).toBe(flagged[0]!.id);
  });

  it('recovers an expired certificate with the renewal secret and the same key, without a token', async () => {
    const state = tempDir('tg-agent-');
    expect((await agentCli(enrollArgs(state, await t.token()), { TERMGUARD_MACHINEID: 'machine-expired' })).code).toBe(0);
    const st = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8'));
    const keyPem = readFileSync(join(state, 'agent.key'), 'utf8');
    const pub = createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
    // The agent was offline past its certificate's end.
    const expired = issueAgentCert(t.srv.ctx.ca, { csrPem: makeCsr(keyPem, pub, 'x'), hostId: st.hostId, days: 1, now: new Date(Date.now() - 10 * 86_400_000) });
    writeFileSync(join(state, 'agent.crt'), expired.certPem);
    const oldSecret = readFileSync(join(state, 'renewal.secret'), 'utf8');
    // A wrong secret is refused.
    const denied = await https(`${t.srv.consoleUrl}/v1/recover`, {
      method: 'POST', ca: t.srv.ctx.ca.certPem, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hostId: st.hostId, csr: makeCsr(keyPem, pub, 'x'), secret: 'guess' }),
    });
    expect(denied.json.error.code).toBe('TG_E_RENEWAL_DENIED');
    // The secret alone, without the key, is refused too.
    const other = generateAgentKey();
    const stolen = await https(`${t.srv.consoleUrl}/v1/recover`, {
      method: 'POST', ca: t.srv.ctx.ca.certPem, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hostId: st.hostId, csr: makeCsr(other.privateKeyPem, other.publicKeyPem, 'x'), secret: oldSecret }),
    });
    expect(stolen.json.error.code).toBe('TG_E_RENEWAL_DENIED');

    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['dist/agent/cli.js', 'run', '--state', state], { stdio: 'ignore', env: { ...process.env, TERMGUARD_LOGLEVEL: 'warn' } });
    try {
      const deadline = Date.now() + 30_000;
      let started = 0;
      while (Date.now() < deadline && started === 0) {
        started = await t.srv.ctx.store.countEvents({ host: st.hostId, type: 'agent.started' });
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(started).toBe(1);
      const now = certInfo(readFileSync(join(state, 'agent.crt'), 'utf8'));
      expect(now.notAfter.getTime()).toBeGreaterThan(Date.now() + 80 * 86_400_000);
      expect(readFileSync(join(state, 'renewal.secret'), 'utf8')).not.toBe(oldSecret);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('renews over mutual TLS when a third of the lifetime is left', async () => {
    const k = generateAgentKey();
    const a = await enrollTestAgent(t, { key: k });
    // A certificate with 20 of 90 days left.
    const aging = issueAgentCert(t.srv.ctx.ca, { csrPem: makeCsr(k.privateKeyPem, k.publicKeyPem, 'x'), hostId: a.hostId, days: 90, now: new Date(Date.now() - 70 * 86_400_000) });
    await t.srv.ctx.store.addCert({ serial: aging.serial, hostId: a.hostId, spki: aging.spkiSha256, notBefore: aging.notBefore.toISOString(), notAfter: aging.notAfter.toISOString() });
    const state = tempDir('tg-agent-');
    writeFileSync(join(state, 'agent.key'), k.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(state, 'agent.crt'), aging.certPem);
    writeFileSync(join(state, 'ca.crt'), t.srv.ctx.ca.certPem);
    writeFileSync(join(state, 'renewal.secret'), a.renewalSecret, { mode: 0o600 });
    writeFileSync(join(state, 'state.json'), JSON.stringify({ hostId: a.hostId, serverUrl: t.srv.consoleUrl, agentUrl: t.srv.agentUrl, enrolledAt: new Date().toISOString(), machineId: 'x', policyVersion: 0, commandCursor: 0 }));
    const { Renewer } = await import('../../agent/transport/renewal.js');
    const { AgentClient } = await import('../../agent/transport/client.js');
    const pino = (await import('pino')).default;
    const st = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8'));
    const client = new AgentClient(state, () => st);
    const renewer = new Renewer(state, () => client, 3_600_000, () => client.reload(), pino({ level: 'silent' }));
    try {
      expect(renewer.due().due).toBe(true);
      expect(await renewer.renewOnce()).toBe(true);
      const renewed = certInfo(readFileSync(join(state, 'agent.crt'), 'utf8'));
      expect(renewed.serial).not.toBe(aging.serial);
      expect(renewed.commonName).toBe(a.hostId);
      expect(renewer.due().due).toBe(false);
      expect(await renewer.renewOnce()).toBe(false);
      // The renewed certificate works on the agent listener.
      const fresh = agentFor(t, { ...a, cert: readFileSync(join(state, 'agent.crt'), 'utf8') });
      expect((await fresh.get('/v1/policy')).status).toBe(200);
    } finally {
      client.close();
    }
  });
});
