/**
 * POST /v1/events — the ingest hot path. Validate each event, insert keyed by its id, commit,
 * then ack. A duplicate is acked again (a resend is harmless); an id held by another host is not.
 */
import type { App as FastifyInstance } from '../../../http/app.js';
import { TgError, ERRORS } from '../../../../shared/errors.js';
import { validateEvent, type AgentEvent } from '../../../../shared/events.js';
import { LIMITS } from '../../../../shared/protocol.js';
import type { ServerContext } from '../../../context.js';
import { verifyAttestation } from '../../../../shared/attestation.js';
import { announceViolations, draftViolations, raiseViolations } from '../../../violations.js';
import type { InsertResult } from '../../../store/types.js';
import { VIOLATION_TYPES } from '../../../rules/violations.js';

interface Rejection { id: string | null; code: string; message: string }

const TOUCH_EVERY_MS = 10_000;
/** Agent events that carry the policy version the agent applies. */
const REPORTS_POLICY = new Set(['agent.started', 'agent.heartbeat', 'agent.policy_applied']);

export function eventsRoute(app: FastifyInstance, ctx: ServerContext): void {
  const lastTouch = new Map<string, number>();

  app.post('/v1/events', async (req, reply) => {
    const body = req.body as { events?: unknown } | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray(body.events) || Object.keys(body).length !== 1) {
      throw new TgError('TG_E_BAD_ENVELOPE', 'expected {"events":[…]}');
    }
    if (body.events.length > LIMITS.maxEventsPerBatch) {
      throw new TgError('TG_E_TOO_MANY_EVENTS', `a batch holds at most ${LIMITS.maxEventsPerBatch} events, this one ${body.events.length}`);
    }
    ctx.metrics && ctx.metrics.counters.ingestRequests++;
    const wait = ctx.admission?.check(body.events.length) ?? null;
    if (wait !== null) {
      void reply.header('retry-after', String(wait));
      throw new TgError('TG_E_OVERLOADED', `server is overloaded; retry in ${wait} s`);
    }
    const hostId = req.agent.hostId;
    const valid: AgentEvent[] = [];
    const rejected: Rejection[] = [];
    const seen = new Set<string>();
    let policyVersion: number | undefined;
    for (const raw of body.events) {
      const rawId = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id.slice(0, 64) : null;
      const e = validateEvent(raw);
      if (typeof e === 'string') {
        rejected.push({ id: rawId, code: 'TG_E_EVENT_INVALID', message: e });
        continue;
      }
      if (e.host !== undefined && e.host !== hostId) {
        rejected.push({ id: e.id, code: 'TG_E_HOST_MISMATCH', message: ERRORS.TG_E_HOST_MISMATCH.message });
        continue;
      }
      if (e.type === 'host.attestation') {
        // Verified on receipt: signature, chain to our CA, and issued to the host that sends it.
        const v = verifyAttestation(e.data, ctx.ca.certPem);
        const problem = !v.ok ? v.problems.join('; ') : v.body.hostId !== hostId ? `attestation is for host ${v.body.hostId}` : null;
        if (problem) {
          rejected.push({ id: e.id, code: 'TG_E_ATTESTATION_INVALID', message: problem.slice(0, 500) });
          continue;
        }
      }
      const id = e.id.toLowerCase();
      if (seen.has(id)) continue; // the same id twice in one batch is stored and acked once
      seen.add(id);
      delete e.host;
      e.id = id;
      if (REPORTS_POLICY.has(e.type) && typeof e.data.policyVersion === 'number') policyVersion = e.data.policyVersion;
      valid.push(e);
    }
    const now = new Date();
    // The host's "last seen" rides along with the events, in the same commit, every few seconds.
    const last = lastTouch.get(hostId) ?? 0;
    const touch = policyVersion !== undefined || now.getTime() - last > TOUCH_EVERY_MS
      ? { seen: now.toISOString(), ...(policyVersion !== undefined ? { policyVersion } : {}) } : undefined;
    if (touch) lastTouch.set(hostId, now.getTime());
    const receivedAt = now.toISOString();
    // Violations that follow from an event alone go in with it, in the same commit.
    const { drafts, later } = draftViolations(valid.filter((e) => VIOLATION_TYPES.has(e.type)).map((e) => ({ ...e, host: hostId, receivedAt })), now);
    let result: InsertResult = { acked: [], conflicts: [], violations: [] };
    if (valid.length || touch) {
      const adm = ctx.admission;
      if (adm) adm.inflightEvents += valid.length;
      const t0 = performance.now();
      try {
        result = await ctx.store.insertEvents(hostId, valid, receivedAt, touch, drafts);
      } finally {
        if (adm) adm.inflightEvents -= valid.length;
      }
      ctx.metrics?.observeWrite((performance.now() - t0) / 1000);
    }
    announceViolations(ctx, result.violations);
    for (const id of result.conflicts) rejected.push({ id, code: 'TG_E_ID_CONFLICT', message: ERRORS.TG_E_ID_CONFLICT.message });
    if (later.length) {
      const conflicts = new Set(result.conflicts);
      // Rules that read the store run after the commit: a failure here loses no event, and the
      // start-up sweep derives what was missed.
      await raiseViolations(ctx, later.filter((e) => !conflicts.has(e.id)), now)
        .catch((err: unknown) => req.log.error({ err }, 'raising violations failed'));
    }
    if (ctx.metrics) {
      ctx.metrics.counters.eventsStored += result.acked.length;
      ctx.metrics.counters.eventsRejected += rejected.length;
    }
    return { acked: result.acked, rejected };
  });
}
