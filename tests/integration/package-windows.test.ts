/**
 * The Windows MSI (installers/windows): built by `installers/package.ts --target win-x64` into a
 * folder of its own, then read back with msitools: the service (ServiceInstall/ServiceControl with
 * WinSW as the service binary), its recovery actions, the SERVER/TOKEN/CAHASH properties and the
 * custom action that turns them into enroll.json, the upgrade rows, and the files (extracted with
 * msiextract). The agent enrolls from the enroll.json that action writes, against a loopback server.
 * Needs wixl, msitools and file: skipped with the reason off CI, an error on CI.
 * Not run here: the executable under wine64. Debian 12's wine 8.0 cannot start Node 24 ("Fatal
 * process out of memory: SegmentedTable::InitializeTable"; plain node.exe 24 too), so that is a
 * manual check on Windows (installers/README.md).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { enrollFromFile, parseEnrollFile } from '../../agent/enroll-file.js';

const exec = promisify(execFile);
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const PKG = JSON.parse(readFileSync('pkg.config.json', 'utf8')) as { msi: { serviceHost: { package: string; version: string; binary: string } } };
const UPGRADE_CODE = /UpgradeCode="([0-9A-F-]{36})"/.exec(readFileSync('installers/windows/termguard-agent.wxs', 'utf8'))![1]!;

function has(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}
const missing = [
  ...(process.platform === 'linux' && process.arch === 'x64' ? [] : ['a linux-x64 host']),
  ...['wixl', 'msiinfo', 'msibuild', 'msiextract', 'file', 'tar'].filter((c) => !has(c)),
];
if (missing.length && process.env.CI === 'true') throw new Error(`Windows package tests need ${missing.join(', ')} on CI`);
if (missing.length) console.warn(`skipping Windows package tests: missing ${missing.join(', ')} (apt-get install wixl msitools file)`);

/** One table of the MSI as rows keyed by column name (msiinfo export: names, types, keys, rows). */
function table(msi: string, name: string): Record<string, string>[] {
  const lines = execFileSync('msiinfo', ['export', msi, name], { encoding: 'utf8' }).split(/\r?\n/).filter((l) => l !== '');
  const cols = lines[0]!.split('\t');
  return lines.slice(3).map((l) => Object.fromEntries(l.split('\t').map((v, i) => [cols[i]!, v])));
}

