/** The Linux hardening catalogue: every check against its pass and fail fixture, plus catalogue-wide rules. */
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { linuxChecks } from '../../../agent/checks/linux/index.js';
import { fixtureContext, fixtureRunner } from '../../helpers/fixture-context.js';
import { makeCheckContext } from '../../../agent/checks/context.js';

const FIX = 'tests/fixtures/linux/checks';
const CJK = /[\u4e00-\u9fff]/;

describe('linux catalogue', () => {
  it('has at least 32 checks', () => expect(linuxChecks.length).toBeGreaterThanOrEqual(32));

  it('ids are unique and well-formed', () => {
    const ids = linuxChecks.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^linux\.[a-z0-9_]+\.[a-z0-9_]+$/);
  });

  it('every check is a complete, bilingual mlps3 spec', () => {
    for (const c of linuxChecks) {
      expect(c.os, c.id).toBe('linux');
      expect(c.profiles, c.id).toContain('mlps3');
      expect(c.articles, c.id).toEqual(expect.arrayContaining(['art9', 'art31']));
      expect(c.mlps, c.id).toMatch(/^8\.1\.4\.\d+/);
      for (const b of [c.title, c.remediation]) {
        expect(b.en.trim().length, c.id).toBeGreaterThan(0);
        expect(b.zh.trim().length, c.id).toBeGreaterThan(0);
        expect(b.zh, c.id).toMatch(CJK);
      }
    }
  });

  it('anti-malware checks cite art18 and the patch check cites art30 and art29', () => {
    for (const c of linuxChecks.filter((x) => x.id.startsWith('linux.malware.'))) expect(c.articles).toContain('art18');
    const p = linuxChecks.find((x) => x.id === 'linux.patches.security_pending')!;
    expect(p.articles).toEqual(expect.arrayContaining(['art29', 'art30']));
  });

  it('every check has a pass and a fail fixture, and no fixture is orphaned', () => {
    for (const c of linuxChecks) {
      expect(existsSync(join(FIX, c.id, 'pass')), `${c.id}/pass`).toBe(true);
      expect(existsSync(join(FIX, c.id, 'fail')), `${c.id}/fail`).toBe(true);
    }
    const dirs = readdirSync(FIX, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.sort()).toEqual(linuxChecks.map((c) => c.id).sort());
  });
});

describe.each(linuxChecks.map((c) => [c.id, c] as const))('%s', (id, check) => {
  for (const want of ['pass', 'fail'] as const) {
    it(`${want} fixture → ${want}`, async () => {
      const dir = join(FIX, id, want);
      const ctx = fixtureContext(dir, 'linux');
      const out = await check.run(ctx);
      expect(out.status, JSON.stringify(out)).toBe(want);
      expect(Object.keys(out.evidence).length).toBeGreaterThan(0);
      if (want === 'fail') expect(out.reason).toBeTruthy();
      // Evidence stays small enough to ship with every report.
      expect(JSON.stringify(out.evidence).length).toBeLessThan(4000);
    });
  }

  it('empty host (no files, no tools) → error or not_applicable, never a throw', async () => {
    const ctx = fixtureContext(join(FIX, '__nonexistent__'), 'linux');
    const out = await check.run(ctx);
    expect(['error', 'not_applicable']).toContain(out.status);
    expect(out.reason).toBeTruthy();
  });
});

describe('no network (art29)', () => {
  it('no check refreshes package metadata or calls out; dnf/yum only with --cacheonly', async () => {
    const calls: string[] = [];
    for (const c of linuxChecks) {
      for (const want of ['pass', 'fail']) {
        const dir = join(FIX, c.id, want);
        const run = fixtureRunner(dir);
        const ctx = makeCheckContext({ os: 'linux', root: join(dir, 'fs'), procfs: join(dir, 'fs', 'proc'), sysfs: join(dir, 'fs', 'sys'), run, now: new Date('2026-11-25T00:00:00Z') });
        await c.run(ctx);
        calls.push(...run.calls);
      }
    }
    expect(calls.length).toBeGreaterThan(0);
    for (const k of calls) {
      expect(k).not.toMatch(/apt-get (update|install|upgrade$|dist-upgrade)|apt update|makecache|--refresh|freshclam|curl|wget|softwareupdate/);
      if (/^(dnf|yum) /.test(k)) expect(k).toContain('--cacheonly');
      if (/^apt-get /.test(k)) expect(k).toMatch(/^apt-get -s /);
    }
  });

  it('signature age is judged against ctx.now', async () => {
    const c = linuxChecks.find((x) => x.id === 'linux.malware.signatures_recent')!;
    const dir = join(FIX, c.id, 'pass');
    const later = await c.run(fixtureContext(dir, 'linux', new Date('2026-12-10T00:00:00Z')));
    expect(later.status).toBe('fail');
    expect(later.evidence.ageDays).toBeGreaterThan(7);
  });
});
