import { describe, expect, it } from 'vitest';
import { softwareCollector } from '../../../agent/collectors/software/index.js';
import { parseDpkgStatus, parseRpmQa, parseSpApplications, parseUninstallJson } from '../../../agent/collectors/software/parse.js';
import { sectionSchema, softwareSchema } from '../../../shared/inventory.js';
import { ctxWith, expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

const RPM = "rpm -qa --queryformat %{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\n";

describe('software parsers', () => {
  it('linux: dpkg status (30 packages captured here)', () => {
    const p = parseDpkgStatus(fx('linux', 'software', 'dpkg-status.txt'));
    expect(p).toHaveLength(30);
    expectMatchesJson('linux', 'software', 'dpkg-status', p);
  });

  it('linux: dpkg skips removed-but-configured packages', () => {
    const text = 'Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 2\n';
    expect(parseDpkgStatus(text).map((p) => p.name)).toEqual(['a']);
  });

  it('linux: rpm -qa queryformat', () => {
    const p = parseRpmQa('openssl-libs\t3.0.7-27.el9\tx86_64\t1718000000\ngpg-pubkey\t8483c65d-5ccc5b19\t(none)\t1717000000\n');
    expect(p).toEqual([
      { name: 'gpg-pubkey', version: '8483c65d-5ccc5b19', arch: null, publisher: null, installedAt: '2024-05-29T16:26:40.000Z' },
      { name: 'openssl-libs', version: '3.0.7-27.el9', arch: 'x86_64', publisher: null, installedAt: '2024-06-10T06:13:20.000Z' },
    ]);
  });

  it('win32: uninstall keys, components without DisplayName dropped, 32/64-bit duplicates collapsed', () => {
    const p = softwareSchema.shape.packages.parse(parseUninstallJson(fxJson('win32', 'software', 'uninstall-registry.txt')));
    expectMatchesJson('win32', 'software', 'uninstall-registry', p);
    expect(p).toHaveLength(4);
    expect(p.find((x) => x.name === 'Google Chrome')!.installedAt).toBe('2026-11-20T00:00:00.000Z');
  });

  it('darwin: SPApplicationsDataType', () => {
    const p = parseSpApplications(fxJson('darwin', 'software', 'system_profiler-applications.txt'));
    expectMatchesJson('darwin', 'software', 'system_profiler-applications', p);
    expect(p.map((x) => [x.name, x.arch, x.publisher])).toEqual([['Google Chrome', 'universal', 'Google LLC'], ['LegacyTool', 'x86_64', null], ['Safari', 'universal', 'Apple']]);
  });

  it('rpm host without dpkg: rpm runs; rpm missing → error', async () => {
    const ok = await softwareCollector.collect(ctxWith('linux', tableRunner({ [RPM]: { stdout: 'bash\t5.1.8-9.el9\tx86_64\t1718000000\n' } })));
    expect(ok).toMatchObject({ status: 'ok', data: { source: 'rpm', packages: [{ name: 'bash' }] } });
    expect(await softwareCollector.collect(ctxWith('linux', tableRunner({})))).toEqual({ status: 'error', reason: 'software: rpm not found' });
  });
});

describe.runIf(onLinux)('software on this machine', () => {
  it('reads dpkg status directly, spawning nothing', async () => {
    const run = tableRunner({});
    const r = sectionSchema(softwareSchema).parse(await softwareCollector.collect({ ...hostContext(), run }));
    expect(r.status).toBe('ok');
    if (r.status === 'ok') expect(r.data.packages.length).toBeGreaterThan(50);
    expect(run.calls).toEqual([]);
  });
});
