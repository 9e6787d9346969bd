import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { patchesCollector } from '../../../agent/collectors/patches/index.js';
import { parseAptSimulate, parseDnfUpdateinfo, parseHotfixes, parseInstallHistory, parseRecommendedUpdates } from '../../../agent/collectors/patches/parse.js';
import { WIN32_HOTFIX_SCRIPT } from '../../../agent/collectors/patches/win32.js';
import { patchesSchema, sectionSchema } from '../../../shared/inventory.js';
import { ctxWith, expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

const APT = 'apt-get -s -o Debug::NoLocking=1 upgrade';

describe('patches parsers', () => {
  it('apt simulation captured here: Inst lines, none from a security origin', () => {
    const p = parseAptSimulate(fx('linux', 'patches', 'apt-get-s-upgrade.txt'));
    expect(p).toHaveLength(14);
    expect(p[0]).toEqual({ name: 'base-files', version: '12.4+deb12u15', security: false, origin: 'Debian:12.15/oldstable' });
    expect(p.filter((x) => x.security)).toEqual([]);
  });

  it('apt simulation with security origins', () => {
    const p = parseAptSimulate(fx('linux', 'patches', 'apt-get-s-upgrade-security.txt'));
    expectMatchesJson('linux', 'patches', 'apt-get-s-upgrade-security', p);
    expect(p.map((x) => [x.name, x.security])).toEqual([['libssl3', true], ['openssl', true], ['tzdata', false]]);
  });

  it('dnf updateinfo --security', () => {
    const p = parseDnfUpdateinfo(fx('linux', 'patches', 'dnf-updateinfo-security.txt'));
    expect(p[1]).toEqual({ name: 'openssl', version: '1:3.0.7-27.el9_4.1', security: true, origin: 'RHSA-2024:4083' });
    expect(p).toHaveLength(3);
  });

  it('win32: Get-HotFix with ETS dates and a missing date, newest first', () => {
    const h = parseHotfixes(fxJson('win32', 'patches', 'get-hotfix.txt'));
    expectMatchesJson('win32', 'patches', 'get-hotfix', h);
    expect(h[0]).toEqual({ id: 'KB5046613', description: 'Security Update', installedAt: '2024-11-12T16:00:00.000Z' });
  });

  it('darwin: install history and RecommendedUpdates', () => {
    const i = parseInstallHistory(fxJson('darwin', 'patches', 'system_profiler-installhistory.txt'));
    expect(i[0]).toEqual({ id: 'XProtectPlistConfigData 5287', description: 'apple', installedAt: '2026-11-18T03:20:41.000Z' });
    const r = parseRecommendedUpdates(fx('darwin', 'patches', 'defaults-recommendedupdates.txt'));
    expect(r).toEqual([
      { name: 'macOS Sonoma 14.7.1', version: '14.7.1', security: true, origin: 'MSU_UPDATE_23H222_patch_14.7.1' },
      { name: 'Safari', version: '18.1', security: false, origin: 'Safari18.1SonomaAuto' },
    ]);
  });
});

describe('patches through the collector', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-patches-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'var/lib/dpkg'), { recursive: true });
  mkdirSync(join(dir, 'var/lib/apt/lists/partial'), { recursive: true });
  writeFileSync(join(dir, 'var/lib/dpkg/status'), '');
  writeFileSync(join(dir, 'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease'), '');
  writeFileSync(join(dir, 'var/lib/apt/lists/security.debian.org_dists_bookworm-security_InRelease'), '');
  utimesSync(join(dir, 'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease'), new Date('2026-11-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z'));
  utimesSync(join(dir, 'var/lib/apt/lists/security.debian.org_dists_bookworm-security_InRelease'), new Date('2026-11-20T06:00:00Z'), new Date('2026-11-20T06:00:00Z'));
  const ctx = (run: ReturnType<typeof tableRunner>) => ({ ...ctxWith('linux', run), root: dir });

  it('apt: counts security updates; metadata age is the newest list file; never runs apt-get update', async () => {
    const run = tableRunner({ [APT]: { stdout: fx('linux', 'patches', 'apt-get-s-upgrade-security.txt') } });
    const r = await patchesCollector.collect(ctx(run));
    expect(r).toMatchObject({ status: 'ok', data: { source: 'apt', pendingSecurity: 2, metadataUpdatedAt: '2026-11-20T06:00:00.000Z' } });
    expect(run.calls).toEqual([APT]);
  });

  it.each([
    ['command missing', {}, 'patches: apt-get not found'],
    ['permission denied', { [APT]: { code: null, error: 'apt-get: permission denied' } }, 'patches: apt-get: permission denied'],
    ['timeout', { [APT]: { code: null, error: 'apt-get timed out after 120000 ms' } }, 'patches: apt-get timed out after 120000 ms'],
    ['non-zero exit', { [APT]: { code: 100, stderr: 'E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n' } }, 'patches: apt-get exited with 100: E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)'],
  ] as const)('%s → error with the reason', async (_, table, reason) => {
    expect(await patchesCollector.collect(ctx(tableRunner(table)))).toEqual({ status: 'error', reason });
  });

  it('win32: hotfixes, pending unknown (no online search)', async () => {
    const run = tableRunner({ [`powershell.exe -NoProfile -NonInteractive -Command ${WIN32_HOTFIX_SCRIPT}`]: { stdout: fx('win32', 'patches', 'get-hotfix.txt') } });
    const r = sectionSchema(patchesSchema).parse(await patchesCollector.collect(ctxWith('win32', run)));
    expect(r).toMatchObject({ status: 'ok', data: { source: 'hotfix', pendingSecurity: null, lastChangeAt: '2024-11-12T16:00:00.000Z' } });
  });

  it('darwin: no RecommendedUpdates key means nothing pending; never softwareupdate -l', async () => {
    const run = tableRunner({
      'system_profiler SPInstallHistoryDataType -json': { stdout: fx('darwin', 'patches', 'system_profiler-installhistory.txt') },
      'defaults read /Library/Preferences/com.apple.SoftwareUpdate RecommendedUpdates': { code: 1, stderr: fx('darwin', 'patches', 'defaults-recommendedupdates-none.stderr.txt') },
    });
    const r = await patchesCollector.collect(ctxWith('darwin', run));
    expect(r).toMatchObject({ status: 'ok', data: { pending: [], pendingSecurity: 0 } });
    expect(run.calls.some((c) => c.startsWith('softwareupdate'))).toBe(false);
  });
});

describe.runIf(onLinux)('patches on this machine', () => {
  it('simulates over local lists and validates', async () => {
    const r = sectionSchema(patchesSchema).parse(await patchesCollector.collect(hostContext()));
    expect(r.status).toBe('ok');
    if (r.status === 'ok') {
      expect(r.data.source).toBe('apt');
      expect(r.data.pendingSecurity).not.toBeNull();
      expect(r.data.metadataUpdatedAt).toBeTruthy();
    }
  }, 30_000);
});
