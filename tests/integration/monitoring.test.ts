/**
 * Host monitoring end to end on this Linux machine: the real agent collects a real inventory, runs
 * the real checks, signs an attestation the server verifies on receipt, and raises an address
 * violation (art26) when the policy's assigned ranges do not cover this host. Then an auditor
 * verifies the stored attestation offline, and a tampered copy fails with the field named.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, until, type TestServer } from '../helpers/server.js';
import { inventorySnapshotSchema } from '../../shared/inventory.js';

const exec = promisify(execFile);
let t: TestServer;
beforeAll(async () => { t = await startTestServer(); });
afterAll(async () => { await t.stop(); });


describe('host monitoring', () => {
  it('reports inventory, checks, a verified attestation and unassigned addresses', async () => {
    const state = tempDir('tg-agent-');
    await exec(process.execPath, ['dist/agent/cli.js', 'enroll', '--server', t.srv.consoleUrl, '--token', await t.token(), '--ca-hash', t.caHash, '--state', state],
      { env: { ...process.env, TERMGUARD_MACHINEID: 'monitoring-test' } });
    const hostId = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId as string;
    const store = t.srv.ctx.store;
    // TEST-NET-3 only: no address of this machine is in it, so every real address is unassigned.
    await store.setPolicy('default', { network: { assigned: ['203.0.113.0/24'] } });
    const env = { ...process.env, TERMGUARD_LOGLEVEL: 'warn', TERMGUARD_INTERVALS_INVENTORYCHANGES: '5' };
    const child = spawn(process.execPath, ['dist/agent/cli.js', 'run', '--state', state], { env, stdio: 'ignore' });
    try {
      const [inv] = await until('host.inventory', async () => { const r = await store.queryEvents({ host: hostId, type: 'host.inventory' }); return r.length ? r : null; }, 90_000);
      const { durationsMs, ...snapshot } = inv!.data as Record<string, unknown>;
      expect(inventorySnapshotSchema.safeParse(snapshot).success).toBe(true);
      expect(Object.keys(durationsMs as object)).toContain('processes');
      expect((snapshot.os as { status: string }).status).toBe('ok');

      const [check] = await until('host.check', async () => { const r = await store.queryEvents({ host: hostId, type: 'host.check' }); return r.length ? r : null; }, 90_000);
      const results = check!.data.results as { id: string; status: string }[];
      expect(results.length).toBeGreaterThanOrEqual(30);
      expect(results.every((r) => ['pass', 'fail', 'not_applicable', 'error'].includes(r.status))).toBe(true);
      expect(check!.data.profile).toBe('mlps3');

      const [ip] = await until('host.ip_unassigned', async () => { const r = await store.queryEvents({ host: hostId, type: 'host.ip_unassigned' }); return r.length ? r : null; }, 90_000);
      expect(ip!.severity).toBe('high');
      expect(ip!.articles).toEqual(['art26']);
      expect((ip!.data.addresses as unknown[]).length).toBeGreaterThan(0);

      const [att] = await until('host.attestation', async () => { const r = await store.queryEvents({ host: hostId, type: 'host.attestation' }); return r.length ? r : null; }, 90_000);
      // An auditor downloads it and verifies it offline against the CA alone.
      const file = join(state, 'attestation.json');
      writeFileSync(file, JSON.stringify(att!.data));
      const caFile = join(t.dir, 'ca.crt');
      const ok = await exec(process.execPath, ['dist/server/cli.js', 'attest', 'verify', file, '--ca', caFile, '--html', join(state, 'att.html')]);
      expect(ok.stdout).toMatch(new RegExp(`^valid: host ${hostId} `));
      expect(readFileSync(join(state, 'att.html'), 'utf8')).toContain('终端安全加固证明');
      const tampered = JSON.parse(JSON.stringify(att!.data));
      const i = tampered.body.checks.findIndex((c: { status: string }) => c.status === 'fail');
      tampered.body.checks[i].status = 'pass';
      writeFileSync(file, JSON.stringify(tampered));
      const bad = await exec(process.execPath, ['dist/server/cli.js', 'attest', 'verify', file, '--ca', caFile]).then(() => null, (e: { code: number; stderr: string }) => e);
      expect(bad?.code).toBe(1);
      expect(bad?.stderr).toContain(`body.checks[${i}] (${tampered.body.checks[i].id}): changed after signing`);
      // A server refuses an attestation that does not verify.
      expect((await store.queryEvents({ host: hostId, type: 'host.attestation' }))).toHaveLength(1);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }, 180_000);

  it('termguard-agent attest makes one on demand, writes it and sends it', async () => {
    const state = tempDir('tg-agent-');
    await exec(process.execPath, ['dist/agent/cli.js', 'enroll', '--server', t.srv.consoleUrl, '--token', await t.token(), '--ca-hash', t.caHash, '--state', state],
      { env: { ...process.env, TERMGUARD_MACHINEID: 'attest-cli-test' } });
    const hostId = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId as string;
    const out = join(state, 'attestation.json');
    const r = await exec(process.execPath, ['dist/agent/cli.js', 'attest', '--state', state, '--out', out], { timeout: 120_000 });
    expect(r.stderr).toContain(`attestation sent to the server (host ${hostId})`);
    const file = JSON.parse(readFileSync(out, 'utf8'));
    expect(file.body.hostId).toBe(hostId);
    expect(file.body.checks.length).toBeGreaterThanOrEqual(30);
    expect(file.certificate).toContain('BEGIN CERTIFICATE');
    const v = await exec(process.execPath, ['dist/server/cli.js', 'attest', 'verify', out, '--ca', join(t.dir, 'ca.crt')]);
    expect(v.stdout).toContain(`valid: host ${hostId}`);
    const stored = await t.srv.ctx.store.queryEvents({ host: hostId, type: 'host.attestation' });
    expect(stored.map((e) => (e.data as { signature: { value: string } }).signature.value)).toEqual([file.signature.value]);
    expect(await t.srv.ctx.store.countEvents({ host: hostId, type: 'host.inventory' })).toBe(1);
  }, 150_000);
});
