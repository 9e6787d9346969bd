/**
 * The policy object (`policy set` / `GET /v1/policy`): the schema is the spec. Every field is
 * optional; the defaults audit and never enforce, and contain no probe targets (the agent never
 * reaches out on its own). Unknown fields are refused.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { checkRules } from './usbguard/parse.js';

const HEX4 = /^[0-9a-fA-F]{4}$/;

/** `10.0.0.0/8`, `198.18.0.0/15:443`, `[2001:db8::]/32:443`, a bare address, optional port. */
export function parseDestination(text: string): { address: string; prefix: number; port: number | null; family: 4 | 6 } | null {
  // Bracketed IPv6 or IPv4 may carry a port; a bare IPv6 range may not (its colons are ambiguous).
  const m = /^\[([0-9a-fA-F:.]+)\](?:\/(\d{1,3}))?(?::(\d{1,5}))?$/.exec(text)
    ?? /^([0-9.]+)(?:\/(\d{1,2}))?(?::(\d{1,5}))?$/.exec(text)
    ?? /^([0-9a-fA-F:.]*:[0-9a-fA-F:.]*)(?:\/(\d{1,3}))?()$/.exec(text);
  if (!m) return null;
  const address = m[1]!;
  const family = isIP(address);
  if (family !== 4 && family !== 6) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = m[2] ? Number(m[2]) : max;
  if (prefix > max) return null;
  const port = m[3] ? Number(m[3]) : null;
  if (port !== null && (port < 1 || port > 65535)) return null;
  return { address, prefix, port, family };
}

const Destination = z.string().max(80).refine((s) => parseDestination(s) !== null, {
  message: 'not a destination: use CIDR with an optional port, e.g. 10.0.0.0/8, 198.18.0.0/15:443, [2001:db8::]/32:443',
});

const Probe = z.string().max(300).refine((s) => {
  if (s.startsWith('dns:')) return /^dns:[a-zA-Z0-9]([a-zA-Z0-9.-]{0,252})$/.test(s);
  if (s.startsWith('tcp://')) {
    const m = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]+):(\d{1,5})$/.exec(s);
    return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
  }
  if (s.startsWith('http://') || s.startsWith('https://')) {
    try { new URL(s); return true; } catch { return false; }
  }
  return false;
}, { message: 'not a probe: use tcp://host:port, dns:name or http(s)://url of an institution-owned canary' });

const Cidr = z.string().max(64).refine((s) => { const d = parseDestination(s); return d !== null && d.port === null; }, {
  message: 'not a CIDR range, e.g. 10.20.0.0/16',
});

export const UsbAllowEntry = z.strictObject({
  vendorId: z.string().regex(HEX4).describe('USB vendor id, 4 hex digits'),
  productId: z.string().regex(HEX4).optional().describe('USB product id, 4 hex digits; any product if absent'),
  serial: z.string().max(256).optional().describe('iSerial string; any serial if absent'),
});

export const PolicySchema = z.strictObject({
  usb: z.strictObject({
    mode: z.enum(['audit', 'readonly', 'block']).default('audit')
      .describe('what to do with storage (08) or still-image/MTP (06) devices that match no allow entry'),
    allow: z.array(UsbAllowEntry).max(10_000).default([]).describe('devices exempt from mode'),
    rules: z.array(z.string().max(4096)).max(10_000)
      .superRefine((rules, ctx) => {
        const bad = checkRules(rules);
        if (bad) ctx.addIssue({ code: 'custom', path: [bad.index], message: `rule ${bad.index + 1}, column ${bad.column}: ${bad.message}` });
      })
      .default([])
      .describe('USBGuard rule language (usbguard-rules.conf(5)), evaluated first, first match wins'),
    auditFiles: z.boolean().default(true).describe('record files written to removable volumes (media.file_written)'),
  }).prefault({}),
  egress: z.strictObject({
    allow: z.array(Destination).max(10_000).default([]).describe('destinations a terminal may reach (CIDR, optional :port)'),
    probes: z.array(Probe).max(100).default([]).describe('internet reachability probes of institution-owned canaries'),
    enforce: z.boolean().default(false).describe('apply a host firewall that blocks everything not allowed'),
  }).prefault({}),
  network: z.strictObject({
    assigned: z.array(Cidr).max(10_000).default([]).describe('address ranges assigned to terminals (art26)'),
  }).prefault({}),
  checks: z.strictObject({
    profile: z.string().max(64).regex(/^[a-z0-9_-]+$/).default('mlps3').describe('hardening check profile'),
    exclude: z.array(z.string().max(128)).max(1000).default([]).describe('check ids to skip'),
  }).prefault({}),
});

export type Policy = z.output<typeof PolicySchema>;
export type PolicyInput = z.input<typeof PolicySchema>;

export const DEFAULT_POLICY: Policy = PolicySchema.parse({});

/** Validate a policy object; returns it with defaults, or the first error as `path: reason`. */
export function checkPolicy(input: unknown): { ok: true; policy: Policy } | { ok: false; error: string } {
  const r = PolicySchema.safeParse(input);
  if (r.success) return { ok: true, policy: r.data };
  const issue = r.error.issues[0]!;
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return { ok: false, error: `${path || '(policy)'}: ${issue.message}` };
}
