/** The art23 monthly report: bilingual printable HTML, Excel-safe CSV, stable JSON; every untrusted string inert. */
import { describe, it, expect } from 'vitest';
import { renderMonthlyHtml, renderMonthlyCsv, monthlyJson, validateMonth, type MonthlyReportData } from '../../server/reports/monthly.js';
import { esc } from '../../server/reports/html.js';

/** A month at a mid-sized broker: 412 terminals, mostly egress and USB violations. */
function fixture(): MonthlyReportData {
  return {
    month: '2026-11',
    generatedAt: '2026-12-01T00:05:00.000Z',
    institution: '示例证券股份有限公司 Example Securities Co., Ltd.',
    timeZone: 'Asia/Shanghai',
    fleet: { hosts: 412, active: 398, revoked: 6, clones: 1, enrolledThisMonth: 14 },
    compliance: {
      checkedHosts: 395, compliantHosts: 361, percent: 91.39240506329114,
      failingChecks: [
        { id: 'win.screen_lock.timeout', title: '屏幕锁定超时 ≤ 10 分钟 Screen lock timeout', hosts: 21 },
        { id: 'linux.pam.faillock', title: '登录失败锁定 Login failure lockout', hosts: 9 },
        { id: 'win.patch.pending_security', title: '待安装安全更新 Pending security updates', hosts: 4 },
      ],
    },
    violations: {
      opened: 57, closed: 49, overdue: 3, openAtEnd: 11,
      byType: [
        { type: 'egress.violation', opened: 31, closed: 27, overdue: 2 },
        { type: 'usb.blocked', opened: 19, closed: 19, overdue: 0 },
        { type: 'netpath.second_route', opened: 7, closed: 3, overdue: 1 },
      ],
      byArticle: [
        { article: 'art29', opened: 38, closed: 30, overdue: 3 },
        { article: 'art31', opened: 19, closed: 19, overdue: 0 },
      ],
      meanHoursToResolve: 17.25,
    },
    topHosts: [
      { hostId: '0192f1a0-0000-7000-8000-000000000001', hostname: 'TRADE-PC-017', group: '经纪业务部 Brokerage', violations: 9, open: 2 },
      { hostId: '0192f1a0-0000-7000-8000-000000000002', hostname: 'ops-jump-02', group: '运维 Ops', violations: 5, open: 0 },
    ],
    coverageGaps: [
      { hostId: '0192f1a0-0000-7000-8000-000000000003', hostname: 'RISK-PC-003', group: '风控 Risk', lastSeen: '2026-11-27T02:00:00.000Z', silentHours: 94 },
      { hostId: '0192f1a0-0000-7000-8000-000000000004', hostname: 'never-seen', group: '', lastSeen: null, silentHours: null },
    ],
    drills: { started: 2, acknowledged: 2, meanSecondsToAck: 312.5 },
  };
}

function emptyMonth(): MonthlyReportData {
  return {
    month: '2026-02', generatedAt: '2026-03-01T00:00:00.000Z', institution: null, timeZone: 'Asia/Shanghai',
    fleet: { hosts: 0, active: 0, revoked: 0, clones: 0, enrolledThisMonth: 0 },
    compliance: { checkedHosts: 0, compliantHosts: 0, percent: null, failingChecks: [] },
    violations: { opened: 0, closed: 0, overdue: 0, openAtEnd: 0, byType: [], byArticle: [], meanHoursToResolve: null },
    topHosts: [], coverageGaps: [], drills: { started: 0, acknowledged: 0, meanSecondsToAck: null },
  };
}

/** A distinct payload per field, so a test names the field that leaked. */
const evil = (field: string): string => `<img src=x onerror=alert('${field}')></style><script>x("${field}")</script>`;

