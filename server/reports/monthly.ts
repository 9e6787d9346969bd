/**
 * The monthly network and security report (art23), rendered from figures the store has already
 * aggregated. Pure functions: HTML for people (bilingual, A4), CSV and JSON for machines.
 * Hostnames, groups, check titles and the institution name are untrusted text and render inert.
 */
import { esc, REPORT_CSP } from './html.js';

export interface MonthlyReportData {
  /** Reported month, 'YYYY-MM'. */
  month: string;
  /** When the report was generated, ISO 8601. */
  generatedAt: string;
  /** Institution name from the server config; free text, so escaped like agent data. */
  institution: string | null;
  /** IANA zone used for day and month boundaries, e.g. 'Asia/Shanghai'. */
  timeZone: string;
  fleet: { hosts: number; active: number; revoked: number; clones: number; enrolledThisMonth: number };
  compliance: {
    checkedHosts: number;
    /** Hosts whose latest host.check in the month had no failed check. */
    compliantHosts: number;
    /** compliantHosts / checkedHosts × 100; null when no host was checked. */
    percent: number | null;
    /** Most frequently failing check ids, in the order to show. */
    failingChecks: { id: string; title: string; hosts: number }[];
  };
  violations: {
    opened: number; closed: number; overdue: number; openAtEnd: number;
    /** Per event type, e.g. 'egress.violation'. */
    byType: { type: string; opened: number; closed: number; overdue: number }[];
    /** Per regulation article, e.g. 'art29'. */
    byArticle: { article: string; opened: number; closed: number; overdue: number }[];
    meanHoursToResolve: number | null;
  };
  /** Top 10 offending hosts, in the order to show. */
  topHosts: { hostId: string; hostname: string; group: string; violations: number; open: number }[];
  /** Hosts silent for more than 24 h at month end. */
  coverageGaps: { hostId: string; hostname: string; group: string; lastSeen: string | null; silentHours: number | null }[];
  drills: { started: number; acknowledged: number; meanSecondsToAck: number | null };
}

const NONE = '—';

export function validateMonth(s: string): boolean {
  const m = /^(\d{4})-(\d{2})$/.exec(s);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  return year >= 2000 && year <= 2100 && month >= 1 && month <= 12;
}

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * Rebuilt field by field so key order follows the interface whatever order the caller built the
 * object in; two reports of the same data are byte-identical and diff cleanly.
 */
function ordered(d: MonthlyReportData): MonthlyReportData {
  return {
    month: d.month,
    generatedAt: d.generatedAt,
    institution: d.institution,
    timeZone: d.timeZone,
    fleet: {
      hosts: d.fleet.hosts, active: d.fleet.active, revoked: d.fleet.revoked,
      clones: d.fleet.clones, enrolledThisMonth: d.fleet.enrolledThisMonth,
    },
    compliance: {
      checkedHosts: d.compliance.checkedHosts,
      compliantHosts: d.compliance.compliantHosts,
      percent: d.compliance.percent,
      failingChecks: d.compliance.failingChecks.map((c) => ({ id: c.id, title: c.title, hosts: c.hosts })),
    },
    violations: {
      opened: d.violations.opened, closed: d.violations.closed,
      overdue: d.violations.overdue, openAtEnd: d.violations.openAtEnd,
      byType: d.violations.byType.map((t) => ({ type: t.type, opened: t.opened, closed: t.closed, overdue: t.overdue })),
      byArticle: d.violations.byArticle.map((a) => ({ article: a.article, opened: a.opened, closed: a.closed, overdue: a.overdue })),
      meanHoursToResolve: d.violations.meanHoursToResolve,
    },
    topHosts: d.topHosts.map((h) => ({ hostId: h.hostId, hostname: h.hostname, group: h.group, violations: h.violations, open: h.open })),
    coverageGaps: d.coverageGaps.map((g) => ({
      hostId: g.hostId, hostname: g.hostname, group: g.group, lastSeen: g.lastSeen, silentHours: g.silentHours,
    })),
    drills: { started: d.drills.started, acknowledged: d.drills.acknowledged, meanSecondsToAck: d.drills.meanSecondsToAck },
  };
}

