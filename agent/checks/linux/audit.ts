/** Security audit (MLPS 8.1.4.3): auditd on, rules for logins and privilege use, log size and retention. */
import type { CheckContext, CheckDef } from '../types.js';
import { activeLines, parseAuditRules, parseEqKv, parseIni, parseLogrotate, periodDays, type AuditRule } from './parse.js';
import { enabledUnits, err, fail, findUnits, globDir, linux, na, num, pass, readWithDropins } from './util.js';

const ART = ['art9', 'art31'];

const auditdEnabled = linux({
  id: 'linux.audit.auditd_enabled',
  title: { en: 'The audit daemon (auditd) is enabled', zh: '已启用审计服务（auditd）' },
  articles: ART, mlps: '8.1.4.3 a) 安全审计: 启用安全审计功能',
  remediation: { en: 'Install and enable auditd: `apt-get install auditd` / `dnf install audit`, then `systemctl enable --now auditd`.', zh: '安装并启用 auditd：`apt-get install auditd` 或 `dnf install audit`，然后执行 `systemctl enable --now auditd`。' },
  async run(ctx) {
    const u = await enabledUnits(ctx);
    if ('error' in u) return err(u.error);
    const found = findUnits(u.units, ['auditd']);
    const evidence = { unitsFrom: u.source, auditd: found };
    return found.length ? pass(evidence) : fail('auditd.service is not enabled (or not installed)', evidence);
  },
});

/** Rules auditd loads: rules.d/*.rules (augenrules), else the compiled /etc/audit/audit.rules. */
async function auditRules(ctx: CheckContext): Promise<{ rules: AuditRule[]; files: string[] } | null> {
  let files = await globDir(ctx, '/etc/audit/rules.d', '*.rules');
  if (files.length === 0) files = ['/etc/audit/audit.rules'];
  const rules: AuditRule[] = [];
  const read: string[] = [];
  for (const f of files) {
    const t = await ctx.readFile(f);
    if (t === null) continue;
    read.push(f);
    rules.push(...parseAuditRules(t));
  }
  if (read.length === 0) return (await ctx.readFile('/etc/audit/auditd.conf')) === null ? null : { rules, files: read };
  return { rules, files: read };
}

const watched = (rules: AuditRule[], paths: string[]) => paths.filter((p) => rules.some((r) => r.path === p || (r.path && p.startsWith(r.path.replace(/\/?$/, '/')))));

const rulesLogins = linux({
  id: 'linux.audit.rules_logins',
  title: { en: 'Audit rules record logins and sessions', zh: '审计规则覆盖登录与会话事件' },
  articles: ART, mlps: '8.1.4.3 a) 安全审计: 审计覆盖每个用户的登录行为',
  remediation: {
    en: 'Add /etc/audit/rules.d/50-logins.rules with `-w /var/log/lastlog -p wa -k logins`, `-w /var/run/faillock -p wa -k logins`, `-w /var/run/utmp -p wa -k session`, `-w /var/log/wtmp -p wa -k session`, `-w /var/log/btmp -p wa -k session`, then `augenrules --load`.',
    zh: '新建 /etc/audit/rules.d/50-logins.rules，写入 `-w /var/log/lastlog -p wa -k logins`、`-w /var/run/faillock -p wa -k logins`、`-w /var/run/utmp -p wa -k session`、`-w /var/log/wtmp -p wa -k session`、`-w /var/log/btmp -p wa -k session`，然后执行 `augenrules --load`。',
  },
  async run(ctx) {
    const r = await auditRules(ctx);
    if (!r) return na('auditd is not installed (see linux.audit.auditd_enabled)');
    const logins = watched(r.rules, ['/var/log/lastlog', '/var/run/faillock', '/run/faillock', '/var/log/faillog', '/var/log/tallylog']);
    const sessions = watched(r.rules, ['/var/run/utmp', '/run/utmp', '/var/log/wtmp', '/var/log/btmp']);
    const evidence = { files: r.files, rules: r.rules.length, loginFiles: logins, sessionFiles: sessions };
    if (logins.length === 0) return fail('no audit watch on login records (lastlog, faillock)', evidence);
    if (sessions.length === 0) return fail('no audit watch on session records (utmp, wtmp, btmp)', evidence);
    return pass(evidence);
  },
});