function hostile(): MonthlyReportData {
  const d = fixture();
  d.institution = evil('institution');
  d.month = evil('month');
  d.timeZone = evil('timeZone');
  d.generatedAt = evil('generatedAt');
  d.compliance.failingChecks[0]!.id = evil('checkId');
  d.compliance.failingChecks[0]!.title = evil('checkTitle');
  d.violations.byType[0]!.type = evil('type');
  d.violations.byArticle[0]!.article = evil('article');
  d.topHosts[0]!.hostname = evil('hostname');
  d.topHosts[0]!.group = evil('group');
  d.topHosts[0]!.hostId = evil('hostId');
  d.coverageGaps[0]!.hostname = evil('gapHostname');
  d.coverageGaps[0]!.group = evil('gapGroup');
  d.coverageGaps[0]!.lastSeen = evil('lastSeen');
  return d;
}
const HOSTILE_FIELDS = ['institution', 'month', 'timeZone', 'generatedAt', 'checkId', 'checkTitle', 'type', 'article',
  'hostname', 'group', 'hostId', 'gapHostname', 'gapGroup', 'lastSeen'];

/** Strict RFC 4180 reader (CRLF records, quoted fields may hold CR, LF, comma, doubled quotes); throws on malformed input. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  for (;;) {
    let cell = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') { cell += '"'; i += 2; continue; }
          i++; break;
        }
        cell += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`bare quote in unquoted field at ${i}`);
        cell += text[i++];
      }
    }
    row.push(cell);
    if (text[i] === ',') { i++; continue; }
    if (text[i] === '\r' && text[i + 1] === '\n') { rows.push(row); row = []; i += 2; if (i === text.length) return rows; continue; }
    throw new Error(`expected , or CRLF at ${i}, got ${JSON.stringify(text.slice(i, i + 5))}`);
  }
}

function csvTable(d: MonthlyReportData): { header: string[]; rows: Record<string, string>[] } {
  const text = renderMonthlyCsv(d);
  const [header, ...body] = parseCsv(text.slice(1));
  for (const r of body) expect(r.length).toBe(header!.length);
  return { header: header!, rows: body.map((r) => Object.fromEntries(header!.map((h, k) => [h, r[k]!]))) };
}

/** Every tag in the document, outside the one style block, must be one the renderer writes itself. */
const ALLOWED_TAGS = new Set(['html', 'head', 'meta', 'title', 'style', 'body', 'header', 'footer', 'section', 'h1', 'h2', 'h3',
  'div', 'p', 'span', 'strong', 'code', 'dl', 'dt', 'dd', 'table', 'thead', 'tbody', 'tr', 'th', 'td']);
const ALLOWED_ATTRS = new Set(['lang', 'charset', 'http-equiv', 'content', 'class', 'colspan']);

function tagsOf(html: string): { name: string; attrs: string[] }[] {
  const style = /<style>[\s\S]*?<\/style>/g;
  const outside = html.replace(style, '<style></style>').replace(/^<!doctype html>/i, '');
  return [...outside.matchAll(/<\/?([A-Za-z][A-Za-z0-9-]*)([^>]*)>/g)].map((m) => ({
    name: m[1]!.toLowerCase(),
    attrs: [...m[2]!.matchAll(/([A-Za-z-]+)\s*=/g)].map((a) => a[1]!.toLowerCase()),
  }));
}

