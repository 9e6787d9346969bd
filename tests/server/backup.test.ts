/**
 * backup / restore through the real CLI while a real server ingests: the copy is consistent,
 * encrypted (no key material in the clear), restorable with the passphrase only, and any change to
 * the file is detected before anything is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SqliteStore } from '../../server/store/sqlite.js';
import { newEvent } from '../../shared/events.js';
import { enrollTestAgent, startTestServer, tempDir, type TestAgent, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
const PASS = 'correct horse battery staple';
let t: TestServer;
let agent: TestAgent;
const work = tempDir('tg-backup-');
beforeAll(async () => { t = await startTestServer(); agent = await enrollTestAgent(t); }, 60_000);
afterAll(async () => { await t?.stop(); rmSync(work, { recursive: true, force: true }); });

const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, ['dist/server/cli.js', ...args], { env: { ...process.env, ...env } });

describe('backup and restore', () => {
  it('backs up online while events arrive, and restores everything acknowledged before it started', async () => {
    const before: string[] = [];
    for (let i = 0; i < 20; i++) {
      const batch = Array.from({ length: 100 }, () => newEvent('agent.heartbeat', 'low', [], { i }));
      const r = await agent.post('/v1/events', { events: batch });
      before.push(...(r.json.acked as string[]));
    }
    let writing = true;
    const during = (async () => {
      while (writing) await agent.post('/v1/events', { events: Array.from({ length: 200 }, () => newEvent('agent.heartbeat', 'low', [], {})) });
    })();
    const out = join(work, 'tg.backup');
    const r = await cli(['backup', '--data', t.dir, '--out', out], { TERMGUARD_BACKUP_PASSPHRASE: PASS });
    writing = false;
    await during;
    expect(r.stdout).toMatch(/backup written to .* termguard\.db/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const raw = readFileSync(out);
    expect(raw.includes('PRIVATE KEY')).toBe(false);
    expect(raw.includes(readFileSync(join(t.dir, 'ca.crt')).subarray(30, 90))).toBe(false);

    const target = join(work, 'restored');
    const passFile = join(work, 'pass');
    writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 });
    await cli(['restore', '--data', target, out, '--passphrase-file', passFile]);
    expect(readFileSync(join(target, 'ca.key'), 'utf8')).toBe(readFileSync(join(t.dir, 'ca.key'), 'utf8'));
    expect(statSync(join(target, 'ca.key')).mode & 0o777).toBe(0o600);
    const s = new SqliteStore(join(target, 'termguard.db'));
    try {
      for (const id of before) expect(await s.getEvent(id)).not.toBeNull();
      expect((await s.listHosts()).map((h) => h.id)).toEqual([agent.hostId]);
    } finally {
      await s.close();
    }
    // The restored directory serves: hosts list works through the CLI.
    expect((await cli(['hosts', '--data', target, '--json'])).stdout).toContain(agent.hostId);
  }, 120_000);

  it('refuses without a passphrase, with a wrong one, on a modified file, and over a data directory in use', async () => {
    const out = join(work, 'tg2.backup');
    await expect(cli(['backup', '--data', t.dir, '--out', out], { TERMGUARD_BACKUP_PASSPHRASE: '' })).rejects.toMatchObject({ stderr: expect.stringMatching(/passphrase is required/) });
    await cli(['backup', '--data', t.dir, '--out', out], { TERMGUARD_BACKUP_PASSPHRASE: PASS });
    const target = join(work, 'r2');
    await expect(cli(['restore', '--data', target, out], { TERMGUARD_BACKUP_PASSPHRASE: 'not the passphrase' })).rejects.toMatchObject({ stderr: expect.stringMatching(/wrong passphrase, or the backup was modified/) });
    expect(readdirSync(target).filter((f) => !f.startsWith('.'))).toEqual([]);
    const bad = Buffer.from(readFileSync(out));
    bad[bad.length - 100] ^= 1;
    writeFileSync(join(work, 'bad.backup'), bad);
    await expect(cli(['restore', '--data', target, join(work, 'bad.backup')], { TERMGUARD_BACKUP_PASSPHRASE: PASS })).rejects.toMatchObject({ stderr: expect.stringMatching(/authentication failed/) });
    await expect(cli(['restore', '--data', t.dir, out], { TERMGUARD_BACKUP_PASSPHRASE: PASS })).rejects.toMatchObject({ stderr: expect.stringMatching(/not empty/) });
  }, 120_000);
});
