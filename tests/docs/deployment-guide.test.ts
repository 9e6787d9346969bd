/**
 * The deployment guide in README.md (issue 8, item 6) is run, not just read: every line of its
 * blocks tagged `sh run` is executed in order, in a temp folder against a server on loopback, with
 * the guide's placeholders (paths, host name, ports, <token>, <host-id>…) replaced by real values,
 * and each command's output is checked. Lines that cannot run here are listed in SKIP with the test
 * that covers them instead. The other blocks are checked for what they must say (the server unit
 * with systemd-analyze verify, the Ansible tasks, the msiexec line), and README.zh-CN.md must hold
 * the same commands.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { tempDir } from '../helpers/server.js';
import { VERSION } from '../../shared/version.js';

const exec = promisify(execFile);
const ROOT = process.cwd();

interface Block { lang: string; tags: string[]; body: string }

/** The text from a `## heading` to the next `## `. */
function section(md: string, heading: string): string {
  const start = md.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section ${heading}`);
  const end = md.indexOf('\n## ', start + heading.length + 2);
  return md.slice(start, end < 0 ? undefined : end);
}

function fences(md: string): Block[] {
  return [...md.matchAll(/^```(\S*)([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, tags: m[2]!.trim().split(/\s+/).filter(Boolean), body: m[3]! }));
}

