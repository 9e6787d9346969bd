/**
 * GET /v1/commands?wait=S&after=SEQ&policy=V — long-poll for server commands. Answers at once when
 * there are commands after SEQ or the host's policy version differs from V, else waits up to S s.
 * Commands stay in the store; the agent's cursor (after) makes delivery at-least-once.
 */
import type { App as FastifyInstance } from '../../../http/app.js';
import { TgError } from '../../../../shared/errors.js';
import { LIMITS } from '../../../../shared/protocol.js';
import type { ServerContext } from '../../../context.js';
import { policyFor } from '../policy/index.js';

function intParam(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TgError('TG_E_BAD_ENVELOPE', `query parameter ${name} must be an integer from ${min} to ${max}`);
  return n;
}

export function commandsRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/commands', async (req) => {
    const q = req.query as Record<string, unknown>;
    const wait = intParam(q.wait, 'wait', 0, LIMITS.maxCommandWaitSeconds, 0);
    const after = intParam(q.after, 'after', 0, Number.MAX_SAFE_INTEGER, 0);
    // The version the agent last saw (applied or refused); the version it applies comes with heartbeats.
    const applied = q.policy === undefined ? undefined : intParam(q.policy, 'policy', 0, Number.MAX_SAFE_INTEGER, 0);
    const hostId = req.agent.hostId;
    const deadline = Date.now() + wait * 1000;
    const closed = new AbortController();
    const onClose = () => closed.abort();
    // The connection outlives this poll (keep-alive): its listener goes when the poll does.
    req.raw.socket.once('close', onClose);
    try {
      for (;;) {
        const [commands, policy] = await Promise.all([ctx.store.commandsAfter(hostId, after), policyFor(ctx, hostId)]);
        const left = deadline - Date.now();
        if (commands.length || (applied !== undefined && policy.version !== applied) || left <= 0 || closed.signal.aborted) {
          return {
            policyVersion: policy.version,
            commands: commands.map((c) => ({ seq: c.seq, type: c.type, payload: c.payload, createdAt: c.createdAt })),
          };
        }
        await ctx.hub.wait(left, closed.signal);
      }
    } finally {
      req.raw.socket.off('close', onClose);
    }
  });
}
