/**
 * Pending security updates (MLPS 8.1.4.4 e; art30) from local package metadata only: art29 forbids the
 * agent any internet contact, so never `apt-get update` or a dnf metadata refresh — simulate and cache-only.
 */
import type { CheckContext, CheckDef } from '../types.js';
import { parseAptSimulate, parseOsRelease, parseReleaseDate, parseUpdateinfo } from './parse.js';
import { err, fail, head, linux, pass } from './util.js';

const STALE_DAYS = 30;

async function family(ctx: CheckContext): Promise<{ family: 'debian' | 'rhel' | null; id: string | null }> {
  const os = await ctx.readFile('/etc/os-release');
  const r = os ? parseOsRelease(os) : {};
  const like = `${r.ID ?? ''} ${r.ID_LIKE ?? ''}`.toLowerCase();
  const id = r.ID ?? null;
  if (/\b(debian|ubuntu)\b/.test(like) || (await ctx.readFile('/etc/debian_version')) !== null) return { family: 'debian', id };
  if (/\b(rhel|fedora|centos|openeuler|anolis)\b/.test(like) || (await ctx.readFile('/etc/redhat-release')) !== null) return { family: 'rhel', id };
  return { family: null, id };
}

/** Newest `Date:` among the downloaded Release files: how fresh the local view of the archive is. */
async function aptListsDate(ctx: CheckContext): Promise<Date | null> {
  let newest: Date | null = null;
  for (const f of await ctx.listDir('/var/lib/apt/lists')) {
    if (!/_(In)?Release$/.test(f)) continue;
    const t = await ctx.readFile(`/var/lib/apt/lists/${f}`);
    const d = t ? parseReleaseDate(t) : null;
    if (d && (!newest || d > newest)) newest = d;
  }
  return newest;
}

const securityPatches = linux({
  id: 'linux.patches.security_pending',
  title: { en: 'No security updates are pending (per local package metadata)', zh: '无待安装的安全更新（依据本地软件包元数据）' },
  articles: ['art9', 'art29', 'art30', 'art31'], mlps: '8.1.4.4 e) 入侵防范: 及时修补已知漏洞',
  remediation: {
    en: 'Install security updates from the institution\'s internal mirror after testing: Debian/Ubuntu `apt-get update && apt-get upgrade`; RHEL family `dnf upgrade --security`. Keep the mirror\'s package lists current so this check sees new advisories.',
    zh: '经测试后从机构内部镜像源安装安全更新：Debian/Ubuntu 执行 `apt-get update && apt-get upgrade`；RHEL 系执行 `dnf upgrade --security`。保持内部镜像元数据更新，以便本检查发现新公告。',
  },
  async run(ctx) {
    const fam = await family(ctx);
    if (fam.family === 'debian') {
      // Simulation reads /var/lib/apt/lists only; nothing is downloaded or installed.
      const r = await ctx.run('apt-get', ['-s', '-o', 'Debug::NoLocking=1', 'upgrade']);
      if (r.error || r.code !== 0) return err(`apt-get -s upgrade failed: ${r.error ?? `exit ${r.code}: ${r.stderr.trim().split('\n')[0]}`}`);
      const sim = parseAptSimulate(r.stdout);
      const listsDate = await aptListsDate(ctx);
      const listsAgeDays = listsDate ? Math.floor((ctx.now.getTime() - listsDate.getTime()) / 86_400_000) : null;
      const evidence = {
        distro: fam.id, command: 'apt-get -s upgrade', upgradable: sim.upgrades.length, security: head(sim.security),
        listsDate: listsDate?.toISOString() ?? null, listsAgeDays, listsStale: listsAgeDays === null || listsAgeDays > STALE_DAYS,
      };
      return sim.security.length === 0 ? pass(evidence) : fail(`${sim.security.length} security updates pending`, evidence);
    }
    if (fam.family === 'rhel') {
      // --cacheonly: use the metadata already on disk, never refresh it from a repository.
      let cmd = 'dnf --cacheonly updateinfo list --security';
      let r = await ctx.run('dnf', ['--cacheonly', 'updateinfo', 'list', '--security']);
      if (r.error) {
        cmd = 'yum --cacheonly updateinfo list security';
        r = await ctx.run('yum', ['--cacheonly', 'updateinfo', 'list', 'security']);
      }
      if (r.error || r.code !== 0) return err(`${cmd} failed: ${r.error ?? `exit ${r.code}: ${r.stderr.trim().split('\n')[0]}`}`);
      const u = parseUpdateinfo(r.stdout);
      const bySeverity: Record<string, number> = {};
      for (const a of u.advisories) bySeverity[a.severity] = (bySeverity[a.severity] ?? 0) + 1;
      const ids = [...new Set(u.advisories.map((a) => a.id))];
      const evidence = { distro: fam.id, command: cmd, advisories: head(ids), packages: u.advisories.length, bySeverity, metadata: u.metadataLine };
      return ids.length === 0 ? pass(evidence) : fail(`${ids.length} security advisories pending (${u.advisories.length} packages)`, evidence);
    }
    return err(`unrecognised distribution${fam.id ? ` (ID=${fam.id})` : ''}: neither Debian- nor RHEL-family`);
  },
});

export const patchChecks: CheckDef[] = [securityPatches];