/** Command lines of a block: no blank or comment-only lines, trailing `# comment` removed. */
function commands(b: Block): string[] {
  return b.body.split('\n').map((l) => l.replace(/\s+#\s.*$/, '').trim()).filter((l) => l && !l.startsWith('#'));
}

const EN = section(readFileSync('README.md', 'utf8'), '## Deployment guide');
const ZH = section(readFileSync('README.zh-CN.md', 'utf8'), '## 部署指南');
const BLOCKS = fences(EN);
const RUN = BLOCKS.filter((b) => b.lang === 'sh' && b.tags.includes('run')).flatMap(commands);

/** Lines of `sh run` blocks this test does not execute, and what covers them. */
const SKIP: [RegExp, string][] = [
  [/\bnpm ci\b/, 'the CI run: .ci/run runs npm ci on a clean clone (and git pull is not for a test)'],
  [/^systemctl /, 'no systemd here; the unit is checked with systemd-analyze verify below'],
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

const has = (cmd: string) => { try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; } };

describe('deployment guide (README.md)', () => {
  const tmp = tempDir('tg-guide-');
  const bin = join(tmp, 'bin');
  let server: ChildProcess | undefined;
  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs every `sh run` command in order against loopback, and each does what the guide says', async () => {
    expect(RUN.length).toBeGreaterThan(15);
    for (const d of ['bin', 'srv', 'root', 'backups', 'agent-state']) mkdirSync(join(tmp, d), { recursive: true });
    // On a terminal termguard-agent comes from the package; here it is the built CLI.
    writeFileSync(join(bin, 'termguard-agent'), `#!/bin/sh\nexec "${process.execPath}" "${ROOT}/dist/agent/cli.js" "$@"\n`, { mode: 0o755 });
    const agentPort = await freePort();
    const consolePort = await freePort();
    const v: Record<string, string> = {};
    const env = {
      PATH: [bin, dirname(process.execPath), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
      HOME: join(tmp, 'root'), LC_ALL: 'C',
      TERMGUARD_STATE: join(tmp, 'agent-state'), TERMGUARD_MACHINEID: 'deployment-guide-test', TERMGUARD_LOGLEVEL: 'warn',
    };
    const subst = (line: string): string => {
      const pairs: [string, string][] = [
        ['/opt/termguard', ROOT], ['/usr/local/bin', bin], ['/srv/termguard', join(tmp, 'srv/termguard')],
        ['/var/backups', join(tmp, 'backups')], ['/root/', join(tmp, 'root') + '/'],
        ['tg.example.internal', '127.0.0.1'], [':8444', `:${consolePort}`], ['--bind 0.0.0.0', '--bind 127.0.0.1'],
        ['sha256:<hex>', v.caHash ?? '<no CA hash yet>'], ['<token-id>', v.tokenId ?? '<no token id yet>'],
        ['<token>', v.token ?? '<no token yet>'], ['<host-id>', v.hostId ?? '<no host id yet>'],
      ];
      return pairs.reduce((l, [a, b]) => l.replaceAll(a, b), line);
    };
    const run = async (line: string) => {
      try {
        const r = await exec('sh', ['-c', line], { env, cwd: tmp, timeout: 30_000 });
        return r;
      } catch (e) {
        const x = e as { code: number; stderr: string };
        throw new Error(`guide command failed (${x.code}): ${line}\n${x.stderr}`);
      }
    };
    const agentStatus = async () => JSON.parse((await exec(join(bin, 'termguard-agent'), ['status', '--json'], { env })).stdout) as { enrolled: boolean; hostId: string; server: { reachable: boolean } };
    const hostLines = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; status: string });

    const ran: string[] = [];
    const skipped: string[] = [];
    for (const original of RUN) {
      if (SKIP.some(([re]) => re.test(original))) { skipped.push(original); continue; }
      const line = subst(original);
      expect(line, `placeholder left in: ${original}`).not.toMatch(/<no .* yet>/);
      ran.push(original);
      if (/^termguard-server start /.test(original)) {
        server = spawn('sh', ['-c', `exec ${line}`], { env, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        server.stdout!.on('data', (c: Buffer) => { out += c; });
        server.stderr!.on('data', (c: Buffer) => { err += c; });
        const t0 = Date.now();
        while (!/^console https:\/\//m.test(out)) {
          if (server.exitCode !== null || Date.now() - t0 > 20_000) throw new Error(`server did not start: ${err}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(out).toContain(`agent listener https://127.0.0.1:${agentPort}`);
        expect(out).toContain(`console https://127.0.0.1:${consolePort}`);
        continue;
      }
      const { stdout } = await run(line);
      if (/^termguard-server init /.test(original)) {
        v.caHash = /^CA hash: (sha256:[0-9a-f]{64})$/m.exec(stdout)?.[1] ?? '';
        expect(v.caHash).not.toBe('');
        expect(stdout).toMatch(/^admin password: \S+$/m);
        // Test-only: free ports instead of 8443/8444, so parallel test files do not collide.
        const cfgPath = join(tmp, 'srv/termguard/config.json');
        writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), agentPort, consolePort }, null, 2));
      } else if (/^termguard-server token create /.test(original)) {
        v.token = /^token: (\S+)$/m.exec(stdout)![1]!;
        v.tokenId = /^token id: (\S+)$/m.exec(stdout)![1]!;
        // The enroll line it prints is the guide's enroll line, filled in.
        const guideEnroll = RUN.find((l) => l.startsWith('termguard-agent enroll '))!;
        expect(stdout).toContain(subst(guideEnroll));
      } else if (/^termguard-agent enroll /.test(original)) {
        v.hostId = /^enrolled as host (\S+)$/m.exec(stdout)![1]!;
      } else if (/^termguard-agent status --json/.test(original)) {
        expect(JSON.parse(stdout)).toMatchObject({ enrolled: true, hostId: v.hostId, server: { reachable: true } });
      } else if (/^termguard-server hosts /.test(original)) {
        expect(hostLines(stdout).map((h) => h.id)).toContain(v.hostId);
        if (original.includes('restored')) expect(hostLines(stdout).find((h) => h.id === v.hostId)?.status).toBe('revoked');
      } else if (/^termguard-server token list /.test(original)) {
        expect(stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; state: string })).toContainEqual(expect.objectContaining({ id: v.tokenId, state: 'active' }));
      } else if (/^termguard-server token revoke /.test(original)) {
        expect(stdout).toBe(`token ${v.tokenId} revoked\n`);
      } else if (/^termguard-server host revoke /.test(original)) {
        expect(stdout).toMatch(new RegExp(`^host ${v.hostId} revoked`));
        // The revoked terminal can no longer talk to the server.
        const t0 = Date.now();
        // (status gives the server up to 5 s per try; a loaded CI box gets a few tries)
        while ((await agentStatus()).server.reachable) {
          if (Date.now() - t0 > 30_000) throw new Error('revoked agent still reaches the server');
          await new Promise((r) => setTimeout(r, 250));
        }
        console.log(`revoked agent refused after ${Date.now() - t0} ms`);
      } else if (/^termguard-server user reset /.test(original)) {
        expect(stdout).toMatch(/^password of admin reset\npassword: \S+/);
      } else if (/^umask 077 /.test(original)) {
        expect(statSync(join(tmp, 'root/termguard-backup.pass')).mode & 0o777).toBe(0o600);
      } else if (/^termguard-server backup /.test(original)) {
        expect(stdout).toMatch(/^backup written to .* bytes\): /);
      } else if (/^termguard-server restore /.test(original)) {
        expect(stdout).toMatch(/^restored .* into .*termguard-restored\n$/);
        expect(existsSync(join(tmp, 'srv/termguard-restored/ca.key'))).toBe(true);
      } else if (/^chmod .* ln -s /.test(original)) {
        expect((await exec(join(bin, 'termguard-server'), ['--version'], { env })).stdout.trim()).toBe(VERSION);
      } else {
        throw new Error(`the guide test has no check for: ${original}`);
      }
    }
    console.log(`deployment guide: ran ${ran.length} commands, skipped ${skipped.length}:\n  ${skipped.join('\n  ')}`);
    expect(ran.filter((l) => l.startsWith('termguard-server backup ')).length).toBe(2);
    expect(skipped.length).toBeLessThanOrEqual(4);
  }, 90_000);

  it('every block is tagged or covered: sh run, the server unit, Ansible, msiexec, apt', () => {
    const kinds = BLOCKS.map((b) => `${b.lang}${b.tags.length ? ' ' + b.tags.join(' ') : ''}`);
    expect(new Set(kinds)).toEqual(new Set(['sh run', 'ini', 'bat', 'yaml', 'sh']));
    // Untagged sh: package upgrades, run by tests/integration/package-linux.test.ts (dpkg -i over the old version).
    for (const l of BLOCKS.filter((b) => b.lang === 'sh' && !b.tags.length).flatMap(commands)) expect(l).toMatch(/^apt-get install \.\/termguard-agent_\d+\.\d+\.\d+_amd64\.deb$/);
    // msiexec: the properties the MSI defines (checked with msiinfo by tests/integration/package-windows.test.ts).
    for (const l of BLOCKS.filter((b) => b.lang === 'bat').flatMap(commands)) {
      expect(l).toMatch(/^msiexec \/i termguard-agent-\d+\.\d+\.\d+-x64\.msi \/qn( SERVER=https:\/\/\S+:8444 TOKEN=<token> CAHASH=sha256:<hex> \/l\*v \S+)?$/);
    }
  });

  it('the Ansible tasks write enroll.json 0600 where postinst reads it, with the keys it reads, and install the .deb', () => {
    const y = BLOCKS.find((b) => b.lang === 'yaml')!.body;
    const postinst = readFileSync('installers/linux/debian/postinst', 'utf8');
    expect(postinst).toContain('ENROLL="$CONF/enroll.json"');
    expect(postinst).toContain('CONF=/etc/termguard');
    expect(postinst).toContain('if [ -f "$STATE/agent.crt" ]');
    expect(y).toContain('path: /var/lib/termguard/agent.crt');
    expect(y).toMatch(/dest: \/etc\/termguard\/enroll\.json\n\s+mode: "0600"/);
    expect(y).toContain('no_log: true');
    const content = /content: '(.*)'/.exec(y)![1]!.replace(/\{\{ \w+ \}\}/g, 'x');
    expect(Object.keys(JSON.parse(content) as object)).toEqual(['server', 'token', 'caHash']);
    for (const field of ['server', 'token', 'caHash']) expect(postinst).toContain(`$(field ${field})`);
    expect(y).toMatch(new RegExp(`deb: /var/cache/termguard-agent_${VERSION.replaceAll('.', '\\.')}_amd64\\.deb`));
  });

  it.skipIf(!has('systemd-analyze') && process.env.CI !== 'true')('the server unit passes systemd-analyze verify', async () => {
    const unitText = BLOCKS.find((b) => b.lang === 'ini')!.body;
    expect(unitText).toContain('ExecStart=/usr/local/bin/termguard-server start --data /srv/termguard');
    const dir = tempDir('tg-guide-unit-');
    try {
      const exe = join(dir, 'termguard-server');
      writeFileSync(exe, `#!/bin/sh\nexec "${process.execPath}" "${ROOT}/dist/server/cli.js" "$@"\n`, { mode: 0o755 });
      mkdirSync(join(dir, 'srv'));
      const unit = join(dir, 'termguard-server.service');
      writeFileSync(unit, unitText.replaceAll('/usr/local/bin/termguard-server', exe).replaceAll('/srv/termguard', join(dir, 'srv')));
      const r = await exec('systemd-analyze', ['verify', unit]);
      expect(r.stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('README.zh-CN.md has the same blocks and commands as README.md', () => {
    const norm = (bs: Block[]) => bs.map((b) => `${b.lang} ${b.tags.join(' ')}\n` + (b.lang === 'yaml'
      ? b.body.split('\n').filter((l) => !/^\s*- name: /.test(l)).join('\n')
      : commands(b).join('\n')));
    expect(norm(fences(ZH))).toEqual(norm(BLOCKS));
  });
});
