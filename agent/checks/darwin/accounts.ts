/** Accounts: guest, root, UID 0, administrators, empty passwords, automatic login (MLPS 8.1.4.1 / 8.1.4.2). */
import { pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import type { CheckDef } from '../types.js';
import { parseDsclList, parseDsclRead, parseShadowHashData } from './parse.js';
import { check, error, fail, pass, prefs, show, T, tool, toolOk } from './util.js';

/** Administrators besides root that a trading terminal may have (operator + one break-glass admin). */
export const MAX_ADMINS = 2;

export const accountChecks: CheckDef[] = [
  check({
    id: 'darwin.accounts.guest_disabled',
    title: { en: 'Guest account is disabled', zh: '来宾账户已禁用' },
    mlps: '8.1.4.2 b) 访问控制: disable or rename default accounts',
    remediation: { en: 'sudo sysadminctl -guestAccount off (or MDM: com.apple.MCX DisableGuestAccount = true)', zh: '执行 sudo sysadminctl -guestAccount off（或通过 MDM 下发 com.apple.MCX DisableGuestAccount = true）' },
    async run(ctx) {
      const t = await toolOk(ctx, T.sysadminctl, ['-guestAccount', 'status']);
      if (!t.ok) return t.outcome;
      // sysadminctl logs through NSLog: the answer is on stderr behind a timestamp prefix.
      const text = `${t.r.stdout}\n${t.r.stderr}`;
      const m = /Guest account (enabled|disabled)/i.exec(text);
      if (!m) return error({ command: t.cmd }, 'sysadminctl printed no guest account status');
      const ev = { source: t.cmd, guest_account: m[1]!.toLowerCase() };
      return m[1]!.toLowerCase() === 'disabled' ? pass(ev) : fail(ev, 'the Guest account can log in without a password');
    },
  }),
  check({
    id: 'darwin.accounts.guest_smb_access_disabled',
    title: { en: 'Guest access to shared folders is disabled', zh: '共享文件夹来宾访问已禁用' },
    mlps: '8.1.4.2 b) 访问控制: disable or rename default accounts',
    remediation: { en: 'sudo sysadminctl -smbGuestAccess off', zh: '执行 sudo sysadminctl -smbGuestAccess off' },
    async run(ctx) {
      const t = await toolOk(ctx, T.sysadminctl, ['-smbGuestAccess', 'status']);
      if (!t.ok) return t.outcome;
      const m = /SMB guest access (enabled|disabled)/i.exec(`${t.r.stdout}\n${t.r.stderr}`);
      if (!m) return error({ command: t.cmd }, 'sysadminctl printed no SMB guest access status');
      const ev = { source: t.cmd, smb_guest_access: m[1]!.toLowerCase() };
      return m[1]!.toLowerCase() === 'disabled' ? pass(ev) : fail(ev, 'SMB shares accept unauthenticated guest connections');
    },
  }),
  check({
    id: 'darwin.accounts.root_disabled',
    title: { en: 'The root account is disabled for login', zh: 'root 账户已禁止登录' },
    mlps: '8.1.4.2 b) 访问控制: disable or rename default accounts',
    remediation: { en: 'sudo dsenableroot -d', zh: '执行 sudo dsenableroot -d 禁用 root 登录' },
    async run(ctx) {
      const t = await tool(ctx, T.dscl, ['.', '-read', '/Users/root', 'AuthenticationAuthority']);
      if (!t.ok) return t.outcome;
      const text = `${t.r.stdout}\n${t.r.stderr}`;
      const { attrs, missing } = parseDsclRead(text);
      const auth = attrs.get('AuthenticationAuthority');
      if (missing.includes('AuthenticationAuthority')) return pass({ source: t.cmd, AuthenticationAuthority: null });
      if (!auth) return error({ command: t.cmd, code: t.r.code }, 'dscl printed neither AuthenticationAuthority nor "No such key"');
      const ev = { source: t.cmd, AuthenticationAuthority: auth.join(' ') };
      return auth.some((a) => a.includes(';DisabledUser;')) ? pass(ev) : fail(ev, 'root has a password authority and can log in');
    },
  }),
  check({
    id: 'darwin.accounts.uid0_only_root',
    title: { en: 'No account other than root has UID 0', zh: '除 root 外无 UID 为 0 的账户' },
    mlps: '8.1.4.2 d) 访问控制: least privilege for administrative users',
    remediation: { en: 'Give the extra account a unique UID: sudo dscl . -change /Users/<name> UniqueID 0 <new-uid>, or delete it', zh: '为多余账户分配唯一 UID：sudo dscl . -change /Users/<用户名> UniqueID 0 <新UID>，或删除该账户' },
    async run(ctx) {
      const t = await toolOk(ctx, T.dscl, ['.', '-list', '/Users', 'UniqueID']);
      if (!t.ok) return t.outcome;
      const users = parseDsclList(t.r.stdout);
      if (!users.length) return error({ command: t.cmd }, 'dscl listed no users');
      const zero = users.filter((u) => Number(u.value) === 0).map((u) => u.name);
      const extra = zero.filter((n) => n !== 'root');
      const ev = { source: t.cmd, uid0: zero };
      return extra.length ? fail(ev, `accounts besides root have UID 0: ${extra.join(', ')}`) : pass(ev);
    },
  }),
  check({
    id: 'darwin.accounts.admin_members',
    title: { en: `At most ${MAX_ADMINS} administrators besides root`, zh: `除 root 外管理员不超过 ${MAX_ADMINS} 个` },
    mlps: '8.1.4.2 c) 访问控制: remove surplus accounts; d) least privilege',
    remediation: { en: 'Remove surplus admins: sudo dseditgroup -o edit -d <user> -t user admin', zh: '移除多余管理员：sudo dseditgroup -o edit -d <用户名> -t user admin' },
    async run(ctx) {
      const t = await tool(ctx, T.dscl, ['.', '-read', '/Groups/admin', 'GroupMembership']);
      if (!t.ok) return t.outcome;
      const { attrs, missing } = parseDsclRead(`${t.r.stdout}\n${t.r.stderr}`);
      const members = attrs.get('GroupMembership') ?? (missing.includes('GroupMembership') ? [] : null);
      if (members === null) return error({ command: t.cmd, code: t.r.code }, 'dscl printed no GroupMembership for the admin group');
      const others = members.filter((m) => m !== 'root');
      const ev = { source: t.cmd, admins: members, limit: MAX_ADMINS };
      return others.length > MAX_ADMINS ? fail(ev, `${others.length} administrators besides root (limit ${MAX_ADMINS}): ${others.join(', ')}`) : pass(ev);
    },
  }),
  check({
    id: 'darwin.accounts.no_empty_password',
    title: { en: 'No local user has an empty password', zh: '本地用户均未使用空口令' },
    mlps: '8.1.4.1 a) 身份鉴别: every user authenticated, no empty credentials',
    remediation: { en: 'Set a password: sudo dscl . -passwd /Users/<name> (or disable the account: sudo pwpolicy -u <name> -disableuser)', zh: '为该用户设置口令：sudo dscl . -passwd /Users/<用户名>（或禁用：sudo pwpolicy -u <用户名> -disableuser）' },
    async run(ctx) {
      const l = await toolOk(ctx, T.dscl, ['.', '-list', '/Users', 'UniqueID']);
      if (!l.ok) return l.outcome;
      // Regular users start at UID 500; system accounts (_name, < 500) have no password by design.
      const users = parseDsclList(l.r.stdout).filter((u) => Number(u.value) >= 500 && !u.name.startsWith('_'));
      const empty: string[] = [];
      const unreadable: string[] = [];
      for (const u of users) {
        const t = await tool(ctx, T.dscl, ['.', '-read', `/Users/${u.name}`, 'dsAttrTypeNative:ShadowHashData']);
        if (!t.ok) return t.outcome;
        const h = parseShadowHashData(t.r.stdout);
        if (!h) { unreadable.push(u.name); continue; }
        // The only local way to tell an empty password: derive the hash of "" with the stored salt.
        const d = pbkdf2Sync('', h.salt, h.iterations, h.entropy.length, 'sha512');
        if (timingSafeEqual(d, h.entropy)) empty.push(u.name);
      }
      const ev = { source: 'dscl . -read /Users/<user> dsAttrTypeNative:ShadowHashData', users: users.map((u) => u.name), empty, no_local_hash: unreadable };
      if (empty.length) return fail(ev, `users with an empty password: ${empty.join(', ')}`);
      if (users.length && unreadable.length === users.length) return error(ev, 'no ShadowHashData readable (the agent must run as root)');
      return pass(ev);
    },
  }),
  check({
    id: 'darwin.accounts.autologin_disabled',
    title: { en: 'Automatic login is disabled', zh: '已禁用自动登录' },
    mlps: '8.1.4.1 a) 身份鉴别: identify and authenticate every login',
    remediation: { en: 'sudo defaults delete /Library/Preferences/com.apple.loginwindow autoLoginUser && sudo rm -f /etc/kcpassword', zh: '执行 sudo defaults delete /Library/Preferences/com.apple.loginwindow autoLoginUser 并删除 /etc/kcpassword' },
    async run(ctx) {
      const p = await prefs(ctx, 'com.apple.loginwindow', ['autoLoginUser', 'com.apple.login.mcx.DisableAutoLoginClient']);
      if (p.error && !p.sources.length) return error({ domain: 'com.apple.loginwindow' }, p.error);
      const user = p.values.autoLoginUser;
      const blocked = p.values['com.apple.login.mcx.DisableAutoLoginClient'] === true;
      const kc = (await ctx.readFile('/etc/kcpassword')) !== null;
      const ev = { sources: p.sources, autoLoginUser: show(user), DisableAutoLoginClient: blocked, kcpassword_present: kc };
      if (blocked) return pass(ev);
      if (user !== undefined) return fail(ev, `automatic login as ${String(user)} is configured`);
      if (kc) return fail(ev, '/etc/kcpassword holds an automatic-login password');
      return pass(ev);
    },
  }),
];