export function monthlyJson(d: MonthlyReportData): string {
  return `${JSON.stringify(ordered(d), null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// CSV

type Cell = string | number | null;

const CSV_COLUMNS = ['section', 'key', 'id', 'name', 'group', 'value', 'opened', 'closed', 'overdue', 'open', 'last_seen', 'silent_hours'] as const;
type Column = (typeof CSV_COLUMNS)[number];
type Row = Partial<Record<Column, Cell>>;

/** Excel runs a text cell starting with one of these as a formula (OWASP "CSV injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;

function csvCell(v: Cell | undefined): string {
  if (v === null || v === undefined) return '';
  // Numbers are numbers: a negative count is not a formula and keeps its sign unprefixed.
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = String(v);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderMonthlyCsv(d: MonthlyReportData): string {
  const rows: Row[] = [];
  const scalar = (section: string, key: string, value: Cell): void => { rows.push({ section, key, value }); };

  // Summary first: whoever opens the file in Excel sees which month and institution it is about.
  scalar('summary', 'month', d.month);
  scalar('summary', 'generated_at', d.generatedAt);
  scalar('summary', 'institution', d.institution);
  scalar('summary', 'time_zone', d.timeZone);
  scalar('summary', 'violations_opened', d.violations.opened);
  scalar('summary', 'violations_closed', d.violations.closed);
  scalar('summary', 'violations_overdue', d.violations.overdue);
  scalar('summary', 'violations_open_at_end', d.violations.openAtEnd);
  scalar('summary', 'mean_hours_to_resolve', d.violations.meanHoursToResolve);

  scalar('fleet', 'hosts', d.fleet.hosts);
  scalar('fleet', 'active', d.fleet.active);
  scalar('fleet', 'revoked', d.fleet.revoked);
  scalar('fleet', 'clones', d.fleet.clones);
  scalar('fleet', 'enrolled_this_month', d.fleet.enrolledThisMonth);

  scalar('compliance', 'checked_hosts', d.compliance.checkedHosts);
  scalar('compliance', 'compliant_hosts', d.compliance.compliantHosts);
  scalar('compliance', 'percent', d.compliance.percent);
  for (const c of d.compliance.failingChecks) {
    rows.push({ section: 'compliance', key: 'failing_check', id: c.id, name: c.title, value: c.hosts });
  }

  for (const t of d.violations.byType) {
    rows.push({ section: 'violations_by_type', key: 'type', id: t.type, opened: t.opened, closed: t.closed, overdue: t.overdue });
  }
  for (const a of d.violations.byArticle) {
    rows.push({ section: 'violations_by_article', key: 'article', id: a.article, opened: a.opened, closed: a.closed, overdue: a.overdue });
  }

  for (const h of d.topHosts) {
    rows.push({ section: 'top_hosts', key: 'host', id: h.hostId, name: h.hostname, group: h.group, value: h.violations, open: h.open });
  }
  for (const g of d.coverageGaps) {
    rows.push({ section: 'coverage_gaps', key: 'host', id: g.hostId, name: g.hostname, group: g.group, last_seen: g.lastSeen, silent_hours: g.silentHours });
  }

  scalar('drills', 'started', d.drills.started);
  scalar('drills', 'acknowledged', d.drills.acknowledged);
  scalar('drills', 'mean_seconds_to_ack', d.drills.meanSecondsToAck);

  const lines = [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => csvCell(r[c])).join(','))];
  // BOM: Excel on zh-CN Windows otherwise reads UTF-8 as GBK and garbles every Chinese name.
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

// ---------------------------------------------------------------------------------------------
// HTML

/** Plain number: integers as they are, fractions to one decimal, null (or not a number) as a dash. */
function num(v: number | null): string {
  if (v === null || v === undefined) return NONE;
  if (typeof v !== 'number') return esc(v);
  if (!Number.isFinite(v)) return NONE;
  return esc(Number.isInteger(v) ? String(v) : v.toFixed(1));
}

function pct(v: number | null): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v === null || v === undefined ? NONE : esc(v);
  return `${esc(v.toFixed(1))}%`;
}

function text(v: string | null): string {
  return v === null || v === undefined || v === '' ? NONE : esc(v);
}

/** An instant shown in the report's zone, so "last seen" lines up with the month's day boundaries. */
function when(iso: string | null, timeZone: string): string {
  if (iso === null || iso === undefined) return NONE;
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return esc(iso);
  try {
    // sv-SE formats as 'YYYY-MM-DD HH:mm:ss', unambiguous for both readers.
    return esc(new Intl.DateTimeFormat('sv-SE', {
      timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    }).format(t));
  } catch {
    return esc(iso); // unknown zone: the raw ISO is still exact
  }
}

function monthTitle(month: string): string {
  if (!validateMonth(month)) return esc(month);
  const [y, m] = month.split('-');
  const en = new Date(Date.UTC(Number(y), Number(m) - 1, 1)).toLocaleString('en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' });
  return `${esc(y)}年${esc(Number(m))}月 / ${esc(en)}`;
}

function table(head: string[], rows: string[][], emptyCols = head.length): string {
  const body = rows.length
    ? rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')
    : `<tr><td colspan="${emptyCols}" class="empty">无 / none</td></tr>`;
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

function facts(items: [string, string][]): string {
  return `<dl>${items.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function counts(r: { opened: number; closed: number; overdue: number }): string[] {
  return [`<span class="n">${num(r.opened)}</span>`, `<span class="n">${num(r.closed)}</span>`, `<span class="n">${num(r.overdue)}</span>`];
}

const COUNT_HEAD = ['新增 Opened', '关闭 Closed', '逾期 Overdue'];

export function renderMonthlyHtml(d: MonthlyReportData): string {
  const tz = d.timeZone;
  const v = d.violations;

  const header = `<header>
<h1>月度信息安全报告 / Monthly information security report</h1>
<div class="en">《证联网信息安全管理规范》第二十三条 月度报告 (art23)</div>
${facts([
    ['接入机构 Institution', text(d.institution)],
    ['报告月份 Month', `${monthTitle(d.month)} <code>${esc(d.month)}</code>`],
    ['生成时间 Generated at', `${when(d.generatedAt, tz)} <code>${esc(d.generatedAt)}</code>`],
    ['时区 Time zone', `${esc(tz)} <span class="en">（日界按此时区 / day boundaries in this zone）</span>`],
  ])}
</header>`;

  const fleet = `<section>
<h2>一、终端概况 / Fleet</h2>
${facts([
    ['终端总数 Hosts', num(d.fleet.hosts)],
    ['活动终端 Active', num(d.fleet.active)],
    ['已吊销 Revoked', num(d.fleet.revoked)],
    ['疑似克隆 Clones', num(d.fleet.clones)],
    ['本月新注册 Enrolled this month', num(d.fleet.enrolledThisMonth)],
  ])}
</section>`;

  const compliance = `<section>
<h2>二、安全加固合规情况 / Compliance</h2>
${facts([
    ['已检查终端 Checked hosts', num(d.compliance.checkedHosts)],
    ['合规终端 Compliant hosts', num(d.compliance.compliantHosts)],
    ['合规率 Compliance rate', `<strong>${pct(d.compliance.percent)}</strong>`],
  ])}
<p class="note">以终端本月最后一次检查结果为准，无任何不通过项即为合规。 <span class="en">A host is compliant when its latest check in the month had no failed item.</span></p>
<h3>主要不通过检查项 / Top failing checks</h3>
${table(['检查项 Check', '名称 Title', '终端数 Hosts'],
    d.compliance.failingChecks.map((c) => [`<code>${esc(c.id)}</code>`, esc(c.title), `<span class="n">${num(c.hosts)}</span>`]))}
</section>`;

  const violations = `<section>
<h2>三、违规事件 / Violations</h2>
${facts([
    ['本月新增 Opened', num(v.opened)],
    ['本月关闭 Closed', num(v.closed)],
    ['逾期未整改 Overdue', num(v.overdue)],
    ['月末未关闭 Open at month end', num(v.openAtEnd)],
    ['平均整改时长（小时） Mean time to resolve (hours)', num(v.meanHoursToResolve)],
  ])}
<p class="note">逾期：超过限期整改期限（第十七条）。 <span class="en">Overdue: past the rectification deadline (art17).</span></p>
<h3>按类型 / By type</h3>
${table(['类型 Type', ...COUNT_HEAD], v.byType.map((t) => [`<code>${esc(t.type)}</code>`, ...counts(t)]))}
<h3>按条款 / By article</h3>
${table(['条款 Article', ...COUNT_HEAD], v.byArticle.map((a) => [`<code>${esc(a.article)}</code>`, ...counts(a)]))}
</section>`;

  const topHosts = `<section>
<h2>四、违规最多的终端 / Top offending hosts</h2>
${table(['终端 Host', '终端 ID Host ID', '分组 Group', '违规数 Violations', '未关闭 Open'],
    d.topHosts.map((h) => [esc(h.hostname), `<code>${esc(h.hostId)}</code>`, text(h.group),
      `<span class="n">${num(h.violations)}</span>`, `<span class="n">${num(h.open)}</span>`]))}
</section>`;

  const gaps = `<section>
<h2>五、监控覆盖缺口 / Coverage gaps</h2>
<p class="note">月末时已超过 24 小时未上报的终端。 <span class="en">Hosts silent for more than 24 h at month end.</span></p>
${table(['终端 Host', '终端 ID Host ID', '分组 Group', '最后上报 Last seen', '静默（小时） Silent (hours)'],
    d.coverageGaps.map((g) => [esc(g.hostname), `<code>${esc(g.hostId)}</code>`, text(g.group),
      when(g.lastSeen, tz), `<span class="n">${num(g.silentHours)}</span>`]))}
</section>`;

  const drills = `<section>
<h2>六、应急演练 / Emergency drills</h2>
${facts([
    ['发起演练 Started', num(d.drills.started)],
    ['已确认 Acknowledged', num(d.drills.acknowledged)],
    ['平均确认时间（秒） Mean time to acknowledge (seconds)', num(d.drills.meanSecondsToAck)],
  ])}
</section>`;

  const footer = `<footer>
<p>本报告依据《证联网信息安全管理规范》第二十三条（月度报告）编制；所依据的日志按第十九条留存不少于六个月。</p>
<p class="en">Prepared under art23 of the SIN Information Security Management Specification (monthly report); the underlying logs are retained for no less than six months under art19.</p>
</footer>`;

  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">
<title>月度信息安全报告 / Monthly information security report — ${esc(d.month)}</title>
<style>
@page{size:A4;margin:15mm}
body{font:13px/1.45 system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#111;max-width:180mm}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:20px 0 6px;border-bottom:2px solid #333} h3{font-size:14px;margin:12px 0 4px}
.en{color:#555;font-size:12px} .note{color:#333;font-size:12px} .empty{color:#777;text-align:center}
table{border-collapse:collapse;width:100%;margin-top:6px} th,td{border:1px solid #bbb;padding:4px 6px;vertical-align:top;text-align:left;word-break:break-all}
th{background:#eee} td .n{display:block;text-align:right}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0} dt{font-weight:bold} dd{margin:0;word-break:break-all}
footer{margin-top:24px;border-top:1px solid #999;padding-top:6px;font-size:12px}
@media print{body{margin:0;max-width:none} section+section{break-before:page;page-break-before:always}
thead{display:table-header-group} tr,dl{break-inside:avoid;page-break-inside:avoid} h2,h3{break-after:avoid;page-break-after:avoid}
th{background:#eee;-webkit-print-color-adjust:exact;print-color-adjust:exact}}
</style></head><body>
${header}
${fleet}
${compliance}
${violations}
${topHosts}
${gaps}
${drills}
${footer}
</body></html>
`;
}
