/**
 * Raising violations from stored events, and the jobs around them: a rule that needs only its event
 * is drafted before the commit and inserted with the events; the rules that read the store (drills,
 * hardening runs) go through `raise` after it, and `sweep` at start-up re-derives those of the last
 * hours (a crash between the two commits loses nothing: violations are keyed by event id); `escalate`
 * marks the overdue ones every minute and forwards them.
 */
import type { AgentEvent, StoredEvent } from '../shared/events.js';
import type { ServerContext } from './context.js';
import { deriveViolation, VIOLATION_TYPES } from './rules/violations.js';
import type { ViolationDraft } from './store/types.js';

/**
 * Event types whose rule needs the store (a drill's command, the host's open hardening violation):
 * the only violations raised after their events' commit, so the only ones the start-up sweep derives.
 */
export const NEEDS_STORE = new Set(['drill', 'host.check']);

/**
 * Drafts for the events whose rule is a function of the event alone, to be inserted in the same
 * commit as the events (the ingest path); the rest (drills, hardening runs) go through `raiseViolations`.
 */
export function draftViolations(events: StoredEvent[], now: Date): { drafts: ViolationDraft[]; later: StoredEvent[] } {
  const drafts: ViolationDraft[] = [];
  const later: StoredEvent[] = [];
  for (const e of events) {
    if (!VIOLATION_TYPES.has(e.type)) continue;
    if (NEEDS_STORE.has(e.type)) { later.push(e); continue; }
    const v = deriveViolation(e, now);
    if (v) drafts.push(v);
  }
  return { drafts, later };
}

/** Count newly inserted violations and hand them to alerting. */
export function announceViolations(ctx: ServerContext, inserted: ViolationDraft[]): void {
  if (!inserted.length) return;
  if (ctx.metrics) ctx.metrics.counters.violationsRaised += inserted.length;
  ctx.onViolations?.(inserted);
}

export async function raiseViolations(ctx: ServerContext, events: StoredEvent[], now = new Date()): Promise<ViolationDraft[]> {
  const drafts: ViolationDraft[] = [];
  const drills = new Map<string, string>(); // violation id → drill id
  const checkedHosts = new Set<string>();
  for (const e of events) {
    if (!VIOLATION_TYPES.has(e.type)) continue;
    let drillId: string | null = null;
    if (e.type === 'drill') {
      const seq = Number(e.data.commandSeq);
      const d = Number.isInteger(seq) ? await ctx.store.drillByCommand(seq) : null;
      if (!d || d.hostId !== e.host) continue;
      drillId = d.id;
    }
    const v = deriveViolation(e, now, drillId !== null);
    if (!v) continue;
    if (v.rule === 'host.hardening_failed') {
      // One open hardening violation per host: later failing runs belong to it.
      if (checkedHosts.has(e.host)) continue;
      checkedHosts.add(e.host);
      const open = await ctx.store.listViolations({ host: e.host, type: 'host.check', state: 'unresolved', limit: 1 });
      if (open.total > 0) continue;
    }
    if (drillId) drills.set(v.id, drillId);
    drafts.push(v);
  }
  if (!drafts.length) return [];
  const inserted = await ctx.store.insertViolations(drafts);
  for (const v of inserted) {
    const d = drills.get(v.id);
    if (d) await ctx.store.updateDrill(d, { violationId: v.id });
  }
  announceViolations(ctx, inserted);
  return inserted;
}

/**
 * Store one event the server made itself (an offline spell, a clone) on `hostId`'s record, without
 * touching its last-seen (the server's word must not mark the host seen), with its violation in the same commit; a rule that reads the store runs
 * after it, as on the ingest path.
 */
export async function storeServerEvent(ctx: ServerContext, hostId: string, event: AgentEvent, now: Date): Promise<void> {
  const receivedAt = now.toISOString();
  const { drafts, later } = draftViolations([{ ...event, host: hostId, receivedAt }], now);
  announceViolations(ctx, (await ctx.store.insertEvents(hostId, [event], receivedAt, undefined, drafts)).violations);
  if (later.length) await raiseViolations(ctx, later, now);
}

/** Re-derive the after-commit rules' violations from events of the last `hours` (idempotent). */
export async function sweepViolations(ctx: ServerContext, hours = 2): Promise<number> {
  const since = new Date(Date.now() - hours * 3_600_000).toISOString();
  let n = 0;
  // The other rules' violations are inserted in the events' own commit: a kill cannot separate them.
  for (const type of NEEDS_STORE) {
    // By arrival, from `since`: a range on the type's partial (received_at, id) index, holding only its rows.
    let after = { receivedAt: since, id: '' };
    for (;;) {
      const page = await ctx.store.queryEvents({ type, after, limit: 2000 });
      n += (await raiseViolations(ctx, page)).length;
      if (page.length < 2000) break;
      const last = page[page.length - 1]!;
      after = { receivedAt: last.receivedAt, id: last.id };
    }
  }
  return n;
}

/** Mark overdue violations escalated every `everyMs`; returns a stop function. */
export function startEscalation(ctx: ServerContext, everyMs = 60_000): () => void {
  const tick = async () => {
    try {
      const rows = await ctx.store.escalateOverdue(new Date().toISOString());
      if (rows.length) ctx.onEscalated?.(rows);
    } catch (err) {
      ctx.log.warn({ err }, 'escalation failed');
    }
  };
  const t = setInterval(() => void tick(), everyMs);
  t.unref();
  void tick();
  return () => clearInterval(t);
}
