import { describe, expect, it } from 'vitest';
import { servicesCollector } from '../../../agent/collectors/services/index.js';
import { mergeSystemd, parseGetService, parseLaunchctlList, parseListUnitFiles, parseListUnits } from '../../../agent/collectors/services/parse.js';
import { WIN32_SERVICES_SCRIPT } from '../../../agent/collectors/services/win32.js';
import { sectionSchema, servicesSchema } from '../../../shared/inventory.js';
import { ctxWith, expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

const UNITS = 'systemctl list-units --type=service --all --no-legend --no-pager --plain';
const FILES = 'systemctl list-unit-files --type=service --no-legend --no-pager';

describe('services parsers', () => {
  it('linux: list-units merged with list-unit-files (captured here)', () => {
    const s = mergeSystemd(parseListUnits(fx('linux', 'services', 'list-units.txt')), parseListUnitFiles(fx('linux', 'services', 'list-unit-files.txt')));
    const by = Object.fromEntries(s.map((x) => [x.name, x]));
    expect(by['ssh.service']).toMatchObject({ state: 'running', displayName: 'OpenBSD Secure Shell server' });
    expect(by['clamav-freshclam.service']!.state).toBe('failed');
    expect(by['networking.service']!.state).toBe('stopped'); // active/exited: nothing running
    expect(by['apt-daily.service']).toMatchObject({ state: 'stopped', startup: 'static' });
    expect(by['console-getty.service']).toMatchObject({ state: 'stopped', startup: 'manual' });
    expect(s.some((x) => x.name.includes('@.service'))).toBe(false); // templates are not services
  });

  it('win32: Get-Service with numeric enums', () => {
    const s = parseGetService(fxJson('win32', 'services', 'get-service.txt'));
    expectMatchesJson('win32', 'services', 'get-service', s);
    expect(s.find((x) => x.name === 'RemoteRegistry')).toMatchObject({ state: 'stopped', startup: 'disabled' });
    expect(parseGetService({ Name: 'x', DisplayName: 'X', Status: 'Running', StartType: 'Automatic' })[0]).toMatchObject({ state: 'running', startup: 'automatic' });
  });

  it('darwin: launchctl list', () => {
    const s = parseLaunchctlList(fx('darwin', 'services', 'launchctl-list.txt'));
    expectMatchesJson('darwin', 'services', 'launchctl-list', s);
    expect(s.find((x) => x.name === 'com.example.crashy-helper')!.state).toBe('failed');
    expect(s.find((x) => x.name === 'com.apple.Finder')!.state).toBe('running');
  });
});

describe('services through the collector', () => {
  it('systemd not PID 1 → unsupported with the reason, not a crash', async () => {
    const run = tableRunner({ [UNITS]: { code: 1, stdout: '', stderr: fx('linux', 'services', 'no-systemd.stderr.txt') } });
    const r = await servicesCollector.collect(ctxWith('linux', run));
    expect(r.status).toBe('unsupported');
    if (r.status === 'unsupported') expect(r.reason).toMatch(/systemd is not PID 1.*has not been booted with systemd/);
  });

  it('systemctl missing → unsupported', async () => {
    expect(await servicesCollector.collect(ctxWith('linux', tableRunner({})))).toMatchObject({ status: 'unsupported', reason: expect.stringMatching(/systemctl not found/) });
  });

  it('systemctl timing out → error', async () => {
    const r = await servicesCollector.collect(ctxWith('linux', tableRunner({ [UNITS]: { code: null, error: 'systemctl timed out after 15000 ms' } })));
    expect(r).toEqual({ status: 'error', reason: 'services: systemctl timed out after 15000 ms' });
  });

  it('systemd running → merged list', async () => {
    const run = tableRunner({ [UNITS]: { stdout: fx('linux', 'services', 'list-units.txt') }, [FILES]: { stdout: fx('linux', 'services', 'list-unit-files.txt') } });
    const r = sectionSchema(servicesSchema).parse(await servicesCollector.collect(ctxWith('linux', run)));
    expect(r).toMatchObject({ status: 'ok', data: { manager: 'systemd' } });
  });

  it('win32 and darwin', async () => {
    const w = await servicesCollector.collect(ctxWith('win32', tableRunner({ [`powershell.exe -NoProfile -NonInteractive -Command ${WIN32_SERVICES_SCRIPT}`]: { stdout: fx('win32', 'services', 'get-service.txt') } })));
    expect(w).toMatchObject({ status: 'ok', data: { manager: 'scm' } });
    const d = await servicesCollector.collect(ctxWith('darwin', tableRunner({ 'launchctl list': { stdout: fx('darwin', 'services', 'launchctl-list.txt') } })));
    expect(d).toMatchObject({ status: 'ok', data: { manager: 'launchd' } });
  });
});

describe.runIf(onLinux)('services on this machine', () => {
  it('is ok, or unsupported with a reason when systemd is not PID 1', async () => {
    const r = sectionSchema(servicesSchema).parse(await servicesCollector.collect(hostContext()));
    expect(['ok', 'unsupported']).toContain(r.status);
    if (r.status !== 'ok') expect(r.reason).toMatch(/systemd/);
  });
});
