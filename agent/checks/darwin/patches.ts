/**
 * Patch state from local records only (art29: the agent never contacts the internet). Nothing here
 * runs `softwareupdate -l`, which asks Apple's catalog; we read what macOS itself last recorded.
 */
import type { CheckDef } from '../types.js';
import { installHistory } from './malware.js';
import { bool, date } from './plist.js';
import { ageDays, check, error, fail, pass, prefs, show } from './util.js';

/** The local update cache (RecommendedUpdates) is trusted only if the last catalog check is this recent. */
export const CATALOG_MAX_AGE_DAYS = 30;
/** macOS point releases and security responses come roughly monthly; 90 days is three missed. */
export const OS_UPDATE_MAX_AGE_DAYS = 90;

const ARTS = ['art9', 'art31', 'art30'];
const MLPS = '8.1.4.4 e) 入侵防范: find known vulnerabilities and patch them in time';
const SU = 'com.apple.SoftwareUpdate';

export const patchChecks: CheckDef[] = [
  check({
    id: 'darwin.patches.auto_check',
    title: { en: 'macOS checks for updates automatically', zh: '系统自动检查更新' },
    mlps: MLPS,
    articles: ARTS,
    remediation: { en: 'sudo defaults write /Library/Preferences/com.apple.SoftwareUpdate AutomaticCheckEnabled -bool true (or MDM: com.apple.SoftwareUpdate AutomaticCheckEnabled = true; point CatalogURL at the internal update server)', zh: '执行 sudo defaults write /Library/Preferences/com.apple.SoftwareUpdate AutomaticCheckEnabled -bool true（或通过 MDM 下发，并指向单位内部更新服务器）' },
    async run(ctx) {
      const p = await prefs(ctx, SU, ['AutomaticCheckEnabled']);
      if (p.error && !p.sources.length) return error({ domain: SU }, p.error);
      const ev = { source: p.source ?? 'macOS default', AutomaticCheckEnabled: show(p.values.AutomaticCheckEnabled) };
      return bool(p.values.AutomaticCheckEnabled) === false ? fail(ev, 'automatic update checks are off') : pass(ev);
    },
  }),
  check({
    id: 'darwin.patches.critical_install',
    title: { en: 'Security responses and system files install automatically', zh: '安全响应与系统文件自动安装' },
    mlps: MLPS,
    articles: ARTS,
    remediation: { en: 'sudo defaults write /Library/Preferences/com.apple.SoftwareUpdate CriticalUpdateInstall -bool true (or MDM: com.apple.SoftwareUpdate CriticalUpdateInstall = true)', zh: '执行 sudo defaults write /Library/Preferences/com.apple.SoftwareUpdate CriticalUpdateInstall -bool true（或通过 MDM 下发）' },
    async run(ctx) {
      const p = await prefs(ctx, SU, ['CriticalUpdateInstall']);
      if (p.error && !p.sources.length) return error({ domain: SU }, p.error);
      const ev = { source: p.source ?? 'macOS default', CriticalUpdateInstall: show(p.values.CriticalUpdateInstall) };
      return bool(p.values.CriticalUpdateInstall) === false ? fail(ev, 'critical security updates are not installed automatically') : pass(ev);
    },
  }),
  check({
    id: 'darwin.patches.pending',
    title: { en: 'No updates pending in the local update cache', zh: '本地更新缓存中无待安装更新' },
    mlps: MLPS,
    articles: ARTS,
    remediation: { en: 'Install the listed updates (System Settings > General > Software Update, or sudo softwareupdate -i <label> from the internal update server)', zh: '安装列出的更新（“系统设置 > 通用 > 软件更新”，或通过内部更新服务器执行 sudo softwareupdate -i <标签>）' },
    async run(ctx) {
      const p = await prefs(ctx, SU, ['RecommendedUpdates', 'LastSuccessfulDate', 'LastRecommendedUpdatesAvailable'], { managed: false });
      if (p.error) return error({ domain: `/Library/Preferences/${SU}` }, p.error);
      const recs = Array.isArray(p.values.RecommendedUpdates) ? p.values.RecommendedUpdates : [];
      const names = recs.map((r) => (typeof r === 'object' && r !== null && !Array.isArray(r) && 'Display Name' in r ? String((r as Record<string, unknown>)['Display Name']) : String(show(r))));
      const last = date(p.values.LastSuccessfulDate);
      const age = last ? ageDays(ctx.now, last) : null;
      const ev = { source: `defaults read /Library/Preferences/${SU}`, pending: names, LastSuccessfulDate: last?.toISOString() ?? null, catalog_age_days: age };
      if (names.length) return fail(ev, `${names.length} update(s) pending: ${names.join(', ')}`);
      if (age === null) return fail(ev, 'macOS has never recorded a successful update check, so pending updates are unknown');
      if (age > CATALOG_MAX_AGE_DAYS) return fail(ev, `the last successful update check was ${age} days ago: the local cache is stale`);
      return pass(ev);
    },
  }),
  check({
    id: 'darwin.patches.recent_os_update',
    title: { en: `A macOS or security update was installed within ${OS_UPDATE_MAX_AGE_DAYS} days`, zh: `${OS_UPDATE_MAX_AGE_DAYS} 天内安装过系统或安全更新` },
    mlps: MLPS,
    articles: ARTS,
    remediation: { en: 'Install the current macOS update from System Settings > General > Software Update (or the internal update server)', zh: '通过“系统设置 > 通用 > 软件更新”（或内部更新服务器）安装最新系统更新' },
    async run(ctx) {
      const h = await installHistory(ctx);
      if (!h.ok) return h.outcome;
      const os = h.items
        .filter((i) => /^(macOS|Security Update|Rapid Security Response|Background Security)/i.test(i.name) && i.source !== 'package_source_other')
        .sort((a, b) => b.date.getTime() - a.date.getTime());
      const last = os[0];
      if (!last) return fail({ source: h.cmd }, 'the install history records no macOS or security update');
      const age = ageDays(ctx.now, last.date);
      const ev = { source: h.cmd, last: { name: last.name, version: last.version ?? null, date: last.date.toISOString() }, age_days: age, max_age_days: OS_UPDATE_MAX_AGE_DAYS };
      return age <= OS_UPDATE_MAX_AGE_DAYS ? pass(ev) : fail(ev, `the last macOS/security update was ${age} days ago`);
    },
  }),
];