describe('monthly report HTML', () => {
  it('is a complete bilingual document with every section heading, Chinese first', () => {
    const html = renderMonthlyHtml(fixture());
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    for (const h of ['月度信息安全报告 / Monthly information security report', '终端概况 / Fleet', '安全加固合规情况 / Compliance',
      '违规事件 / Violations', '按类型 / By type', '按条款 / By article', '违规最多的终端 / Top offending hosts',
      '监控覆盖缺口 / Coverage gaps', '应急演练 / Emergency drills', '主要不通过检查项 / Top failing checks']) {
      expect(html, h).toContain(h);
    }
    expect(html).toContain('2026年11月 / November 2026');
    expect(html).toMatch(/<footer>[\s\S]*第二十三条[\s\S]*art23[\s\S]*art19[\s\S]*<\/footer>/);
    expect(html).toContain('第十九条');
  });

  it('shows the figures: percent to one decimal, plain integers, fractions to one decimal, time in the report zone', () => {
    const html = renderMonthlyHtml(fixture());
    expect(html).toContain('91.4%');
    expect(html).toContain('<dd>412</dd>');
    expect(html).toContain('<dd>17.3</dd>'); // mean hours to resolve 17.25
    expect(html).toContain('<dd>312.5</dd>'); // mean seconds to ack
    expect(html).toContain('2026-11-27 10:00:00'); // 02:00Z is 10:00 in Asia/Shanghai
    expect(html).toContain('2026-12-01 08:05:00');
    expect(html).toContain('Asia/Shanghai');
    expect(html).toContain('Example Securities Co., Ltd.');
    for (const t of ['egress.violation', 'usb.blocked', 'art29', 'TRADE-PC-017', 'win.screen_lock.timeout', 'RISK-PC-003']) expect(html).toContain(t);
    // The by-type row carries opened / closed / overdue in that order.
    expect(html).toMatch(/egress\.violation<\/code><\/td><td><span class="n">31<\/span><\/td><td><span class="n">27<\/span><\/td><td><span class="n">2<\/span>/);
    // A host never seen: null last seen and silent hours render as a dash, not 'null'.
    expect(html).toMatch(/never-seen<\/td><td><code>[^<]*<\/code><\/td><td>—<\/td><td>—<\/td><td><span class="n">—<\/span>/);
    expect(html).not.toContain('null');
    expect(html).not.toContain('undefined');
    expect(html).not.toContain('NaN');
  });

  it('is print-ready and self-contained: A4, page breaks, CSP, no scripts, links or external resources', () => {
    const html = renderMonthlyHtml(fixture());
    expect(html).toContain('@media print');
    expect(html).toMatch(/@page\{size:A4/);
    expect(html).toMatch(/break-before:page/);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).not.toMatch(/<(script|link|a|img|iframe|form|input|button|select|textarea|details|object|embed)\b/i);
    expect(html).not.toMatch(/\b(href|src|onerror|onclick|onload)\s*=/i);
    expect(html).not.toMatch(/url\(|@import|https?:\/\//i);
    for (const t of tagsOf(html)) {
      expect(ALLOWED_TAGS.has(t.name), `tag <${t.name}>`).toBe(true);
      for (const a of t.attrs) expect(ALLOWED_ATTRS.has(a), `attribute ${a} on <${t.name}>`).toBe(true);
    }
  });

  it('renders hostile text in every text field as inert, escaped text', () => {
    const html = renderMonthlyHtml(hostile());
    expect(html.match(/<\/style>/g)).toHaveLength(1);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/<[^>]*onerror/i);
    for (const f of HOSTILE_FIELDS) {
      // Present (the field is rendered) and only in its escaped form.
      expect(html, f).toContain(esc(evil(f)));
      expect(html, f).not.toContain(evil(f));
    }
    for (const t of tagsOf(html)) {
      expect(ALLOWED_TAGS.has(t.name), `tag <${t.name}>`).toBe(true);
      for (const a of t.attrs) expect(ALLOWED_ATTRS.has(a), `attribute ${a} on <${t.name}>`).toBe(true);
    }
  });

  it('renders an empty month: zeros, dashes for nulls, "none" rows for empty tables', () => {
    const html = renderMonthlyHtml(emptyMonth());
    expect(html).toContain('2026年2月 / February 2026');
    expect(html).toMatch(/<dt>接入机构 Institution<\/dt><dd>—<\/dd>/);
    expect(html).toMatch(/合规率 Compliance rate<\/dt><dd><strong>—<\/strong>/);
    expect(html).toMatch(/Mean time to resolve \(hours\)<\/dt><dd>—<\/dd>/);
    expect(html).toMatch(/Mean time to acknowledge \(seconds\)<\/dt><dd>—<\/dd>/);
    expect(html).toContain('<dd>0</dd>');
    expect(html.match(/无 \/ none/g)).toHaveLength(5); // failing checks, by type, by article, top hosts, coverage gaps
    expect(html).not.toContain('null');
    expect(html).not.toContain('NaN');
  });
});

describe('monthly report CSV', () => {
  it('starts with a UTF-8 BOM, ends every record with CRLF and has a header row', () => {
    const csv = renderMonthlyCsv(fixture());
    expect(csv.charCodeAt(0)).toBe(0xfeff);
    expect(Buffer.from(csv, 'utf8').subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(csv.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/); // no bare LF/CR in this fixture
    expect(csv.slice(1).split('\r\n')[0]).toBe('section,key,id,name,group,value,opened,closed,overdue,open,last_seen,silent_hours');
  });

  it('covers every section with its figures', () => {
    const { rows } = csvTable(fixture());
    expect(new Set(rows.map((r) => r.section))).toEqual(new Set(['summary', 'fleet', 'compliance', 'violations_by_type',
      'violations_by_article', 'top_hosts', 'coverage_gaps', 'drills']));
    const get = (section: string, key: string) => rows.filter((r) => r.section === section && r.key === key);
    expect(get('fleet', 'hosts')[0]!.value).toBe('412');
    expect(get('compliance', 'percent')[0]!.value).toBe('91.39240506329114');
    expect(get('compliance', 'failing_check').map((r) => [r.id, r.value])).toEqual([
      ['win.screen_lock.timeout', '21'], ['linux.pam.faillock', '9'], ['win.patch.pending_security', '4']]);
    expect(get('violations_by_type', 'type')[0]).toMatchObject({ id: 'egress.violation', opened: '31', closed: '27', overdue: '2' });
    expect(get('violations_by_article', 'article')[1]).toMatchObject({ id: 'art31', opened: '19', closed: '19', overdue: '0' });
    expect(get('top_hosts', 'host')[0]).toMatchObject({ name: 'TRADE-PC-017', group: '经纪业务部 Brokerage', value: '9', open: '2' });
    expect(get('coverage_gaps', 'host')[0]).toMatchObject({ name: 'RISK-PC-003', last_seen: '2026-11-27T02:00:00.000Z', silent_hours: '94' });
    expect(get('coverage_gaps', 'host')[1]).toMatchObject({ name: 'never-seen', last_seen: '', silent_hours: '' });
    expect(get('drills', 'mean_seconds_to_ack')[0]!.value).toBe('312.5');
    expect(get('summary', 'month')[0]!.value).toBe('2026-11');
    expect(get('summary', 'violations_open_at_end')[0]!.value).toBe('11');
    expect(get('summary', 'mean_hours_to_resolve')[0]!.value).toBe('17.25');
  });

  it('quotes commas, quotes, CR and LF per RFC 4180 so every value reads back exactly', () => {
    const d = fixture();
    d.institution = 'Acme, "Best" Securities';
    d.topHosts[0]!.hostname = 'line1\nline2';
    d.topHosts[0]!.group = 'a\r\nb,"c"';
    d.compliance.failingChecks[0]!.title = '"quoted"';
    const csv = renderMonthlyCsv(d);
    expect(csv).toContain('"Acme, ""Best"" Securities"');
    expect(csv).toContain('"line1\nline2"');
    expect(csv).toContain('"""quoted"""');
    const { rows } = csvTable(d);
    expect(rows.find((r) => r.key === 'institution')!.value).toBe('Acme, "Best" Securities');
    const host = rows.find((r) => r.section === 'top_hosts')!;
    expect(host.name).toBe('line1\nline2');
    expect(host.group).toBe('a\r\nb,"c"');
    expect(rows.find((r) => r.key === 'failing_check')!.name).toBe('"quoted"');
    // Cells without specials stay unquoted.
    expect(csv).toContain('\r\nfleet,hosts,,,,412,');
  });

  it('guards text cells against formula injection but leaves numbers, even negative ones, alone', () => {
    const d = fixture();
    d.institution = '=HYPERLINK("http://evil","x")';
    d.topHosts[0]!.hostname = '+cmd|\' /C calc\'!A0';
    d.topHosts[0]!.group = '-2+3';
    d.topHosts[1]!.hostname = '@SUM(A1:A9)';
    d.topHosts[1]!.group = '\tTAB';
    d.coverageGaps[0]!.hostname = '\rCR';
    d.coverageGaps[0]!.group = '-1';
    d.coverageGaps[0]!.silentHours = -2; // clock skew: a number, not a formula
    d.violations.byType[0]!.type = '=1+1';
    d.compliance.failingChecks[0]!.title = 'safe = text';
    const { rows } = csvTable(d);
    expect(rows.find((r) => r.key === 'institution')!.value).toBe('\'=HYPERLINK("http://evil","x")');
    const [h0, h1] = rows.filter((r) => r.section === 'top_hosts');
    expect(h0!.name).toBe('\'+cmd|\' /C calc\'!A0');
    expect(h0!.group).toBe('\'-2+3');
    expect(h1!.name).toBe('\'@SUM(A1:A9)');
    expect(h1!.group).toBe('\'\tTAB');
    const gap = rows.find((r) => r.section === 'coverage_gaps')!;
    expect(gap.name).toBe('\'\rCR');
    expect(gap.group).toBe('\'-1');
    expect(gap.silent_hours).toBe('-2');
    expect(rows.find((r) => r.section === 'violations_by_type')!.id).toBe('\'=1+1');
    expect(rows.find((r) => r.key === 'failing_check')!.name).toBe('safe = text');
    // No raw cell in the file begins with a formula character.
    expect(renderMonthlyCsv(d)).not.toMatch(/(^|,|\r\n)"?[=+@]/);
  });

  it('keeps hostile HTML in every text field as plain, exactly-preserved text', () => {
    const d = hostile();
    const { rows } = csvTable(d);
    const cells = rows.flatMap((r) => Object.values(r));
    for (const f of HOSTILE_FIELDS) expect(cells, f).toContain(evil(f));
    expect(rows.find((r) => r.section === 'top_hosts')).toMatchObject({ name: evil('hostname'), group: evil('group') });
  });

  it('renders an empty month with empty cells for nulls and no list rows', () => {
    const csv = renderMonthlyCsv(emptyMonth());
    expect(csv).not.toContain('null');
    const { rows } = csvTable(emptyMonth());
    expect(rows.filter((r) => ['top_hosts', 'coverage_gaps', 'violations_by_type', 'violations_by_article'].includes(r.section!))).toEqual([]);
    expect(rows.find((r) => r.key === 'percent')!.value).toBe('');
    expect(rows.find((r) => r.key === 'institution')!.value).toBe('');
    expect(rows.find((r) => r.section === 'fleet' && r.key === 'hosts')!.value).toBe('0');
  });
});

describe('monthly report JSON', () => {
  it('round-trips the data object with 2-space indent and a trailing newline', () => {
    const d = fixture();
    const json = monthlyJson(d);
    expect(JSON.parse(json)).toEqual(d);
    expect(json.endsWith('}\n')).toBe(true);
    expect(json.split('\n')[1]).toBe('  "month": "2026-11",');
    expect(JSON.parse(monthlyJson(emptyMonth()))).toEqual(emptyMonth());
    expect(JSON.parse(monthlyJson(hostile()))).toEqual(hostile());
  });

  it('has the same key order whatever order the caller built the object in', () => {
    const d = fixture();
    const reversed = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).reverse().map(([k, v]) =>
      [k, Array.isArray(v) ? v.map((x) => (typeof x === 'object' && x ? reversed(x) : x)) : typeof v === 'object' && v ? reversed(v) : v])) as T;
    const shuffled = reversed(d);
    expect(Object.keys(shuffled)[0]).toBe('drills');
    expect(monthlyJson(shuffled)).toBe(monthlyJson(d));
    expect(Object.keys(JSON.parse(monthlyJson(shuffled)))).toEqual(['month', 'generatedAt', 'institution', 'timeZone', 'fleet',
      'compliance', 'violations', 'topHosts', 'coverageGaps', 'drills']);
    expect(Object.keys(JSON.parse(monthlyJson(shuffled)).violations.byType[0])).toEqual(['type', 'opened', 'closed', 'overdue']);
  });
});

describe('validateMonth', () => {
  it.each(['2000-01', '2026-11', '2026-12', '2100-12'])('accepts %s', (s) => {
    expect(validateMonth(s)).toBe(true);
  });
  it.each(['1999-12', '2101-01', '2026-00', '2026-13', '2026-1', '26-11', '2026/11', '2026-11-01', ' 2026-11', '2026-11\n', '', '２０２６-11', '2026-1a'])(
    'rejects %j', (s) => {
      expect(validateMonth(s)).toBe(false);
    });
});
