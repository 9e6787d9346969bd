/**
 * Violations are derived from events by rules (art17: each has an owner, a due date for its
 * rectification, a state). One rule per event type; an event yields at most one violation, keyed
 * by the event id, so a resent event or a second server process never raises it twice. Summaries
 * quote agent text (untrusted): the console renders them as text only.
 */
import { randomUUID } from 'node:crypto';
import type { StoredEvent } from '../../shared/events.js';
import type { ViolationDraft, ViolationRow } from '../store/types.js';

/** Hours to rectify, by severity (art17 deadlines; the institution may tighten them). */
export const DUE_HOURS: Record<ViolationRow['severity'], number> = { critical: 24, high: 72, medium: 168, low: 720 };

type Rule = (e: StoredEvent) => { rule: string; severity: ViolationRow['severity']; articles: string[]; summary: string } | null;

const s = (v: unknown, max = 120): string => (typeof v === 'string' ? v : v === null || v === undefined ? '?' : JSON.stringify(v)).replace(/[\r\n\t]+/g, ' ').slice(0, max);
const o = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {});

const RULES: Record<string, Rule> = {
  'egress.violation': (e) => {
    if (e.data.repeat === true) return null; // a repeat count of one already raised
    const p = o(e.data.process);
    const inbound = e.data.direction === 'inbound';
    return {
      rule: inbound ? 'egress.inbound_unauthorised' : 'egress.outbound_unauthorised', severity: 'high',
      articles: inbound ? ['art28', 'art31'] : ['art29', 'art31'],
      summary: `${inbound ? 'inbound from' : 'outbound to'} ${s(e.data.remoteAddress)}:${s(e.data.remotePort)} (${s(e.data.proto)}) by ${s(p.name ?? p.exe ?? 'unknown process')}`,
    };
  },
  'egress.internet_reachable': (e) => ({
    rule: 'egress.internet_reachable', severity: 'critical', articles: ['art29', 'art31'],
    summary: e.data.source === 'os' ? `internet reachable by the OS's own check (${s(e.data.tool)})` : `internet reachable: ${s(e.data.probe)} via ${s(e.data.interface)}`,
  }),
  'egress.interface': (e) => (e.severity === 'high' || e.severity === 'critical' ? {
    rule: 'egress.second_path', severity: 'high', articles: ['art29', 'art31'],
    summary: `second path: ${s(e.data.change)} ${s(e.data.interface ?? e.data.proxy)}${e.data.type ? ` (${s(e.data.type)})` : ''}`,
  } : null),
  'egress.enforcement': (e) => (e.data.state === 'rolled_back' || e.data.state === 'failed' || e.data.state === 'unsupported' ? {
    rule: 'egress.enforcement_failed', severity: 'high', articles: ['art29', 'art31'], summary: `outbound control not in force: ${s(e.data.state)} — ${s(e.data.reason, 200)}`,
  } : null),
  'usb.attached': (e) => {
    const v = o(e.data.verdict);
    if (v.action === 'allow' || v.enforced === true) return null; // allowed, or enforced (usb.blocked follows)
    const d = o(e.data.device);
    return { rule: 'usb.unauthorised_device', severity: 'high', articles: ['art31'], summary: `unauthorised USB device (audit mode, would ${s(v.wouldBe ?? v.action)}): ${s(d.vendorId)}:${s(d.productId)} ${s(d.product)}` };
  },
  'usb.blocked': (e) => {
    const d = o(e.data.device);
    const held = e.data.held !== false;
    return {
      rule: held ? 'usb.blocked' : 'usb.block_failed', severity: held ? 'medium' : 'critical', articles: ['art31'],
      summary: `${held ? '' : 'FAILED to '}${s(e.data.action)} USB ${d.vendorId ? `${s(d.vendorId)}:${s(d.productId)} ${s(d.product)}` : s(o(e.data.volume).label ?? o(e.data.volume).device)}`,
    };
  },
  'host.check': (e) => {
    const sum = o(e.data.summary);
    if (!(Number(sum.fail) > 0)) return null;
    return { rule: 'host.hardening_failed', severity: 'medium', articles: ['art9', 'art17', 'art31'], summary: `${Number(sum.fail)} hardening check(s) failed (profile ${s(e.data.profile)})` };
  },
  'host.antimalware_disabled': () => ({ rule: 'host.antimalware_disabled', severity: 'high', articles: ['art18', 'art30'], summary: 'anti-malware protection disabled' }),
  'host.admin_added': (e) => ({ rule: 'host.admin_added', severity: 'high', articles: ['art9', 'art18'], summary: `administrator account added: ${s((Array.isArray(e.data.accounts) ? e.data.accounts : []).map((a) => o(a).name ?? a).join(', '))}` }),
  'host.ip_unassigned': (e) => ({ rule: 'host.ip_unassigned', severity: 'high', articles: ['art26'], summary: `address outside the assigned ranges: ${s(e.data.addresses)}` }),
  'host.clone_detected': () => ({ rule: 'host.clone_detected', severity: 'high', articles: ['art31'], summary: 'another key enrolled with this machine id (clone)' }),
  // Made by the server (server/offline.ts) when a host misses 3 heartbeats without agent.stopped.
  'agent.offline': (e) => ({
    rule: 'agent.offline', severity: 'high', articles: ['art31'],
    summary: `agent silent: no heartbeat for ${s(e.data.missedHeartbeats)} intervals of ${s(e.data.intervalSeconds)} s (last contact ${s(e.data.lastContact)}) and no agent.stopped`,
  }),
  // A clean stop is reported; the service stopped by hand or the agent uninstalled is a violation, a shutdown or upgrade is not.
  'agent.stopped': (e) => (e.data.cause === 'uninstall' ? {
    rule: 'agent.uninstalled', severity: 'high', articles: ['art31'], summary: `agent uninstalled${e.data.signal ? ` (${s(e.data.signal)})` : ''}`,
  } : e.data.cause === 'service-stop' ? {
    rule: 'agent.service_stopped', severity: 'medium', articles: ['art31'], summary: `agent service stopped while the system kept running${e.data.signal ? ` (${s(e.data.signal)})` : ''}`,
  } : null),
  'usb.exception_refused': (e) => ({ rule: 'usb.exception_refused', severity: 'medium', articles: ['art31'], summary: `USB exception refused by the agent: ${s(e.data.problem)}` }),
};

