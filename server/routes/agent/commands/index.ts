/**
 * GET /v1/commands?wait=S&after=SEQ&policy=V — long-poll for server commands. Answers at once when
 * there are commands after SEQ or the host's policy version differs from V, else waits up to S s.
 * Commands stay in the store; the agent's cursor (after) makes delivery at-least-once.
 */
import type { App as FastifyInstance } from '../../../http/app.js';
import { TgError } from '../../../../shared/errors.js';
import { LIMITS } from '../../../../shared/protocol.js';
import type { ServerContext } from '../../../context.js';
import { currentPolicy } from '../policy/index.js';

function intParam(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TgError('TG_E_BAD_ENVELOPE', `query parameter ${name} must be an integer from ${min} to ${max}`);
  return n;
}

/**
 * What a host's last empty read showed: at hub generation `gen`, the store held no command after
 * `after` for it. Until the hub sees a change, a waiting poll need not ask the store again: the
 * hub reads the store's change stamp every second and wakes every waiter when it moves.
 */
interface EmptyRead { gen: number; after: number }

const MAX_REMEMBERED = 200_000;

export function commandsRoute(app: FastifyInstance, ctx: ServerContext): void {
  const emptyReads = new Map<string, EmptyRead>();

  app.get('/v1/commands', async (req) => {
    const q = req.query as Record<string, unknown>;
    const wait = intParam(q.wait, 'wait', 0, LIMITS.maxCommandWaitSeconds, 0);
    const after = intParam(q.after, 'after', 0, Number.MAX_SAFE_INTEGER, 0);
    // The version the agent last saw (applied or refused); the version it applies comes with heartbeats.
    const applied = q.policy === undefined ? undefined : intParam(q.policy, 'policy', 0, Number.MAX_SAFE_INTEGER, 0);
    const hostId = req.agent.hostId;
    const deadline = Date.now() + wait * 1000;
    let closed = false;
    let wakeNow: (() => void) | undefined;
    const onClose = () => { closed = true; wakeNow?.(); };
    // The connection outlives this poll (keep-alive): its listener goes when the poll does.
    req.raw.socket.once('close', onClose);
    try {
      // The policy comes from the per-host cache that holds while the hub sees no change (a new
      // policy or a group move moves the store's stamp); commands are read only when the hub has
      // seen a change since this host's last empty read. A poll with wait=0 reads the commands.
      let policy = await currentPolicy(ctx, hostId);
      let known = wait > 0 ? emptyReads.get(hostId) : undefined;
      for (;;) {
        const gen = ctx.hub.generation;
        let commands: Awaited<ReturnType<typeof ctx.store.commandsAfter>> = [];
        if (!known || known.gen !== gen || known.after > after) {
          commands = await ctx.store.commandsAfter(hostId, after);
          if (!commands.length) {
            if (emptyReads.size >= MAX_REMEMBERED) emptyReads.clear();
            emptyReads.set(hostId, known = { gen, after });
          }
        }
        const left = deadline - Date.now();
        if (commands.length || (applied !== undefined && policy.version !== applied) || left <= 0 || closed) {
          return {
            policyVersion: policy.version,
            commands: commands.map((c) => ({ seq: c.seq, type: c.type, payload: c.payload, createdAt: c.createdAt })),
          };
        }
        await new Promise<void>((resolve) => { wakeNow = ctx.hub.wait(left, resolve); });
        wakeNow = undefined;
        // Woken by a change (not by the deadline or a closed connection): the policy may have changed too.
        if (ctx.hub.generation !== gen) policy = await currentPolicy(ctx, hostId);
      }
    } finally {
      req.raw.socket.off('close', onClose);
    }
  });
}