const rulesPrivilege = linux({
  id: 'linux.audit.rules_privilege',
  title: { en: 'Audit rules record privilege use (sudo, su, sudoers changes)', zh: '审计规则覆盖特权使用（sudo、su 及 sudoers 变更）' },
  articles: ART, mlps: '8.1.4.3 a) 安全审计: 对重要用户行为（特权操作）进行审计',
  remediation: {
    en: 'Add /etc/audit/rules.d/50-privilege.rules with `-w /etc/sudoers -p wa -k scope`, `-w /etc/sudoers.d -p wa -k scope`, `-a always,exit -F arch=b64 -C euid!=uid -F euid=0 -F auid>=1000 -F auid!=unset -S execve -k user_emulation`, then `augenrules --load`.',
    zh: '新建 /etc/audit/rules.d/50-privilege.rules，写入 `-w /etc/sudoers -p wa -k scope`、`-w /etc/sudoers.d -p wa -k scope`、`-a always,exit -F arch=b64 -C euid!=uid -F euid=0 -F auid>=1000 -F auid!=unset -S execve -k user_emulation`，然后执行 `augenrules --load`。',
  },
  async run(ctx) {
    const r = await auditRules(ctx);
    if (!r) return na('auditd is not installed (see linux.audit.auditd_enabled)');
    const scope = watched(r.rules, ['/etc/sudoers', '/etc/sudoers.d']);
    const exec = r.rules.filter((x) => x.kind === 'syscall' && /execve/.test(x.text) && /euid=0|euid!=uid|uid!=euid/.test(x.text)).length
      + r.rules.filter((x) => ['/usr/bin/sudo', '/bin/su', '/usr/bin/su', '/var/log/sudo.log'].includes(x.path ?? '')).length;
    const evidence = { files: r.files, sudoersWatched: scope, privilegedExecRules: exec };
    if (scope.length === 0) return fail('changes to /etc/sudoers are not audited', evidence);
    if (exec === 0) return fail('commands run with elevated privileges (sudo/su, euid 0) are not audited', evidence);
    return pass(evidence);
  },
});

const auditdStorage = linux({
  id: 'linux.audit.log_storage',
  title: { en: 'Audit logs are kept (≥ 200 MB or never overwritten) and a full disk is not ignored', zh: '审计日志保留充足（不少于 200 MB 或不覆盖），磁盘满时不被忽略' },
  articles: ART, mlps: '8.1.4.3 c) 安全审计: 审计记录保护，避免未预期的删除或覆盖',
  remediation: {
    en: 'In /etc/audit/auditd.conf set `max_log_file = 50`, `num_logs = 10`, `max_log_file_action = ROTATE` (or KEEP_LOGS with off-host archiving), `space_left_action = email`, `disk_full_action = SUSPEND`; then `service auditd restart`.',
    zh: '在 /etc/audit/auditd.conf 中设置 `max_log_file = 50`、`num_logs = 10`、`max_log_file_action = ROTATE`（或 KEEP_LOGS 并定期转存），`space_left_action = email`、`disk_full_action = SUSPEND`，然后执行 `service auditd restart`。',
  },
  async run(ctx) {
    const t = await ctx.readFile('/etc/audit/auditd.conf');
    if (t === null) return na('auditd is not installed (see linux.audit.auditd_enabled)');
    const c = parseEqKv(t);
    // auditd defaults: max_log_file 8 MB, num_logs 5, ROTATE, disk_full_action SUSPEND.
    const size = num(c.max_log_file) ?? 8;
    const count = num(c.num_logs) ?? 5;
    const action = (c.max_log_file_action ?? 'ROTATE').toUpperCase();
    const diskFull = (c.disk_full_action ?? 'SUSPEND').toUpperCase();
    const evidence = { file: '/etc/audit/auditd.conf', max_log_file: size, num_logs: count, max_log_file_action: action, disk_full_action: diskFull };
    if (diskFull === 'IGNORE') return fail('disk_full_action = IGNORE: audit records are silently lost when the disk fills', evidence);
    if (action === 'KEEP_LOGS') return pass(evidence);
    if (action !== 'ROTATE') return fail(`max_log_file_action = ${action}: logs are not kept`, evidence);
    return size * count >= 200 ? pass(evidence) : fail(`only ${size * count} MB of audit log kept (${count} × ${size} MB; want ≥ 200)`, evidence);
  },
});

const journald = linux({
  id: 'linux.log.journald_persistent',
  title: { en: 'The systemd journal is stored on disk', zh: 'systemd 日志持久化保存' },
  articles: ART, mlps: '8.1.4.3 c) 安全审计: 审计记录保护（重启后不丢失）',
  remediation: { en: 'Set `Storage=persistent` in /etc/systemd/journald.conf (or a drop-in in journald.conf.d/) and `systemctl restart systemd-journald`.', zh: '在 /etc/systemd/journald.conf（或 journald.conf.d/ 下的配置片段）中设置 `Storage=persistent`，然后执行 `systemctl restart systemd-journald`。' },
  async run(ctx) {
    const files = await readWithDropins(ctx, '/etc/systemd/journald.conf', '/etc/systemd/journald.conf.d');
    const systemd = (await ctx.listDir('/etc/systemd')).length > 0 || (await ctx.listDir('/usr/lib/systemd')).length > 0;
    if (!systemd && files.length === 0) return na('systemd-journald is not present');
    let storage = 'auto';
    for (const f of files) storage = parseIni(f.text).Journal?.Storage ?? storage;
    const journalDir = (await ctx.listDir('/var/log/journal')).length > 0;
    const evidence = { files: files.map((f) => f.path), Storage: storage, varLogJournal: journalDir };
    if (storage === 'persistent') return pass(evidence);
    // auto keeps logs on disk only if /var/log/journal exists.
    if (storage === 'auto' && journalDir) return pass(evidence);
    return fail(storage === 'auto' ? 'Storage=auto and /var/log/journal does not exist: the journal lives in /run and is lost at reboot' : `Storage=${storage}: the journal is not kept on disk`, evidence);
  },
});

