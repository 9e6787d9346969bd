/**
 * Wire formats for one alert: an RFC 5424 syslog line, its RFC 6587 octet-counted frame, and the
 * webhook JSON body. Pure functions; the agent-side text they carry (hostname, group, summary) is
 * untrusted, so every field is made inert for its place in the line.
 */
import type { AlertMessage } from './types.js';

/**
 * SD-ID enterprise number. 32473 is the IANA private enterprise number reserved for documentation
 * (RFC 5612); an institution that has its own PEN may change it here, receivers key on the SD-ID.
 */
export const SD_ENTERPRISE = 32473;
export const SD_ID = `termguard@${SD_ENTERPRISE}`;

/** RFC 5424 §6.2.1 severities: critical→2 crit, high→3 err, medium→4 warning, low→5 notice. */
export const SYSLOG_SEVERITY: Record<AlertMessage['severity'], number> = { critical: 2, high: 3, medium: 4, low: 5 };

const BOM = '\uFEFF';
const NIL = '-';
/** Summary cap: RFC 5425 receivers must take 2048 octets; the header and SD fit well in the rest. */
const MAX_SUMMARY = 1024;
const MAX_PARAM = 255;

/** RFC 5424 header fields: printable US-ASCII (33-126) only, others replaced, capped; NILVALUE when empty. */
function headerField(s: string, max: number): string {
  const v = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return v === '' ? NIL : v;
}

/**
 * Line breaks and other controls become a space, so one alert is one line for every parser
 * (log injection): C0, DEL, C1 (which holds NEL, U+0085) and the Unicode line/paragraph separators.
 */
function oneLine(s: string, max: number): string {
  const clean = s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, ' ');
  // Cut by code point, never inside a surrogate pair.
  return clean.length <= max ? clean : Array.from(clean).slice(0, max).join('');
}

/** RFC 5424 §6.3.3 PARAM-VALUE: `"`, `\` and `]` are escaped with a backslash. */
function paramValue(s: string): string {
  return oneLine(s, MAX_PARAM).replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** RFC 5424 §6.2.3 TIMESTAMP (RFC 3339, uppercase T and Z, at most 6 fraction digits), or NILVALUE. */
function timestamp(iso: string): string {
  const d = new Date(iso);
  const y = d.getUTCFullYear();
  return Number.isNaN(d.getTime()) || y < 0 || y > 9999 ? NIL : d.toISOString();
}

/** One RFC 5424 message, without transport framing. HOSTNAME is this server; the agent's host is in the SD. */
export function formatSyslog(m: AlertMessage, o: { hostname: string; appName: string; facility: number; procId?: string }): string {
  const pri = o.facility * 8 + SYSLOG_SEVERITY[m.severity];
  const params: [string, string][] = [
    ['host', m.host.hostname],
    ['hostId', m.host.id],
    ['group', m.host.group],
    ['violation', m.id],
    ['severity', m.severity],
    ['articles', m.articles.join(',')],
    ['drill', String(m.drill)],
  ];
  if (m.url !== null) params.push(['url', m.url]);
  const sd = `[${SD_ID}${params.map(([k, v]) => ` ${k}="${paramValue(v)}"`).join('')}]`;
  const header = [
    `<${pri}>1`,
    timestamp(m.time),
    headerField(o.hostname, 255),
    headerField(o.appName, 48),
    headerField(o.procId ?? '', 128),
    headerField(m.type, 32),
  ].join(' ');
  // §6.4: a MSG that starts with the BOM is UTF-8.
  return `${header} ${sd} ${BOM}${oneLine(m.summary, MAX_SUMMARY)}`;
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function frameOctetCounting(line: string): Buffer {
  const body = Buffer.from(line, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

/**
 * The webhook JSON. Field order is fixed so the HMAC a receiver checks is over stable bytes; JSON
 * escaping already keeps the agent's text inert, so the summary is sent as it came.
 */
export function webhookBody(m: AlertMessage): string {
  return JSON.stringify({
    kind: 'termguard.alert',
    version: 1,
    id: m.id,
    time: m.time,
    host: { id: m.host.id, hostname: m.host.hostname, group: m.host.group },
    type: m.type,
    severity: m.severity,
    articles: m.articles,
    summary: m.summary,
    url: m.url,
    drill: m.drill,
  });
}