describe.skipIf(missing.length > 0)('Windows MSI', () => {
  let out = '';
  let MSI = '';
  let EXE = '';
  let files = '';
  beforeAll(async () => {
    out = join(tempDir('tg-win-pkg-'), 'packages');
    const t0 = Date.now();
    const r = await exec(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'installers/package.ts', '--target', 'win-x64', '--no-deb', '--out', out], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
    console.log(`${r.stdout.trim()}\nWindows package step: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    MSI = join(out, `termguard-agent-${VERSION}-x64.msi`);
    EXE = join(out, 'termguard-agent-win-x64.exe');
    files = tempDir('tg-msi-files-'); // msiextract writes the INSTALLDIR files under termguard/
    execFileSync('msiextract', ['-C', files, MSI], { stdio: 'ignore' });
  }, 600_000);
  afterAll(() => {
    if (out) rmSync(join(out, '..'), { recursive: true, force: true });
    if (out) rmSync(`${out}-build`, { recursive: true, force: true });
    if (files) rmSync(files, { recursive: true, force: true });
  });

  it('the agent executable is a PE32+ x86-64 console program, and it is what the MSI installs', () => {
    expect(execFileSync('file', ['-b', EXE], { encoding: 'utf8' })).toMatch(/^PE32\+ executable \(console\) x86-64/);
    const installed = join(files, 'termguard/termguard-agent.exe');
    const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    expect(sha(installed)).toBe(sha(EXE));
  });

  it('the MSI is a Windows Installer package for x64 with a stable UpgradeCode and a major upgrade', () => {
    expect(execFileSync('file', ['-b', MSI], { encoding: 'utf8' })).toMatch(/Composite Document File V2 Document.*MSI Installer/);
    const suminfo = execFileSync('msiinfo', ['suminfo', MSI], { encoding: 'utf8' });
    expect(suminfo).toMatch(/^Template: x64;1033$/m);
    expect(suminfo).toMatch(/^Version: 500 /m); // Windows Installer 5: MsiServiceConfigFailureActions, MsiLockPermissionsEx
    const props = Object.fromEntries(table(MSI, 'Property').map((r) => [r.Property!, r.Value!]));
    expect(props.UpgradeCode).toBe(`{${UPGRADE_CODE}}`);
    expect(props.ProductVersion).toBe(VERSION.replace(/[-+].*$/, ''));
    expect(props.ALLUSERS).toBe('1');
    // Older versions are removed (the state folder is kept), newer ones refuse a downgrade.
    const up = table(MSI, 'Upgrade');
    expect(up).toContainEqual(expect.objectContaining({ UpgradeCode: `{${UPGRADE_CODE}}`, VersionMax: props.ProductVersion, ActionProperty: 'WIX_UPGRADE_DETECTED' }));
    expect(up).toContainEqual(expect.objectContaining({ VersionMin: props.ProductVersion, ActionProperty: 'WIX_DOWNGRADE_DETECTED' }));
    const seq = Object.fromEntries(table(MSI, 'InstallExecuteSequence').map((r) => [r.Action!, r]));
    expect(seq.FindRelatedProducts).toBeDefined();
    expect(Number(seq.RemoveExistingProducts!.Sequence)).toBeLessThan(Number(seq.InstallInitialize!.Sequence));
  });

  it('installs the agent as an auto-start service through WinSW, with restart-on-failure recovery', () => {
    const comps = Object.fromEntries(table(MSI, 'Component').map((r) => [r.Component!, r]));
    const fileRows = Object.fromEntries(table(MSI, 'File').map((r) => [r.File!, r]));
    const [svc, ...more] = table(MSI, 'ServiceInstall');
    expect(more).toEqual([]);
    expect(svc).toMatchObject({ Name: 'termguard-agent', ServiceType: '16' /* own process */, StartType: '2' /* auto */, ErrorControl: '1', StartName: 'LocalSystem' });
    // The service binary is the component's key file: WinSW, not the Node executable.
    expect(fileRows[comps[svc!.Component_!]!.KeyPath!]!.FileName).toBe('termguard-agent-service.exe');
    const [ctl] = table(MSI, 'ServiceControl');
    // 1 start at install + 2 stop at install + 32 stop at uninstall + 128 delete at uninstall.
    expect(ctl).toMatchObject({ Name: 'termguard-agent', Event: String(1 + 2 + 32 + 128), Wait: '1', Component_: svc!.Component_ });
    // Recovery (wixl cannot express it; added with msibuild): restart after 10 s, 10 s, 60 s; reset after a day.
    const [rec] = table(MSI, 'MsiServiceConfigFailureActions');
    expect(rec).toMatchObject({ Name: 'termguard-agent', Event: '5', ResetPeriod: '86400', Actions: '1[~]1[~]1', DelayActions: '10000[~]10000[~]60000', Component_: svc!.Component_ });
    const seq = Object.fromEntries(table(MSI, 'InstallExecuteSequence').map((r) => [r.Action!, Number(r.Sequence)]));
    expect(seq.InstallServices!).toBeLessThan(seq.MsiConfigureServices!);
    expect(seq.MsiConfigureServices!).toBeLessThan(seq.StartServices!);
    // WinSW's own configuration says the same and runs the agent.
    const xml = readFileSync(join(files, 'termguard/termguard-agent-service.xml'), 'utf8');
    expect(xml).toMatch(/<id>termguard-agent<\/id>/);
    expect(xml).toMatch(/<executable>%BASE%\\termguard-agent\.exe<\/executable>/);
    expect(xml).toMatch(/<arguments>run<\/arguments>/);
    expect([...xml.matchAll(/<onfailure action="restart"/g)]).toHaveLength(3);
  });

  it('ships WinSW from the pinned node-windows package, its runtime config and its license', () => {
    const dir = join(files, 'termguard');
    const host = join(dir, 'termguard-agent-service.exe');
    expect(execFileSync('file', ['-b', host], { encoding: 'utf8' })).toMatch(/PE32 executable.*Mono\/\.Net assembly/);
    const h = PKG.msi.serviceHost;
    const pinned = join('.tmp/node-dist', `${h.package}-${h.version}`, h.binary);
    expect(readFileSync(host).equals(readFileSync(pinned))).toBe(true);
    expect(readFileSync(join(dir, 'termguard-agent-service.exe.config'), 'utf8')).toMatch(/supportedRuntime version="v4\.0"/);
    expect(readFileSync(join(dir, 'LICENSE-WinSW.txt'), 'utf8')).toMatch(/The MIT License/);
    const names = table(MSI, 'File').map((r) => r.FileName).sort();
    expect(names).toEqual(['LICENSE-WinSW.txt', 'termguard-agent-service.exe', 'termguard-agent-service.exe.config', 'termguard-agent-service.xml', 'termguard-agent.exe']);
    // The state folder: created, locked to SYSTEM and Administrators (agent.key lives there).
    expect(table(MSI, 'Directory')).toContainEqual(expect.objectContaining({ Directory: 'STATEDIR', Directory_Parent: 'CommonAppDataFolder', DefaultDir: 'termguard' }));
    expect(table(MSI, 'MsiLockPermissionsEx')).toContainEqual(expect.objectContaining({ LockObject: 'STATEDIR', Table: 'CreateFolder', SDDL: 'D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)' }));
  });

  it('takes SERVER, TOKEN and CAHASH, writes them to enroll.json, and the agent enrolls from that file', async () => {
    const props = Object.fromEntries(table(MSI, 'Property').map((r) => [r.Property!, r.Value!]));
    expect(props.SecureCustomProperties!.split(';')).toEqual(expect.arrayContaining(['SERVER', 'TOKEN', 'CAHASH']));
    expect(props.MsiHiddenProperties).toBe('TOKEN');
    const ca = Object.fromEntries(table(MSI, 'CustomAction').map((r) => [r.Action!, r]));
    const w = ca.WriteEnrollFile!;
    // 34 exe + 1024 deferred + 2048 as LocalSystem + 8192 target hidden from logs.
    expect(Number(w.Type)).toBe(34 + 1024 + 2048 + 8192);
    expect(w.Source).toBe('STATEDIR');
    const seq = Object.fromEntries(table(MSI, 'InstallExecuteSequence').map((r) => [r.Action!, r]));
    expect(seq.WriteEnrollFile!.Condition).toBe('SERVER AND TOKEN AND CAHASH AND NOT REMOVE~="ALL"');
    expect(Number(seq.WriteEnrollFile!.Sequence)).toBeGreaterThan(Number(seq.InstallFiles!.Sequence));
    expect(Number(seq.WriteEnrollFile!.Sequence)).toBeLessThan(Number(seq.StartServices!.Sequence));
    expect(ca.NoteUninstall!.Target).toMatch(/\(echo uninstall\)>"\[STATEDIR\]stop-reason"$/);

    // What cmd.exe writes for `(echo TEXT)>"FILE"` with the properties substituted: TEXT and CRLF.
    const m = /^"\[System64Folder\]cmd\.exe" \/d \/c \(echo (.*)\)>"\[STATEDIR\]enroll\.json"$/.exec(w.Target!);
    expect(m).not.toBeNull();
    let t: TestServer | undefined;
    const state = tempDir('tg-win-state-');
    try {
      t = await startTestServer();
      const values: Record<string, string> = { SERVER: t.srv.consoleUrl, TOKEN: await t.token(), CAHASH: t.caHash };
      const text = m![1]!.replace(/\[(SERVER|TOKEN|CAHASH)\]/g, (_, p: string) => values[p]!) + '\r\n';
      mkdirSync(state, { recursive: true });
      writeFileSync(join(state, 'enroll.json'), text);
      expect(parseEnrollFile(text, 'enroll.json')).toEqual({ server: new URL(values.SERVER!).origin, token: values.TOKEN, caHash: values.CAHASH });
      // The service's first start (agent run): enroll from the file, then delete it.
      const r = await enrollFromFile(state, 'msi-test-machine');
      expect(r?.hostId).toBeTruthy();
      expect(existsSync(join(state, 'agent.crt'))).toBe(true);
      expect(existsSync(join(state, 'enroll.json'))).toBe(false);
      // An upgrade that passes the properties again: the identity is kept and the file deleted.
      writeFileSync(join(state, 'enroll.json'), text);
      const crt = readFileSync(join(state, 'agent.crt'), 'utf8');
      expect(await enrollFromFile(state, 'msi-test-machine')).toBeNull();
      expect(readFileSync(join(state, 'agent.crt'), 'utf8')).toBe(crt);
      expect(existsSync(join(state, 'enroll.json'))).toBe(false);
    } finally {
      await t?.stop();
      rmSync(state, { recursive: true, force: true });
    }
  });
});