const rsyslogAuth = linux({
  id: 'linux.log.rsyslog_auth',
  title: { en: 'rsyslog writes authentication events to a log file', zh: 'rsyslog 将认证事件记录到日志文件' },
  articles: ART, mlps: '8.1.4.3 b) 安全审计: 审计记录包括日期时间、用户、事件类型及结果',
  remediation: { en: 'Add `auth,authpriv.* /var/log/auth.log` (Debian) or `authpriv.* /var/log/secure` (RHEL) to /etc/rsyslog.conf or /etc/rsyslog.d/, then `systemctl restart rsyslog`.', zh: '在 /etc/rsyslog.conf 或 /etc/rsyslog.d/ 中加入 `auth,authpriv.* /var/log/auth.log`（Debian）或 `authpriv.* /var/log/secure`（RHEL），然后执行 `systemctl restart rsyslog`。' },
  async run(ctx) {
    const files = await readWithDropins(ctx, '/etc/rsyslog.conf', '/etc/rsyslog.d');
    if (files.length === 0) return na('rsyslog is not installed');
    const hits: string[] = [];
    for (const f of files) {
      for (const l of activeLines(f.text)) {
        // Legacy selector `auth,authpriv.* /var/log/auth.log`, or RainerScript filtering on the facility.
        const m = /^(\S*\bauthpriv\b\S*)\s+(-?\/\S+)/.exec(l) ?? /^(\S*\bauth\b\S*)\s+(-?\/\S+)/.exec(l);
        if (m && !/\.none\b/.test(m[1]!.split(';').find((s) => /auth/.test(s)) ?? '')) hits.push(`${f.path}: ${m[1]} ${m[2]}`);
        else if (/\$syslogfacility-text\s*==\s*["']authpriv["']|facility=["']authpriv["']/.test(l)) hits.push(`${f.path}: ${l}`);
      }
    }
    const evidence = { files: files.map((f) => f.path), authRules: hits };
    return hits.length ? pass(evidence) : fail('no rsyslog rule writes auth/authpriv messages to a file', evidence);
  },
});

const logrotate = linux({
  id: 'linux.log.retention',
  title: { en: 'System logs are kept for at least 180 days', zh: '系统日志留存不少于 180 天（六个月）' },
  articles: ART, mlps: '8.1.4.3 c) 安全审计: 定期备份，留存不少于六个月（网络安全法第二十一条）',
  remediation: {
    en: 'In /etc/logrotate.d/rsyslog (or /etc/logrotate.conf) use `weekly` with `rotate 26` (or `daily` with `rotate 180`), or forward logs to a central log server that keeps them 180 days.',
    zh: '在 /etc/logrotate.d/rsyslog（或 /etc/logrotate.conf）中设置 `weekly` 与 `rotate 26`（或 `daily` 与 `rotate 180`），或将日志转发到留存 180 天以上的集中日志服务器。',
  },
  async run(ctx) {
    const main = await ctx.readFile('/etc/logrotate.conf');
    if (main === null) return na('logrotate is not installed');
    const g = parseLogrotate(main).global;
    const eff: Record<string, string> = { ...g };
    let source = '/etc/logrotate.conf';
    for (const f of ['/etc/logrotate.d/rsyslog', '/etc/logrotate.d/syslog']) {
      const t = await ctx.readFile(f);
      if (t === null) continue;
      const b = parseLogrotate(t).blocks.find((x) => x.files.some((p) => /\/var\/log\/(syslog|messages|auth\.log|secure)$/.test(p)));
      if (b) {
        // A block's period replaces the global one rather than adding to it.
        if (periodDays(b.directives) !== null) for (const k of ['daily', 'weekly', 'monthly', 'yearly']) delete eff[k];
        Object.assign(eff, b.directives);
        source = f;
      }
      break;
    }
    const days = periodDays(eff);
    const rotate = num(eff.rotate) ?? 0;
    const evidence = { source, period: days === null ? 'size-based' : `${days}d`, rotate, retainedDays: days === null ? null : days * rotate };
    if (days === null) return fail('logs rotate by size only: retention in days cannot be guaranteed', evidence);
    return days * rotate >= 180 ? pass(evidence) : fail(`system logs are kept about ${days * rotate} days (want ≥ 180)`, evidence);
  },
});

export const auditChecks: CheckDef[] = [auditdEnabled, rulesLogins, rulesPrivilege, auditdStorage, journald, rsyslogAuth, logrotate];
