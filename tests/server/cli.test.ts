/** The server command as the contract says: help, version, init refusing to overwrite, retention floor, tokens, policy. */
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import { tempDir } from '../helpers/server.js';

const exec = promisify(execFile);
async function cli(bin: 'server' | 'agent', args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [`dist/${bin}/cli.js`, ...args], { timeout: 60_000 });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('termguard-server', () => {
  it('prints --help and --version for both commands', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const bin of ['server', 'agent'] as const) {
      const v = await cli(bin, ['--version']);
      expect(v.code).toBe(0);
      expect(v.stdout.trim()).toBe(pkg.version);
      const h = await cli(bin, ['--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain(`termguard-${bin}`);
    }
  });

  it('init makes an RSA-3072 CA with a 0600 key, prints the CA hash and a one-time admin password, and refuses to overwrite', async () => {
    const data = tempDir('tg-init-');
    const r = await cli('server', ['init', '--data', data, '--host', 'tg.example', '--host', '127.0.0.1']);
    expect(r.code).toBe(0);
    const hash = /CA hash: (sha256:[0-9a-f]{64})/.exec(r.stdout)?.[1];
    expect(r.stdout).toMatch(/^admin password: \S+$/m);
    const der = new X509Certificate(readFileSync(join(data, 'ca.crt'))).raw;
    expect(hash).toBe('sha256:' + createHash('sha256').update(der).digest('hex'));
    expect(statSync(join(data, 'ca.key')).mode & 0o777).toBe(0o600);
    // The database (events, password hashes) is the owner's alone, whatever the umask.
    expect(statSync(join(data, 'termguard.db')).mode & 0o777).toBe(0o600);
    expect(new X509Certificate(readFileSync(join(data, 'ca.crt'))).publicKey.asymmetricKeyDetails?.modulusLength).toBeGreaterThanOrEqual(3072);
    const san = new X509Certificate(readFileSync(join(data, 'server.crt'))).subjectAltName;
    expect(san).toContain('DNS:tg.example');
    expect(san).toContain('IP Address:127.0.0.1');
    const caBefore = readFileSync(join(data, 'ca.crt'), 'utf8');
    const again = await cli('server', ['init', '--data', data]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: TG_E_CA_EXISTS: .+\n$/);
    expect(readFileSync(join(data, 'ca.crt'), 'utf8')).toBe(caBefore);
  });

  it('refuses a retention shorter than 184 days (art19)', async () => {
    const data = tempDir('tg-init-');
    const r = await cli('server', ['init', '--data', data, '--retention-days', '180']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TG_E_RETENTION_TOO_SHORT');
    const ok = await cli('server', ['init', '--data', data, '--retention-days', '184']);
    expect(ok.code).toBe(0);
    // A config edited by hand below the floor is refused at start.
    const cfgPath = join(data, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), retentionDays: 90 }));
    const start = await cli('server', ['start', '--data', data, '--agent-port', '0', '--console-port', '0']);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain('TG_E_RETENTION_TOO_SHORT');
  });

  it('creates, lists and revokes tokens, printing the full enroll line', async () => {
    const data = tempDir('tg-init-');
    const init = await cli('server', ['init', '--data', data]);
    const hash = /CA hash: (\S+)/.exec(init.stdout)![1]!;
    const c = await cli('server', ['token', 'create', '--data', data, '--uses', '3', '--ttl', '2h']);
    expect(c.code).toBe(0);
    const token = /^token: ([A-Za-z0-9_-]+)$/m.exec(c.stdout)![1]!;
    expect(c.stdout).toContain(`termguard-agent enroll --server https://localhost:8444 --token ${token} --ca-hash ${hash}`);
    const id = /^token id: (\S+)$/m.exec(c.stdout)![1]!;
    const list = (await cli('server', ['token', 'list', '--data', data])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(list).toEqual([expect.objectContaining({ id, state: 'active', usesLeft: 3, usesTotal: 3 })]);
    expect(JSON.stringify(list)).not.toContain(token);
    expect((await cli('server', ['token', 'revoke', id, '--data', data])).code).toBe(0);
    expect(JSON.parse((await cli('server', ['token', 'list', '--data', data])).stdout).state).toBe('revoked');
    const missing = await cli('server', ['token', 'revoke', 'nope', '--data', data]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('TG_E_NOT_FOUND');
  });

  it('checks, sets and gets policies; the defaults audit and never enforce', async () => {
    const data = tempDir('tg-init-');
    await cli('server', ['init', '--data', data]);
    const fresh = JSON.parse((await cli('server', ['policy', 'get', '--data', data])).stdout);
    expect(fresh.version).toBe(0);
    expect(fresh.policy).toEqual({
      usb: { mode: 'audit', allow: [], rules: [], auditFiles: true },
      egress: { allow: [], probes: [], enforce: false },
      network: { assigned: [] },
      checks: { profile: 'mlps3', exclude: [] },
    });
    const good = join(data, 'good.json');
    writeFileSync(good, JSON.stringify({ usb: { mode: 'block', allow: [{ vendorId: '0781', productId: '5567' }] }, egress: { allow: ['10.0.0.0/8', '198.18.0.0/15:443', '[2001:db8::]/32:443'] } }));
    expect((await cli('server', ['policy', 'check', good])).code).toBe(0);
    const bad = join(data, 'bad.json');
    writeFileSync(bad, JSON.stringify({ egress: { allow: ['10.0.0.0/8', 'internet'] } }));
    const r = await cli('server', ['policy', 'check', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: TG_E_POLICY_INVALID: .*egress\.allow\[1\]: not a destination/);
    const badRule = join(data, 'bad-rule.json');
    writeFileSync(badRule, JSON.stringify({ usb: { rules: ['allow id 0781:5567', 'block with-interface one-of { 08:*:* 6:*:* }'] } }));
    const rr = await cli('server', ['policy', 'check', badRule]);
    expect(rr.code).toBe(1);
    expect(rr.stderr).toMatch(/usb\.rules\[1\]: rule 2, column \d+: /);
    const unknown = join(data, 'unknown.json');
    writeFileSync(unknown, JSON.stringify({ usb: { mode: 'block', colour: 'red' } }));
    expect((await cli('server', ['policy', 'check', unknown])).stderr).toContain('colour');
    expect((await cli('server', ['policy', 'set', good, '--data', data])).stdout).toContain('version 1');
    expect((await cli('server', ['policy', 'set', good, '--data', data, '--group', 'trading'])).stdout).toContain('group trading is now version 2');
    const got = JSON.parse((await cli('server', ['policy', 'get', '--data', data])).stdout);
    expect(got.version).toBe(1);
    expect(got.policy.usb.mode).toBe('block');
    expect(got.policy.egress.enforce).toBe(false);
  });

  it('rejects --store URLs it cannot serve with a one-line error', async () => {
    const data = tempDir('tg-init-');
    const r = await cli('server', ['init', '--data', data, '--store', 'mysql://x']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('TG_E_CONFIG');
  });

  it('adds, resets and disables console users with hashed one-time passwords', async () => {
    const data = tempDir('tg-init-');
    await cli('server', ['init', '--data', data]);
    const add = await cli('server', ['user', 'add', 'wang', '--role', 'secadmin', '--data', data]);
    expect(add.code).toBe(0);
    const pw = /^password: (\S+)$/m.exec(add.stdout)![1]!;
    const { SqliteStore } = await import('../../server/store/sqlite.js');
    const { verifyPassword } = await import('../../server/auth/secrets.js');
    const s1 = new SqliteStore(join(data, 'termguard.db'));
    const u = (await s1.getUser('wang'))!;
    await s1.close();
    expect(u).toMatchObject({ role: 'secadmin', mustChange: true, disabled: false });
    expect(u.passwordHash).not.toContain(pw);
    expect(verifyPassword(pw, u.passwordHash)).toBe(true);
    expect((await cli('server', ['user', 'add', 'wang', '--data', data])).stderr).toContain('already exists');
    expect((await cli('server', ['user', 'add', 'x', '--role', 'root', '--data', data])).code).not.toBe(0);
    const reset = await cli('server', ['user', 'reset', 'wang', '--data', data]);
    const pw2 = /^password: (\S+)$/m.exec(reset.stdout)![1]!;
    expect(pw2).not.toBe(pw);
    expect((await cli('server', ['user', 'disable', 'wang', '--data', data])).code).toBe(0);
    const s2 = new SqliteStore(join(data, 'termguard.db'));
    const after = (await s2.getUser('wang'))!;
    await s2.close();
    expect(after.disabled).toBe(true);
    expect(verifyPassword(pw2, after.passwordHash)).toBe(true);
    expect((await cli('server', ['user', 'disable', 'nobody', '--data', data])).stderr).toContain('TG_E_NOT_FOUND');
  });
});
