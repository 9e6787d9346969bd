/** The darwin catalogue against its recorded pass and fail fixtures (tests/fixtures/darwin/checks/<id>/{pass,fail}). */
import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { darwinChecks } from '../../../agent/checks/darwin/index.js';
import { fixtureContext, fixtureRunner } from '../../helpers/fixture-context.js';
import { makeCheckContext } from '../../../agent/checks/context.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/darwin');
const CJK = /[\u4e00-\u9fff]/;

describe('darwin catalogue', () => {
  it('has at least 32 checks', () => {
    expect(darwinChecks.length).toBeGreaterThanOrEqual(32);
  });

  it('has unique, well-formed ids and the common fields', () => {
    const ids = darwinChecks.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of darwinChecks) {
      expect(c.id).toMatch(/^darwin\.[a-z0-9_]+\.[a-z0-9_]+$/);
      expect(c.os).toBe('darwin');
      expect(c.profiles).toContain('mlps3');
      expect(c.articles).toEqual(expect.arrayContaining(['art9', 'art31']));
      expect(c.mlps).toMatch(/^8\.1\.4\.\d+/);
    }
  });

  it('has non-empty titles and remediation in both languages, with real Chinese', () => {
    for (const c of darwinChecks) {
      for (const b of [c.title, c.remediation]) {
        expect(b.en.trim(), c.id).not.toBe('');
        expect(b.zh.trim(), c.id).not.toBe('');
        expect(b.zh, c.id).toMatch(CJK);
      }
    }
  });

  it('tags anti-malware with art18 and patches with art30', () => {
    for (const c of darwinChecks) {
      if (c.id.startsWith('darwin.malware.')) expect(c.articles, c.id).toContain('art18');
      if (c.id.startsWith('darwin.patches.')) expect(c.articles, c.id).toContain('art30');
    }
  });

  it('has a pass and a fail fixture for every check', () => {
    for (const c of darwinChecks) {
      for (const kase of ['pass', 'fail']) expect(existsSync(join(FIX, 'checks', c.id, kase)), `${c.id}/${kase}`).toBe(true);
    }
  });
});

describe.each(darwinChecks.map((c) => [c.id, c] as const))('%s', (id, c) => {
  it.each(['pass', 'fail'] as const)('%s fixture', async (kase) => {
    const out = await c.run(fixtureContext(join(FIX, 'checks', id, kase), 'darwin'));
    expect(out.status, JSON.stringify(out)).toBe(kase);
    expect(Object.keys(out.evidence).length).toBeGreaterThan(0);
    if (kase === 'fail') expect(out.reason).toBeTruthy();
  });

  it('answers error or not_applicable when tools and files are missing', async () => {
    const out = await c.run(fixtureContext(join(FIX, 'empty'), 'darwin'));
    expect(['error', 'not_applicable'], JSON.stringify(out)).toContain(out.status);
    expect(out.reason).toBeTruthy();
  });
});

describe('darwin checks never reach the network', () => {
  it('never runs softwareupdate or any other network tool', async () => {
    const runner = fixtureRunner(join(FIX, 'empty'));
    const ctx = makeCheckContext({ os: 'darwin', root: join(FIX, 'empty', 'fs'), run: runner, now: new Date('2026-11-25T00:00:00Z') });
    for (const c of darwinChecks) await c.run(ctx);
    for (const id of darwinChecks.map((c) => c.id)) {
      for (const kase of ['pass', 'fail']) {
        const r = fixtureRunner(join(FIX, 'checks', id, kase));
        await darwinChecks.find((c) => c.id === id)!.run(makeCheckContext({ os: 'darwin', root: join(FIX, 'checks', id, kase, 'fs'), run: r, now: new Date('2026-11-25T00:00:00Z') }));
        runner.calls.push(...r.calls);
      }
    }
    const bad = runner.calls.filter((l) => /softwareupdate|curl|wget|sntp|ntpdate|xprotect\s+check|mdmclient/.test(l));
    expect(bad).toEqual([]);
  });
});
