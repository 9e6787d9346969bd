/**
 * The win32 catalogue against its fixtures: every check passes on its pass/ fixture and fails on
 * its fail/ fixture (tests/fixtures/win32/checks/<id>/), and never throws on an empty host.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { win32Checks } from '../../../agent/checks/win32/index.js';
import { fixtureContext, fixtureRunner } from '../../helpers/fixture-context.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'win32', 'checks');
const CJK = /[\u4e00-\u9fff]/;

function run(id: string, kase: string) {
  const c = win32Checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c.run(fixtureContext(join(FIXTURES, id, kase), 'win32'));
}

describe('win32 catalogue', () => {
  it('has at least 32 checks with unique, well-formed ids', () => {
    expect(win32Checks.length).toBeGreaterThanOrEqual(32);
    const ids = win32Checks.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^win32\.[a-z0-9_]+\.[a-z0-9_]+$/);
  });

  it('describes every check in both languages, for the mlps3 profile', () => {
    for (const c of win32Checks) {
      expect(c.os, c.id).toBe('win32');
      expect(c.title.en.trim(), c.id).not.toBe('');
      expect(c.remediation.en.trim(), c.id).not.toBe('');
      expect(c.title.zh, c.id).toMatch(CJK);
      expect(c.remediation.zh, c.id).toMatch(CJK);
      expect(c.mlps, c.id).toMatch(/^8\.1\.4\.\d/);
      expect(c.articles, c.id).toEqual(expect.arrayContaining(['art9', 'art31']));
      expect(c.profiles, c.id).toContain('mlps3');
    }
  });

  it('has a pass and a fail fixture for every check', () => {
    for (const c of win32Checks) {
      expect(existsSync(join(FIXTURES, c.id, 'pass', 'commands.json')), `${c.id}/pass`).toBe(true);
      expect(existsSync(join(FIXTURES, c.id, 'fail', 'commands.json')), `${c.id}/fail`).toBe(true);
    }
  });
});

describe.each(win32Checks.map((c) => [c.id]))('%s', (id) => {
  it('passes on its pass fixture', async () => {
    const o = await run(id, 'pass');
    expect(o.status, JSON.stringify(o)).toBe('pass');
    expect(Object.keys(o.evidence).length).toBeGreaterThan(0);
  });

  it('fails on its fail fixture, with a reason', async () => {
    const o = await run(id, 'fail');
    expect(o.status, JSON.stringify(o)).toBe('fail');
    expect(o.reason).toBeTruthy();
  });

  it('answers error or not_applicable, never a throw, when no tool is there', async () => {
    const o = await win32Checks.find((c) => c.id === id)!.run(fixtureContext(join(FIXTURES, '_no_such_host'), 'win32'));
    expect(['error', 'not_applicable']).toContain(o.status);
    expect(o.reason).toBeTruthy();
  });
});

describe('win32 edge cases', () => {
  it('accepts a third-party product from Security Center when Defender is passive', async () => {
    const o = await run('win32.malware.av_enabled', 'third-party');
    expect(o.status).toBe('pass');
    expect(JSON.stringify(o.evidence)).toContain('360杀毒');
  });

  it('finds a recent cumulative update in the local Windows Update history when Get-HotFix has none', async () => {
    const o = await run('win32.patch.recent_security_update', 'history-only');
    expect(o.status).toBe('pass');
    expect(o.evidence.source).toBe('Windows Update history');
  });

  it('reads a stopped Windows Time service as a failure, not an error', async () => {
    const o = await run('win32.system.time_sync', 'service-stopped');
    expect(o.status).toBe('fail');
  });

  it('is not applicable to RDP settings while Remote Desktop is off', async () => {
    expect((await run('win32.remote.rdp_nla', 'rdp-off')).status).toBe('not_applicable');
  });

  it('is not applicable to BitLocker on an edition without it', async () => {
    expect((await run('win32.system.disk_encryption', 'home-edition')).status).toBe('not_applicable');
  });

  it('turns a refused secedit export into an error with the reason', async () => {
    const o = await run('win32.account.password_min_length', 'access-denied');
    expect(o.status).toBe('error');
    expect(o.reason).toContain('Access is denied');
  });

  it('exports the security policy once for all the checks that read it', async () => {
    const dir = join(FIXTURES, 'win32.account.password_min_length', 'pass');
    const runner = fixtureRunner(dir);
    const { makeCheckContext } = await import('../../../agent/checks/context.js');
    const ctx = makeCheckContext({ os: 'win32', root: join(dir, 'fs'), run: runner, now: new Date('2026-11-25T00:00:00Z') });
    for (const c of win32Checks.filter((x) => x.id.startsWith('win32.account.password_'))) await c.run(ctx);
    expect(runner.calls.filter((k) => k.includes('secedit.exe'))).toHaveLength(1);
  });

  it('never asks Windows Update to search online', async () => {
    const dir = join(FIXTURES, 'win32.patch.recent_security_update', 'fail');
    const runner = fixtureRunner(dir);
    const { makeCheckContext } = await import('../../../agent/checks/context.js');
    const ctx = makeCheckContext({ os: 'win32', root: join(dir, 'fs'), run: runner, now: new Date('2026-11-25T00:00:00Z') });
    for (const c of win32Checks) await c.run(ctx);
    for (const call of runner.calls) expect(call).not.toMatch(/\.Search\(|softwareupdate|Invoke-WebRequest|Start-WUScan|UsoClient/i);
  });
});
