/** Session lock and login window (MLPS 8.1.4.1 b: end idle sessions). */
import type { CheckDef } from '../types.js';
import { bool, num } from './plist.js';
import { check, error, fail, pass, prefs, show } from './util.js';

export const MAX_IDLE_SECONDS = 600;
export const MAX_PASSWORD_DELAY_SECONDS = 5;

export const sessionChecks: CheckDef[] = [
  check({
    id: 'darwin.session.screensaver_idle',
    title: { en: `Screen saver starts within ${MAX_IDLE_SECONDS / 60} minutes of inactivity`, zh: `无操作 ${MAX_IDLE_SECONDS / 60} 分钟内启动屏幕保护` },
    mlps: '8.1.4.1 b) 身份鉴别: session idle timeout',
    remediation: { en: `MDM profile com.apple.screensaver idleTime ≤ ${MAX_IDLE_SECONDS}, or sudo defaults write /Library/Preferences/com.apple.screensaver idleTime -int ${MAX_IDLE_SECONDS}`, zh: `通过 MDM 下发 com.apple.screensaver idleTime ≤ ${MAX_IDLE_SECONDS}，或执行 sudo defaults write /Library/Preferences/com.apple.screensaver idleTime -int ${MAX_IDLE_SECONDS}` },
    async run(ctx) {
      const p = await prefs(ctx, 'com.apple.screensaver', ['idleTime']);
      if (p.error && !p.sources.length) return error({ domain: 'com.apple.screensaver' }, p.error);
      const v = num(p.values.idleTime);
      const ev = { source: p.source ?? null, idleTime: show(p.values.idleTime) };
      if (v === undefined) return fail(ev, 'no system-wide screen saver idle time is enforced');
      if (v <= 0) return fail(ev, 'the screen saver never starts (idleTime = 0)');
      return v <= MAX_IDLE_SECONDS ? pass(ev) : fail(ev, `idleTime ${v} s > ${MAX_IDLE_SECONDS} s`);
    },
  }),
  check({
    id: 'darwin.session.screensaver_password',
    title: { en: 'A password is required to leave the screen saver', zh: '退出屏幕保护需要输入口令' },
    mlps: '8.1.4.1 b) 身份鉴别: session lock on idle',
    remediation: { en: `MDM profile com.apple.screensaver askForPassword = true, askForPasswordDelay ≤ ${MAX_PASSWORD_DELAY_SECONDS}`, zh: `通过 MDM 下发 com.apple.screensaver askForPassword = true、askForPasswordDelay ≤ ${MAX_PASSWORD_DELAY_SECONDS}` },
    async run(ctx) {
      const p = await prefs(ctx, 'com.apple.screensaver', ['askForPassword', 'askForPasswordDelay']);
      if (p.error && !p.sources.length) return error({ domain: 'com.apple.screensaver' }, p.error);
      const ask = bool(p.values.askForPassword);
      const delay = num(p.values.askForPasswordDelay);
      const ev = { source: p.source ?? null, askForPassword: show(p.values.askForPassword), askForPasswordDelay: show(p.values.askForPasswordDelay) };
      if (ask !== true) return fail(ev, 'leaving the screen saver does not require a password');
      if (delay !== undefined && delay > MAX_PASSWORD_DELAY_SECONDS) return fail(ev, `the password is asked only after ${delay} s`);
      return pass(ev);
    },
  }),
  check({
    id: 'darwin.session.login_window_name_password',
    title: { en: 'Login window asks for name and password (no user list)', zh: '登录窗口要求输入用户名和口令（不显示用户列表）' },
    mlps: '8.1.4.1 a) 身份鉴别: identification at login',
    remediation: { en: 'sudo defaults write /Library/Preferences/com.apple.loginwindow SHOWFULLNAME -bool true (or MDM: com.apple.loginwindow SHOWFULLNAME = true)', zh: '执行 sudo defaults write /Library/Preferences/com.apple.loginwindow SHOWFULLNAME -bool true（或通过 MDM 下发）' },
    async run(ctx) {
      const p = await prefs(ctx, 'com.apple.loginwindow', ['SHOWFULLNAME']);
      if (p.error && !p.sources.length) return error({ domain: 'com.apple.loginwindow' }, p.error);
      const ev = { source: p.source ?? null, SHOWFULLNAME: show(p.values.SHOWFULLNAME) };
      return bool(p.values.SHOWFULLNAME) === true ? pass(ev) : fail(ev, 'the login window lists user names');
    },
  }),
];
