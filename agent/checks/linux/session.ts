/** Session timeout and screen lock (MLPS 8.1.4.1 b), removable-media automount (8.1.4.5). */
import type { CheckDef } from '../types.js';
import { findTmout, gvariantInt, parseIni } from './parse.js';
import { dconfFiles, enabledUnits, err, fail, findUnits, globDir, hasDesktop, linux, na, pass } from './util.js';

const ART = ['art9', 'art31'];

const tmout = linux({
  id: 'linux.session.tmout',
  title: { en: 'Idle shell sessions end after at most 15 minutes (TMOUT)', zh: '空闲命令行会话 15 分钟内自动退出（TMOUT）' },
  articles: ART, mlps: '8.1.4.1 b) 身份鉴别: 登录连接超时自动退出',
  remediation: {
    en: 'Create /etc/profile.d/tmout.sh with `TMOUT=600; readonly TMOUT; export TMOUT`.',
    zh: '创建 /etc/profile.d/tmout.sh，内容为 `TMOUT=600; readonly TMOUT; export TMOUT`。',
  },
  async run(ctx) {
    const profile = await ctx.readFile('/etc/profile');
    if (profile === null) return err('/etc/profile not readable');
    const files = ['/etc/profile', ...(await globDir(ctx, '/etc/profile.d', '*.sh')), '/etc/bash.bashrc', '/etc/bashrc'];
    let found: { file: string; TMOUT: number } | null = null;
    for (const f of files) {
      const t = f === '/etc/profile' ? profile : await ctx.readFile(f);
      const v = t === null ? null : findTmout(t);
      // Files are sourced in this order, so the last assignment is the one a shell ends up with.
      if (v !== null) found = { file: f, TMOUT: v };
    }
    if (!found) return fail('TMOUT is not set in /etc/profile, /etc/profile.d/*.sh or the system bashrc', { searched: files.length });
    return found.TMOUT > 0 && found.TMOUT <= 900 ? pass(found) : fail(`TMOUT=${found.TMOUT} (want 1–900 seconds)`, found);
  },
});

const screenLock = linux({
  id: 'linux.desktop.screen_lock',
  title: { en: 'Desktop locks the screen after at most 15 idle minutes', zh: '桌面空闲 15 分钟内自动锁屏' },
  articles: ART, mlps: '8.1.4.1 b) 身份鉴别: 会话超时锁定',
  remediation: {
    en: 'Create /etc/dconf/db/local.d/00-screensaver with `[org/gnome/desktop/session]` `idle-delay=uint32 600` and `[org/gnome/desktop/screensaver]` `lock-enabled=true`, lock the keys in /etc/dconf/db/local.d/locks/, then run `dconf update`.',
    zh: '创建 /etc/dconf/db/local.d/00-screensaver，写入 `[org/gnome/desktop/session]` `idle-delay=uint32 600` 和 `[org/gnome/desktop/screensaver]` `lock-enabled=true`，在 /etc/dconf/db/local.d/locks/ 中锁定这些键，然后执行 `dconf update`。',
  },
  async run(ctx) {
    const sessions = await hasDesktop(ctx);
    if (sessions.length === 0) return na('no graphical session installed (server without a desktop)');
    const files = await dconfFiles(ctx);
    let idle: number | null = null;
    let lock: string | null = null;
    for (const f of files) {
      const ini = parseIni(f.text);
      idle = gvariantInt(ini['org/gnome/desktop/session']?.['idle-delay']) ?? idle;
      lock = ini['org/gnome/desktop/screensaver']?.['lock-enabled'] ?? lock;
    }
    const evidence = { sessions, dconfFiles: files.map((f) => f.path), 'idle-delay': idle, 'lock-enabled': lock };
    if (idle === null || lock === null) return fail('no system-wide dconf setting for idle-delay and lock-enabled (users keep GNOME defaults)', evidence);
    if (lock !== 'true') return fail('screen lock is disabled (lock-enabled=false)', evidence);
    return idle > 0 && idle <= 900 ? pass(evidence) : fail(`idle-delay=${idle}s (want 1–900)`, evidence);
  },
});

const automount = linux({
  id: 'linux.media.automount',
  title: { en: 'Removable media are not mounted or run automatically', zh: '禁止移动介质自动挂载与自动运行' },
  articles: ART, mlps: '8.1.4.5 恶意代码防范: 禁用自动播放/自动挂载',
  remediation: {
    en: 'Disable autofs (`systemctl disable --now autofs`); on desktops set `[org/gnome/desktop/media-handling]` `automount=false`, `automount-open=false`, `autorun-never=true` in /etc/dconf/db/local.d/ and run `dconf update`.',
    zh: '禁用 autofs（`systemctl disable --now autofs`）；桌面系统在 /etc/dconf/db/local.d/ 中设置 `[org/gnome/desktop/media-handling]` `automount=false`、`automount-open=false`、`autorun-never=true`，然后执行 `dconf update`。',
  },
  async run(ctx) {
    const u = await enabledUnits(ctx);
    if ('error' in u) return err(u.error);
    const autofs = findUnits(u.units, ['autofs']);
    const sessions = await hasDesktop(ctx);
    const evidence: Record<string, unknown> = { unitsFrom: u.source, autofs, desktop: sessions.length > 0 };
    if (autofs.length) return fail('autofs is enabled', evidence);
    if (sessions.length === 0) return pass(evidence);
    const media: Record<string, string> = {};
    for (const f of await dconfFiles(ctx)) Object.assign(media, parseIni(f.text)['org/gnome/desktop/media-handling'] ?? {});
    Object.assign(evidence, { automount: media.automount ?? null, 'automount-open': media['automount-open'] ?? null, 'autorun-never': media['autorun-never'] ?? null });
    if (media.automount !== 'false') return fail('desktop automounts removable media (automount is not false)', evidence);
    if (media['autorun-never'] !== 'true') return fail('desktop may autorun software on media (autorun-never is not true)', evidence);
    return pass(evidence);
  },
});

export const sessionChecks: CheckDef[] = [tmout, screenLock, automount];
