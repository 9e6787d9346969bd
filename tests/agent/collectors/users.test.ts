import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { usersCollector } from '../../../agent/collectors/users/index.js';
import { lockedUsers, parseGroup, parsePasswd, parseQuser, parseWho, parseWin32Accounts } from '../../../agent/collectors/users/parse.js';
import { WIN32_USERS_SCRIPT } from '../../../agent/collectors/users/win32.js';
import { sectionSchema, usersSchema } from '../../../shared/inventory.js';
import { NOW, ctxWith, expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

describe('users parsers', () => {
  it('linux: passwd + group + shadow lock flags', () => {
    const accounts = parsePasswd(fx('linux', 'users', 'passwd.txt'), parseGroup(fx('linux', 'users', 'group.txt')), lockedUsers(fx('linux', 'users', 'shadow.txt')));
    const by = Object.fromEntries(accounts.map((a) => [a.name, a]));
    expect(by.root).toMatchObject({ id: '0', admin: true, disabled: true });
    expect(by.alice).toMatchObject({ id: '1000', admin: true, disabled: false, shell: '/bin/bash', home: '/home/alice' }); // sudo member
    expect(by.bob).toMatchObject({ admin: false, disabled: true }); // "!" locked
    expect(by.carol).toMatchObject({ admin: true }); // primary group sudo
    expect(by.daemon).toMatchObject({ admin: false, disabled: true }); // nologin
    expectMatchesJson('linux', 'users', 'passwd', accounts);
  });

  it('without /etc/shadow, disabled is only known for nologin shells', () => {
    const a = parsePasswd('x:x:1000:1000::/home/x:/bin/bash\ny:x:1001:1001::/:/usr/sbin/nologin\n', [], null);
    expect(a.map((u) => u.disabled)).toEqual([null, true]);
  });

  it('who --ips in the C locale (no year) and in an ISO locale', () => {
    const s = parseWho(fx('linux', 'users', 'who-ips.txt'), NOW, 0);
    expect(s).toEqual([
      { user: 'alice', tty: 'pts/0', from: '198.51.100.23', since: '2026-11-24T09:12:00.000Z', state: null },
      { user: 'bob', tty: 'tty1', from: null, since: '2026-11-23T22:05:00.000Z', state: null },
      { user: 'root', tty: 'pts/1', from: '203.0.113.9', since: '2026-11-25T07:40:00.000Z', state: null },
    ]);
    // Local time in UTC+8 → 8 hours earlier in UTC.
    expect(parseWho(fx('linux', 'users', 'who-ips-iso.txt'), NOW, 480)[0]!.since).toBe('2026-11-24T01:12:00.000Z');
    // A December login seen in January belongs to last year.
    expect(parseWho('u  pts/0  Dec 31 23:00\n', new Date('2027-01-01T01:00:00Z'))[0]!.since).toBe('2026-12-31T23:00:00.000Z');
  });

  it('win32: Get-LocalUser + Administrators members, quser sessions', () => {
    const accounts = parseWin32Accounts(fxJson('win32', 'users', 'win32-users.txt'));
    expectMatchesJson('win32', 'users', 'win32-users', accounts);
    expect(accounts.filter((a) => a.admin).map((a) => a.name)).toEqual(['Administrator', 'itadmin']);
    expect(accounts.find((a) => a.name === 'Guest')!.disabled).toBe(true);
    expect(parseQuser(fx('win32', 'users', 'quser.txt'), 0)).toEqual([
      { user: 'trader01', tty: 'console', from: null, since: '2026-11-24T08:47:00.000Z', state: 'Active' },
      { user: 'itadmin', tty: null, from: null, since: '2026-11-24T07:02:00.000Z', state: 'Disc' },
    ]);
  });

  it('win32 through the collector: quser failing (nobody logged on) is no sessions', async () => {
    const run = tableRunner({
      [`powershell.exe -NoProfile -NonInteractive -Command ${WIN32_USERS_SCRIPT}`]: { stdout: fx('win32', 'users', 'win32-users.txt') },
      quser: { stdout: '', stderr: 'No User exists for *\r\n', code: 1 },
    });
    const r = await usersCollector.collect(ctxWith('win32', run));
    expect(r).toMatchObject({ status: 'ok', data: { sessions: [] } });
  });

  it('darwin through the collector: dscl + who', async () => {
    const run = tableRunner({
      'dscl . -list /Users UniqueID': { stdout: fx('darwin', 'users', 'dscl-list-uniqueid.txt') },
      'dscl . -list /Users UserShell': { stdout: fx('darwin', 'users', 'dscl-list-usershell.txt') },
      'dscl . -list /Users NFSHomeDirectory': { stdout: fx('darwin', 'users', 'dscl-list-nfshomedirectory.txt') },
      'dscl . -read /Groups/admin GroupMembership': { stdout: fx('darwin', 'users', 'dscl-read-admin.txt') },
      who: { stdout: fx('darwin', 'users', 'who.txt') },
    });
    const r = await usersCollector.collect(ctxWith('darwin', run));
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    const by = Object.fromEntries(r.data.accounts.map((a) => [a.name, a]));
    expect(by.opsadmin).toMatchObject({ id: '501', admin: true, shell: '/bin/zsh', home: '/Users/opsadmin', disabled: null });
    expect(by.trader).toMatchObject({ admin: false });
    expect(by._amavisd!.disabled).toBe(true);
    expect(r.data.sessions.map((s) => [s.user, s.tty, s.from])).toEqual([['trader', 'console', null], ['trader', 'ttys000', null], ['opsadmin', 'ttys001', '192.168.1.30']]);
  });
});

describe('linux users from a fixture tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-users-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'fs/etc'), { recursive: true });

  it('a missing /etc/passwd is an error with the path', async () => {
    const r = await usersCollector.collect({ platform: 'linux', root: join(dir, 'fs'), procfs: join(dir, 'proc'), sysfs: join(dir, 'sys'), run: tableRunner({}), now: NOW });
    expect(r.status).toBe('error');
    if (r.status === 'error') expect(r.reason).toMatch(/etc\/passwd not found/);
  });

  it('who missing is not fatal: accounts still come back', async () => {
    writeFileSync(join(dir, 'fs/etc/passwd'), fx('linux', 'users', 'passwd.txt'));
    writeFileSync(join(dir, 'fs/etc/group'), fx('linux', 'users', 'group.txt'));
    const r = await usersCollector.collect({ platform: 'linux', root: join(dir, 'fs'), procfs: join(dir, 'proc'), sysfs: join(dir, 'sys'), run: tableRunner({}), now: NOW });
    expect(r).toMatchObject({ status: 'ok', data: { sessions: [] } });
  });
});

describe.runIf(onLinux)('users on this machine', () => {
  it('collects and validates', async () => {
    const r = sectionSchema(usersSchema).parse(await usersCollector.collect(hostContext()));
    expect(r.status).toBe('ok');
    if (r.status === 'ok') expect(r.data.accounts.find((a) => a.id === '0')?.admin).toBe(true);
  });
});
