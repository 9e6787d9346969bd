/**
 * The macOS package (installers/macos): `installers/package.ts --target linux-x64,darwin-x64` into a
 * folder of its own builds the darwin-x64 executable and termguard-agent-<version>-darwin-x64.tar.gz.
 * Checked here: the tarball's layout and modes, the Mach-O executable, the launchd plist (parsed as
 * XML, no plutil), and install.sh / uninstall.sh run with ROOT=<temp dir> and a stub launchctl on PATH
 * that records its arguments: install, enrollment from enroll.json against a loopback server, upgrade
 * keeping the identity, uninstall, purge. Nothing here runs on macOS: loading the daemon is a manual check.
 * Needs tar and file: skipped with the reason off CI, an error on CI.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { parsePlist } from '../helpers/plist.js';
import { fileList } from '../helpers/debroot.js';

const exec = promisify(execFile);
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const NAME = `termguard-agent-${VERSION}-darwin-x64`;
const LABEL = 'org.termguard.agent';
const STATE = 'Library/Application Support/termguard';

function has(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}
const missing = [
  ...(process.platform === 'linux' && process.arch === 'x64' ? [] : ['a linux-x64 host']),
  ...['tar', 'file', 'sh'].filter((c) => !has(c)),
];
if (missing.length && process.env.CI === 'true') throw new Error(`macOS package tests need ${missing.join(', ')} on CI`);
if (missing.length) console.warn(`skipping macOS package tests: missing ${missing.join(', ')}`);

describe.skipIf(missing.length > 0)('macOS package', () => {
  let out = '';
  let TGZ = '';
  let t: TestServer;
  beforeAll(async () => {
    out = join(tempDir('tg-mac-pkg-'), 'packages');
    const t0 = Date.now();
    // linux-x64 only to stand in for the darwin executable when install.sh enrolls (below).
    const r = await exec(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'installers/package.ts', '--target', 'linux-x64,darwin-x64', '--no-deb', '--out', out], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
    console.log(`${r.stdout.trim()}\nmacOS package step: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    TGZ = join(out, `${NAME}.tar.gz`);
    t = await startTestServer();
  }, 600_000);
  afterAll(async () => {
    await t?.stop();
    if (out) rmSync(join(out, '..'), { recursive: true, force: true });
    if (out) rmSync(`${out}-build`, { recursive: true, force: true });
  });

  /** The tarball unpacked into a temp folder; returns the package folder. */
  function unpack(): string {
    const dir = tempDir('tg-mac-unpacked-');
    execFileSync('tar', ['-xzf', TGZ, '-C', dir]);
    return join(dir, NAME);
  }

  it('the tarball holds one folder: the darwin-x64 executable, the plist, the log rotation, install.sh, uninstall.sh', () => {
    const listing = execFileSync('tar', ['-tvzf', TGZ], { encoding: 'utf8' }).trim().split('\n')
      .map((l) => { const f = l.split(/\s+/); return `${f[0]} ${f[1]} ${f[5]}`; });
    expect(listing.sort()).toEqual([
      `-rw-r--r-- 0/0 ${NAME}/README.txt`,
      `-rw-r--r-- 0/0 ${NAME}/${LABEL}.plist`,
      `-rw-r--r-- 0/0 ${NAME}/termguard.newsyslog.conf`,
      `-rwxr-xr-x 0/0 ${NAME}/install.sh`,
      `-rwxr-xr-x 0/0 ${NAME}/termguard-agent`,
      `-rwxr-xr-x 0/0 ${NAME}/uninstall.sh`,
      `drwxr-xr-x 0/0 ${NAME}/`,
    ].sort());
    const dir = unpack();
    try {
      expect(execFileSync('file', ['-b', join(dir, 'termguard-agent')], { encoding: 'utf8' })).toMatch(/^Mach-O 64-bit x86_64 executable/);
      expect(readFileSync(join(dir, 'termguard-agent')).equals(readFileSync(join(out, 'termguard-agent-darwin-x64')))).toBe(true);
      expect(readFileSync(join(dir, 'README.txt'), 'utf8')).toMatch(/codesign --force --sign/);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('the launchd plist is a valid property list for a daemon kept alive, with state in /Library/Application Support/termguard', () => {
    const p = parsePlist(readFileSync(`installers/macos/${LABEL}.plist`, 'utf8')) as Record<string, unknown>;
    expect(p).toMatchObject({
      Label: LABEL,
      ProgramArguments: ['/usr/local/bin/termguard-agent', 'run', '--state', `/${STATE}`],
      RunAtLoad: true,
      KeepAlive: true,
      WorkingDirectory: `/${STATE}`,
      StandardErrorPath: '/Library/Logs/termguard/agent.log',
    });
    expect(p.ThrottleInterval).toBeGreaterThanOrEqual(10);
    // The executable the plist runs is where install.sh puts it; the log is what newsyslog rotates.
    expect(readFileSync('installers/macos/install.sh', 'utf8')).toMatch(/^BIN="\$BIN_DIR\/termguard-agent"$/m);
    expect(readFileSync('installers/macos/install.sh', 'utf8')).toMatch(/^BIN_DIR="\$ROOT\/usr\/local\/bin"$/m);
    expect(readFileSync('installers/macos/termguard.newsyslog.conf', 'utf8')).toMatch(/^\/Library\/Logs\/termguard\/agent\.log\s/m);
    // With no `plutil -lint` here, the parser itself must refuse a broken plist.
    expect(() => parsePlist(readFileSync(`installers/macos/${LABEL}.plist`, 'utf8').replace('</array>', ''))).toThrow();
  });

  it('install.sh installs into a root, enrolls from enroll.json and deletes it, loads the daemon; upgrade keeps the identity; uninstall and purge clean up', async () => {
    const dir = unpack();
    const root = tempDir('tg-mac-root-');
    const stubs = tempDir('tg-mac-stubs-');
    const calls = join(stubs, 'launchctl.log');
    try {
      // TEST ONLY: the linux-x64 executable stands in for the darwin-x64 one so that install.sh's
      // enrollment really runs here. The shipped tarball holds the Mach-O binary (checked above).
      copyFileSync(join(out, 'termguard-agent-linux-x64'), join(dir, 'termguard-agent'));
      writeFileSync(join(stubs, 'launchctl'), `#!/bin/sh\necho "$*" >> '${calls}'\n`);
      chmodSync(join(stubs, 'launchctl'), 0o755);
      const env = { PATH: `${stubs}:/usr/sbin:/usr/bin:/sbin:/bin`, ROOT: root, TERMGUARD_MACHINEID: 'mac-pkg-test', TERMGUARD_LOGLEVEL: 'warn' };
      const token = await t.token();
      writeFileSync(join(dir, 'enroll.json'), JSON.stringify({ server: t.srv.consoleUrl, token, caHash: t.caHash }), { mode: 0o600 });

      const first = await exec('sh', [join(dir, 'install.sh')], { env });
      expect(first.stdout).toMatch(/enrolled as host /);
      expect(first.stdout).toMatch(/termguard agent installed; daemon org\.termguard\.agent loaded/);
      const state = join(root, STATE);
      expect(existsSync(join(state, 'agent.crt'))).toBe(true);
      expect(existsSync(join(state, 'enroll.json'))).toBe(false);
      expect(statSync(state).mode & 0o777).toBe(0o700);
      expect(statSync(join(root, 'usr/local/bin/termguard-agent')).mode & 0o777).toBe(0o755);
      expect(statSync(join(root, `Library/LaunchDaemons/${LABEL}.plist`)).mode & 0o777).toBe(0o644);
      expect(readFileSync(join(root, `Library/LaunchDaemons/${LABEL}.plist`), 'utf8')).toBe(readFileSync(`installers/macos/${LABEL}.plist`, 'utf8'));
      expect(existsSync(join(root, 'etc/newsyslog.d/termguard.conf'))).toBe(true);
      expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
        `enable system/${LABEL}`,
        `bootstrap system ${root}/Library/LaunchDaemons/${LABEL}.plist`,
      ]);
      expect(first.stderr).toMatch(/enroll\.json still holds the token/);
      const crt = readFileSync(join(state, 'agent.crt'), 'utf8');

      // Upgrade (same package again, enroll.json still beside it): the daemon is booted out first,
      // the identity stays, the copied token file is deleted unused.
      writeFileSync(calls, '');
      const again = await exec('sh', [join(dir, 'install.sh')], { env });
      expect(again.stdout).toMatch(/termguard agent upgraded/);
      expect(again.stderr).toMatch(/already enrolled/);
      expect(readFileSync(join(state, 'agent.crt'), 'utf8')).toBe(crt);
      expect(existsSync(join(state, 'enroll.json'))).toBe(false);
      expect(existsSync(join(state, 'stop-reason'))).toBe(false);
      expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
        `bootout system/${LABEL}`, `enable system/${LABEL}`, `bootstrap system ${root}/Library/LaunchDaemons/${LABEL}.plist`,
      ]);

      // Uninstall keeps the state; purge removes it; only empty folders remain.
      writeFileSync(calls, '');
      await exec('sh', [join(dir, 'uninstall.sh')], { env });
      expect(readFileSync(calls, 'utf8').trim()).toBe(`bootout system/${LABEL}`);
      expect(existsSync(join(state, 'agent.crt'))).toBe(true);
      expect(existsSync(join(root, `Library/LaunchDaemons/${LABEL}.plist`))).toBe(false);
      await exec('sh', [join(dir, 'uninstall.sh'), '--purge'], { env });
      expect(fileList(root).filter((l) => !l.startsWith('d '))).toEqual([]);
      expect(fileList(root).map((l) => l.split(' ')[2])).not.toContain(STATE);
    } finally {
      for (const d of [join(dir, '..'), root, stubs]) rmSync(d, { recursive: true, force: true });
    }
  });

  it('a malformed enroll.json given to install.sh leaves the machine unenrolled and the file kept (0600) for a retry', async () => {
    const dir = unpack();
    const root = tempDir('tg-mac-root-');
    const stubs = tempDir('tg-mac-stubs-');
    try {
      writeFileSync(join(stubs, 'launchctl'), '#!/bin/sh\nexit 0\n');
      chmodSync(join(stubs, 'launchctl'), 0o755);
      copyFileSync(join(out, 'termguard-agent-linux-x64'), join(dir, 'termguard-agent')); // TEST ONLY, as above
      const env = { PATH: `${stubs}:/usr/bin:/bin`, ROOT: root };
      writeFileSync(join(root, 'bad.json'), '{"server":"http://plain","token":"x y","caHash":"md5:1"}', { mode: 0o600 });
      const r = await exec('sh', [join(dir, 'install.sh'), join(root, 'bad.json')], { env });
      expect(r.stderr).toMatch(/needs \{"server":"https:\/\/…"/);
      expect(existsSync(join(root, STATE, 'agent.crt'))).toBe(false);
      expect(readdirSync(join(root, STATE))).toEqual(['enroll.json']); // kept (0600) for the agent to retry at start
      expect(statSync(join(root, STATE, 'enroll.json')).mode & 0o777).toBe(0o600);
    } finally {
      for (const d of [join(dir, '..'), root, stubs]) rmSync(d, { recursive: true, force: true });
    }
  });
});
