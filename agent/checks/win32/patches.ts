/**
 * Patching (MLPS 8.1.4.4 e) 入侵防范: 及时修补漏洞; art30), from local metadata only (art29): the
 * installed-hotfix list (Win32_QuickFixEngineering via Get-HotFix) and the Windows Update agent's
 * local history (QueryHistory). No online scan: IUpdateSearcher.Search is never called.
 */
import type { CheckDef } from '../types.js';
import { ageDays, check, fail, pass } from './define.js';
import { parsePsDate } from './parse.js';
import { HOTFIXES, psList, services, UPDATE_HISTORY } from './sources.js';

const MAX_PATCH_AGE_DAYS = 35;

/** Titles of security-bearing updates (monthly cumulative and security-only), English and Chinese. */
const SECURITY_TITLE = /security update|cumulative update|security monthly quality rollup|security only|安全更新|累积更新|安全月度质量汇总/i;
/** Definition and tool updates, which patch no vulnerability. */
const NOT_A_PATCH = /security intelligence|definition update|malicious software removal|安全智能更新|定义更新|恶意软件删除工具/i;
const SECURITY_HOTFIX = /security update|安全更新/i;

/** IUpdateHistoryEntry.Operation 1 = installation; ResultCode 2 = succeeded, 3 = succeeded with errors. */
const OP_INSTALL = 1;
const RESULT_OK = new Set([2, 3]);

interface Found { what: string; date: Date }

function newest(xs: Found[]): Found | undefined {
  return xs.reduce<Found | undefined>((a, b) => (!a || b.date > a.date ? b : a), undefined);
}

export const patchChecks: CheckDef[] = [
  check({
    id: 'win32.patch.recent_security_update',
    title: { en: `A security update was installed within ${MAX_PATCH_AGE_DAYS} days`, zh: `${MAX_PATCH_AGE_DAYS} 天内安装过安全更新` },
    articles: ['art9', 'art29', 'art30', 'art31'],
    mlps: '8.1.4.4 e) 入侵防范: patch known vulnerabilities in time',
    remediation: {
      en: 'Install the latest cumulative security update from the institution\'s internal WSUS / patch server (Settings > Windows Update, or deploy the .msu offline with wusa.exe <file>.msu /quiet)',
      zh: '从本机构内部 WSUS／补丁服务器安装最新的累积安全更新（设置 > Windows 更新，或离线执行 wusa.exe <补丁文件>.msu /quiet）',
    },
    async run(ctx) {
      const now = ctx.now;
      const hot = await psList(ctx, HOTFIXES, 'Get-HotFix');
      const fromHotfix: Found[] = hot.ok
        ? hot.value.filter((h) => SECURITY_HOTFIX.test(String(h.Description ?? '')))
          .map((h) => ({ what: String(h.HotFixID ?? ''), date: parsePsDate(h.InstalledOn) }))
          .filter((h): h is Found => h.date !== null)
        : [];
      const bestHotfix = newest(fromHotfix);
      const evidence: Record<string, unknown> = {
        newestSecurityHotfix: bestHotfix ? { id: bestHotfix.what, installedOn: bestHotfix.date.toISOString().slice(0, 10) } : null,
      };
      if (bestHotfix && ageDays(bestHotfix.date, now) <= MAX_PATCH_AGE_DAYS) return pass({ source: 'Get-HotFix', ...evidence });

      // Get-HotFix misses updates that do not register as a QFE; the agent's own history has them.
      const hist = await psList(ctx, UPDATE_HISTORY, 'Windows Update history (QueryHistory)');
      const fromHistory: Found[] = hist.ok
        ? hist.value.filter((u) => Number(u.Operation) === OP_INSTALL && RESULT_OK.has(Number(u.ResultCode)))
          .filter((u) => SECURITY_TITLE.test(String(u.Title ?? '')) && !NOT_A_PATCH.test(String(u.Title ?? '')))
          .map((u) => ({ what: String(u.Title), date: parsePsDate(u.Date) }))
          .filter((u): u is Found => u.date !== null)
        : [];
      const bestHistory = newest(fromHistory);
      evidence.newestSecurityUpdateInHistory = bestHistory ? { title: bestHistory.what.slice(0, 120), date: bestHistory.date.toISOString().slice(0, 10) } : null;
      if (bestHistory && ageDays(bestHistory.date, now) <= MAX_PATCH_AGE_DAYS) return pass({ source: 'Windows Update history', ...evidence });

      if (!hot.ok && !hist.ok) return { ...hot.outcome, reason: `no local patch history: ${hot.outcome.reason ?? ''}; ${hist.outcome.reason ?? ''}` };
      const latest = newest([bestHotfix, bestHistory].filter((x): x is Found => x !== undefined));
      return fail({ source: 'Get-HotFix, Windows Update history', ...evidence },
        latest ? `newest security update is ${ageDays(latest.date, now)} days old, more than ${MAX_PATCH_AGE_DAYS}` : 'no installed security update found in local history');
    },
  }),
  check({
    id: 'win32.patch.update_service',
    title: { en: 'The Windows Update service is not disabled', zh: 'Windows Update 服务未被禁用' },
    articles: ['art9', 'art30', 'art31'],
    mlps: '8.1.4.4 e) 入侵防范: keep the means to patch (update service available)',
    remediation: {
      en: 'Set-Service wuauserv -StartupType Manual, and point it at the internal WSUS server (Group Policy > Windows Update > Specify intranet Microsoft update service location)',
      zh: '执行 Set-Service wuauserv -StartupType Manual，并通过组策略 > Windows 更新 > “指定 Intranet Microsoft 更新服务位置”指向内部 WSUS 服务器',
    },
    async run(ctx) {
      const got = await services(ctx);
      if (!got.ok) return got.outcome;
      const s = got.value.find((x) => x.name.toLowerCase() === 'wuauserv');
      if (!s) return fail({ source: got.from }, 'the Windows Update service (wuauserv) is not installed');
      const evidence = { source: got.from, status: s.status, startType: s.startType };
      return s.startType === 'Disabled' ? fail(evidence, 'wuauserv is disabled: no update can be installed') : pass(evidence);
    },
  }),
];
