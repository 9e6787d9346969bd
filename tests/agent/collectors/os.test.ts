import { describe, expect, it } from 'vitest';
import { osCollector } from '../../../agent/collectors/os/index.js';
import { parseBtime, parseOsRelease, parseWin32OperatingSystem } from '../../../agent/collectors/os/parse.js';
import { WIN32_OS_SCRIPT } from '../../../agent/collectors/os/win32.js';
import { osSchema, sectionSchema } from '../../../shared/inventory.js';
import { ctxWith, expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

describe('os parsers', () => {
  it('linux: os-release and btime', () => {
    const rel = parseOsRelease(fx('linux', 'os', 'os-release.txt'));
    expect(rel).toMatchObject({ NAME: 'Debian GNU/Linux', VERSION_ID: '12', PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)' });
    expect(parseBtime(fx('linux', 'os', 'proc-stat.txt'))).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(parseBtime('btime 1795593600\n')).toBe('2026-11-25T08:00:00.000Z');
  });

  it('win32: Win32_OperatingSystem JSON from Windows PowerShell 5.1 (\\/Date()\\/) and PowerShell 7 (ISO)', () => {
    const v5 = parseWin32OperatingSystem(fxJson('win32', 'os', 'win32-operatingsystem.txt'));
    expectMatchesJson('win32', 'os', 'win32-operatingsystem', osSchema.parse(v5));
    expect(v5.bootTime).toBe('2026-11-25T08:00:00.500Z');
    const v7 = parseWin32OperatingSystem(fxJson('win32', 'os', 'win32-operatingsystem-pwsh7.txt'));
    expect(v7).toMatchObject({ name: 'Microsoft Windows 11 Pro', build: '22631', bootTime: '2026-11-24T00:30:12.500Z' });
  });

  it('darwin: sw_vers + sysctl through the collector', async () => {
    const run = tableRunner({
      sw_vers: { stdout: fx('darwin', 'os', 'sw_vers.txt') },
      'sysctl -n kern.osrelease kern.boottime hw.machine kern.hostname': { stdout: fx('darwin', 'os', 'sysctl.txt') },
    });
    const r = await osCollector.collect(ctxWith('darwin', run));
    expect(r.status).toBe('ok');
    if (r.status === 'ok') expectMatchesJson('darwin', 'os', 'sw_vers', osSchema.parse(r.data));
  });

  it('win32 through the collector: one PowerShell call', async () => {
    const run = tableRunner({ [`powershell.exe -NoProfile -NonInteractive -Command ${WIN32_OS_SCRIPT}`]: { stdout: fx('win32', 'os', 'win32-operatingsystem.txt') } });
    const r = await osCollector.collect(ctxWith('win32', run));
    expect(r).toMatchObject({ status: 'ok', data: { hostname: 'TRADE-WS-017' } });
    expect(run.calls).toHaveLength(1);
  });

  it('an unknown platform is unsupported, not a throw', async () => {
    expect(await osCollector.collect(ctxWith('aix', tableRunner({})))).toMatchObject({ status: 'unsupported' });
  });
});

describe.runIf(onLinux)('os on this machine', () => {
  it('collects and validates', async () => {
    const r = sectionSchema(osSchema).parse(await osCollector.collect(hostContext()));
    expect(r.status).toBe('ok');
    if (r.status === 'ok') {
      expect(r.data.kernel).toBeTruthy();
      expect(r.data.bootTime).toBeTruthy();
      expect(r.data.arch).toBeTruthy();
    }
  });
});
