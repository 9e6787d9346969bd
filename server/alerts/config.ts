/**
 * Alert forwarding settings, as the console stores them: the schema is the spec. Both targets are
 * optional (absent or null = off). Unknown fields and conflicting options are refused with a
 * one-line `path: reason`, so a typo in the console never silently turns forwarding off.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';

/** RFC 5424 facility 13 is "log audit": violations are audit records, and SIEMs route it apart from auth (4) and authpriv (10). */
export const DEFAULT_FACILITY = 13;
export const DEFAULT_APP_NAME = 'termguard';

/** Headers the forwarder sets itself; letting the console override them would break framing or the signature. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'transfer-encoding', 'host', 'connection', 'x-termguard-signature']);
/** RFC 9110 §5.6.2 token: this also refuses CR, LF, NUL, spaces and colons in a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5 field value: visible characters, spaces and tabs; no CR, LF or NUL (header injection). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;
/** RFC 5424 §6.2.5 APP-NAME: 1-48 printable US-ASCII characters. */
const APP_NAME = /^[\x21-\x7e]{1,48}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** True when `pem` holds at least one certificate and every PEM block in it parses. */
function isCertificatePem(pem: string): boolean {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) return false;
  try {
    for (const b of blocks) new X509Certificate(b);
    return true;
  } catch {
    return false;
  }
}

const Pem = z.string().max(256 * 1024).refine(isCertificatePem, { message: 'not a PEM certificate bundle (-----BEGIN CERTIFICATE-----)' });

const Host = z.string().min(1).max(253).refine((h) => isIP(h) !== 0 || HOSTNAME.test(h), {
  message: 'not a host name or IP address',
});

export const SyslogTargetSchema = z.strictObject({
  host: Host.describe('syslog receiver (SIEM collector) host name or IP address'),
  port: z.number().int().min(1).max(65535).describe('TCP port; 6514 is the registered port for syslog over TLS (RFC 5425), 514/601 are common for plain TCP'),
  tls: z.boolean().optional().describe('wrap the connection in TLS (RFC 5425) and verify the receiver certificate; default false'),
  ca: Pem.optional().describe('PEM certificates to trust for the receiver; the system CAs when absent'),
  appName: z.string().regex(APP_NAME, 'expected 1-48 printable US-ASCII characters without spaces').optional()
    .describe(`RFC 5424 APP-NAME; default "${DEFAULT_APP_NAME}"`),
  facility: z.number().int().min(0).max(23).optional()
    .describe(`RFC 5424 facility 0-23; default ${DEFAULT_FACILITY} (log audit); 4 (auth) and 10 (authpriv) are common alternatives`),
}).refine((s) => s.ca === undefined || s.tls === true, { message: 'ca is set but tls is not: a CA only applies to TLS', path: ['ca'] });

export const WebhookTargetSchema = z.strictObject({
  url: z.string().max(2048).refine((u) => {
    try {
      const p = new URL(u);
      return (p.protocol === 'http:' || p.protocol === 'https:') && p.hostname !== '';
    } catch {
      return false;
    }
  }, { message: 'expected an http:// or https:// URL' })
    .refine((u) => { try { const p = new URL(u); return p.username === '' && p.password === ''; } catch { return true; } },
      { message: 'credentials in the URL are not accepted; put them in a header (e.g. authorization)' })
    .describe('receiver URL; alerts are POSTed as JSON'),
  headers: z.record(z.string(), z.string().max(8192).regex(FIELD_VALUE, 'header value must not contain CR, LF or other control characters'))
    // Names are checked here rather than by a key schema, whose failures zod reports only as "Invalid key".
    .superRefine((h, ctx) => {
      const names = Object.keys(h);
      if (names.length > 32) ctx.addIssue({ code: 'custom', message: 'at most 32 headers' });
      for (const n of names) {
        if (n.length > 256 || !TOKEN.test(n)) ctx.addIssue({ code: 'custom', path: [n], message: 'header name must be an RFC 9110 token (no spaces, colons, CR or LF)' });
        else if (RESERVED_HEADERS.has(n.toLowerCase())) ctx.addIssue({ code: 'custom', path: [n], message: 'header is set by the forwarder and cannot be overridden' });
      }
    }).optional()
    .describe('extra request headers, e.g. authorization'),
  ca: Pem.optional().describe('PEM certificates to trust for an https receiver; the system CAs when absent'),
  secret: z.string().min(16).max(1024).optional()
    .describe('HMAC-SHA256 key; when set, X-Termguard-Signature: sha256=<hex of HMAC(body)> (at least 16 characters)'),
}).refine((w) => w.ca === undefined || w.url.startsWith('https:'), { message: 'ca is set but the URL is not https', path: ['ca'] });

export const AlertConfigSchema = z.strictObject({
  syslog: SyslogTargetSchema.nullable().optional().describe('RFC 5424 syslog over TCP or TLS; off when absent or null'),
  webhook: WebhookTargetSchema.nullable().optional().describe('JSON webhook; off when absent or null'),
});

export type AlertConfig = z.infer<typeof AlertConfigSchema>;
export type SyslogTargetConfig = z.infer<typeof SyslogTargetSchema>;
export type WebhookTargetConfig = z.infer<typeof WebhookTargetSchema>;

/** Validate what the console submits; returns the config, or the first error as `path: reason`. */
export function validateAlertConfig(raw: unknown): { ok: true; config: AlertConfig } | { ok: false; error: string } {
  const r = AlertConfigSchema.safeParse(raw);
  if (r.success) return { ok: true, config: r.data };
  const issue = r.error.issues[0]!;
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return { ok: false, error: `${path || '(alerts)'}: ${issue.message}` };
}