/** Types some rule looks at (the ingest path skips the rest cheaply). */
export const VIOLATION_TYPES = new Set([...Object.keys(RULES), 'drill']);

/**
 * A UUIDv7 (RFC 9562: 48-bit Unix milliseconds, version 7, random rest) from randomUUID's pooled
 * randomness. Time-ordered ids append to the primary key's b-tree, where random ones dirtied a page
 * each; the uuid package's v7 asks the system for 16 bytes per id, which costs more than the rest of a rule.
 */
export function timeOrderedId(at: Date): string {
  const ms = at.getTime().toString(16).padStart(12, '0');
  const r = randomUUID();
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7${r.slice(15)}`;
}

export function dueAt(created: Date, severity: ViolationRow['severity']): string {
  return new Date(created.getTime() + DUE_HOURS[severity] * 3_600_000).toISOString();
}

/**
 * The violation an event raises, or null. `drillStarted` tells whether a drill event answers a
 * drill this server started (a drill the server did not start raises nothing).
 */
export function deriveViolation(e: StoredEvent, now: Date, drillStarted = false): ViolationDraft | null {
  let r: ReturnType<Rule>;
  let drill = false;
  if (e.type === 'drill') {
    if (!drillStarted) return null;
    drill = true;
    r = { rule: 'drill', severity: 'high', articles: ['art16', 'art24', 'art25'], summary: `emergency drill${e.data.note ? `: ${s(e.data.note)}` : ''}` };
  } else {
    const rule = RULES[e.type];
    r = rule ? rule(e) : null;
  }
  if (!r) return null;
  return {
    id: timeOrderedId(now), hostId: e.host, eventId: e.id, type: e.type, rule: r.rule, articles: r.articles, severity: r.severity,
    summary: r.summary.slice(0, 500), dueAt: dueAt(now, r.severity), createdAt: now.toISOString(), drill,
  };
}
